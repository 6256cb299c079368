import { Duration } from 'aws-cdk-lib';

/**
 * The event source mapping's batch size and batching window, chosen from the
 * batching sweep of `npm run bench` (docs/BENCHMARKS.md, "Batching sweep").
 * Lambda polls a shard about once a second, so a window of up to 1 s adds no
 * latency of its own, and a large batch size only matters when a shard
 * carries more than that many records a second (or catches up a backlog):
 * there it cuts invocations and state writes per event.
 *
 * - default (balanced): 10,000 records, 1 s window. The latency of the 1 s
 *   poll, and batches as large as the traffic makes them.
 * - `batching: latency`: 1,000 records, no window. Invoked as soon as a poll
 *   returns records, in smaller batches that are processed sooner.
 * - `batching: cost`: 10,000 records, 5 s window. Up to 5 s more latency;
 *   5 times fewer invocations and fewer state writes per event at low rates.
 *
 * The CDK app's own batchSize / maxBatchingWindow (streamDefaults, streams)
 * win over the pipeline file's choice.
 */
export type BatchingPreference = 'latency' | 'cost' | 'balanced';

export const BATCHING: Readonly<Record<BatchingPreference, { readonly batchSize: number; readonly maxBatchingWindow: Duration }>> = {
  balanced: { batchSize: 10_000, maxBatchingWindow: Duration.seconds(1) },
  latency: { batchSize: 1_000, maxBatchingWindow: Duration.seconds(0) },
  cost: { batchSize: 10_000, maxBatchingWindow: Duration.seconds(5) },
};
