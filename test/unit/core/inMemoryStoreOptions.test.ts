import { Engine } from '../../../lambdas/core/Engine';
import { dedupeId } from '../../../lambdas/core/dedupe';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../../helpers/factories';
import { dedupeEntries } from '../../helpers/dedupeEntries';

const M = 60_000;
const http = (service: string, ts: number, id = `${service}-${ts}`) => ({ eventId: id, service, ts: new Date(ts).toISOString() });

describe('InMemoryStateStore options (for long replays)', () => {
  it('forgetFinishedWindows: an evaluated window is dropped, and a record for it later is counted late, not stored again', async () => {
    const clock = { now: () => T0 + 10 * M };
    const store = new InMemoryStateStore({ forgetFinishedWindows: true });
    const rule = windowRule({ aggregates: [countAgg()], when: fn('total >= 1', () => true) });
    const engine = new Engine({ pipeline: pipelineOf([rule], streamSpec()), stream: 'telemetry', store, clock, publish: async () => undefined });
    const shard = 'shardId-000000000000';
    await engine.processBatch(shard, shardRecords(shard, [http('a', T0 + 1000), http('a', T0 + M + 1000)], 1n));
    // the first minute closed and was evaluated: only the second is kept
    expect(store.dump().map((k) => k.key.windowStart)).toEqual([T0 + M]);
    const late = await engine.processBatch(shard, shardRecords(shard, [http('a', T0 + 2000)], 10n));
    expect(late.late).toBe(1);
    expect(store.dump().map((k) => k.key.windowStart)).toEqual([T0 + M]);
  });

  it('clock: producer-duplicate ids are dropped once past their expiry, as DynamoDB TTL drops them', async () => {
    let now = 1000;
    const store = new InMemoryStateStore({ clock: { now: () => now } });
    const entries = (seq: string) => dedupeEntries([{ bucket: 0, id: dedupeId('id-1'), seq }]);
    expect(await store.dedupe('s', 'shard', entries('1'), 5000)).toEqual([false]);
    now = 4000;
    expect(await store.dedupe('s', 'shard', entries('2'), 9000)).toEqual([true]);
    now = 9001;
    // the bucket expired (its latest expiry was 9000): the id is new again
    expect(await store.dedupe('s', 'shard', entries('3'), 20_000)).toEqual([false]);
    // without a clock, ids are kept
    const keep = new InMemoryStateStore();
    await keep.dedupe('s', 'shard', entries('1'), 5000);
    expect(await keep.dedupe('s', 'shard', entries('2'), 5000)).toEqual([true]);
  });
});
