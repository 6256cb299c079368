import type { DedupeIds } from '../dedupe';
import type { ModelRecord } from '../anomaly/rule';
import type { AlertRecord, DueKey, FencedWindow, KeyDescriptor, KeyState, MergedPanes, QuarantinedRecord, QuarantineQuery, Slot, SlotUpdate } from '../StateStore';
import type { EpochMs, Rejection } from '../types';
import type { ShardProgress } from '../watermark';
import type { SequenceStorage } from './SequenceStorage';

/**
 * The storage primitives a state store is made of, one group per item type.
 * The protocol (StateProtocol.ts) decides what to write: high-water marks,
 * what to rebuild after a conflict, outbox claims. A storage only keeps items
 * and checks the one condition each primitive names, atomically; when the
 * condition fails it hands back what it holds instead, so the protocol can
 * decide again. Two implementations: in memory (InMemoryStateStore.ts) and on
 * DynamoDB (adapters/dynamodb/*Repository.ts); test/contract proves that they
 * give the same answers.
 *
 * Values a storage returns belong to the caller (a database would copy
 * them); values it is given are not changed by the caller afterwards.
 */

/** The outcome of a conditional write: the item after it, or, when the condition failed, the item as it is (undefined: absent). */
export type Conditional<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly current: T | undefined };

/** An item with the version its conditional writes are checked against (incremented by every write). */
export interface Versioned<T> {
  readonly value: T;
  readonly version: number;
}

/** What a store believes one shard's slot of a key is, without I/O. */
export interface SlotBelief {
  /** The key as believed (undefined: nothing known, treated as never written). Read-only. */
  readonly state: KeyState | undefined;
  /** The shard's slot in it, the caller's to read (undefined: the shard never wrote the key). */
  readonly slot: Slot | undefined;
}

export interface AggregateStorage {
  /**
   * What the store believes the key holds, without a request: the truth for
   * the in-memory store, the container's cache for DynamoDB (which a
   * conditional write corrects).
   */
  believe(key: KeyDescriptor, shardId: string): SlotBelief;
  /**
   * Replaces the shard's slot if the stored one still has the high-water mark
   * `expectedHwm` (undefined: the shard has no slot) and the key is not
   * closed; folds `update.closeAt` into the key's close time (a fixed window's
   * is its own, a session key's the minimum over shards). Returns the key
   * after the write, every shard included. The version counts the slot and,
   * when a session key's close time is lowered, that change too.
   */
  putSlot(key: KeyDescriptor, shardId: string, expectedHwm: string | undefined, update: SlotUpdate): Promise<Conditional<KeyState>>;
  /** Strongly consistent. */
  read(key: KeyDescriptor): Promise<KeyState | undefined>;
  /**
   * Keys of `rule` not yet finished whose closeAt is at or before `watermark`, in any order. A store
   * that lists keys apart from their items (DynamoDB's due buckets) may also return keys finished
   * since, or whose item is gone: the closer reads each one.
   */
  due(rule: string, watermark: EpochMs): Promise<DueKey[]>;
  /**
   * A store that lists due keys apart from their items: `key` (a fixed window, or the window item a
   * pane is kept on) was written or found written, due at `closeAt`; listed by the next
   * {@link flushEnlisted}. Absent: every written key is found by {@link due} as it is.
   */
  enlist?(key: KeyDescriptor, closeAt: EpochMs): void;
  /** Lists the keys enlisted since the last call (kept for the next call if it throws). */
  flushEnlisted?(): Promise<void>;
  /** Every key of `due` (as {@link due} returned them) was closed: their listings may go. */
  release?(rule: string, due: readonly DueKey[]): Promise<void>;
  /** Marks an existing key closed (no more slots); nothing when it is already closed or was never written. */
  seal(key: KeyDescriptor): Promise<void>;
  /** Takes an existing key out of the due keys (keeping `final` and `merged` when given); nothing when it was never written. */
  finish(key: KeyDescriptor, final?: Slot, merged?: MergedPanes): Promise<void>;
  /** Marks an existing key closed with its value (StateStore.sealWindowAt), if it is at `expectedVersion` and not closed. */
  sealAt(key: KeyDescriptor, expectedVersion: number, final: Slot, merged: MergedPanes, closeAt?: EpochMs): Promise<boolean>;
  /** Raises the version of a key that is not closed (creating it open, due at `closeAt`, when absent); else hands back what a closed key merged (StateStore.fenceWindow). */
  fence(key: KeyDescriptor, closeAt: EpochMs): Promise<FencedWindow>;
  /** Lists a hopping window that may have no item for the closer (StateStore.listWindow). */
  list(key: KeyDescriptor, closeAt: EpochMs): boolean;
  /** Panes of (rule, group) starting in [from, to] (panes.ts), strongly consistent, in any order. */
  panes(rule: string, groupKey: string, from: EpochMs, to: EpochMs): Promise<Array<{ start: EpochMs; state: KeyState }>>;
  /** Creates a window item with no slots, due at `closeAt`, if the key has none (StateStore.registerWindow); a store with {@link enlist} lists the window, created or found open. */
  register(key: KeyDescriptor, closeAt: EpochMs): Promise<'created' | 'exists' | 'closed'>;
  /**
   * Fixed windows of one (rule, group) whose start is in (after, upTo] (after null: no lower bound),
   * from the base table, strongly consistent (not from the due index, which may lag on DynamoDB),
   * finished ones included, in any order.
   */
  windows(rule: string, groupKey: string, after: EpochMs | null, upTo: EpochMs): Promise<Array<{ key: KeyDescriptor; state: KeyState }>>;
  /**
   * Writes the closed marker of a fixed window judged empty if the key has no item: true when written
   * (no slot can be added afterwards), false when an item exists (the caller closes it as usual).
   */
  sealEmpty(key: KeyDescriptor): Promise<boolean>;
  /** Seal and finish in one write, if the key exists, is at `expectedVersion` and is not closed (expectedVersion 0: if it has no item); false otherwise. */
  sealAndFinish(key: KeyDescriptor, expectedVersion: number, final?: Slot, merged?: MergedPanes): Promise<boolean>;
  /** Sets a session key's closedThrough and next close time (null: not due) if it is still at `expectedVersion`. */
  putSessions(key: KeyDescriptor, closedThrough: EpochMs, nextCloseAt: EpochMs | null, expectedVersion: number): Promise<boolean>;
}

/** What an alert write is for (for request tags and metrics; the write is the same). */
export type AlertWrite = 'step' | 'confirm' | 'release';

export interface AlertStorage {
  /** Strongly consistent. */
  read(rule: string, groupKey: string): Promise<Versioned<AlertRecord> | undefined>;
  /** Writes the record if the stored version is still `expectedVersion` (null: no record yet). */
  put(rule: string, groupKey: string, record: AlertRecord, expectedVersion: number | null, intent: AlertWrite): Promise<Conditional<Versioned<AlertRecord>>>;
  /** Every record of the rule (`activeOnly`: pending, firing, or with unpublished transitions), in any order. */
  list(rule: string, activeOnly: boolean): Promise<Array<{ groupKey: string; record: AlertRecord }>>;
}

export interface ProgressStorage {
  /** The shard's progress (the DynamoDB store may answer from the container's cache of its own writes). */
  get(stream: string, shardId: string): Promise<ShardProgress | undefined>;
  /** Writes `target` if neither stored field is ahead of it (a monotonic register); else hands back what is stored. */
  raise(stream: string, target: ShardProgress): Promise<Conditional<ShardProgress>>;
  /** Strongly consistent, in any order. */
  list(stream: string): Promise<ShardProgress[]>;
  /** -Infinity when never written. */
  getWatermark(stream: string): Promise<EpochMs>;
  /** Writes the watermark if the stored one is lower (or absent): the one it replaced (-Infinity: none), null when refused. */
  raiseWatermark(stream: string, watermark: EpochMs): Promise<EpochMs | null>;
}

/** The ids of one shard and bucket of event time: id -> the fingerprint of the sequence number it was first recorded with (dedupe.ts). */
export interface DedupeBucket {
  /** Read only, to the protocol (a store may hand its own over, not a copy). */
  readonly ids: DedupeIds;
  /** Bytes of the ids as stored (DEDUPE_ENTRY_BYTES each; an entry read from an 18-byte chunk counts 18, see dedupe.ts). */
  readonly bytes: number;
}

export interface DedupeStorage {
  /** The bucket as the store believes it (memory, the container's cache, or a strongly consistent read); version 0 when absent. */
  bucket(stream: string, shardId: string, bucket: number): Promise<Versioned<DedupeBucket>>;
  /**
   * Adds ids to the bucket if it is still at `current.version` (kept until
   * `expiresAt`). `added` is handed over: the storage may keep that map as
   * the bucket's ids (the protocol does not use it again).
   */
  add(stream: string, shardId: string, bucket: number, current: Versioned<DedupeBucket>, added: DedupeIds, addedBytes: number, expiresAt: EpochMs): Promise<Conditional<Versioned<DedupeBucket>>>;
}

export interface QuarantineStorage {
  /** Keeps the records; writing one again (same shard and sequence number) changes nothing. */
  put(stream: string, rejections: readonly Rejection[]): Promise<void>;
  list(stream: string, query: QuarantineQuery): Promise<QuarantinedRecord[]>;
}

/** Anomaly models (anomaly/rule.ts): one record per (rule, group). */
export interface ModelStorage {
  /** Strongly consistent. */
  read(rule: string, groupKey: string): Promise<ModelRecord | undefined>;
  /** Writes the record if the stored one's `last` is still `expectedLast` (null: no record yet). */
  put(rule: string, groupKey: string, record: ModelRecord, expectedLast: number | null): Promise<Conditional<ModelRecord>>;
}

export interface StateStorage {
  readonly aggregates: AggregateStorage;
  /** Sequence rules' per-key state (state/SequenceStorage.ts). */
  readonly sequences: SequenceStorage;
  readonly alerts: AlertStorage;
  readonly progress: ProgressStorage;
  readonly dedupe: DedupeStorage;
  readonly quarantine: QuarantineStorage;
  readonly models: ModelStorage;
}
