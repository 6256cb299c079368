import type { EpochMs } from '../types';
import type { SequenceRecord, SequenceStorage } from './SequenceStorage';
import type { Conditional, Versioned } from './StateStorage';

/**
 * Sequence records in process memory (InMemoryStateStore). Records are
 * copied in and out through JSON, as the DynamoDB store stores them.
 * `entries` is shared by every store over the same in-memory table.
 */
export class MemorySequences implements SequenceStorage {
  constructor(private readonly entries: Map<string, { json: string; version: number; dueAt: EpochMs | null }>) {}

  believe(rule: string, groupKey: string): Versioned<SequenceRecord> | undefined {
    const e = this.entries.get(keyOf(rule, groupKey));
    return e ? { value: JSON.parse(e.json) as SequenceRecord, version: e.version } : undefined;
  }

  async read(rule: string, groupKey: string): Promise<Versioned<SequenceRecord> | undefined> {
    return this.believe(rule, groupKey);
  }

  async put(rule: string, groupKey: string, record: SequenceRecord, expectedVersion: number | null): Promise<Conditional<Versioned<SequenceRecord>>> {
    const k = keyOf(rule, groupKey);
    const e = this.entries.get(k);
    if ((e?.version ?? null) !== expectedVersion) return { ok: false, current: this.believe(rule, groupKey) };
    const json = JSON.stringify(record);
    const version = (expectedVersion ?? 0) + 1;
    this.entries.set(k, { json, version, dueAt: record.dueAt });
    return { ok: true, value: { value: JSON.parse(json) as SequenceRecord, version } };
  }

  async due(rule: string, watermark: EpochMs): Promise<Array<{ groupKey: string; dueAt: EpochMs }>> {
    const out: Array<{ groupKey: string; dueAt: EpochMs }> = [];
    const prefix = `${rule}\u0000`;
    for (const [k, e] of this.entries) {
      if (k.startsWith(prefix) && e.dueAt !== null && e.dueAt < watermark) out.push({ groupKey: k.slice(prefix.length), dueAt: e.dueAt });
    }
    return out;
  }
}

function keyOf(rule: string, groupKey: string): string {
  return `${rule}\u0000${groupKey}`;
}
