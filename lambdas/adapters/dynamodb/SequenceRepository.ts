import { TABLE } from '../../core/contract';
import type { SequenceRecord, SequenceStorage } from '../../core/state/SequenceStorage';
import type { Conditional, Versioned } from '../../core/state/StateStorage';
import type { EpochMs } from '../../core/types';
import { and, attributeNotExists, equals, lessThan } from './expressions';
import { ATTR, sequenceLayout } from './tableLayout';
import type { StateTable } from './StateTable';

export interface SequenceRepositoryOptions {
  /** How long a key's item outlives the last watermark it was advanced to (TTL). @default 7 days */
  readonly retentionMs?: number;
  /** Keys cached between batches. @default 50000 */
  readonly cacheSize?: number;
}

const DAY = 86_400_000;

/**
 * Sequence key items. A batch (or a tick) writes each key it touches once:
 *
 *   PUT <whole record> IF v = :versionItWasBuiltOn (or attribute_not_exists) RETURN ALL_OLD on failure
 *
 * Fast path: the record is cached from this container's previous write (or
 * the key is new): one conditional put, no read. Slow path (another shard or
 * the ticker wrote the key, a cold container meeting an existing key): the
 * condition fails, the stored item comes back with the failure, and the
 * protocol decides again on it (the per-shard HWMs in it skip what was applied).
 */
export class SequenceRepository implements SequenceStorage {
  private readonly retentionMs: number;
  private readonly cacheSize: number;
  private readonly cache = new Map<string, Versioned<SequenceRecord>>();

  constructor(
    private readonly table: StateTable,
    opts: SequenceRepositoryOptions = {},
  ) {
    this.retentionMs = opts.retentionMs ?? 7 * DAY;
    this.cacheSize = opts.cacheSize ?? 50_000;
  }

  believe(rule: string, groupKey: string): Versioned<SequenceRecord> | undefined {
    const c = this.cache.get(cacheKey(rule, groupKey));
    // The caller may change what it is given: a copy.
    return c ? { value: JSON.parse(JSON.stringify(c.value)) as SequenceRecord, version: c.version } : undefined;
  }

  async read(rule: string, groupKey: string): Promise<Versioned<SequenceRecord> | undefined> {
    const item = await this.table.get('sequence', 'sequence.read', sequenceLayout.key(rule, groupKey));
    if (!item) return undefined;
    const s = sequenceLayout.decode(item);
    return { value: s.record, version: s.version };
  }

  async put(rule: string, groupKey: string, record: SequenceRecord, expectedVersion: number | null): Promise<Conditional<Versioned<SequenceRecord>>> {
    const version = (expectedVersion ?? 0) + 1;
    const w = record.state.w ?? 0;
    const written = await this.table.write(
      'sequence',
      'sequence.apply',
      sequenceLayout.key(rule, groupKey),
      {
        kind: 'put',
        item: sequenceLayout.encode(rule, groupKey, record, version, Math.ceil((Math.max(w, record.dueAt ?? 0) + this.retentionMs) / 1000)),
        condition: expectedVersion === null ? attributeNotExists(ATTR.pk) : equals(ATTR.version, expectedVersion),
      },
      'current',
    );
    const k = cacheKey(rule, groupKey);
    if (written.ok) {
      const value = { value: JSON.parse(JSON.stringify(record)) as SequenceRecord, version };
      this.remember(k, value);
      return { ok: true, value: { value: record, version } };
    }
    if (written.current === undefined) {
      this.cache.delete(k);
      return { ok: false, current: undefined };
    }
    const s = sequenceLayout.decode(written.current);
    const current = { value: s.record, version: s.version };
    this.remember(k, { value: JSON.parse(JSON.stringify(s.record)) as SequenceRecord, version: s.version });
    return { ok: false, current };
  }

  async due(rule: string, watermark: EpochMs): Promise<Array<{ groupKey: string; dueAt: EpochMs }>> {
    const partition = sequenceLayout.duePartition(rule);
    const items = await this.table.query('sequence', 'sequence.due', partition, {
      index: TABLE.dueIndex.name,
      keyCondition: and(equals(ATTR.duePk, partition), lessThan(ATTR.closeAt, watermark)),
    });
    return items.map((item) => sequenceLayout.decodeDue(item));
  }

  private remember(k: string, v: Versioned<SequenceRecord>): void {
    if (this.cache.size >= this.cacheSize && !this.cache.has(k)) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.delete(k);
    this.cache.set(k, v);
  }
}

function cacheKey(rule: string, groupKey: string): string {
  return `${rule}\u0000${groupKey}`;
}
