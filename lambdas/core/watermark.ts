import type { EpochMs } from './types';

/**
 * What is known of one shard's progress in event time. Plain data, so it can
 * be stored (one item per shard) and merged.
 */
export interface ShardProgress {
  readonly shardId: string;
  /** Largest event time seen on the shard (-Infinity when none yet). */
  readonly maxEventTime: EpochMs;
  /** Wall-clock time of the last batch with records on this shard. */
  readonly lastActivity: EpochMs;
}

export interface WatermarkPolicy {
  /** Allowed out-of-orderness: the shard's watermark is maxEventTime minus this. */
  readonly outOfOrdernessMs: number;
  /** A shard silent for this long is idle and no longer holds the stream's watermark back. */
  readonly idleTimeoutMs: number;
}

/** The shard's own watermark: no event older than this is expected from it any more. */
export function shardWatermark(p: ShardProgress, policy: WatermarkPolicy): EpochMs {
  return p.maxEventTime - policy.outOfOrdernessMs;
}

/** Folds a batch's event times into a shard's progress. Never goes backwards. */
export function advanceShard(p: ShardProgress | undefined, shardId: string, maxEventTimeInBatch: EpochMs, now: EpochMs): ShardProgress {
  return {
    shardId,
    maxEventTime: Math.max(p?.maxEventTime ?? -Infinity, maxEventTimeInBatch),
    lastActivity: Math.max(p?.lastActivity ?? -Infinity, now),
  };
}

/**
 * The stream's watermark: the minimum over its shards' watermarks, where an
 * idle shard (silent for `idleTimeoutMs` of wall-clock time) follows the wall
 * clock instead, lagging by the idle timeout plus the out-of-orderness: a
 * producer that has said nothing for that long is assumed to have nothing older
 * to say. With no shards known, there is no watermark (-Infinity).
 *
 * `previous` keeps it monotonic: the stream's watermark never goes backwards,
 * even when a new shard (after a reshard) appears with older event times.
 */
export function streamWatermark(
  shards: readonly ShardProgress[],
  policy: WatermarkPolicy,
  now: EpochMs,
  previous: EpochMs = -Infinity,
): EpochMs {
  if (shards.length === 0) return previous;
  let min = Infinity;
  const wallClockFloor = now - policy.idleTimeoutMs - policy.outOfOrdernessMs;
  for (const p of shards) {
    const own = shardWatermark(p, policy);
    const idle = now - p.lastActivity >= policy.idleTimeoutMs;
    const effective = idle ? Math.max(own, wallClockFloor) : own;
    if (effective < min) min = effective;
  }
  return Math.max(previous, min);
}
