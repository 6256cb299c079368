/**
 * Delivers a workload's batches to a handler the way Lambda's Kinesis event
 * source mapping does: per shard in order, one batch in flight per shard,
 * shards concurrently, each shard served by its own container (its own
 * handler instance and caches). Optionally delivers some batches twice, to
 * the same warm container or to a new (cold) one that then carries on.
 */
import type { CounterSnapshot, RequestCounter } from './dynamo';
import type { Batch } from './workload';

/** One Lambda container: a handler instance with its caches. */
export interface Container {
  /** Invokes the handler with one batch; returns the number of batch item failures it reported. */
  invoke(batch: Batch): Promise<number>;
}

export interface DriveOptions {
  readonly rounds: readonly Batch[][];
  /** A new container (called once per shard, and again for each cold redelivery). */
  readonly container: (shardId: string) => Container;
  /** Batches delivered a second time, right after the first delivery succeeded. */
  readonly redeliver?: (batch: Batch) => boolean;
  /** The second delivery goes to a new container, which serves the shard from then on (as after a crash). */
  readonly cold?: boolean;
  /** Counts the requests of the second deliveries (which run alone, after the round's first deliveries). */
  readonly counter?: RequestCounter;
}

export interface DriveResult {
  readonly invocations: number;
  readonly redelivered: number;
  /** Records in the redelivered batches. */
  readonly redeliveredRecords: number;
  /** Batch item failures reported (each would make Lambda retry). */
  readonly failures: number;
  /** Wall time of the whole run, second deliveries included (ms). */
  readonly wallMs: number;
  /** Wall time of the second deliveries (ms). */
  readonly redeliveryMs: number;
  /** Requests made by the second deliveries themselves (a cold container's later slow paths are not in here). */
  readonly redeliveryRequests: CounterSnapshot;
  /** Duration of each first-delivery invocation (ms). */
  readonly invocationMs: number[];
}

export async function drive(opts: DriveOptions): Promise<DriveResult> {
  const containers = new Map<string, Container>();
  const containerOf = (shardId: string) => {
    let c = containers.get(shardId);
    if (!c) {
      c = opts.container(shardId);
      containers.set(shardId, c);
    }
    return c;
  };
  let invocations = 0;
  let failures = 0;
  let redeliveryMs = 0;
  const redelivered: Batch[] = [];
  const invocationMs: number[] = [];
  const zero = { requests: 0, writes: 0, reads: 0, wru: 0, rru: 0 };
  let redeliveryRequests: CounterSnapshot = zero;
  const invoke = async (b: Batch): Promise<number> => {
    const t = performance.now();
    failures += await containerOf(b.shardId).invoke(b);
    invocations++;
    return performance.now() - t;
  };
  const start = performance.now();
  for (const round of opts.rounds) {
    // One batch per shard in flight, shards concurrently.
    invocationMs.push(...(await Promise.all(round.map(invoke))));
    // Redeliveries of this round's batches, before the shards' next batches (Lambda retries a shard's batch before moving on).
    for (const b of round.filter((x) => opts.redeliver?.(x))) {
      redelivered.push(b);
      if (opts.cold) containers.set(b.shardId, opts.container(b.shardId));
      const before = opts.counter?.snapshot() ?? zero;
      redeliveryMs += await invoke(b);
      const after = opts.counter?.snapshot() ?? zero;
      redeliveryRequests = add(redeliveryRequests, diff(after, before));
    }
  }
  return { invocations, redelivered: redelivered.length, redeliveredRecords: redelivered.reduce((n, b) => n + b.records.length, 0), failures, wallMs: performance.now() - start, redeliveryMs, redeliveryRequests, invocationMs };
}

function diff(a: CounterSnapshot, b: CounterSnapshot): CounterSnapshot {
  return { requests: a.requests - b.requests, writes: a.writes - b.writes, reads: a.reads - b.reads, wru: a.wru - b.wru, rru: a.rru - b.rru };
}

function add(a: CounterSnapshot, b: CounterSnapshot): CounterSnapshot {
  return { requests: a.requests + b.requests, writes: a.writes + b.writes, reads: a.reads + b.reads, wru: a.wru + b.wru, rru: a.rru + b.rru };
}

/** Every tenth batch in delivery order (the 5th, 15th, ...): 10% of batches, the same ones every run. */
export const TEN_PERCENT = (b: Batch): boolean => b.index % 10 === 4;
