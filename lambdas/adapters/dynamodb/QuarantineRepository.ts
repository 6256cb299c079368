import type { QuarantineStorage } from '../../core/state/StateStorage';
import type { QuarantinedRecord, QuarantineQuery, QuarantineReplayMark } from '../../core/StateStore';
import type { Rejection } from '../../core/types';
import { and, atLeast, attributeExists, equals } from './expressions';
import { ATTR, quarantineLayout, type NativeItem } from './tableLayout';
import type { StateTable } from './StateTable';

export interface QuarantineRepositoryOptions {
  /** How long quarantined records are kept (TTL). @default 14 days */
  readonly retentionMs?: number;
}

/**
 * Quarantined records: partition `Q#<stream>`, sorted by arrival time, the
 * data exactly as received in chunks under the item limit, written 25 items
 * to a request. Writing a record again rewrites the same items.
 */
export class QuarantineRepository implements QuarantineStorage {
  private readonly retentionMs: number;

  constructor(
    private readonly table: StateTable,
    opts: QuarantineRepositoryOptions = {},
  ) {
    this.retentionMs = opts.retentionMs ?? 14 * 86_400_000;
  }

  async put(stream: string, rejections: readonly Rejection[]): Promise<void> {
    const items: NativeItem[] = [];
    for (const r of rejections) items.push(...quarantineLayout.encode(stream, r, Math.ceil((r.arrivalTime + this.retentionMs) / 1000)));
    await this.table.batchPut('quarantine', 'quarantine.put', items);
  }

  async list(stream: string, query: QuarantineQuery): Promise<QuarantinedRecord[]> {
    const partition = quarantineLayout.partition(stream);
    const items = await this.table.query('quarantine', 'quarantine.list', partition, {
      keyCondition: query.since === undefined ? equals(ATTR.pk, partition) : and(equals(ATTR.pk, partition), atLeast(ATTR.sk, quarantineLayout.since(query.since))),
      consistent: true,
    });
    return quarantineLayout.decode(stream, items);
  }

  /**
   * Marks a quarantined record replayed (`tidewatch quarantine replay`): the
   * time, the stream and the new sequence number, and one more replay
   * counted. False when the record is no longer there (its TTL expired): no
   * stub is created.
   */
  async markReplayed(stream: string, record: Pick<QuarantinedRecord, 'arrivalTime' | 'shardId' | 'sequenceNumber' | 'index'>, mark: Omit<QuarantineReplayMark, 'count'>): Promise<boolean> {
    const k = quarantineLayout.recordKey(stream, record);
    const out = await this.table.write('quarantine', 'quarantine.markReplayed', k, { kind: 'update', update: quarantineLayout.replayMark(mark), condition: attributeExists(ATTR.pk) }, 'ignore');
    return out.ok;
  }
}
