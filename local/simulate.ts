import { Engine, type BatchReport } from '../lambdas/core/Engine';
import { InMemoryStateStore } from '../lambdas/core/InMemoryStateStore';
import type { AlertTransition } from '../lambdas/core/lifecycle';
import type { KinesisLikeRecord, Pipeline } from '../lambdas/core/types';

/** A clock the simulation moves by hand. */
export class VirtualClock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    if (t > this.t) this.t = t;
  }
}

export interface SimulationOptions {
  readonly pipeline: Pipeline;
  readonly stream: string;
  /** Records in arrival order (approximateArrivalTimestamp). */
  readonly records: readonly KinesisLikeRecord[];
  /** Batching window of the simulated event source mapping (ms of arrival time). @default 1000 */
  readonly batchWindowMs?: number;
  /** The ticker's schedule (ms). @default 60000 */
  readonly tickEveryMs?: number;
  /** Virtual time to keep ticking after the last record, so windows close and silence is noticed. @default 5 min */
  readonly drainMs?: number;
  readonly onAlert?: (t: AlertTransition, clockNow: number) => void;
  readonly onBatch?: (r: BatchReport) => void;
}

export interface SimulationResult {
  readonly alerts: AlertTransition[];
  readonly store: InMemoryStateStore;
  readonly batches: number;
  readonly rejected: number;
  readonly late: number;
}

/**
 * Runs the real engine over a recorded stream on virtual time, with the
 * in-memory store: Lambda-like batches per shard every `batchWindowMs` of
 * arrival time, and the ticker on its schedule.
 */
export async function simulate(opts: SimulationOptions): Promise<SimulationResult> {
  const records = opts.records;
  const first = records[0]?.approximateArrivalTimestamp ?? 0;
  const clock = new VirtualClock(first * 1000);
  const store = new InMemoryStateStore();
  const alerts: AlertTransition[] = [];
  const engine = new Engine({
    pipeline: opts.pipeline,
    stream: opts.stream,
    store,
    clock,
    publish: async (t) => {
      alerts.push(t);
      opts.onAlert?.(t, clock.now());
    },
  });
  const windowMs = opts.batchWindowMs ?? 1000;
  const tickEvery = opts.tickEveryMs ?? 60_000;
  let nextTick = clock.now() + tickEvery;
  let batches = 0;
  let rejected = 0;
  let late = 0;
  let i = 0;
  const runBatch = async (batch: Map<string, KinesisLikeRecord[]>) => {
    for (const [shardId, recs] of batch) {
      const report = await engine.processBatch(shardId, recs);
      if (report.retryFrom !== null) throw new Error(`simulation: in-memory batch failed: ${String(report.error)}`);
      batches += 1;
      rejected += report.rejected.length;
      late += report.late;
      opts.onBatch?.(report);
    }
  };
  while (i < records.length) {
    const windowEnd = Math.floor((records[i]!.approximateArrivalTimestamp * 1000) / windowMs) * windowMs + windowMs;
    const batch = new Map<string, KinesisLikeRecord[]>();
    while (i < records.length && records[i]!.approximateArrivalTimestamp * 1000 < windowEnd) {
      const r = records[i++]!;
      const list = batch.get(r.shardId) ?? [];
      list.push(r);
      batch.set(r.shardId, list);
    }
    clock.set(windowEnd);
    await runBatch(batch);
    while (clock.now() >= nextTick) {
      await engine.advance();
      nextTick += tickEvery;
    }
  }
  const end = clock.now() + (opts.drainMs ?? 5 * 60_000);
  while (nextTick <= end) {
    clock.set(nextTick);
    await engine.advance();
    nextTick += tickEvery;
  }
  return { alerts, store, batches, rejected, late };
}
