/**
 * `emit: early` session rules do not close quietly (closing.ts mayCloseQuietly: only tumbling early
 * windows do). Found in review: with quiet session closes, an early step that landed after the closer
 * judged the session failing at rest (a retried batch's believed state, or a step in flight) fired on
 * the closed session and nothing ever resolved it. These are the two sequences, with the outcome the
 * recorded close gives: nothing fires, the group ends at rest.
 */
import { Engine } from '../../lambdas/core/Engine';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import type { StateStore } from '../../lambdas/core/StateStore';
import type { WindowRule } from '../../lambdas/core/types';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../helpers/factories';
import { storeFixtures } from '../helpers/storeFixtures';

const M = 60_000;
const S1 = 'shardId-000000000001';
const S2 = 'shardId-000000000002';
const G = JSON.stringify(['a']);
const { inMemory, onDynamoDB } = storeFixtures();
const rule: WindowRule = windowRule({
  name: 'Errors',
  window: { kind: 'session', gapMs: 40_000 },
  aggregates: [countAgg('n'), { name: 'errs', kind: 'count', condition: fn('status >= 500', (v) => (v['status'] as number) >= 500), source: 'count(status >= 500)' }],
  when: fn('errs * 2 > n', (v) => (v['errs'] as number) * 2 > (v['n'] as number)),
  emit: 'early',
});
const PIPELINE = pipelineOf([rule], streamSpec({ outOfOrdernessMs: 10_000, idleTimeoutMs: M }));
const BATCH_NOW = T0 + M + 30_000;
const TICK_NOW = T0 + 3 * M + 30_000;
let ids = 0;
const ev = (o: number, status: number) => ({ eventId: `e${++ids}`, service: 'a', ts: new Date(T0 + o).toISOString(), status });

/** The store, with `before` run before each of its calls (to fail one or to interleave another process). */
function hooked(store: StateStore, before: (method: string) => Promise<void> | void): StateStore {
  return new Proxy(store, {
    get(target, p, receiver) {
      const v = Reflect.get(target, p, receiver) as unknown;
      if (typeof v !== 'function' || typeof p !== 'string') return v;
      return async (...args: unknown[]) => {
        await before(p);
        return (await (v as (...x: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
      };
    },
  });
}
const engineOn = (store: StateStore, now: number, published: AlertTransition[]) =>
  new Engine({ pipeline: PIPELINE, stream: 'telemetry', store, clock: { now: () => now }, publish: async (t) => void published.push(t) });

describe.each([inMemory, onDynamoDB])('an early session rule when the session closes under a step ($name)', (fixture) => {
  it('a retried batch (its early step failed) does not fire on the session the ticker closed failing meanwhile', async () => {
    const { store, another } = await fixture.fresh();
    const published: AlertTransition[] = [];
    let fail = true;
    const flaky = hooked(store, (m) => {
      if (m === 'updateAlert' && fail) {
        fail = false;
        throw new Error('throttled');
      }
    });
    // Shard 1: 2 errors (2/2 holds); its early step fails, so Lambda retries the batch.
    const batch = shardRecords(S1, [ev(64_000, 503), ev(65_000, 503)], 10n);
    expect((await engineOn(flaky, BATCH_NOW, published).processBatch(S1, batch)).retryFrom).not.toBeNull();
    // Shard 2: 3 successes in the same session (2/5: fails).
    await engineOn(another(), BATCH_NOW, published).processBatch(S2, shardRecords(S2, [ev(67_000, 200), ev(68_000, 200), ev(69_000, 200)], 1n));
    // The retry, same container (its belief: 2/2); the ticker closes the session just before its apply.
    const ticker = engineOn(another(), TICK_NOW, published);
    let race = true;
    const retry = hooked(store, async (m) => {
      if (m !== 'apply' || !race) return;
      race = false;
      await ticker.advance();
    });
    await engineOn(retry, BATCH_NOW, published).processBatch(S1, batch);
    expect(race).toBe(false);
    for (const k of [1, 5, 30]) await engineOn(another(), TICK_NOW + k * M, published).advance();
    expect(published).toEqual([]);
    expect((await store.readAlert('Errors', G))?.state.status ?? 'inactive').toBe('inactive');
  });

  it('an early step in flight when the session closes failing does not leave a firing alert', async () => {
    const { store, another } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const ticker = engineOn(another(), TICK_NOW, published);
    let race = true;
    // Shard 1 applies 2/2 errors; before its early step records, shard 2's successes land and the ticker closes.
    const shard1 = engineOn(
      hooked(store, async (m) => {
        if (m !== 'updateAlert' || !race) return;
        race = false;
        await engineOn(another(), BATCH_NOW, published).processBatch(S2, shardRecords(S2, [ev(67_000, 200), ev(68_000, 200), ev(69_000, 200)], 1n));
        await ticker.advance();
      }),
      BATCH_NOW,
      published,
    );
    await shard1.processBatch(S1, shardRecords(S1, [ev(64_000, 503), ev(65_000, 503)], 1n));
    expect(race).toBe(false);
    for (const k of [1, 5, 30, 120]) await engineOn(another(), TICK_NOW + k * M, published).advance();
    expect(published).toEqual([]);
    expect((await store.readAlert('Errors', G))?.state.status ?? 'inactive').toBe('inactive');
  });
});
