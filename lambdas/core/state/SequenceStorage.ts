import type { SequenceMatch, SequenceState } from '../cep/types';
import type { EpochMs } from '../types';
import type { Conditional, Versioned } from './StateStorage';

/**
 * The state of one key of a sequence rule, as one item: the matcher's state
 * (shared by every shard feeding the key: matching needs all of its events in
 * one event-time order), the highest sequence number applied per shard (the
 * high-water marks that make a redelivery a no-op), and the matches found but
 * not yet known to be recorded in the alert outbox.
 */
export interface SequenceRecord {
  /** Per shard: the zero-padded sequence number of the last record applied (see sequence.ts). */
  readonly hwms: Readonly<Record<string, string>>;
  readonly state: SequenceState;
  /**
   * Matches written with the state that created them (so none is lost if the
   * process dies before recording it); each is recorded in the alert outbox
   * after the write, idempotently by its ordinal, and dropped from here by a
   * later write once it is known recorded.
   */
  readonly out: readonly OrdinalMatch[];
  /** Matches found so far for the key (the ordinal of the last one). */
  readonly ordinal: number;
  /** The key is due for the ticker once the watermark is past this (buffered events, deadlines, unrecorded matches); null: not due. */
  readonly dueAt: EpochMs | null;
}

export interface OrdinalMatch extends SequenceMatch {
  /** 1, 2, ... per key, in the order the matches were found. */
  readonly ordinal: number;
}

export interface SequenceStorage {
  /** The record as believed without a request (memory: the truth; DynamoDB: the container's cache, or undefined). */
  believe(rule: string, groupKey: string): Versioned<SequenceRecord> | undefined;
  /** Strongly consistent. */
  read(rule: string, groupKey: string): Promise<Versioned<SequenceRecord> | undefined>;
  /** Writes the record if the stored version is still `expectedVersion` (null: no record yet); else hands back what is stored. */
  put(rule: string, groupKey: string, record: SequenceRecord, expectedVersion: number | null): Promise<Conditional<Versioned<SequenceRecord>>>;
  /** Keys of `rule` whose dueAt is before `watermark` (strictly), in any order. */
  due(rule: string, watermark: EpochMs): Promise<Array<{ groupKey: string; dueAt: EpochMs }>>;
}
