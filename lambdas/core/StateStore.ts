import type { ModelRecord } from './anomaly/rule';
import type { AlertState, AlertTransition, StepResult } from './lifecycle';
import type { PartialJson } from './partials';
import type { EpochMs, Rejection } from './types';
import type { ShardProgress } from './watermark';
import type { SequenceRecord } from './state/SequenceStorage';

export type { SequenceRecord } from './state/SequenceStorage';

/** What applySequence did: the record after it (`unchanged`: as stored or believed), and failed conditional writes. */
export interface SequenceApplyOutcome {
  readonly status: 'applied' | 'unchanged';
  readonly record: SequenceRecord | undefined;
  readonly conflicts: number;
}

/**
 * The port between the engine and its state. The engine decides *what* to
 * write; a store decides *how* it is made durable. Every store is the one
 * protocol (state/StateProtocol.ts: high-water marks, rebuilding after a
 * conflict, outbox claims) over storage primitives (state/StateStorage.ts).
 * Two storages: in memory (InMemoryStateStore, for tests, the built-in demo
 * and the tools) and DynamoDB (adapters); test/contract runs one suite over
 * both and proves they give the same answers.
 *
 * The exactly-once contract lives in {@link StateStore.apply}: each key keeps,
 * per shard, a slot holding that shard's merged contribution and the highest
 * sequence number it contains (the high-water mark, HWM). A write replaces a
 * shard's slot only if the stored HWM is still the one the new slot was built
 * on, so a record is folded into a key at most once, whatever is redelivered.
 */

/** One shard's share of a key: its merged partial and the highest sequence number folded in. */
export interface Slot {
  /** Zero-padded sequence number (see sequence.ts). */
  readonly hwm: string;
  readonly partial: PartialJson;
  /**
   * Pane slots (panes.ts) as read: the version of the pane item that the slot's last write produced
   * (set by the store in that write, never by a builder). Absent on other slots, and on pane slots
   * written before it was kept.
   */
  readonly version?: number;
}

/** Identifies one aggregate key: (rule, group, window) — for session rules the window is the group's whole session list. */
export interface KeyDescriptor {
  readonly id: string;
  readonly rule: string;
  readonly groupKey: string;
  /** Start of the fixed window; null for a session key. */
  readonly windowStart: EpochMs | null;
  readonly windowEnd: EpochMs | null;
  /**
   * A pane of a hopping rule (panes.ts): [windowStart, windowEnd) is one slide, kept with the window
   * starting at windowStart, which ends at `pane.windowEnd`.
   */
  readonly pane?: { readonly windowEnd: EpochMs };
}

/** What a store holds for a key. */
export interface KeyState {
  readonly slots: Readonly<Record<string, Slot>>;
  /** A fixed window that was sealed for evaluation: it takes no more contributions. */
  readonly closed: boolean;
  /** Session keys: sessions closing at or before this were evaluated. */
  readonly closedThrough: EpochMs | null;
  /** When the key is next due for closing (min over its slots' close times); null when nothing is due. */
  readonly closeAt: EpochMs | null;
  /** Incremented by every write; guards the closer's session bookkeeping. */
  readonly version: number;
  /**
   * A hopping window sealed with the value it was evaluated on (panes.ts): the version of each pane
   * item that value merged, the window's own excepted. Absent on other items, and on windows closed
   * before it was kept.
   */
  readonly merged?: MergedPanes;
}

/**
 * The pane items a hopping window's value was merged from (panes.ts), by pane start (epoch ms, as a
 * string): the version each had when the closer read it. A pane written since has a higher version.
 */
export type MergedPanes = Readonly<Record<string, number>>;

/** A hopping window as a batch found it after writing its panes (StateStore.fenceWindow). */
export type FencedWindow =
  /** Open: any close that read its panes before the fence reads them again before it seals the window. */
  | { readonly closed: false }
  /** Closed, with the pane versions its value merged (undefined: not kept, or the window is gone). */
  | { readonly closed: true; readonly merged: MergedPanes | undefined };

/** A new slot, and when it is due for closing. */
export interface SlotUpdate {
  readonly slot: Slot;
  readonly closeAt: EpochMs;
}

/**
 * Builds a shard's new slot from its current one (undefined when the shard
 * never wrote the key). `closedThrough` is the key's session bookkeeping, so
 * sessions already evaluated can be dropped. Returns null when nothing is new.
 */
export type SlotBuilder = (current: Slot | undefined, closedThrough: EpochMs | null) => SlotUpdate | null;

export type ApplyOutcome =
  /**
   * The slot was written (`applied`: `state` is the key after the write, all
   * shards included) or nothing was new (`unchanged`: `state` is the key as
   * this store last saw it, the truth in memory, a container's cache on
   * DynamoDB). `conflicts` counts the failed conditional writes (a cost).
   */
  | { readonly status: 'applied' | 'unchanged'; readonly state: KeyState; readonly conflicts: number }
  /** The key was already closed: the contribution is late. */
  | { readonly status: 'closed'; readonly conflicts: number };

export interface DueKey {
  readonly key: KeyDescriptor;
  readonly closeAt: EpochMs;
  /** Where the store lists the key apart from its item (DynamoDB: its due buckets, as read), for {@link StateStore.releaseDue}. */
  readonly listings?: ReadonlyArray<{ readonly sk: string; readonly version: number }>;
}

/** A transition recorded for publishing, claimed by one publisher at a time. */
export interface OutboxEntry {
  readonly transition: AlertTransition;
  /** Until then (wall clock) the publisher that claimed it is publishing it; others leave it alone. */
  readonly claimedUntil: EpochMs;
}

export interface AlertRecord {
  readonly state: AlertState;
  /** Transitions recorded but not yet confirmed published, oldest first. */
  readonly outbox: readonly OutboxEntry[];
  /**
   * Anomaly rules whose detector keeps a small model (anomaly/rule.ts, modelInAlertRecord): the
   * model of (rule, group), learned by the same lifecycle step (and so in the same conditional
   * write) that records the window's verdict. Absent on other rules, and on records written before
   * the model moved here (the model is then the model item: StateStore.updateAlert, `model`).
   */
  readonly model?: ModelRecord;
}

/**
 * A lifecycle step over an alert record. `model` is the record's anomaly model (see
 * AlertRecord.model); a step that learns returns the model after it in `model` (undefined: as it
 * was; null: removed). Steps of other rules ignore both.
 */
export type AlertStep = (state: AlertState, model: ModelRecord | undefined) => AlertStepResult;

export interface AlertStepResult extends StepResult {
  readonly model?: ModelRecord | null;
}

/** An alert record as read, with the version a conditional write of it expects. */
export interface KnownAlert {
  readonly record: AlertRecord;
  readonly version: number;
}

export interface AlertUpdate {
  readonly record: AlertRecord;
  /**
   * Transitions this call claimed for publishing: the ones it recorded, and
   * older ones whose claim had expired (their publisher crashed or failed).
   * The caller publishes them, then confirms or releases them.
   */
  readonly claimed: readonly AlertTransition[];
}

export interface Claim {
  readonly now: EpochMs;
  readonly leaseMs: number;
}

/**
 * Event ids to check for producer duplicates, column by column (entry i,
 * for i < length, is buckets[i], ids[i], seqs[i]; the columns may be longer),
 * in sequence order: one batch checks thousands, and an object per entry
 * would be garbage per event.
 */
export interface DedupeEntries {
  readonly length: number;
  /** Event-time bucket (ms) each id is filed under; a duplicate has the same event time, so the same bucket. */
  readonly buckets: Float64Array;
  /** The ids' hashes, two 32-bit words per entry (entry k at 2k..2k+1; dedupeIdInto in dedupe.ts). */
  readonly ids: Uint32Array;
  /**
   * The records' sequence numbers, and the sub-event index within the record (-1: the record is one
   * event): the same id with the same (sequence number, index) is a redelivery, not a duplicate.
   */
  readonly seqs: readonly string[];
  readonly indexes: Int32Array;
}

/** A quarantined record as kept: the rejection and the stream it came from. */
export interface QuarantinedRecord extends Rejection {
  readonly stream: string;
  /** Set once `tidewatch quarantine replay` sent the record again. */
  readonly replayed?: QuarantineReplayMark;
}

/** How a quarantined record was last replayed. */
export interface QuarantineReplayMark {
  /** Wall-clock time of the replay (ISO). */
  readonly at: string;
  /** The stream it was sent to. */
  readonly to: string;
  /** The sequence number Kinesis gave the replayed record. */
  readonly sequenceNumber: string;
  /** Times it was replayed. */
  readonly count: number;
}

export interface QuarantineQuery {
  /** Only records that arrived at or after this time. */
  readonly since?: EpochMs;
  /** At most this many records (the oldest). */
  readonly limit?: number;
}

export interface StateStore {
  /**
   * True when the store deletes a fixed window's item once it is finished and lists a window for the
   * closer at once (InMemoryStateStore `forgetFinishedWindows`: tidewatch backtest). A hopping window with
   * no item that the due list misses then holds nothing the closer may count: it is empty, or finished
   * and forgotten (the panes left on newer windows' items are only part of the value it was closed on),
   * so it is judged empty (Engine.closeEmpty), not closed again from those panes. @default false
   */
  readonly forgetsFinishedWindows?: boolean;

  /**
   * Folds one shard's contribution into a key, exactly once. The store calls
   * `build` with its view of the shard's current slot (possibly cached) and
   * writes the result only if the stored slot still has that HWM; on a
   * conflict it takes the stored slot (returned with the failure, or read)
   * and calls `build` again. `build` returns null when no record is newer
   * than the slot's HWM: nothing is written, and the outcome is `unchanged`
   * (even if the key was closed since: those records are in). `build` must not
   * change the slot it is given.
   */
  apply(key: KeyDescriptor, shardId: string, build: SlotBuilder): Promise<ApplyOutcome>;

  /** A key's current state (strongly consistent), or undefined if it was never written. */
  read(key: KeyDescriptor): Promise<KeyState | undefined>;

  /**
   * Sequence rules: replaces the record of (rule, group) with what `build`
   * makes of the current one (undefined: none yet), in one conditional write
   * on its version; on a conflict `build` is called again on the stored
   * record. `build` returns null when nothing changes (nothing is written).
   * `read`: decide on a strongly consistent read rather than on what the
   * store believes (the ticker: a container's cache may be behind, and a
   * decision to write nothing is never corrected by a failed condition).
   */
  applySequence(rule: string, groupKey: string, build: (current: SequenceRecord | undefined) => SequenceRecord | null, opts?: { readonly read?: boolean }): Promise<SequenceApplyOutcome>;

  /** Sequence keys of `rule` due before `watermark`, by dueAt then group. */
  dueSequences(rule: string, watermark: EpochMs): Promise<Array<{ groupKey: string; dueAt: EpochMs }>>;

  /**
   * Keys of `rule` not yet finished whose closeAt is at or before `watermark`, by closeAt then window
   * start. On DynamoDB it may also return keys finished since, or gone (their retention passed): a
   * closer reads each key and skips those.
   */
  dueKeys(rule: string, watermark: EpochMs): Promise<DueKey[]>;

  /**
   * Every key of `due` (what {@link dueKeys} returned for `rule`) was closed: the store may forget
   * how it listed them (DynamoDB: deletes their due buckets, unless a key was added to one since).
   */
  releaseDue(rule: string, due: readonly DueKey[]): Promise<void>;

  /**
   * Lists the fixed windows the batch wrote (or found written) for the closer (DynamoDB: adds their
   * groups to the windows' due buckets, once per container and window). A batch calls it after its
   * key writes and before its progress: a window's item is written before it is listed, as an
   * index entry follows its item, and what the batch's progress covers is listed.
   */
  flushDue(): Promise<void>;

  /**
   * Seals a fixed window before it is evaluated: later contributions are
   * refused (reported late). Idempotent. The key stays due until finished.
   */
  sealWindow(key: KeyDescriptor): Promise<void>;

  /**
   * A sealed window was evaluated: it is no longer due. Idempotent. `final`:
   * a hopping window's value, merged from its panes (panes.ts), kept in its
   * item so that the closed window stays as it was evaluated; `merged`: the
   * pane versions it was merged from.
   */
  finishWindow(key: KeyDescriptor, final?: Slot, merged?: MergedPanes): Promise<void>;

  /**
   * Hopping rules: seals a window with the value it is evaluated on (`final`, merged from its panes,
   * and the pane versions it merged), if the window's item is still at `expectedVersion` and not
   * closed; the window stays due until finished. A retried close then evaluates the window on the
   * value it kept, whatever its panes took since. False when the item moved on: the caller reads the
   * window again. `expectedVersion` 0: the window has no item (a hopping window only listed, see
   * {@link listWindow}): the item is created closed, due at `closeAt`, if there is still none (a put
   * if absent: a batch's fence since created it open, and the close reads again).
   */
  sealWindowAt(key: KeyDescriptor, expectedVersion: number, final: Slot, merged: MergedPanes, closeAt?: EpochMs): Promise<boolean>;

  /**
   * Hopping rules: what a batch that wrote panes of an older window it found closable asks of that
   * window. Open: its version is raised, so a close that read its panes before (sealWindowAt on
   * that version) fails and reads them again, the batch's write included. Closed: the pane versions
   * its value merged, so the batch can tell whether its write is in it. No item (a window only
   * listed): created open (due at `closeAt`), so that a close that read the panes on "no item"
   * fails its put if absent (sealWindowAt at version 0) and reads them again.
   */
  fenceWindow(key: KeyDescriptor, closeAt: EpochMs): Promise<FencedWindow>;

  /**
   * Hopping rules: a window older than a pane a batch writes (it holds the pane, its item may not exist:
   * its value lives in its panes, on the items of newer windows), listed for the closer due at `closeAt`
   * (DynamoDB: added to its due bucket with the batch's other windows at {@link flushDue}). No write of
   * the window's item: the closer closes a listed window without one from its panes (Engine.readWindow),
   * and a batch learns that it closed under its write from {@link fenceWindow}. False: the store cannot
   * list this window apart from an item (DynamoDB: a close time a due bucket cannot hold); the caller
   * registers it ({@link registerWindow}).
   */
  listWindow(key: KeyDescriptor, closeAt: EpochMs): boolean;

  /**
   * Hopping rules: the panes of (rule, group) starting in [from, to], strongly
   * consistent, in any order (DynamoDB: one Query of the group's pane partition).
   */
  readPanes(rule: string, groupKey: string, from: EpochMs, to: EpochMs): Promise<Array<{ start: EpochMs; state: KeyState }>>;

  /**
   * Hopping rules: creates a window's item (no slots, due at `closeAt`) if it
   * has none: 'created'; 'exists' when it has one, 'closed' when that one is
   * closed (the window takes no more contributions).
   */
  registerWindow(key: KeyDescriptor, closeAt: EpochMs): Promise<'created' | 'exists' | 'closed'>;

  /**
   * Fixed windows of one (rule, group) starting in (after, upTo] (after null: no lower bound), read
   * strongly consistently from where the keys are kept, not from the due list (an index that may lag
   * behind writes on DynamoDB), finished ones included, by window start. What a closer checks before
   * it takes a window missing from {@link dueKeys} for empty.
   */
  groupWindows(rule: string, groupKey: string, after: EpochMs | null, upTo: EpochMs): Promise<Array<{ key: KeyDescriptor; state: KeyState }>>;

  /**
   * Seals a fixed window judged empty: when the key has no item, writes a closed marker so that no
   * later contribution can fill it (it is refused as late, like one for any sealed window) and
   * returns true; returns false when the key has an item (the caller seals and evaluates it as usual).
   */
  sealEmptyWindow(key: KeyDescriptor): Promise<boolean>;

  /**
   * Seals and finishes a fixed window in one write, if it is still at
   * `expectedVersion` and not closed: for a window evaluated on that version
   * whose verdict records nothing (see closing.ts), so no contribution can
   * land between the read and the seal. False when the key moved on (or does
   * not exist): the caller reads it again.
   */
  closeWindowAt(key: KeyDescriptor, expectedVersion: number, final?: Slot, merged?: MergedPanes): Promise<boolean>;

  /**
   * Session keys: records that sessions closing at or before `closedThrough`
   * were evaluated and when the key is next due. Only if the key is still at
   * `expectedVersion`; returns false on a conflict (the caller re-reads).
   */
  advanceSessions(key: KeyDescriptor, closedThrough: EpochMs, nextCloseAt: EpochMs | null, expectedVersion: number): Promise<boolean>;

  /**
   * Applies a lifecycle step to the alert state of (rule, group) atomically
   * (optimistic concurrency; `step` may be called more than once and must be
   * pure). The transitions it returns are recorded in the outbox in the same
   * write, before anyone publishes them, claimed by this caller until
   * `claim.now + claim.leaseMs`; entries whose claim expired are claimed too.
   * Nothing is written when nothing changes and nothing is claimable.
   * `known`: the record as the caller just read it (null: no item), saving the
   * read when the step writes: the write is conditional on its version (a
   * stale belief costs a failed write and a read); a step that would write
   * nothing on it is decided again on a fresh read.
   *
   * `opts.model`: the step learns the rule's anomaly model kept in the record (AlertStep). When the
   * record holds no model (a record written before the model moved there, or none yet), the model
   * item is read once (strongly consistent) and given to the step instead: the first close after
   * the deploy continues the model the old code learned, and the write moves it into the record.
   */
  updateAlert(rule: string, groupKey: string, step: AlertStep, claim: Claim, known?: KnownAlert | null, opts?: { readonly model?: boolean }): Promise<AlertUpdate>;

  /**
   * One step over the anomaly model item of (rule, group) (anomaly/rule.ts; the
   * models not kept in the alert record, modelInAlertRecord): the
   * step's record is written only if the stored `last` is still the one the
   * step was given (optimistic; `step` may be called again on what is stored
   * and must be pure); null writes nothing. Returns the record as stored after.
   */
  updateModel(rule: string, groupKey: string, step: (current: ModelRecord | undefined) => ModelRecord | null): Promise<ModelRecord | undefined>;

  /** Removes published transitions from the outbox. */
  confirmPublished(rule: string, groupKey: string, transitionIds: readonly string[]): Promise<void>;

  /** Gives up claims after a failed publish, so a retry can publish at once. */
  releaseClaims(rule: string, groupKey: string, transitionIds: readonly string[]): Promise<void>;

  /** The alert record of (rule, group), strongly consistent, or undefined when there is none. */
  readAlert(rule: string, groupKey: string): Promise<AlertRecord | undefined>;

  /** readAlert with the record's version, for a following updateAlert (`known`); null when there is none. */
  readAlertVersion(rule: string, groupKey: string): Promise<KnownAlert | null>;

  /** Alert records of `rule` that are pending or firing, or have unpublished transitions. */
  activeAlerts(rule: string): Promise<Array<{ groupKey: string; record: AlertRecord }>>;

  /** Alert records of an absence rule (every group ever seen and not expired). */
  absenceGroups(rule: string): Promise<Array<{ groupKey: string; record: AlertRecord }>>;

  /**
   * The shard's progress as stored, read strongly consistently, never from a
   * cache of this container's last write: Lambda does not pin a shard to a
   * container, and lateness (window and sequence rules) and the dedupe horizon
   * are decided on it (chaos seed 86).
   */
  getShardProgress(stream: string, shardId: string): Promise<ShardProgress | undefined>;
  /** Stores a shard's progress; never moves it backwards. */
  putShardProgress(stream: string, progress: ShardProgress): Promise<void>;
  listShardProgress(stream: string): Promise<ShardProgress[]>;

  /** The stream's last computed watermark (monotonic), or -Infinity. */
  getStreamWatermark(stream: string): Promise<EpochMs>;
  /**
   * Raises the stream's watermark if the stored one is lower (or absent). Returns the watermark it
   * replaced (-Infinity: none), or null when it was refused (another processor moved it as far or further).
   */
  putStreamWatermark(stream: string, watermark: EpochMs): Promise<EpochMs | null>;

  /**
   * Producer duplicates on one shard: records each id with its sequence
   * number (durably, before the caller applies anything) and returns, per
   * entry, true when the id was already recorded with another sequence
   * number. Ids are kept until `expiresAt` (the dedupe horizon).
   */
  dedupe(stream: string, shardId: string, entries: DedupeEntries, expiresAt: EpochMs): Promise<boolean[]>;

  /** Keeps rejected records with their full payload and reason. Keeping a record again (same shard and sequence number) changes nothing. */
  quarantine(stream: string, rejections: readonly Rejection[]): Promise<void>;

  /** Quarantined records of a stream, by arrival time, then shard, then sequence number. */
  listQuarantined(stream: string, query?: QuarantineQuery): Promise<QuarantinedRecord[]>;
}
