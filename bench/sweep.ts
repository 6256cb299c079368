/**
 * The batching sweep: batch size (100, 1,000, 10,000) × batching window (0,
 * 1 s, 5 s), what each costs and how much latency it adds, so that the CDK
 * construct's defaults (and the pipeline file's `batching: latency | cost`)
 * are chosen from measurements.
 *
 * The batch a Lambda invocation gets is not the batch size: it is what the
 * shard carried while the event source mapping gathered it. The model
 * (stated in docs/BENCHMARKS.md): Lambda polls each shard about once per
 * second; with a batching window W it gathers for up to W seconds, and stops
 * early when the batch is full. So a batch gathers for
 * F = max(1 s, min(W, B / r)) at r records per second per shard (B the batch
 * size) and holds min(B, r × F) records. Each distinct batch that gives is
 * run on dynalite with the real handler (writes, write units, processing
 * time measured); the cells of the grid that give the same batch share a run.
 *
 * Added end-to-end latency of an event (beyond Kinesis and SNS themselves):
 * its wait for the batch to be gathered (uniform over F: F/2 on average, F at
 * worst), the batches queued before it when one poll brings more than one
 * batch (a poll brings r × 1 s records, processed in order), and the batch's
 * processing time as measured here (a local dynalite, not DynamoDB: the
 * request round trips of a real table add to it).
 */
import { costPerMillion, type CostPerMillion } from './costModel';
import type { Dynalite } from './dynamo';
import { runTidewatch, type ScenarioResult } from './state';
import { batchesOf, expectedTotals, floorOf, type StateWorkload } from './workload';
import type { Pipeline } from '../lambdas/core/types';

export const SWEEP_BATCH_SIZES = [100, 1_000, 10_000] as const;
export const SWEEP_WINDOWS_S = [0, 1, 5] as const;
/** Lambda polls a shard about once a second (standard iterator); a batch never gathers for less. */
export const POLL_INTERVAL_S = 1;

export interface SweepRun {
  /** Records per invocation in this run. */
  readonly batch: number;
  readonly events: number;
  readonly correct: boolean;
  readonly writesPerEvent: number;
  readonly wruPerEvent: number;
  readonly rruPerEvent: number;
  /** The per-window floor of writes per event at this batch. */
  readonly floorWritesPerEvent: number;
  /** The per-pane floor (workload.ts Floor.paneAggregates; absent in results saved before panes). */
  readonly paneFloorWritesPerEvent?: number;
  /** Mean processing time of one invocation (ms, dynalite on this machine). */
  readonly processingMs: number;
  readonly lambdaMsPerEvent: number;
  readonly wruByKindPerEvent: Record<string, number>;
}

export interface SweepCell {
  readonly batchSize: number;
  readonly windowS: number;
  /** Seconds a batch gathers records (the model above). */
  readonly gatherS: number;
  /** Records per invocation. */
  readonly batch: number;
  readonly writesPerEvent: number;
  readonly wruPerEvent: number;
  readonly dollarsPerMillionEvents: number;
  readonly cost: CostPerMillion;
  /**
   * Added end-to-end latency (ms), mean and worst over the events of a batch,
   * and its parts: waiting to be gathered (the model: machine-independent)
   * and processing (batches queued from the same poll, and the batch itself,
   * as measured here: dynalite on this machine, so load-dependent).
   */
  readonly addedLatencyMs: { readonly mean: number; readonly worst: number; readonly gatherMean: number; readonly gatherWorst: number; readonly processing: number };
}

export interface SweepResult {
  readonly events: number;
  readonly recordsPerSecPerShard: number;
  readonly model: string;
  readonly runs: SweepRun[];
  readonly cells: SweepCell[];
}

export const SWEEP_MODEL =
  'a batch gathers for F = max(1 s poll, min(window, batchSize / r)) at r records/s per shard and holds min(batchSize, r × F) records; added latency = F/2 mean (F worst) waiting to be gathered + the batches before it from the same poll + the measured processing time of one batch (dynalite on this machine)';

/** Records per invocation and the seconds a batch gathers, for a batch size and window at r records/s per shard. */
export function gathered(batchSize: number, windowS: number, r: number): { batch: number; gatherS: number } {
  const gatherS = Math.max(POLL_INTERVAL_S, Math.min(windowS, batchSize / r));
  return { batch: Math.max(1, Math.min(batchSize, Math.round(r * gatherS))), gatherS };
}

/** The added latency of the model (ms). */
export function addedLatency(batchSize: number, gatherS: number, r: number, processingMs: number): SweepCell['addedLatencyMs'] {
  // One poll brings up to r × F records; with a smaller batch size they are processed as several batches, one after another.
  const perPoll = Math.max(1, Math.ceil((r * gatherS) / batchSize));
  const queued = ((perPoll - 1) / 2) * processingMs;
  const gatherMean = (gatherS * 1000) / 2;
  const gatherWorst = gatherS * 1000;
  return { mean: gatherMean + queued + processingMs, worst: gatherWorst + (perPoll - 1) * processingMs + processingMs, gatherMean, gatherWorst, processing: queued + processingMs };
}

export interface SweepOptions {
  readonly dynalite: Dynalite;
  readonly pipeline: Pipeline;
  readonly workload: StateWorkload;
  readonly lambdaMemoryMb: number;
  /** Called around each run (progress). */
  readonly timed?: <T>(label: string, f: () => Promise<T>) => Promise<T>;
}

export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const w = o.workload;
  const r = w.options.ratePerSec / w.options.shards;
  const grid = SWEEP_BATCH_SIZES.flatMap((batchSize) => SWEEP_WINDOWS_S.map((windowS) => ({ batchSize, windowS, ...gathered(batchSize, windowS, r) })));
  const runs = new Map<number, SweepRun>();
  for (const batch of [...new Set(grid.map((g) => g.batch))].sort((a, b) => a - b)) {
    const rounds = batchesOf(w, batch);
    const go = () => runTidewatch({ name: `sweep batch ${batch}`, dynalite: o.dynalite, pipeline: o.pipeline, rounds, batchSize: batch, expected: expectedTotals(rounds.flat().flatMap((b) => b.events)) });
    const res: ScenarioResult = o.timed ? await o.timed(`sweep: batch ${batch} (${w.events.toLocaleString('en-US')} events)`, go) : await go();
    const floor = floorOf(o.pipeline, rounds);
    const c = res.counter;
    const invocationMs = res.run.invocationMs;
    runs.set(batch, {
      batch,
      events: res.events,
      correct: res.check.ok,
      writesPerEvent: c.writes / res.events,
      wruPerEvent: (c.wru + c.gsiWru) / res.events,
      rruPerEvent: c.rru / res.events,
      floorWritesPerEvent: (floor.aggregates + floor.absence) / floor.records,
      paneFloorWritesPerEvent: (floor.paneAggregates + floor.absence) / floor.records,
      processingMs: invocationMs.reduce((a, b) => a + b, 0) / invocationMs.length,
      lambdaMsPerEvent: invocationMs.reduce((a, b) => a + b, 0) / res.events,
      wruByKindPerEvent: Object.fromEntries(Object.entries(c.wruByKind).map(([k, v]) => [k, v / res.events])),
    });
  }
  const cells = grid.map((g): SweepCell => {
    const run = runs.get(g.batch)!;
    const cost = costPerMillion({
      wruPerEvent: run.wruPerEvent,
      rruPerEvent: run.rruPerEvent,
      invocationsPerEvent: 1 / g.batch,
      lambdaMsPerEvent: run.lambdaMsPerEvent,
      memoryMb: o.lambdaMemoryMb,
      publishesPerEvent: 0,
      shards: w.options.shards,
      eventsPerSec: w.options.ratePerSec,
      putUnitsPerEvent: 1,
    });
    return {
      batchSize: g.batchSize,
      windowS: g.windowS,
      gatherS: g.gatherS,
      batch: g.batch,
      writesPerEvent: run.writesPerEvent,
      wruPerEvent: run.wruPerEvent,
      dollarsPerMillionEvents: cost.total,
      cost,
      addedLatencyMs: addedLatency(g.batchSize, g.gatherS, r, run.processingMs),
    };
  });
  return { events: w.events, recordsPerSecPerShard: r, model: SWEEP_MODEL, runs: [...runs.values()], cells };
}
