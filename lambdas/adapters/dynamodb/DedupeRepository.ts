import type { Conditional, DedupeBucket, DedupeStorage, Versioned } from '../../core/state/StateStorage';
import type { DedupeIds } from '../../core/dedupe';
import type { EpochMs } from '../../core/types';
import { DEDUPE_BUCKET_MS, DEDUPE_ENTRY_BYTES } from '../../core/dedupe';
import { and, attributeNotExists, beginsWith, between, equals } from './expressions';
import { ATTR, dedupeLayout, LIMITS, StateLayoutError, type DedupeItem } from './tableLayout';
import type { StateTable } from './StateTable';

interface CachedBucket {
  readonly ids: DedupeIds;
  readonly bytes: number;
  readonly version: number;
}

/** Buckets of ids cached per container (each is about 5,000 ids at 1,000 records/s per shard: the ids of 4,096 one-second buckets, as before). */
const CACHE_BUCKETS = 1024;

/** Bytes of ids one chunk item holds at most (a batch adding more to a bucket puts several chunks), well under DynamoDB's 400 KB. */
export const DEDUPE_MAX_CHUNK_BYTES = 300 * 1024;

/**
 * Producer-id items: per shard and bucket of event time (5 s), chunks of ids, each
 * put once by the batch that recorded them (one chunk, or several when it records more than a chunk holds), on the condition that the next
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
    checkBucket(bucket);
    // Chunks of at most DEDUPE_MAX_CHUNK_BYTES (one, but for a batch of many ids in one bucket), numbered on from the version.
    const perChunk = Math.floor(DEDUPE_MAX_CHUNK_BYTES / DEDUPE_ENTRY_BYTES);
    const chunks = Math.max(1, Math.ceil(added.size / perChunk));
    if (addedBytes > chunks * (LIMITS.itemBytes - 1024)) throw new StateLayoutError(`state table: ${chunks} dedupe chunk(s) of bucket ${bucket} of ${shardId} would hold ${addedBytes} bytes of ids; DynamoDB allows ${LIMITS.itemBytes} per item`);
    for (let c = 0; c < chunks; c++) {
      const key = dedupeLayout.chunkKey(stream, shardId, bucket, current.version + 1 + c);
      const item = dedupeLayout.encodeChunk(key, added, Math.ceil(expiresAt / 1000), c * perChunk, Math.min(added.size, (c + 1) * perChunk));
      const written = await this.table.write('dedupe', 'dedupe.add', key, { kind: 'put', item, condition: attributeNotExists(ATTR.pk) }, 'ignore');
      if (!written.ok) {
        // Another writer took the chunk number: what it holds is only its own chunk, so read the whole bucket again.
        // (Chunks this call wrote before hold its ids with its fingerprints: decided again, they are this batch's, not duplicates.)
        this.cache.delete(id);
        const stored = await this.read(stream, shardId, bucket);
        this.remember(id, stored);
        return { ok: false, current: { value: stored, version: stored.version } };
      }
    }
    // A new bucket takes the protocol's `added` as its ids (handed over); else a copy, as a concurrent
    // decision in this container may still be reading the cached bucket.
    let ids = added;
    if (current.value.ids.size > 0) {
      ids = current.value.ids.copy();
      ids.addAll(added);
    }
    const next: CachedBucket = { ids, bytes: current.value.bytes + addedBytes, version: current.version + chunks };
    this.remember(id, next);
    return { ok: true, value: { value: next, version: next.version } };
  }

  /** The bucket's items, strongly consistent: its chunks, and those of its seconds as one-second buckets and the layout before chunks filed them (one Query). */
  private async read(stream: string, shardId: string, bucket: number): Promise<DedupeItem> {
    checkBucket(bucket);
    const partition = dedupeLayout.partition(stream, shardId);
    const sk = dedupeLayout.bucketSortKeys(bucket);
    const items = await this.table.query('dedupe', 'dedupe.read', partition, {
      keyCondition: and(equals(ATTR.pk, partition), 'between' in sk ? between(ATTR.sk, sk.between[0], sk.between[1]) : beginsWith(ATTR.sk, sk.prefix)),
      consistent: true,
    });
    return dedupeLayout.decodeBucket(
      items.filter((i) => dedupeLayout.ofBucket(i, bucket)),
      bucket,
    );
  }

  private remember(id: string, bucket: CachedBucket): void {
    this.cache.delete(id);
    this.cache.set(id, bucket);
    if (this.cache.size > CACHE_BUCKETS) this.cache.delete(this.cache.keys().next().value!);
  }
}

/** A bucket is the start of DEDUPE_BUCKET_MS of event time (Engine files ids so): one that is not would read other buckets' seconds. */
function checkBucket(bucket: number): void {
  if (!Number.isInteger(bucket) || bucket % DEDUPE_BUCKET_MS !== 0) throw new StateLayoutError(`state table: dedupe bucket ${bucket} is not a multiple of ${DEDUPE_BUCKET_MS} ms of event time`);
}
