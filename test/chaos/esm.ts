/**
 * A simulated Kinesis event source mapping for one shard, with Lambda's
 * semantics: one batch in flight per shard (ParallelizationFactor 1), records
 * in sequence order, batches of random size; a partial batch response makes it
 * checkpoint the records before the lowest failed sequence number and retry
 * from there; a function error (a thrown error, a crash, a timeout) makes it
 * bisect the batch (BisectBatchOnFunctionError) and retry each half; a child
 * shard starts only once its parents are finished. Retries are bounded: a
 * batch that keeps failing once the faults ran out is a liveness failure.
 */
import type { Random } from '../../local/demo/random';
import type { FaultPlan } from './faults';
import type { SimRecord, SimShard } from './kinesis';
import type { Container, World } from './world';

export const MAX_ATTEMPTS = 40;

export class ShardConsumer {
  /** Checkpoint: every record before this index is done with. */
  position = 0;
  /** Ranges [from, to) still to deliver after a bisect or a partial failure; the first starts at `position`. */
  private pending: Array<[number, number]> = [];
  private attempts = 0;
  container: Container | undefined;
  stalled = false;

  constructor(
    readonly shard: SimShard,
    private readonly world: World,
    private readonly faults: FaultPlan,
    private readonly rng: Random,
    private readonly maxBatch: number,
    private readonly parentsDone: () => boolean,
  ) {}

  /** There is something to deliver and the parents are done. */
  ready(): boolean {
    return !this.stalled && this.parentsDone() && (this.pending.length > 0 || this.position < this.shard.records.length);
  }

  finished(): boolean {
    return !this.shard.open && this.pending.length === 0 && this.position >= this.shard.records.length;
  }

  /** Delivers one batch (or one retry). `batchSize` forces the size (setup phase). */
  async step(batchSize?: number): Promise<void> {
    const records = this.shard.records;
    // Lambda fills a batch up to its BatchSize when records are waiting; sometimes it sends fewer (batching window, payload limit).
    const size = batchSize ?? (this.rng.chance(0.7) ? this.maxBatch : 1 + this.rng.int(this.maxBatch));
    const fromPending = this.pending.length > 0;
    const range: [number, number] = fromPending ? this.pending[0]! : [this.position, Math.min(records.length, this.position + size)];
    const batch: SimRecord[] = records.slice(range[0], range[1]);
    // Lambda may route the batch to any idle warm container of the function: its caches are those of whatever it ran last.
    const idle = this.world.idleProcessors().filter((c) => c !== this.container);
    if (idle.length > 0) {
      const pick = idle[this.faults.rng('warm-container').int(idle.length)]!;
      if (this.faults.roll('warm-container', this.world.op, () => `${this.shard.id} records ${this.position}.. routed to warm container ${pick.id}`)) this.container = pick;
    }
    this.container ??= this.world.newContainer('processor');
    if (this.container.busy) this.container = this.world.newContainer('processor');
    const outcome = await this.world.invokeProcessor(this.container, batch);
    const at = this.world.op;
    const where = () => `${this.shard.id} records ${range[0]}..${range[1] - 1}`;

    if (outcome.kind === 'error') {
      if (outcome.crashed) this.container = undefined;
      this.failed(range, fromPending, null);
      return;
    }
    if (outcome.failures.length > 0) {
      // Lambda retries from the lowest sequence number reported.
      const indexes = outcome.failures.map((id) => batch.findIndex((r) => r.sequenceNumber === id));
      if (indexes.some((i) => i < 0)) {
        this.world.violation(`batchItemFailures name a sequence number that is not in the batch (${where()}): ${outcome.failures.join(', ')}`);
        this.failed(range, fromPending, null);
        return;
      }
      this.failed(range, fromPending, range[0] + Math.min(...indexes));
      return;
    }
    // Success; the mapping may still misbehave.
    this.attempts = 0;
    if (this.faults.roll('bisect', at, () => `function error reported after success: ${where()}`)) {
      this.failed(range, fromPending, null, true);
      return;
    }
    if (this.faults.roll('redeliver', at, () => `delivered again: ${where()}`)) {
      if (!fromPending) this.pending.unshift(range);
      return;
    }
    if (batch.length > 1 && this.faults.roll('retry-from', at, () => `retry from inside: ${where()}`)) {
      const from = range[0] + 1 + this.faults.rng('retry-from').int(batch.length - 1);
      if (fromPending) this.pending[0] = [from, range[1]];
      else this.pending.unshift([from, range[1]]);
      this.position = from;
      return;
    }
    if (fromPending) this.pending.shift();
    this.position = range[1];
  }

  /** A failed delivery: retry from `retryFrom` (partial failure), or bisect (function error). */
  private failed(range: [number, number], fromPending: boolean, retryFrom: number | null, injected = false): void {
    if (!injected) {
      this.attempts += 1;
      if (this.attempts >= MAX_ATTEMPTS) {
        this.world.violation(`liveness: ${this.shard.id} records ${range[0]}..${range[1] - 1} failed ${this.attempts} times in a row`);
        this.stalled = true;
        return;
      }
    }
    let next: Array<[number, number]>;
    if (retryFrom !== null) {
      next = [[retryFrom, range[1]]];
      this.position = retryFrom;
    } else if (range[1] - range[0] > 1) {
      const mid = range[0] + Math.ceil((range[1] - range[0]) / 2);
      next = [
        [range[0], mid],
        [mid, range[1]],
      ];
    } else {
      next = [range];
    }
    if (fromPending) this.pending.splice(0, 1, ...next);
    else this.pending.unshift(...next);
    // A retry may land on a new container.
    if (this.container && this.faults.roll('cold-container', this.world.op, () => `retry of ${this.shard.id} on a new container`)) this.container = undefined;
  }
}
