import { createHash } from 'node:crypto';
import type { KinesisLikeRecord } from '../lambdas/core/types';

/**
 * Kinesis maps a partition key to a shard by the MD5 of the key as a 128-bit
 * number, within the shards' hash-key ranges. With evenly split shards that is
 * the top bits of the MD5.
 */
export function shardIndexOf(partitionKey: string, shardCount: number): number {
  const md5 = createHash('md5').update(partitionKey, 'utf8').digest();
  const top = md5.readUInt32BE(0);
  return Math.min(shardCount - 1, Math.floor((top / 0x1_0000_0000) * shardCount));
}

export function shardIdOf(index: number): string {
  return `shardId-${String(index).padStart(12, '0')}`;
}

/**
 * Assigns Kinesis-like sequence numbers: 56-digit decimal strings that grow
 * per shard, as Kinesis's do (beyond Number.MAX_SAFE_INTEGER on purpose).
 */
export class SequenceCounter {
  private readonly next = new Map<string, bigint>();

  constructor(private readonly base = 49_600_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000n) {}

  take(shardId: string): string {
    const n = this.next.get(shardId) ?? this.base + BigInt(shardId.replace(/\D/g, '') || '0') * 10n ** 30n;
    this.next.set(shardId, n + 1n + 10n ** 20n);
    return n.toString();
  }
}

export interface ToRecordsOptions {
  readonly shardCount: number;
  /** Payload field used as partition key. */
  readonly partitionKeyField: string;
  readonly sequences: SequenceCounter;
  /** Arrival time (epoch ms) of each payload. */
  readonly arrivalOf: (payload: Record<string, unknown>, index: number) => number;
}

/** Turns payloads into Lambda-shaped Kinesis records, per shard in arrival order. */
export function toKinesisRecords(payloads: ReadonlyArray<Record<string, unknown>>, opts: ToRecordsOptions): KinesisLikeRecord[] {
  return payloads.map((p, i) => {
    const pk = String(p[opts.partitionKeyField] ?? i);
    const shardId = shardIdOf(shardIndexOf(pk, opts.shardCount));
    return {
      data: Buffer.from(JSON.stringify(p), 'utf8').toString('base64'),
      partitionKey: pk,
      sequenceNumber: opts.sequences.take(shardId),
      approximateArrivalTimestamp: opts.arrivalOf(p, i) / 1000,
      shardId,
    };
  });
}
