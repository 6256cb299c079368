import type { BatchReport } from '../lambdas/core/Engine';
import type { InMemoryStateStore } from '../lambdas/core/InMemoryStateStore';
import type { AlertTransition } from '../lambdas/core/lifecycle';
import type { KinesisLikeRecord, Pipeline } from '../lambdas/core/types';
import { Replay } from './tools/replay';

export { VirtualClock } from './tools/replay';

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
 * in-memory store (the loop `tidewatch test` and `backtest` run, see
 * tools/replay.ts): Lambda-like batches per shard every `batchWindowMs` of
 * arrival time, and the ticker on its schedule for `drainMs` after the last
 * record.
 */
export async function simulate(opts: SimulationOptions): Promise<SimulationResult> {
  const alerts: AlertTransition[] = [];
  const replay = new Replay({
    pipeline: opts.pipeline,
    stream: opts.stream,
    batchWindowMs: opts.batchWindowMs ?? 1000,
    // One batch per shard per window, as the simulation always played it.
    batchSize: Number.MAX_SAFE_INTEGER,
    tickEveryMs: opts.tickEveryMs ?? 60_000,
    onTransition: (t, at) => {
      alerts.push(t);
      opts.onAlert?.(t, at.clock);
    },
    ...(opts.onBatch ? { onBatch: opts.onBatch } : {}),
  });
  for (const r of opts.records) {
    const played = replay.push(r);
    if (played) await played;
  }
  const last = replay.stats().lastArrival;
  if (last !== null) await replay.runUntil(last + (opts.batchWindowMs ?? 1000) + (opts.drainMs ?? 5 * 60_000));
  const stats = await replay.finish({ flush: false });
  const rejected = Object.values(stats.rejected).reduce((a, b) => a + b, 0);
  return { alerts, store: replay.store, batches: stats.batches, rejected, late: stats.late };
}
