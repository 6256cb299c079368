/**
 * A simulated Kinesis stream for the chaos runs: shards with hash-key ranges
 * (MD5 of the partition key, as Kinesis does), per-shard sequence numbers that
 * grow with gaps, closed parents and children with their own sequence space
 * after a split or a merge, and PutRecords that can partially fail.
 */
import { createHash } from 'node:crypto';
import type { Random } from '../../local/demo/random';
import type { KinesisLikeRecord, RejectReason } from '../../lambdas/core/types';

/** An event as the producer sent it. */
export interface ProducedEvent {
  readonly eventId: string;
  readonly t: number;
  /** null: the event has no service field (the rules, grouping by it, skip it and count it). */
  readonly service: string | null;
  readonly status: number;
  readonly latencyMs: number;
  readonly user: string;
}

/** One user event of a record, or a sub-event that must be quarantined on its own. */
export type EventMeta = ({ readonly kind: 'event' } & ProducedEvent) | { readonly kind: 'bad'; readonly reason: RejectReason };

/**
 * What the producer meant by a record (the oracle's view of it): one event, a
 * record rejected whole, a record of several sub-events in index order (a KPL
 * aggregate, a CloudWatch Logs payload), or a CloudWatch Logs CONTROL_MESSAGE.
 */
export type RecordMeta =
  | EventMeta
  | { readonly kind: 'multi'; readonly shape: 'kpl' | 'cloudwatch-logs'; readonly events: readonly EventMeta[] }
  | { readonly kind: 'control' };

export interface SimRecord extends KinesisLikeRecord {
  readonly meta: RecordMeta;
}

export interface PutEntry {
  readonly partitionKey: string;
  readonly data: string;
  readonly meta: RecordMeta;
}

const HASH_SPACE = 2n ** 128n;

export function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

export class SimShard {
  readonly records: SimRecord[] = [];
  open = true;
  private next: bigint;

  constructor(
    readonly id: string,
    /** Hash keys in [start, end). */
    readonly start: bigint,
    readonly end: bigint,
    readonly parents: readonly string[],
    private readonly rng: Random,
  ) {
    // A 56-digit sequence space of its own: a child's may start below or above its parent's.
    let digits = String(1 + rng.int(9));
    while (digits.length < 56) digits += String(rng.int(10));
    this.next = BigInt(digits);
  }

  contains(hashKey: bigint): boolean {
    return hashKey >= this.start && hashKey < this.end;
  }

  append(entry: PutEntry, arrivalMs: number): SimRecord {
    if (!this.open) throw new Error(`chaos: put to closed shard ${this.id}`);
    const record: SimRecord = {
      data: entry.data,
      partitionKey: entry.partitionKey,
      sequenceNumber: this.next.toString(),
      approximateArrivalTimestamp: arrivalMs / 1000,
      shardId: this.id,
      meta: entry.meta,
    };
    this.next += BigInt(1 + this.rng.int(5000));
    this.records.push(record);
    return record;
  }
}

export class SimStream {
  readonly shards = new Map<string, SimShard>();
  private count = 0;

  constructor(
    shardCount: number,
    private readonly rng: Random,
  ) {
    for (let i = 0; i < shardCount; i++) {
      const start = (HASH_SPACE * BigInt(i)) / BigInt(shardCount);
      const end = (HASH_SPACE * BigInt(i + 1)) / BigInt(shardCount);
      this.add(start, end, []);
    }
  }

  private add(start: bigint, end: bigint, parents: string[]): SimShard {
    const id = `shardId-${String(this.count++).padStart(12, '0')}`;
    const shard = new SimShard(id, start, end, parents, this.rng);
    this.shards.set(id, shard);
    return shard;
  }

  openShards(): SimShard[] {
    return [...this.shards.values()].filter((s) => s.open).sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  shardFor(partitionKey: string): SimShard {
    const h = hashKeyOf(partitionKey);
    const shard = this.openShards().find((s) => s.contains(h));
    if (!shard) throw new Error(`chaos: no open shard holds hash key ${h}`);
    return shard;
  }

  /** PutRecords: entries whose index `fails` are not written (ProvisionedThroughputExceededException); returns their indexes. */
  put(entries: readonly PutEntry[], arrivalMs: number, fails: (i: number) => boolean = () => false): number[] {
    const failed: number[] = [];
    entries.forEach((e, i) => {
      if (fails(i)) failed.push(i);
      else this.shardFor(e.partitionKey).append(e, arrivalMs);
    });
    return failed;
  }

  /** Splits an open shard at the middle of its hash range. */
  split(shard: SimShard): SimShard[] {
    shard.open = false;
    const mid = shard.start + (shard.end - shard.start) / 2n;
    return [this.add(shard.start, mid, [shard.id]), this.add(mid, shard.end, [shard.id])];
  }

  /** Merges two open shards with adjacent hash ranges. */
  merge(a: SimShard, b: SimShard): SimShard {
    const [lo, hi] = a.start < b.start ? [a, b] : [b, a];
    if (lo.end !== hi.start) throw new Error('chaos: merging shards that are not adjacent');
    lo.open = false;
    hi.open = false;
    return this.add(lo.start, hi.end, [lo.id, hi.id]);
  }

  /** A partition key that lands on `shard` (for the first record a new shard receives). */
  partitionKeyFor(shard: SimShard, tag: string): string {
    for (let i = 0; ; i++) {
      const key = `${tag}-${shard.id}-${i}`;
      if (shard.contains(hashKeyOf(key))) return key;
    }
  }
}
