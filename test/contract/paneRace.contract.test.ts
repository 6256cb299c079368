/**
 * A batch racing a close of a hopping window (panes, issue 21) over both
 * state stores (in memory, and DynamoDB on dynalite). A batch reads the
 * stream's watermark while window w is open; the ticker (on a watermark an
 * idle shard's wall clock moved) closes w before the batch writes a pane that
 * also counts in newer windows. Each record must then be either in w's value
 * or counted late for w, never neither, and the value w keeps is the one its
 * published transition carried, even when the close crashed after the alert
 * step and is retried after the batch's write.
 *
 * The races are made deterministic by hooks on the stores' calls: the batch's
 * store runs the ticker just before its first pane write; the ticker's store
 * can fail its window finish once (a crash after the alert step) or pause
 * before its first write to the window's item.
 */
import { Engine, descriptor, type ClosedWindow } from '../../lambdas/core/Engine';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import { EARLIER_WRITES_CAP, FINAL_SLOT, type PanePartialJson } from '../../lambdas/core/panes';
import { padSequence } from '../../lambdas/core/sequence';
import type { FixedPartialJson } from '../../lambdas/core/partials';
import type { KeyDescriptor, StateStore } from '../../lambdas/core/StateStore';
import type { WindowRule } from '../../lambdas/core/types';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../helpers/factories';
import { freshTable, instrumentedClient, testClient } from '../helpers/dynamo';
import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { aggregateLayout, paneLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { storeFixtures } from '../helpers/storeFixtures';
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';

const M = 60_000;
const S = 'shardId-000000000001';
const G = JSON.stringify(['a']);

const { inMemory, onDynamoDB, endpoint } = storeFixtures();

/** A 3-minute window every minute, firing on the first window holding an event. */
const rule: WindowRule = windowRule({
  name: 'Hop',
  window: { kind: 'hopping', sizeMs: 3 * M, slideMs: M },
  aggregates: [countAgg('n')],
  when: fn('n >= 1', (v) => (v['n'] as number) >= 1),
});
const PIPELINE = pipelineOf([rule], streamSpec({ outOfOrdernessMs: 10_000, idleTimeoutMs: M }));

/** The batches' wall clock: the shard is active. */
const BATCH_NOW = T0 + 2 * M + 10_000;
/** The ticker's: the shard is idle, the watermark follows the wall clock to T0 + 3m30s, past window 0's close (T0 + 3m) only. */
const TICK_NOW = T0 + 4 * M + 40_000;

const ev = (offsetMs: number) => ({ service: 'a', ts: T0 + offsetMs });
const windowKey = (start: number): KeyDescriptor => descriptor('Hop', G, { start: T0 + start, end: T0 + start + 3 * M });

type Hook = (method: string, args: unknown[]) => Promise<void> | void;

/** The store with `before` run ahead of every call of its methods (and `after` once a call returned). */
function hooked(store: StateStore, before: Hook, after?: Hook): StateStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      // The store's one synchronous method (a listing for the next flush) stays synchronous, unhooked.
      if (prop === 'listWindow') return (v as (...a: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        await before(prop, args);
        const r = (await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
        await after?.(prop, args);
        return r;
      };
    },
  });
}

function engineOn(store: StateStore, now: number, published: AlertTransition[], closed: ClosedWindow[]): Engine {
  return new Engine({ pipeline: PIPELINE, stream: 'telemetry', store, clock: { now: () => now }, publish: async (t) => void published.push(t), onWindowClosed: (w) => closed.push(w) });
}

/** The value a finished window keeps in its item (its event count). */
async function finalCount(store: StateStore, start: number): Promise<number | undefined> {
  const state = await store.read(windowKey(start));
  return (state?.slots[FINAL_SLOT]?.partial as FixedPartialJson | undefined)?.n;
}

/** Window 0's values as its firing transition carried them. */
function publishedFor(published: AlertTransition[], start: number): Array<Record<string, number | null>> {
  return published.filter((t) => t.window.start === T0 + start).map((t) => ({ ...t.values }));
}

describe.each([inMemory, onDynamoDB])('a batch racing the close of a hopping window ($name)', (fixture) => {
  async function setup(tickerStore: (s: StateStore) => StateStore = (s) => s) {
    const { store, another } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const closed: ClosedWindow[] = [];
    let race: (() => Promise<void>) | undefined;
    // The batch's container: the first pane write after `race` was armed runs it first.
    const batchStore = hooked(store, async (method, args) => {
      if (method !== 'apply' || (args[0] as KeyDescriptor).pane === undefined || race === undefined) return;
      const r = race;
      race = undefined;
      await r();
    });
    const batches = engineOn(batchStore, BATCH_NOW, published, closed);
    const ticker = engineOn(tickerStore(another()), TICK_NOW, published, closed);
    // Pane [2m, 3m) holds one event: it counts in windows 0, 1m and 2m, all open (watermark T0 + 1m55s).
    const first = await batches.processBatch(S, shardRecords(S, [ev(2 * M + 5_000)], 1n));
    expect(first.retryFrom).toBeNull();
    expect(first.watermark).toBe(T0 + M + 55_000);
    return { store, another, published, closed, batches, ticker, arm: (f: () => Promise<void>) => (race = f) };
  }

  /** Everything closed afterwards, on a later clock: each window's kept value. */
  async function finals(store: StateStore): Promise<number[]> {
    const late = engineOn(store, T0 + 30 * M, [], []);
    await late.advance();
    return Promise.all([0, M, 2 * M].map(async (s) => (await finalCount(store, s)) ?? 0));
  }

  it('a pane write landing after the window closed (between the batch\'s watermark read and its write) is counted late for it, and the window keeps its value', async () => {
    const { store, published, batches, ticker, arm } = await setup();
    arm(async () => {
      const tick = await ticker.advance();
      expect(tick.watermark).toBe(T0 + 3 * M + 30_000);
      expect(tick.windowsClosed).toBe(1);
    });
    // Its watermark (T0 + 1m55s) leaves window 0 open: the event is folded into pane [2m, 3m) for windows 0, 1m, 2m.
    const r = await batches.processBatch(S, shardRecords(S, [ev(2 * M + 10_000)], 2n));
    expect(r.retryFrom).toBeNull();
    // Window 0 had closed when the pane was written: the event is not in it, so it is late for it.
    expect(r.perRule['Hop']!.late).toBe(1);
    expect(r.late).toBe(1);
    expect(r.perRule['Hop']!.firstLate).toEqual({ eventTime: T0 + 2 * M + 10_000, watermark: T0 + M + 55_000 });
    expect(publishedFor(published, 0)).toEqual([{ n: 1 }]);
    // Redelivered: the record is in the pane already; nothing is written, and this delivery counts it late for
    // window 0 again, once (as any delivery counts a record a closed window refused: BatchReport.late is per delivery).
    const again = await batches.processBatch(S, shardRecords(S, [ev(2 * M + 10_000)], 2n));
    expect([again.keysWritten, again.late, again.perRule['Hop']!.late, again.retryFrom]).toEqual([0, 1, 1, null]);
    expect(await finals(store)).toEqual([1, 2, 2]);
  });

  it('a record left out of two windows closed under its batch counts late once', async () => {
    const { store, published, another } = await setup();
    // This ticker's watermark (T0 + 4m30s) passes the close of windows 0 and 1m.
    const ticker = engineOn(another(), TICK_NOW + M, published, []);
    let race = true;
    // A cold container: it registers windows 0 and 1m again (found open: the ticker runs at its pane write).
    const r = await engineOn(
      hooked(store, async (method, args) => {
        if (method !== 'apply' || (args[0] as KeyDescriptor).pane === undefined || !race) return;
        race = false;
        expect((await ticker.advance()).windowsClosed).toBe(2);
      }),
      BATCH_NOW,
      published,
      [],
    ).processBatch(S, shardRecords(S, [ev(2 * M + 10_000)], 2n));
    expect(r.perRule['Hop']!.late).toBe(1);
    expect(await finals(store)).toEqual([1, 1, 2]);
  });

  it('a close that crashed after its alert step and is retried after such a pane write keeps the value it published', async () => {
    let crashes = 1;
    const { store, published, closed, batches, ticker, arm } = await setup((s) =>
      hooked(s, (method) => {
        if (method === 'finishWindow' && crashes-- > 0) throw new Error('the ticker crashed after the alert step');
      }),
    );
    arm(async () => {
      await expect(ticker.advance()).rejects.toThrow('the ticker crashed after the alert step');
      // The transition went out with the window's value as the close read it.
      expect(publishedFor(published, 0)).toEqual([{ n: 1 }]);
    });
    const r = await batches.processBatch(S, shardRecords(S, [ev(2 * M + 10_000)], 2n));
    expect(r.retryFrom).toBeNull();
    expect(r.perRule['Hop']!.late).toBe(1);
    // The retried close finishes the window with the value it published, not one that takes the late event in.
    const retry = await ticker.advance();
    expect(retry.windowsClosed).toBe(1);
    expect(await finalCount(store, 0)).toBe(1);
    expect(publishedFor(published, 0)).toEqual([{ n: 1 }]);
    expect(new Set(closed.filter((w) => w.window.start === T0).map((w) => w.values['n']))).toEqual(new Set([1]));
    expect(await finals(store)).toEqual([1, 2, 2]);
  });

  it('a pane write landing after the close read the panes but before it sealed the window is in the window (the close reads again): not late', async () => {
    let release: (() => void) | undefined;
    const released = new Promise<void>((r) => (release = r));
    let paused: (() => void) | undefined;
    const pausing = new Promise<void>((r) => (paused = r));
    let pause = true;
    const { store, published, batches, ticker, arm } = await setup((s) =>
      hooked(s, async (method, args) => {
        // The ticker's first write to window 0's item, after it read its panes: wait for the batch.
        const writes = ['sealWindow', 'sealWindowAt', 'closeWindowAt', 'finishWindow'];
        if (!pause || !writes.includes(method) || (args[0] as KeyDescriptor).id !== windowKey(0).id) return;
        pause = false;
        paused!();
        await released;
      }),
    );
    let tick: Promise<unknown> | undefined;
    arm(async () => {
      tick = ticker.advance();
      await pausing;
    });
    const r = await batches.processBatch(S, shardRecords(S, [ev(2 * M + 10_000)], 2n));
    release!();
    await tick;
    expect(r.retryFrom).toBeNull();
    expect(r.perRule['Hop']!.late).toBe(0);
    expect(publishedFor(published, 0)).toEqual([{ n: 2 }]);
    expect(await finals(store)).toEqual([2, 2, 2]);
  });

  it('a window the closer before this one sealed (it sealed first, then read the panes) and did not finish is closed on its panes and finished with its value', async () => {
    const { store, published, ticker } = await setup();
    // The closer before sealing windows with their value: seal, then read, alert, finish; it stopped after the seal.
    await store.sealWindow(windowKey(0));
    const tick = await ticker.advance();
    expect(tick.windowsClosed).toBe(1);
    expect(publishedFor(published, 0)).toEqual([{ n: 1 }]);
    const state = (await store.read(windowKey(0)))!;
    expect(state.closed).toBe(true);
    expect(state.closeAt).toBeNull();
    expect((state.slots[FINAL_SLOT]!.partial as FixedPartialJson).n).toBe(1);
    expect(Object.keys(state.merged ?? {})).toEqual([String(T0 + 2 * M)]);
  });

  it('a window closed before a cold container writes its pane (the window only listed, no item): the records meant for it count late once (by the fence after the write), and go on in the newer windows', async () => {
    const { store, published, ticker } = await fixture.fresh().then(async ({ store, another }) => {
      const published: AlertTransition[] = [];
      return { store, published, ticker: engineOn(another(), TICK_NOW, published, []) };
    });
    // A container with nothing cached: the ticker closed window 0 (it has no item: listed only) after the batch read the watermark.
    let race = true;
    const cold = engineOn(
      hooked(store, async (method, args) => {
        if (method !== 'apply' || (args[0] as KeyDescriptor).pane === undefined || !race) return;
        race = false;
        await ticker.advance();
      }),
      BATCH_NOW,
      published,
      [],
    );
    await engineOn(store, BATCH_NOW, published, []).processBatch(S, shardRecords(S, [ev(2 * M + 5_000)], 1n));
    const r = await cold.processBatch(S, shardRecords(S, [ev(2 * M + 10_000)], 2n));
    expect(r.retryFrom).toBeNull();
    expect(r.perRule['Hop']!.late).toBe(1);
    expect(publishedFor(published, 0)).toEqual([{ n: 1 }]);
    expect(await finals(store)).toEqual([1, 2, 2]);
  });
});

describe.each([inMemory, onDynamoDB])('a retry of a batch whose check after its pane write did not complete ($name)', (fixture) => {
  /**
   * The batches' store, on `store`: `race` (when armed) runs before the next pane write; after a pane
   * write, `afterWrite` runs (it may throw: the store answered, the container did not get the answer);
   * `before` runs ahead of every call.
   */
  function batchStore(store: StateStore, hooks: { race?: () => Promise<void>; afterWrite?: () => void; before?: (method: string) => void }): StateStore {
    return hooked(
      store,
      async (method, args) => {
        hooks.before?.(method);
        if (method !== 'apply' || (args[0] as KeyDescriptor).pane === undefined || hooks.race === undefined) return;
        const r = hooks.race;
        hooks.race = undefined;
        await r();
      },
      (method, args) => {
        if (method === 'apply' && (args[0] as KeyDescriptor).pane !== undefined) hooks.afterWrite?.();
      },
    );
  }

  async function setup() {
    const { store, another } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const ticker = engineOn(another(), TICK_NOW, published, []);
    // Pane [2m, 3m) holds one event, in windows 0, 1m and 2m (all open: watermark T0 + 1m55s).
    const first = await engineOn(store, BATCH_NOW, published, []).processBatch(S, shardRecords(S, [ev(2 * M + 5_000)], 1n));
    expect(first.retryFrom).toBeNull();
    return { store, another, published, ticker };
  }

  /** Everything closed afterwards, on a later clock: each window's kept value. */
  async function finals(store: StateStore): Promise<number[]> {
    await engineOn(store, T0 + 30 * M, [], []).advance();
    return Promise.all([0, M, 2 * M].map(async (s) => (await finalCount(store, s)) ?? 0));
  }

  const raced = shardRecords(S, [ev(2 * M + 10_000)], 2n);

  it.each([
    ['the watermark read', 'getStreamWatermark'],
    ['the fence', 'fenceWindow'],
  ])('%s after the pane write throws once: the retry finds the record in the pane and counts it late for the window closed under the first attempt, once', async (_what, failing) => {
    const { store, published, ticker } = await setup();
    let fail = false;
    let writes = 1;
    const hooks = {
      race: async () => void expect((await ticker.advance()).windowsClosed).toBe(1),
      // Only the first attempt's write is followed by the failure.
      afterWrite: () => void (fail = writes-- > 0),
      before: (method: string) => {
        if (method !== failing || !fail) return;
        fail = false;
        throw new Error(`${failing} failed`);
      },
    };
    const batches = engineOn(batchStore(store, hooks), BATCH_NOW, published, []);
    const r = await batches.processBatch(S, raced);
    // The pane write went through; its check did not: nothing counted, the batch retried from the record.
    expect([r.keysWritten, r.late, r.retryFrom]).toEqual([1, 0, raced[0]!.sequenceNumber]);
    expect(String(r.error)).toContain(`${failing} failed`);
    const retry = await batches.processBatch(S, raced);
    expect([retry.keysWritten, retry.late, retry.perRule['Hop']!.late, retry.retryFrom]).toEqual([0, 1, 1, null]);
    expect(retry.perRule['Hop']!.firstLate).toEqual({ eventTime: T0 + 2 * M + 10_000, watermark: T0 + 3 * M + 30_000 });
    expect(publishedFor(published, 0)).toEqual([{ n: 1 }]);
    expect(await finals(store)).toEqual([1, 2, 2]);
  });

  it('the fence fails while the window is still open (its close read the panes before the write): the retry fences it, the close reads again and takes the record: not late', async () => {
    const { store, published, another } = await setup();
    let release: (() => void) | undefined;
    const released = new Promise<void>((r) => (release = r));
    let paused: (() => void) | undefined;
    const pausing = new Promise<void>((r) => (paused = r));
    let pause = true;
    // The ticker stops after reading window 0's panes, before its seal.
    const ticker = engineOn(
      hooked(another(), async (method, args) => {
        if (!pause || !['sealWindowAt', 'closeWindowAt'].includes(method) || (args[0] as KeyDescriptor).id !== windowKey(0).id) return;
        pause = false;
        paused!();
        await released;
      }),
      TICK_NOW,
      published,
      [],
    );
    let tick: Promise<unknown> | undefined;
    let fail = false;
    let writes = 1;
    const hooks = {
      race: async () => {
        tick = ticker.advance();
        await pausing;
      },
      afterWrite: () => void (fail = writes-- > 0),
      before: (method: string) => {
        if (method !== 'fenceWindow' || !fail) return;
        fail = false;
        throw new Error('fenceWindow failed');
      },
    };
    const batches = engineOn(batchStore(store, hooks), BATCH_NOW, published, []);
    const r = await batches.processBatch(S, raced);
    expect([r.late, r.retryFrom]).toEqual([0, raced[0]!.sequenceNumber]);
    // The retry, while the close still waits to seal on the version it read.
    const retry = await batches.processBatch(S, raced);
    release!();
    await tick;
    expect([retry.late, retry.retryFrom]).toEqual([0, null]);
    expect(publishedFor(published, 0)).toEqual([{ n: 2 }]);
    expect(await finals(store)).toEqual([2, 2, 2]);
  });

  it('the container dies after the pane write: the batch redelivered to another container counts the record late once', async () => {
    const { store, another, published, ticker } = await setup();
    const hooks = {
      race: async () => void expect((await ticker.advance()).windowsClosed).toBe(1),
      // The write took effect; the container never learns it (it dies: nothing after it happens).
      afterWrite: () => {
        throw new Error('the container died');
      },
    };
    const dying = await engineOn(batchStore(store, hooks), BATCH_NOW, published, []).processBatch(S, raced);
    expect([dying.late, dying.retryFrom]).toEqual([0, raced[0]!.sequenceNumber]);
    // A cold container (its own caches): the write is found by its conditional write failing on the stored slot.
    const redelivered = await engineOn(another(), BATCH_NOW, published, []).processBatch(S, raced);
    expect([redelivered.keysWritten, redelivered.late, redelivered.perRule['Hop']!.late, redelivered.retryFrom]).toEqual([0, 1, 1, null]);
    expect(publishedFor(published, 0)).toEqual([{ n: 1 }]);
    expect(await finals(store)).toEqual([1, 2, 2]);
  });

  it('two attempts whose checks fail, the second one going further than the first: the third counts late only the record window 0 left out (each record checked against the write that put it in the pane)', async () => {
    const { store, published, ticker } = await setup();
    let fail = false;
    // The first two attempts' writes are followed by the failure.
    let writes = 2;
    const hooks: { race?: () => Promise<void>; afterWrite?: () => void; before?: (method: string) => void } = {
      afterWrite: () => void (fail = writes-- > 0),
      before: (method: string) => {
        if (method !== 'getStreamWatermark' || !fail) return;
        fail = false;
        throw new Error('getStreamWatermark failed');
      },
    };
    const batches = engineOn(batchStore(store, hooks), BATCH_NOW, published, []);
    // First attempt: record 2 written while window 0 is open; its check fails.
    const one = await batches.processBatch(S, raced);
    expect([one.keysWritten, one.late, one.retryFrom]).toEqual([1, 0, raced[0]!.sequenceNumber]);
    // Second attempt, further (records 2 and 3): window 0 closes (with record 2 in it) just before the write adds record 3.
    const further = shardRecords(S, [ev(2 * M + 10_000), ev(2 * M + 20_000)], 2n);
    hooks.race = async () => void expect((await ticker.advance()).windowsClosed).toBe(1);
    // The batch's watermark read comes first: it must see window 0 open, so the ticker runs only at the write.
    const two = await batches.processBatch(S, further);
    expect([two.keysWritten, two.late, two.retryFrom]).toEqual([1, 0, further[0]!.sequenceNumber]);
    expect(publishedFor(published, 0)).toEqual([{ n: 2 }]);
    const three = await batches.processBatch(S, further);
    expect([three.keysWritten, three.late, three.perRule['Hop']!.late, three.retryFrom]).toEqual([0, 1, 1, null]);
    expect(three.perRule['Hop']!.firstLate?.eventTime).toBe(T0 + 2 * M + 20_000);
    expect(await finals(store)).toEqual([2, 3, 3]);
  });
  it('a batch that finished, delivered again after a later batch wrote the same pane (fast path: the later write replaced the slot\'s write), counts nothing late (the later write did not add its record)', async () => {
    const { store, published, ticker } = await setup();
    const hooks: { race?: () => Promise<void> } = {};
    const batches = engineOn(batchStore(store, hooks), BATCH_NOW, published, []);
    // Record 2 lands in pane [2m, 3m) while window 0 is open; its check succeeds.
    const two = shardRecords(S, [ev(2 * M + 10_000)], 2n);
    const r2 = await batches.processBatch(S, two);
    expect([r2.keysWritten, r2.late, r2.retryFrom]).toEqual([1, 0, null]);
    // Window 0 closes (records 1 and 2 in it) just before record 3's write: record 3 is late for it.
    hooks.race = async () => void expect((await ticker.advance()).windowsClosed).toBe(1);
    const r3 = await batches.processBatch(S, shardRecords(S, [ev(2 * M + 20_000)], 3n));
    expect([r3.keysWritten, r3.late, r3.retryFrom]).toEqual([1, 1, null]);
    expect(publishedFor(published, 0)).toEqual([{ n: 2 }]);
    // Record 2's batch again: record 2 is in window 0 (n = 2). The slot's write is record 3's, which did not add it.
    const again = await batches.processBatch(S, two);
    expect([again.keysWritten, again.late, again.perRule['Hop']!.late, again.retryFrom]).toEqual([0, 0, 0, null]);
    expect(await finals(store)).toEqual([2, 3, 3]);
  });

  it(`a batch retried many times, each attempt going further into the pane, keeps at most ${String(EARLIER_WRITES_CAP)} earlier writes in its slot; records of the dropped ones are not checked (nothing counted for them), the others are`, async () => {
    const { store, published, ticker } = await setup();
    let fail = false;
    // The first five attempts' writes are followed by a failed check.
    let writes = 5;
    const hooks: { race?: () => Promise<void>; afterWrite?: () => void; before?: (method: string) => void } = {
      afterWrite: () => void (fail = writes-- > 0),
      before: (method: string) => {
        if (method !== 'getStreamWatermark' || !fail) return;
        fail = false;
        throw new Error('getStreamWatermark failed');
      },
    };
    const batches = engineOn(batchStore(store, hooks), BATCH_NOW, published, []);
    // Attempt k holds records 2 .. k + 1 (one second apart), all for pane [2m, 3m).
    const attempt = (k: number) => shardRecords(S, Array.from({ length: k }, (_, j) => ev(2 * M + 10_000 + j * 1_000)), 2n);
    const hwms: string[] = [];
    for (let k = 1; k <= 5; k++) {
      const r = await batches.processBatch(S, attempt(k));
      expect([r.keysWritten, r.late, r.retryFrom]).toEqual([1, 0, attempt(k)[0]!.sequenceNumber]);
      hwms.push(padSequence(attempt(k)[k - 1]!.sequenceNumber));
    }
    // Attempt 6: window 0 closes (records 1 to 6 in it) just before its write adds record 7 (late for it).
    hooks.race = async () => void expect((await ticker.advance()).windowsClosed).toBe(1);
    const six = await batches.processBatch(S, attempt(6));
    expect([six.keysWritten, six.late, six.retryFrom]).toEqual([1, 1, null]);
    expect(publishedFor(published, 0)).toEqual([{ n: 6 }]);
    // The slot keeps the writes of attempts 3, 4 and 5 (each with the first record it added), not those of 1 and 2.
    const [pane] = await store.readPanes('Hop', G, T0 + 2 * M, T0 + 2 * M);
    const partial = pane!.state.slots[S]!.partial as unknown as PanePartialJson;
    expect(partial.e!.map((w) => [w.h, w.s])).toEqual([2, 3, 4].map((k) => [hwms[k], attempt(k + 1)[k]!.sequenceNumber]));
    expect(partial.s).toBe(attempt(6)[5]!.sequenceNumber);
    // Delivered again: records 2 and 3 (dropped writes) not checked; 4 to 6 in window 0; 7 late for it, once.
    const seven = await batches.processBatch(S, attempt(6));
    expect([seven.keysWritten, seven.late, seven.perRule['Hop']!.late, seven.retryFrom]).toEqual([0, 1, 1, null]);
    expect(seven.perRule['Hop']!.firstLate?.eventTime).toBe(T0 + 2 * M + 15_000);
    expect(await finals(store)).toEqual([6, 7, 7]);
  });
});

describe('a retry finding its records in a pane slot written by an earlier code (DynamoDB)', () => {
  it.each([
    // Before slots kept their version: no pv_<shard>, a partial without the watermark.
    ['before slots kept their version (no pv_, no w)', 'SET #p = :p REMOVE #b', ['w', 's']],
    // A rollback to that code: it rewrites the slot (`ADD v 1`, a partial without the watermark) and leaves pv_.
    ['by the code before versions, after a rollback (a stale pv_, no w)', 'SET #p = :p ADD v :one', ['w', 's']],
    // The code that kept versions but not each write's first sequence number (66a03ae).
    ['before each write kept its first sequence number (pv_ and w, no s)', 'SET #p = :p', ['s']],
  ])('%s: reads the slot, writes nothing and counts nothing late (it cannot tell which version holds the records); the window values stay exact', async (_what, update, drop) => {
    const raced = shardRecords(S, [ev(2 * M + 10_000)], 2n);
    const tableName = await freshTable(endpoint());
    const client = testClient(endpoint());
    const make = () => new DynamoDBStateStore({ client: testClient(endpoint()), tableName });
    const store = make();
    const published: AlertTransition[] = [];
    const ticker = engineOn(make(), TICK_NOW, published, []);
    await engineOn(store, BATCH_NOW, published, []).processBatch(S, shardRecords(S, [ev(2 * M + 5_000)], 1n));
    let race = true;
    let fail = false;
    let failed = false;
    const batches = engineOn(
      hooked(
        store,
        async (method, args) => {
          if (method === 'getStreamWatermark' && fail) {
            fail = false;
            throw new Error('getStreamWatermark failed');
          }
          if (method !== 'apply' || (args[0] as KeyDescriptor).pane === undefined || !race) return;
          race = false;
          await ticker.advance();
        },
        (method, args) => {
          if (method === 'apply' && (args[0] as KeyDescriptor).pane !== undefined && race === false && !failed) fail = failed = true;
        },
      ),
      BATCH_NOW,
      published,
      [],
    );
    const r = await batches.processBatch(S, shardRecords(S, [ev(2 * M + 10_000)], 2n));
    expect([r.late, r.retryFrom]).toEqual([0, shardRecords(S, [ev(2 * M + 10_000)], 2n)[0]!.sequenceNumber]);
    // The pane item as the code before wrote it: no pv_<shard>, and a partial without the watermark.
    const key = aggregateLayout.key(windowKey(2 * M));
    const item = (await client.send(new GetItemCommand({ TableName: tableName, Key: marshall(key), ConsistentRead: true }))).Item!;
    const attrs = paneLayout.slotAttributes(S);
    expect(unmarshall(item)[attrs.version]).toBe(unmarshall(item)['v']);
    const partial = JSON.parse(unmarshall(item)[attrs.partial] as string) as Record<string, unknown>;
    expect([partial['w'], partial['s']]).toEqual([T0 + M + 55_000, raced[0]!.sequenceNumber]);
    for (const k of drop) delete partial[k];
    await client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: marshall(key),
        UpdateExpression: update,
        ExpressionAttributeNames: { '#p': attrs.partial, ...(update.includes('#b') ? { '#b': attrs.version } : {}) },
        ExpressionAttributeValues: marshall({ ':p': JSON.stringify(partial), ...(update.includes(':one') ? { ':one': 1 } : {}) }),
      }),
    );
    // A cold container retries the batch: the record is in the pane, its version unknown.
    const retry = await engineOn(make(), BATCH_NOW, published, []).processBatch(S, shardRecords(S, [ev(2 * M + 10_000)], 2n));
    expect([retry.keysWritten, retry.late, retry.retryFrom]).toEqual([0, 0, null]);
    expect(publishedFor(published, 0)).toEqual([{ n: 1 }]);
    await engineOn(store, T0 + 30 * M, [], []).advance();
    expect(await Promise.all([0, M, 2 * M].map(async (s) => (await finalCount(store, s)) ?? 0))).toEqual([1, 2, 2]);
  });
});

describe('a batch racing the close of a hopping window on DynamoDB: requests', () => {
  it('the check after the pane writes is one read of the watermark per batch; a window closed under the batch costs one fence (a failed conditional write), its close one conditional seal and one finish', async () => {
    const tableName = await freshTable(endpoint());
    const { client, log } = instrumentedClient(endpoint());
    const tick = instrumentedClient(endpoint());
    const ticker = engineOn(new DynamoDBStateStore({ client: tick.client, tableName }), TICK_NOW, [], []);
    let race: (() => Promise<void>) | undefined;
    const batches = engineOn(
      hooked(new DynamoDBStateStore({ client, tableName }), async (method, args) => {
        if (method !== 'apply' || (args[0] as KeyDescriptor).pane === undefined || race === undefined) return;
        const r = race;
        race = undefined;
        await r();
      }),
      BATCH_NOW,
      [],
      [],
    );
    const writes = (l: typeof log, op: string) => l.requests.filter((q) => q.request?.op === op && q.command !== 'GetItemCommand');
    await batches.processBatch(S, shardRecords(S, [ev(2 * M + 5_000)], 1n));
    // The batch's read of the watermark, and the check's; nothing closable, no fence.
    expect(log.requests.filter((q) => q.request?.op === 'watermark.read').length).toBe(2);
    expect(writes(log, 'aggregate.fence')).toEqual([]);
    log.reset();
    race = async () => void (await ticker.advance());
    const r = await batches.processBatch(S, shardRecords(S, [ev(2 * M + 10_000)], 2n));
    expect(r.perRule['Hop']!.late).toBe(1);
    expect(log.requests.filter((q) => q.request?.op === 'watermark.read').length).toBe(2);
    expect(writes(log, 'aggregate.paneApply').length).toBe(1);
    // Window 0, closed under the batch, fenced once: refused (closed), the item coming back with the refusal.
    expect(writes(log, 'aggregate.fence').map((q) => [q.command, q.conditionFailed])).toEqual([['UpdateItemCommand', true]]);
    // The ticker's close of window 0 (it fires: not the quiet path; no item, listed only): sealed with its value by a
    // put if absent, then finished. The three empty windows before it (no item, no pane): one put if absent each,
    // sealed and finished (the closed marker of an empty window, keeping what it merged: nothing).
    expect(['aggregate.seal', 'aggregate.sealAt', 'aggregate.finish', 'aggregate.sealAndFinish', 'aggregate.sealEmpty'].map((op) => writes(tick.log, op).length)).toEqual([0, 1, 1, 3, 0]);
    expect(writes(tick.log, 'aggregate.sealAt').map((q) => q.command)).toEqual(['PutItemCommand']);
  });
});
