/**
 * Quiet closes of `emit: early` windows (closing.ts, issue 21 Deliver 3) over both state stores (in
 * memory, and DynamoDB on dynalite). A window of an early rule whose group is at rest and whose
 * closed verdict fails is sealed and finished in one write, with no alert record; a redelivered
 * batch that reaches the window after that close (it read the stream's watermark before the ticker
 * closed the window) learns from the window's item, not from `evaluatedThrough`, that the window is
 * closed: it does not fire, whether its container believes a stale partial state of the window
 * that holds (a warm container, DynamoDB) or believes nothing (a cold one).
 *
 * The rule fires when more than half of a window's requests failed: a partial state (one shard's
 * errors) holds while the final one (another shard's successes added) fails.
 */
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { descriptor, Engine } from '../../lambdas/core/Engine';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import type { KeyDescriptor, StateStore } from '../../lambdas/core/StateStore';
import type { WindowRule } from '../../lambdas/core/types';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../helpers/factories';
import { freshTable, instrumentedClient } from '../helpers/dynamo';
import { storeFixtures } from '../helpers/storeFixtures';

const M = 60_000;
const S1 = 'shardId-000000000001';
const S2 = 'shardId-000000000002';
const G = JSON.stringify(['a']);

const { inMemory, onDynamoDB, endpoint } = storeFixtures();

const rule: WindowRule = windowRule({
  name: 'Errors',
  aggregates: [countAgg('n'), { name: 'errs', kind: 'count', condition: fn('status >= 500', (v) => (v['status'] as number) >= 500), source: 'count(status >= 500)' }],
  when: fn('errs * 2 > n', (v) => (v['errs'] as number) * 2 > (v['n'] as number)),
  emit: 'early',
});
const PIPELINE = pipelineOf([rule], streamSpec({ outOfOrdernessMs: 10_000, idleTimeoutMs: M }));

/** The batches' wall clock: both shards active, the watermark below T0 + 1m (nothing closes). */
const BATCH_NOW = T0 + M + 30_000;
/** The ticker's: both shards idle, the watermark follows the wall clock to T0 + 2m20s, past the close of windows 0 and 1m. */
const TICK_NOW = T0 + 3 * M + 30_000;

let ids = 0;
const ev = (offsetMs: number, status: number) => ({ eventId: `e${++ids}`, service: 'a', ts: new Date(T0 + offsetMs).toISOString(), status });
const windowKey = (start: number): KeyDescriptor => descriptor('Errors', G, { start: T0 + start, end: T0 + start + M });

type Hook = (method: string, args: unknown[]) => Promise<void> | void;

/** The store with `before` run ahead of every call of its methods. */
function hooked(store: StateStore, before: Hook): StateStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return async (...args: unknown[]) => {
        await before(prop, args);
        return (await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
      };
    },
  });
}

/** The store's writing calls (the StateStore methods that write), in order, with the window start (minutes) or group they were for. */
const WRITES = ['apply', 'sealWindow', 'finishWindow', 'closeWindowAt', 'sealEmptyWindow', 'sealWindowAt', 'updateAlert', 'confirmPublished', 'releaseClaims', 'putStreamWatermark', 'putShardProgress'];
function recording(store: StateStore, calls: string[]): StateStore {
  return hooked(store, (method, args) => {
    if (!WRITES.includes(method)) return;
    const key = args[0] as KeyDescriptor | string;
    calls.push(typeof key === 'object' && key.windowStart !== null ? `${method} ${(key.windowStart - T0) / M}` : method);
  });
}

function engineOn(store: StateStore, now: number, published: AlertTransition[]): Engine {
  return new Engine({ pipeline: PIPELINE, stream: 'telemetry', store, clock: { now: () => now }, publish: async (t) => void published.push(t) });
}

const summary = (published: readonly AlertTransition[]) => published.map((t) => [t.state, (t.window.start - T0) / M, t.values['errs'], t.values['n']]);

describe.each([inMemory, onDynamoDB])('quiet closes of emit: early windows ($name)', (fixture) => {
  it('a window of a group at rest whose closed verdict fails: one write (sealed and finished together), no alert record', async () => {
    const { store, another } = await fixture.fresh();
    const published: AlertTransition[] = [];
    // Window 1m: one error in three (an early verdict on every partial state fails too).
    const r = await engineOn(store, BATCH_NOW, published).processBatch(S1, shardRecords(S1, [ev(M + 1_000, 503), ev(M + 2_000, 200), ev(M + 3_000, 200)], 1n));
    expect(r.retryFrom).toBeNull();
    const calls: string[] = [];
    const tick = await engineOn(recording(another(), calls), TICK_NOW, published).advance();
    expect(tick.windowsClosed).toBe(1);
    expect(calls).toEqual(['putStreamWatermark', 'closeWindowAt 1']);
    expect(await store.readAlert('Errors', G)).toBeUndefined();
    expect(published).toEqual([]);
    const state = (await store.read(windowKey(M)))!;
    expect([state.closed, state.closeAt]).toEqual([true, null]);
    expect(await store.dueKeys('Errors', Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  /**
   * The group fires early in window 0 (two errors), then shard 1 sends two errors in window 1m (a
   * partial state that holds: the early step is a no-op, the alert is firing); shard 2 then sends
   * three successes in each window. The ticker closes window 0 (fails: resolved, at rest again) and
   * window 1m (fails, at rest: closed quietly) between a redelivery's watermark read and its write.
   */
  async function scenario(redelivery: (store: StateStore, another: () => StateStore) => StateStore) {
    const { store, another } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const shard1 = engineOn(store, BATCH_NOW, published);
    await shard1.processBatch(S1, shardRecords(S1, [ev(10_000, 503), ev(11_000, 503)], 1n));
    expect(summary(published)).toEqual([['firing', 0, 2, 2]]);
    const batch2 = shardRecords(S1, [ev(M + 1_000, 503), ev(M + 2_000, 503)], 10n);
    expect((await shard1.processBatch(S1, batch2)).keysWritten).toBe(1);
    expect(summary(published)).toEqual([['firing', 0, 2, 2]]);
    await engineOn(another(), BATCH_NOW, published).processBatch(S2, shardRecords(S2, [ev(20_000, 200), ev(21_000, 200), ev(22_000, 200), ev(M + 3_000, 200), ev(M + 4_000, 200), ev(M + 5_000, 200)], 1n));
    const tickCalls: string[] = [];
    const ticker = engineOn(recording(another(), tickCalls), TICK_NOW, published);
    let race = true;
    const redeliveryStore = hooked(redelivery(store, another), async (method, args) => {
      if (method !== 'apply' || !race || (args[0] as KeyDescriptor).id !== windowKey(M).id) return;
      race = false;
      expect((await ticker.advance()).windowsClosed).toBe(2);
    });
    const again = await engineOn(redeliveryStore, BATCH_NOW, published).processBatch(S1, batch2);
    expect(race).toBe(false);
    expect(again.retryFrom).toBeNull();
    return { store, published, again, tickCalls };
  }

  async function expectNoFireAfterQuietClose(s: Awaited<ReturnType<typeof scenario>>): Promise<void> {
    // Window 0 resolved the ordinary way; window 1m closed quietly (one write, no alert step for it).
    expect(s.tickCalls).toEqual(['putStreamWatermark', 'sealWindow 0', 'updateAlert', 'confirmPublished', 'finishWindow 0', 'closeWindowAt 1']);
    // The redelivery wrote nothing and fired nothing: window 1m's final state (2 errors in 5) fails.
    expect(s.again.keysWritten).toBe(0);
    expect(s.again.published).toEqual([]);
    expect(summary(s.published)).toEqual([
      ['firing', 0, 2, 2],
      ['resolved', 0, 2, 5],
    ]);
    const record = (await s.store.readAlert('Errors', G))!;
    expect([record.state.status, (record.state.evaluatedThrough! - T0) / M, record.outbox]).toEqual(['inactive', 0, []]);
  }

  it('a redelivery in the warm container that wrote the partial state (it believes it: it holds) does not fire on the quietly closed window', async () => {
    const s = await scenario((store) => store);
    expect(s.again.published).toEqual([]);
    await expectNoFireAfterQuietClose(s);
  });

  it('a redelivery in a cold container (it believes nothing: its write meets the sealed item) does not fire on the quietly closed window', async () => {
    const s = await scenario((_store, another) => another());
    expect(s.again.published).toEqual([]);
    await expectNoFireAfterQuietClose(s);
  });
  it('an early step in flight while the window closes quietly records its fire after the close; the next tick resolves it on the window\'s final verdict', async () => {
    const { store, another } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const ticker = engineOn(another(), TICK_NOW, published);
    let race = true;
    // Shard 1's batch applies window 1m (two errors: holds); before its early step is recorded, shard 2's successes
    // land and the ticker closes the window: the group is at rest and the final state (2 errors in 5) fails, so quietly.
    const shard1 = engineOn(
      hooked(store, async (method) => {
        if (method !== 'updateAlert' || !race) return;
        race = false;
        await engineOn(another(), BATCH_NOW, published).processBatch(S2, shardRecords(S2, [ev(M + 3_000, 200), ev(M + 4_000, 200), ev(M + 5_000, 200)], 1n));
        expect((await ticker.advance()).windowsClosed).toBe(1);
        expect(await store.readAlert('Errors', G)).toBeUndefined();
      }),
      BATCH_NOW,
      published,
    );
    await shard1.processBatch(S1, shardRecords(S1, [ev(M + 1_000, 503), ev(M + 2_000, 503)], 1n));
    expect(race).toBe(false);
    // The fire stands for now (the old design reached the same fire when the early write landed just before the close's step).
    expect(summary(published)).toEqual([['firing', 1, 2, 2]]);
    // The next tick: the firing group's next window is the one it fired in; closed again the ordinary way, it resolves.
    const next = await engineOn(another(), TICK_NOW + 10_000, published).advance();
    expect(next.published.map((t) => t.state)).toEqual(['resolved']);
    expect(summary(published)).toEqual([
      ['firing', 1, 2, 2],
      ['resolved', 1, 2, 5],
    ]);
    const record = (await store.readAlert('Errors', G))!;
    expect([record.state.status, (record.state.evaluatedThrough! - T0) / M, record.outbox]).toEqual(['inactive', 1, []]);
    // Nothing is left to close or to resolve.
    expect((await engineOn(another(), TICK_NOW + 20_000, published).advance()).published).toEqual([]);
    expect(await store.dueKeys('Errors', Number.MAX_SAFE_INTEGER)).toEqual([]);
  });
});

describe('quiet closes of emit: early windows on DynamoDB: requests', () => {
  it('the close is one UpdateItem (sealAndFinish) and no alert request but the group read; a warm redelivery whose believed state holds costs one GetItem of the window', async () => {
    const tableName = await freshTable(endpoint());
    const tick = instrumentedClient(endpoint());
    const batch = instrumentedClient(endpoint());
    const make = (client = instrumentedClient(endpoint()).client) => new DynamoDBStateStore({ client, tableName });
    const published: AlertTransition[] = [];
    // The warm container: shard 1's store (its cache holds window 1m as its own write left it).
    const container = make(batch.client);
    const shard1 = engineOn(container, BATCH_NOW, published);
    await shard1.processBatch(S1, shardRecords(S1, [ev(10_000, 503), ev(11_000, 503)], 1n));
    const batch2 = shardRecords(S1, [ev(M + 1_000, 503), ev(M + 2_000, 503)], 10n);
    await shard1.processBatch(S1, batch2);
    await engineOn(make(), BATCH_NOW, published).processBatch(S2, shardRecords(S2, [ev(20_000, 200), ev(21_000, 200), ev(22_000, 200), ev(M + 3_000, 200), ev(M + 4_000, 200), ev(M + 5_000, 200)], 1n));
    const ticker = engineOn(make(tick.client), TICK_NOW, published);
    let race = true;
    const warm = engineOn(
      hooked(container, async (method) => {
        if (method !== 'apply' || !race) return;
        race = false;
        await ticker.advance();
      }),
      BATCH_NOW,
      published,
    );
    batch.log.reset();
    const again = await warm.processBatch(S1, batch2);
    expect(again.published).toEqual([]);
    const ops = (l: typeof tick.log, kind: string) => l.requests.filter((q) => q.request?.item === kind).map((q) => `${q.command.replace('Command', '')} ${q.request?.op}`);
    // Window 1m's close: one write; window 0's (it resolves): seal, alert record, confirm, finish; then the due buckets
    // of both windows are deleted, one item per container that listed them (shard 1's and shard 2's).
    const tickWrites = tick.log.requests.filter((q) => q.command !== 'GetItemCommand' && q.command !== 'QueryCommand').map((q) => q.request?.op);
    expect(tickWrites).toEqual(['watermark.raise', 'aggregate.seal', 'alert.record', 'alert.confirm', 'aggregate.finish', 'aggregate.sealAndFinish', 'due.release', 'due.release', 'due.release', 'due.release']);
    // The redelivery: no aggregate write (its cache says the records are in), one strongly consistent read of window 1m.
    expect(ops(batch.log, 'aggregate')).toEqual(['GetItem aggregate.read']);
    expect(summary(published)).toEqual([
      ['firing', 0, 2, 2],
      ['resolved', 0, 2, 5],
    ]);
  });
});
