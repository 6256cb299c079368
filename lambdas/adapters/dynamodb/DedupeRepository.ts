import type { Conditional, DedupeBucket, DedupeStorage, Versioned } from '../../core/state/StateStorage';
import type { EpochMs } from '../../core/types';
import { attributeNotExists, equals } from './expressions';
import { ATTR, dedupeLayout, LIMITS, StateLayoutError, utf8Bytes } from './tableLayout';
import type { StateTable } from './StateTable';

interface CachedBucket {
  readonly ids: Map<string, string>;
  readonly bytes: number;
  readonly version: number;
}

/** Buckets of ids cached per container (each is about 1,000 ids at 1,000 records/s per shard). */
const CACHE_BUCKETS = 4096;

/**
 * Producer-id items: per shard and second of event time, the ids recorded
 * and the sequence number each came with, as one JSON attribute, rewritten
 * whole on the version it was decided on. Cached between batches, so a warm
 * container reads a bucket at most once.
 */
export class DedupeRepository implements DedupeStorage {
  private readonly cache = new Map<string, CachedBucket>();

  constructor(private readonly table: StateTable) {}

  async bucket(stream: string, shardId: string, bucket: number): Promise<Versioned<DedupeBucket>> {
    const id = `${stream}\u0000${shardId}\u0000${bucket}`;
    let cached = this.cache.get(id);
    if (!cached) {
      const item = await this.table.get('dedupe', 'dedupe.read', dedupeLayout.key(stream, shardId, bucket));
      cached = item ? dedupeLayout.decode(item) : { ids: new Map(), bytes: 2, version: 0 };
      this.remember(id, cached);
    }
    return { value: cached, version: cached.version };
  }

  async add(
    stream: string,
    shardId: string,
    bucket: number,
    current: Versioned<DedupeBucket>,
    added: ReadonlyMap<string, string>,
    addedBytes: number,
    expiresAt: EpochMs,
  ): Promise<Conditional<Versioned<DedupeBucket>>> {
    const id = `${stream}\u0000${shardId}\u0000${bucket}`;
    const key = dedupeLayout.key(stream, shardId, bucket);
    const ids = new Map(current.value.ids);
    for (const [k, v] of added) ids.set(k, v);
    const item = dedupeLayout.encode(key, ids, current.version + 1, Math.ceil(expiresAt / 1000));
    const bytes = utf8Bytes(String(item[ATTR.ids]));
    if (bytes > LIMITS.itemBytes - 1024) throw new StateLayoutError(`state table: dedupe bucket ${bucket} of ${shardId} would hold ${bytes} bytes of ids; DynamoDB allows ${LIMITS.itemBytes} per item`);
    const written = await this.table.write(
      'dedupe',
      'dedupe.add',
      key,
      { kind: 'put', item, condition: current.version === 0 ? attributeNotExists(ATTR.pk) : equals(ATTR.version, current.version) },
      'current',
    );
    if (!written.ok) {
      this.cache.delete(id);
      if (written.current === undefined) return { ok: false, current: undefined };
      const stored = dedupeLayout.decode(written.current);
      this.remember(id, stored);
      return { ok: false, current: { value: stored, version: stored.version } };
    }
    const next: CachedBucket = { ids, bytes: current.value.bytes + addedBytes, version: current.version + 1 };
    this.remember(id, next);
    return { ok: true, value: { value: next, version: next.version } };
  }

  private remember(id: string, bucket: CachedBucket): void {
    this.cache.delete(id);
    this.cache.set(id, bucket);
    if (this.cache.size > CACHE_BUCKETS) this.cache.delete(this.cache.keys().next().value!);
  }
}
