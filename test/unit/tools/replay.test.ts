import type { BatchReport } from '../../../lambdas/core/Engine';
import type { AlertTransition } from '../../../lambdas/core/lifecycle';
import type { KinesisLikeRecord } from '../../../lambdas/core/types';
import { Replay, type ReportContext } from '../../../local/tools/replay';
import { absenceRule, countAgg, fn, kinesisRecordFactory, pipelineOf, streamSpec, T0, windowRule } from '../../helpers/factories';

const S = 1000;
const M = 60_000;

const rule = windowRule({ aggregates: [countAgg()], when: fn('total >= 2', (v) => (v['total'] as number) >= 2) });
const silent = absenceRule({ groupBy: ['service'] });

let seq = 0;
/** An event of `service` at `t`, arriving at `arrival` on `shard`. */
function rec(service: string, t: number, arrival = t, shard = 0): KinesisLikeRecord {
  seq += 1;
  return kinesisRecordFactory({ eventId: `e${seq}`, service, ts: new Date(t).toISOString() }, { shardId: `shardId-00000000000${shard}`, sequenceNumber: `4960${String(seq).padStart(52, '0')}`, arrivalMs: arrival });
}

async function play(replay: Replay, records: KinesisLikeRecord[]): Promise<void> {
  for (const r of records) {
    const p = replay.push(r);
    if (p) await p;
  }
}

function setup(opts: { batchWindowMs?: number; batchSize?: number; rules?: Parameters<typeof pipelineOf>[0]; outOfOrdernessMs?: number } = {}) {
  const batches: Array<{ shard: string; records: number; clock: number }> = [];
  const transitions: Array<{ t: AlertTransition; at: ReportContext }> = [];
  const replay: Replay = new Replay({
    pipeline: pipelineOf(opts.rules ?? [rule, silent], streamSpec({ outOfOrdernessMs: opts.outOfOrdernessMs ?? 0 })),
    stream: 'telemetry',
    ...(opts.batchWindowMs !== undefined ? { batchWindowMs: opts.batchWindowMs } : {}),
    ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
    onBatch: (r: BatchReport) => batches.push({ shard: r.shardId, records: r.records, clock: replay.clock.now() }),
    onTransition: (t, at) => transitions.push({ t, at }),
  });
  return { replay, batches, transitions };
}

describe('Replay: the engine on virtual time', () => {
  it('invokes one batch per shard per aligned batching window, at its end, shards taking turns, at most batchSize records at a time', async () => {
    const { replay, batches } = setup({ batchWindowMs: S, batchSize: 2 });
    await play(replay, [rec('a', T0 + 100), rec('a', T0 + 200, T0 + 200, 1), rec('a', T0 + 300), rec('a', T0 + 400), rec('b', T0 + 1500)]);
    await replay.finish({ flush: false });
    expect(batches).toEqual([
      { shard: 'shardId-000000000000', records: 2, clock: T0 + S },
      { shard: 'shardId-000000000001', records: 1, clock: T0 + S },
      { shard: 'shardId-000000000000', records: 1, clock: T0 + S },
      { shard: 'shardId-000000000000', records: 1, clock: T0 + 2 * S },
    ]);
    expect(replay.stats()).toMatchObject({ records: 5, decoded: 5, batches: 4, firstArrival: T0 + 100, lastArrival: T0 + 1500, lastEventTime: T0 + 1500 });
  });

  it('with a 0 window, batches the records of one arrival millisecond', async () => {
    const { replay, batches } = setup({ batchWindowMs: 0 });
    await play(replay, [rec('a', T0), rec('a', T0 + 1), rec('a', T0 + 1), rec('a', T0 + 5)]);
    await replay.finish({ flush: false });
    expect(batches.map((b) => [b.records, b.clock])).toEqual([[1, T0], [2, T0 + 1], [1, T0 + 5]]);
  });

  it('runs the ticker at multiples of its schedule: a shard silent for idleTimeout follows the clock and closes windows', async () => {
    const { replay, transitions } = setup();
    await play(replay, [rec('a', T0 + S), rec('a', T0 + 2 * S)]);
    // the events end at 2 s; the shard is idle from 62 s; the 2m tick's watermark is 2m - 60 s: the first minute closes
    await replay.runUntil(T0 + 2 * M - 1);
    expect(transitions).toEqual([]);
    await replay.runUntil(T0 + 2 * M);
    expect(transitions.map(({ t, at }) => [t.rule, t.state, t.window.start, at])).toEqual([['R', 'firing', T0, { clock: T0 + 2 * M, afterInput: false }]]);
    expect(replay.stats().ticks).toBe(2);
  });

  it('flushes every window of the input at the end, but does not declare every group silent', async () => {
    const { replay, transitions } = setup();
    await play(replay, [rec('a', T0 + S), rec('a', T0 + 2 * S), rec('b', T0 + 3 * S)]);
    const stats = await replay.finish({ flush: true });
    expect(transitions.map(({ t, at }) => [t.rule, t.state, t.group, t.window.start, at.afterInput])).toEqual([
      ['R', 'firing', { service: 'a' }, T0, true],
      ['R', 'resolved', { service: 'a' }, T0 + M, true],
    ]);
    expect(stats.windowsClosed).toBe(2);
    // the absence rule saw both groups and, with no watermark past their deadline from the input, stays quiet
    expect(transitions.some(({ t }) => t.rule === 'Silent')).toBe(false);
  });

  it('plays a batch cut short by the per-batch group cap again from where it stopped, counting every record once', async () => {
    // 10,001 groups in one batch: the engine stops at the last one, which is replayed as the next batch
    const { replay, batches } = setup({ batchSize: 10_001, rules: [rule] });
    const records = Array.from({ length: 10_001 }, (_, i) => rec(`s${i}`, T0 + S));
    await play(replay, records);
    const stats = await replay.finish({ flush: false });
    expect(batches.map((b) => b.records)).toEqual([10_001, 1]);
    expect(stats).toMatchObject({ records: 10_001, decoded: 10_001, perRule: { R: { matched: 10_001 } } });
  });
});
