/**
 * One closer per move of the watermark (Engine.advance, issue 21): after a batch, the windows a move
 * of the stream's watermark made due are closed by the processor whose conditional write made the
 * move. A processor of another shard that computed the same watermark at the same time finds its
 * write refused and closes nothing: before, every shard's processor queried the due list and raced
 * to close the same windows (seals, finishes and releases twice over on the benchmark at batch
 * 1,000). A mover that fails before closing leaves the windows due, and the ticker closes them once.
 * Both state stores (in memory, and DynamoDB on dynalite).
 */
import { descriptor, Engine } from '../../lambdas/core/Engine';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import type { StateStore } from '../../lambdas/core/StateStore';
import { pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../helpers/factories';
import { storeFixtures } from '../helpers/storeFixtures';

const M = 60_000;
const S1 = 'shardId-000000000001';
const S2 = 'shardId-000000000002';
const G = JSON.stringify(['a']);
/** Fires when a one-minute window holds 3 events or more (factories' default `when`). */
const PIPELINE = pipelineOf([windowRule({ name: 'R' })], streamSpec({ idleTimeoutMs: 10 * M }));
/** The wall clock: both shards active (idle after 10 minutes), so the watermark is the lower shard's newest event time. */
const NOW = T0 + 2 * M;

const { inMemory, onDynamoDB } = storeFixtures();

let ids = 0;
const ev = (offsetMs: number) => ({ eventId: `e${++ids}`, service: 'a', ts: new Date(T0 + offsetMs).toISOString() });

/** The store with `before(method)` awaited ahead of every call of its methods, and every method called recorded in `calls`. */
function hooked(store: StateStore, calls: string[], before: (method: string) => Promise<void> | void = () => undefined): StateStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return async (...args: unknown[]) => {
        calls.push(prop);
        await before(prop);
        return (await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
      };
    },
  });
}

const engineOn = (store: StateStore, published: AlertTransition[]) => new Engine({ pipeline: PIPELINE, stream: 'telemetry', store, clock: { now: () => NOW }, publish: async (t) => void published.push(t) });
const fired = (published: readonly AlertTransition[]) => published.map((t) => [t.state, (t.window.start - T0) / M, t.values['total']]);

describe.each([inMemory, onDynamoDB])('one closer per move of the watermark ($name)', (fixture) => {
  /** Window 0 holds 4 events (3 from shard 1, 1 from shard 2); the watermark is at 30 s (shard 1 alone, first); both shards then sent events of window 1m. */
  async function setUp() {
    const { store, another } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const shard1 = engineOn(store, published);
    expect((await shard1.processBatch(S1, shardRecords(S1, [ev(10_000), ev(20_000), ev(30_000)], 1n))).retryFrom).toBeNull();
    expect((await engineOn(another(), published).processBatch(S2, shardRecords(S2, [ev(15_000)], 1n))).retryFrom).toBeNull();
    expect(await store.getStreamWatermark('telemetry')).toBe(T0 + 30_000);
    expect((await shard1.processBatch(S1, shardRecords(S1, [ev(M + 10_000)], 10n))).retryFrom).toBeNull();
    return { store, another, published, shard1 };
  }

  it('two processors compute the same move at once: the one whose write moved the watermark closes the window, the other closes nothing', async () => {
    const { store, another, published, shard1 } = await setUp();
    // Shard 2's batch moves the watermark to 1m5s (past window 0's close). Just before its write of the watermark,
    // shard 1's next batch computes the same watermark (shard 2's progress is written), moves it and closes window 0.
    const calls: string[] = [];
    let racer: Promise<unknown> | null = null;
    const shard2Store = hooked(another(), calls, async (method) => {
      if (method !== 'putStreamWatermark' || racer !== null) return;
      racer = shard1.processBatch(S1, shardRecords(S1, [ev(M + 20_000)], 20n));
      const r = (await racer) as Awaited<ReturnType<Engine['processBatch']>>;
      expect(r.retryFrom).toBeNull();
      expect(fired(published)).toEqual([['firing', 0, 4]]);
    });
    const r2 = await engineOn(shard2Store, published).processBatch(S2, shardRecords(S2, [ev(M + 5_000)], 10n));
    expect(racer).not.toBeNull();
    expect(r2.retryFrom).toBeNull();
    expect(r2.watermark).toBe(T0 + M + 5_000);
    // Its write refused, shard 2's processor looked for no due window and wrote nothing after it.
    expect(calls.slice(calls.indexOf('putStreamWatermark'))).toEqual(['putStreamWatermark']);
    expect(fired(published)).toEqual([['firing', 0, 4]]);
    const w0 = (await store.read(descriptor('R', G, { start: T0, end: T0 + M })))!;
    expect([w0.closed, w0.closeAt]).toEqual([true, null]);
    expect(await store.dueKeys('R', Number.MAX_SAFE_INTEGER)).toEqual([expect.objectContaining({ key: expect.objectContaining({ windowStart: T0 + M }) })]);
  });

  it('the mover fails before closing: the window stays due, a retry of its batch does not close it (moved already), the ticker closes it once', async () => {
    const { store, another, published } = await setUp();
    let fail = true;
    const failing = hooked(store, [], (method) => {
      if (method === 'dueKeys' && fail) {
        fail = false;
        throw new Error('injected: the mover fails before closing');
      }
    });
    const batch = shardRecords(S2, [ev(M + 5_000)], 10n);
    const r = await engineOn(failing, published).processBatch(S2, batch);
    expect(r.retryFrom).toBe(batch[0]!.sequenceNumber);
    expect(await store.getStreamWatermark('telemetry')).toBe(T0 + M + 5_000);
    // Lambda retries the batch: its records are in (high-water marks), the watermark is where it moved: nothing to close.
    expect((await engineOn(another(), published).processBatch(S2, batch)).retryFrom).toBeNull();
    expect(fired(published)).toEqual([]);
    expect((await store.dueKeys('R', T0 + M + 5_000)).map((d) => d.key.windowStart)).toEqual([T0]);
    const tick = await engineOn(another(), published).advance();
    expect(tick.windowsClosed).toBe(1);
    expect(fired(published)).toEqual([['firing', 0, 4]]);
    expect((await engineOn(another(), published).advance()).windowsClosed).toBe(0);
    expect(fired(published)).toEqual([['firing', 0, 4]]);
  });
});
