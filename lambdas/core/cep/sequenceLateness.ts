import type { ShardProgress } from '../watermark';

/**
 * The shard's progress a batch's sequence lateness is decided on.
 *
 * `cached` is what the store's `getShardProgress` gave at the start of the
 * batch. The DynamoDB store used to answer it from the container's cache of
 * its own last write, and Lambda does not pin a shard to a container: a warm
 * container that served this shard long ago, while others went on with it,
 * held an older progress. Judged on it, an event that is late for the shard's
 * watermark would be matched by one container and counted late by another
 * (chaos seed 86: an absent step fired on an error that was late for its
 * shard). The store now reads it strongly consistently for every batch; the
 * larger of the two is still taken, so a store that caches cannot bring the
 * bug back for sequence rules.
 *
 * `listed` is the strongly consistent list of the stream's shard progress
 * that the batch reads anyway for the sequence keys' watermark: its entry for
 * the shard is the truth. Progress is a monotonic register, so the larger of
 * the two is current (the listing can only be behind the cache when the list
 * was read before this container's own write, which cannot happen within one
 * batch; taking the larger is safe either way).
 */
export function currentProgress(cached: ShardProgress | undefined, listed: readonly ShardProgress[], shardId: string): ShardProgress | undefined {
  const stored = listed.find((p) => p.shardId === shardId);
  if (stored === undefined) return cached;
  if (cached === undefined) return stored;
  return {
    shardId,
    maxEventTime: Math.max(cached.maxEventTime, stored.maxEventTime),
    lastActivity: Math.max(cached.lastActivity, stored.lastActivity),
  };
}
