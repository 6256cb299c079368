import type { Conditional, DedupeBucket, DedupeStorage, Versioned } from '../../core/state/StateStorage';
import type { DedupeIds } from '../../core/dedupe';
import type { EpochMs } from '../../core/types';
import { and, attributeNotExists, beginsWith, equals } from './expressions';
import { ATTR, dedupeLayout, LIMITS, StateLayoutError, type DedupeItem } from './tableLayout';
import type { StateTable } from './StateTable';

interface CachedBucket {
  readonly ids: DedupeIds;
  readonly bytes: number;
  readonly version: number;
}

/** Buckets of ids cached per container (each is about 1,000 ids at 1,000 records/s per shard). */
const CACHE_BUCKETS = 4096;

/**
 * Producer-id items: per shard and second of event time, chunks of ids, each
 * put once by the batch that recorded them, on the condition that the next
 * chunk number is still free (see dedupeLayout in tableLayout.ts). A write is
 * billed on the ids it adds, not on what the bucket already holds. Cached
 * between batches, so a warm container reads a bucket at most once (one
 * strongly consistent query of its chunks), and again only after another
 * writer took the chunk number it meant to write.
 */
export class DedupeRepository implements DedupeStorage {
  private readonly cache = new Map<string, CachedBucket>();

  constructor(private readonly table: StateTable) {}

  async bucket(stream: string, shardId: string, bucket: number): Promise<Versioned<DedupeBucket>> {
    const id = `${stream}\u0000${shardId}\u0000${bucket}`;
    let cached = this.cache.get(id);
    if (!cached) {
      cached = await this.read(stream, shardId, bucket);
      this.remember(id, cached);
    }
    return { value: cached, version: cached.version };
  }

  async add(
    stream: string,
    shardId: string,
    bucket: number,
    current: Versioned<DedupeBucket>,
    added: DedupeIds,
    addedBytes: number,
    expiresAt: EpochMs,
  ): Promise<Conditional<Versioned<DedupeBucket>>> {
    const id = `${stream}\u0000${shardId}\u0000${bucket}`;
    const key = dedupeLayout.chunkKey(stream, shardId, bucket, current.version + 1);
    if (addedBytes > LIMITS.itemBytes - 1024) throw new StateLayoutError(`state table: a dedupe chunk of bucket ${bucket} of ${shardId} would hold ${addedBytes} bytes of ids; DynamoDB allows ${LIMITS.itemBytes} per item`);
    const item = dedupeLayout.encodeChunk(key, added, Math.ceil(expiresAt / 1000));
    const written = await this.table.write('dedupe', 'dedupe.add', key, { kind: 'put', item, condition: attributeNotExists(ATTR.pk) }, 'ignore');
    if (!written.ok) {
      // Another writer took the chunk number: what it holds is only its own chunk, so read the whole bucket again.
      this.cache.delete(id);
      const stored = await this.read(stream, shardId, bucket);
      this.remember(id, stored);
      return { ok: false, current: { value: stored, version: stored.version } };
    }
    // A new bucket takes the protocol's `added` as its ids (handed over); else a copy, as a concurrent
    // decision in this container may still be reading the cached bucket.
    let ids = added;
    if (current.value.ids.size > 0) {
      ids = current.value.ids.copy();
      ids.addAll(added);
    }
    const next: CachedBucket = { ids, bytes: current.value.bytes + addedBytes, version: current.version + 1 };
    this.remember(id, next);
    return { ok: true, value: { value: next, version: next.version } };
  }

  /** The bucket's items, strongly consistent (its chunks, and an item of the layout before chunks if one is left). */
  private async read(stream: string, shardId: string, bucket: number): Promise<DedupeItem> {
    const partition = dedupeLayout.partition(stream, shardId);
    const items = await this.table.query('dedupe', 'dedupe.read', partition, {
      keyCondition: and(equals(ATTR.pk, partition), beginsWith(ATTR.sk, dedupeLayout.bucketPrefix(bucket))),
      consistent: true,
    });
    return dedupeLayout.decodeBucket(items.filter((i) => dedupeLayout.ofBucket(i, bucket)));
  }

  private remember(id: string, bucket: CachedBucket): void {
    this.cache.delete(id);
    this.cache.set(id, bucket);
    if (this.cache.size > CACHE_BUCKETS) this.cache.delete(this.cache.keys().next().value!);
  }
}
