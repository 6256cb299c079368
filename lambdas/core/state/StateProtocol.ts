import { DEDUPE_ENTRY_BYTES, DEDUPE_MAX_BUCKET_BYTES, DedupeIds, dedupeSeqFingerprint } from '../dedupe';
import { InvariantError, TidewatchError } from '../errors';
import { paneWindow } from '../panes';
import { INITIAL_ALERT_STATE } from '../lifecycle';
import type {
  AlertRecord,
  AlertStep,
  AlertUpdate,
  ApplyOutcome,
  Claim,
  DedupeEntries,
  DueKey,
  FencedWindow,
  KeyDescriptor,
  KeyState,
  KnownAlert,
  MergedPanes,
  OutboxEntry,
  QuarantinedRecord,
  QuarantineQuery,
  SequenceApplyOutcome,
  SequenceRecord,
  Slot,
  SlotBuilder,
  StateStore,
} from '../StateStore';
import type { ModelRecord } from '../anomaly/rule';
import type { EpochMs, Rejection } from '../types';
import type { ShardProgress } from '../watermark';
import { recordStep, sameOutbox, withoutPublished, withReleased } from './outbox';
import type { SlotBelief, StateStorage, Versioned } from './StateStorage';

export interface StateProtocolOptions {
  /** Attempts of a conditional write before giving up (the batch is retried). @default 8 */
  readonly maxAttempts?: number;
}

/** A conditional write kept failing because other writers kept changing the item; the caller retries later. */
export class StateContentionError extends TidewatchError {
  constructor(
    readonly item: string,
    readonly attempts: number,
  ) {
    super(`state: ${item} kept changing under concurrent writes (${attempts} attempts); the batch will be retried`);
  }
}

/**
 * The state protocol over storage primitives, the way Powertools'
 * BasePersistenceLayer owns the idempotency protocol over a few record
 * operations. Every store is this class over a {@link StateStorage}; what is
 * decided here is the same for all of them:
 *
 * - **High-water marks.** A shard's slot of a key is replaced only on the HWM
 *   it was built on, and a new slot must raise it. After a conflict the slot
 *   is rebuilt on the stored one (which the storage hands back), so a record is
 *   folded into a key at most once whatever is redelivered.
 * - **Monotonic registers.** Shard progress and stream watermarks never move
 *   backwards: a write that would is turned into the field-wise maximum.
 * - **The outbox** (state/outbox.ts): transitions recorded with the alert state
 *   in one write, claimed for a lease, confirmed or released after publishing.
 * - **Producer duplicates**: which ids are new, which are duplicates, and the
 *   bucket size cap.
 *
 * Each decision is made on what the storage believes (memory, or a container's
 * cache), and made again on what it hands back when a conditional write
 * fails, at most `maxAttempts` times.
 */
export class StateProtocol implements StateStore {
  private readonly maxAttempts: number;

  constructor(
    protected readonly storage: StateStorage,
    opts: StateProtocolOptions = {},
  ) {
    this.maxAttempts = opts.maxAttempts ?? 8;
  }

  /** Runs `attempt` until it settles (returns a value other than undefined), at most maxAttempts times. */
  private async settle<R>(item: () => string, attempt: () => Promise<R | undefined>): Promise<R> {
    for (let n = 1; n <= this.maxAttempts; n++) {
      const r = await attempt();
      if (r !== undefined) return r;
    }
    throw new StateContentionError(item(), this.maxAttempts);
  }

  // ------------------------------------------------------------ aggregates

  async apply(key: KeyDescriptor, shardId: string, build: SlotBuilder): Promise<ApplyOutcome> {
    const aggregates = this.storage.aggregates;
    let belief: SlotBelief = aggregates.believe(key, shardId);
    let conflicts = 0;
    return this.settle(
      () => `key ${key.id} of shard ${shardId}`,
      async (): Promise<ApplyOutcome | undefined> => {
        const expected = belief.slot?.hwm;
        const update = build(belief.slot, belief.state?.closedThrough ?? null);
        // Nothing newer than the slot: the records are in already (a redelivery), whether or not the key was closed since.
        if (update === null) {
          // A retry finds its records in: the key is listed again (the attempt that wrote it may have died before listing it).
          if (belief.state !== undefined) this.enlist(key, belief.state);
          return { status: 'unchanged', state: copyState(belief.state), conflicts };
        }
        if (belief.state?.closed === true) return { status: 'closed', conflicts };
        if (expected !== undefined && update.slot.hwm <= expected) {
          throw new InvariantError(`store contract: a new slot must raise the high-water mark (shard ${shardId}, key ${key.id}: ${update.slot.hwm} after ${expected})`);
        }
        const written = await aggregates.putSlot(key, shardId, expected, update);
        if (written.ok) {
          this.enlist(key, written.value);
          return { status: 'applied', state: written.value, conflicts };
        }
        // Another writer got there first (a redelivery, a cold container's empty belief): rebuild on what is stored.
        conflicts += 1;
        belief = { state: written.current, slot: written.current?.slots[shardId] };
        return undefined;
      },
    );
  }

  read(key: KeyDescriptor): Promise<KeyState | undefined> {
    return this.storage.aggregates.read(key);
  }

  // ------------------------------------------------------------ sequence rules

  async applySequence(rule: string, groupKey: string, build: (current: SequenceRecord | undefined) => SequenceRecord | null, opts: { readonly read?: boolean } = {}): Promise<SequenceApplyOutcome> {
    const sequences = this.storage.sequences;
    let current = opts.read === true ? await sequences.read(rule, groupKey) : sequences.believe(rule, groupKey);
    let conflicts = 0;
    return this.settle(
      () => `sequence key ${rule} ${groupKey}`,
      async (): Promise<SequenceApplyOutcome | undefined> => {
        const next = build(current?.value);
        if (next === null) return { status: 'unchanged', record: current?.value, conflicts };
        const written = await sequences.put(rule, groupKey, next, current?.version ?? null);
        if (written.ok) return { status: 'applied', record: written.value.value, conflicts };
        // Another writer (another shard, the ticker, a redelivery on a cold container): decide again on what is stored.
        conflicts += 1;
        current = written.current;
        return undefined;
      },
    );
  }

  async dueSequences(rule: string, watermark: EpochMs): Promise<Array<{ groupKey: string; dueAt: EpochMs }>> {
    return (await this.storage.sequences.due(rule, watermark)).sort((a, b) => a.dueAt - b.dueAt || cmp(a.groupKey, b.groupKey));
  }

  /** A fixed window's item (a pane's: the window it is kept on) that is not finished, for the due list. */
  private enlist(key: KeyDescriptor, state: KeyState): void {
    const aggregates = this.storage.aggregates;
    if (aggregates.enlist === undefined || key.windowStart === null || state.closed || state.closeAt === null) return;
    aggregates.enlist(key.pane !== undefined ? paneWindow(key) : key, state.closeAt);
  }

  async flushDue(): Promise<void> {
    await this.storage.aggregates.flushEnlisted?.();
  }

  async releaseDue(rule: string, due: readonly DueKey[]): Promise<void> {
    await this.storage.aggregates.release?.(rule, due);
  }

  async dueKeys(rule: string, watermark: EpochMs): Promise<DueKey[]> {
    // What this store wrote is listed first: a closer in the same container sees its own writes.
    await this.flushDue();
    const due = await this.storage.aggregates.due(rule, watermark);
    return due.sort((a, b) => a.closeAt - b.closeAt || (a.key.windowStart ?? 0) - (b.key.windowStart ?? 0) || cmp(a.key.id, b.key.id));
  }

  sealWindow(key: KeyDescriptor): Promise<void> {
    return this.storage.aggregates.seal(key);
  }

  finishWindow(key: KeyDescriptor, final?: Slot, merged?: MergedPanes): Promise<void> {
    return this.storage.aggregates.finish(key, final, merged);
  }

  sealWindowAt(key: KeyDescriptor, expectedVersion: number, final: Slot, merged: MergedPanes, closeAt?: EpochMs): Promise<boolean> {
    return this.storage.aggregates.sealAt(key, expectedVersion, final, merged, closeAt);
  }

  fenceWindow(key: KeyDescriptor, closeAt: EpochMs): Promise<FencedWindow> {
    return this.storage.aggregates.fence(key, closeAt);
  }

  listWindow(key: KeyDescriptor, closeAt: EpochMs): boolean {
    return this.storage.aggregates.list(key, closeAt);
  }

  readPanes(rule: string, groupKey: string, from: EpochMs, to: EpochMs): Promise<Array<{ start: EpochMs; state: KeyState }>> {
    return this.storage.aggregates.panes(rule, groupKey, from, to);
  }

  registerWindow(key: KeyDescriptor, closeAt: EpochMs): Promise<'created' | 'exists' | 'closed'> {
    return this.storage.aggregates.register(key, closeAt);
  }

  async groupWindows(rule: string, groupKey: string, after: EpochMs | null, upTo: EpochMs): Promise<Array<{ key: KeyDescriptor; state: KeyState }>> {
    const list = await this.storage.aggregates.windows(rule, groupKey, after, upTo);
    return list.sort((a, b) => a.key.windowStart! - b.key.windowStart!);
  }

  sealEmptyWindow(key: KeyDescriptor): Promise<boolean> {
    return this.storage.aggregates.sealEmpty(key);
  }

  closeWindowAt(key: KeyDescriptor, expectedVersion: number, final?: Slot, merged?: MergedPanes): Promise<boolean> {
    return this.storage.aggregates.sealAndFinish(key, expectedVersion, final, merged);
  }

  advanceSessions(key: KeyDescriptor, closedThrough: EpochMs, nextCloseAt: EpochMs | null, expectedVersion: number): Promise<boolean> {
    return this.storage.aggregates.putSessions(key, closedThrough, nextCloseAt, expectedVersion);
  }

  // ------------------------------------------------------------ alerts and their outbox

  async updateAlert(rule: string, groupKey: string, step: AlertStep, claim: Claim, known?: KnownAlert | null, opts: { readonly model?: boolean } = {}): Promise<AlertUpdate> {
    const alerts = this.storage.alerts;
    // A record without the model (written before it moved there, or none yet) decides on the model item: read once, at
    // most, since no writer changes it any more (the record's conditional write keeps the model from then on).
    let fallback: { model: ModelRecord | undefined } | undefined;
    const fallbackFor = async (record: AlertRecord | undefined): Promise<ModelRecord | undefined> => {
      if (opts.model !== true || record?.model !== undefined) return undefined;
      fallback ??= { model: await this.storage.models.read(rule, groupKey) };
      return fallback.model;
    };
    let current: Versioned<AlertRecord> | undefined;
    let read = true;
    if (known !== undefined) {
      // A write decided on what the caller read, conditional on its version; a no-op is never decided on a belief.
      const record = known?.record ?? { state: INITIAL_ALERT_STATE, outbox: [] };
      const decided = recordStep(record, step, claim, await fallbackFor(record));
      if (decided !== null) {
        const written = await alerts.put(rule, groupKey, decided.next, known?.version ?? null, 'step');
        if (written.ok) return { record: decided.next, claimed: decided.claimed };
        current = written.current;
        read = false;
      }
    }
    if (read) current = await alerts.read(rule, groupKey);
    return this.settle(
      () => `alert state of ${rule} ${groupKey}`,
      async (): Promise<AlertUpdate | undefined> => {
        const record = current?.value ?? { state: INITIAL_ALERT_STATE, outbox: [] };
        const decided = recordStep(record, step, claim, await fallbackFor(record));
        if (decided === null) return { record, claimed: [] };
        const written = await alerts.put(rule, groupKey, decided.next, current?.version ?? null, 'step');
        if (written.ok) return { record: decided.next, claimed: decided.claimed };
        current = written.current;
        return undefined;
      },
    );
  }

  // ------------------------------------------------------------ anomaly models

  /**
   * One step over the anomaly model of (rule, group) (see anomaly/rule.ts):
   * written only if the stored record's `last` is still the one the step
   * read (absent: no record), so a second attempt at a learned window is a
   * no-op. Returns the record as stored afterwards.
   */
  async updateModel(rule: string, groupKey: string, step: (current: ModelRecord | undefined) => ModelRecord | null): Promise<ModelRecord | undefined> {
    const models = this.storage.models;
    let current = await models.read(rule, groupKey);
    const settled = await this.settle(
      () => `anomaly model of ${rule} ${groupKey}`,
      async (): Promise<{ record: ModelRecord | undefined } | undefined> => {
        const next = step(current);
        if (next === null) return { record: current };
        if (current !== undefined && next.last <= current.last) {
          throw new InvariantError(`store contract: a model write must learn a later window (${rule} ${groupKey}: ${next.last} after ${current.last})`);
        }
        const written = await models.put(rule, groupKey, next, current?.last ?? null);
        if (written.ok) return { record: written.value };
        current = written.current;
        return undefined;
      },
    );
    return settled.record;
  }

  confirmPublished(rule: string, groupKey: string, transitionIds: readonly string[]): Promise<void> {
    return this.rewriteOutbox(rule, groupKey, 'confirm', (outbox) => withoutPublished(outbox, transitionIds));
  }

  releaseClaims(rule: string, groupKey: string, transitionIds: readonly string[]): Promise<void> {
    return this.rewriteOutbox(rule, groupKey, 'release', (outbox) => withReleased(outbox, transitionIds));
  }

  private async rewriteOutbox(rule: string, groupKey: string, intent: 'confirm' | 'release', f: (outbox: readonly OutboxEntry[]) => OutboxEntry[]): Promise<void> {
    const alerts = this.storage.alerts;
    let current: Versioned<AlertRecord> | undefined = await alerts.read(rule, groupKey);
    await this.settle(
      () => `outbox of ${rule} ${groupKey} (${intent})`,
      async (): Promise<true | undefined> => {
        if (current === undefined) return true;
        const outbox = f(current.value.outbox);
        if (sameOutbox(outbox, current.value.outbox)) return true;
        // The whole record but its outbox, as stored (the anomaly model too).
        const written = await alerts.put(rule, groupKey, { ...current.value, outbox }, current.version, intent);
        if (written.ok) return true;
        current = written.current;
        return undefined;
      },
    );
  }

  async readAlert(rule: string, groupKey: string): Promise<AlertRecord | undefined> {
    return (await this.storage.alerts.read(rule, groupKey))?.value;
  }

  async readAlertVersion(rule: string, groupKey: string): Promise<KnownAlert | null> {
    const v = await this.storage.alerts.read(rule, groupKey);
    return v === undefined ? null : { record: v.value, version: v.version };
  }

  async activeAlerts(rule: string): Promise<Array<{ groupKey: string; record: AlertRecord }>> {
    return byGroup(await this.storage.alerts.list(rule, true));
  }

  async absenceGroups(rule: string): Promise<Array<{ groupKey: string; record: AlertRecord }>> {
    return byGroup(await this.storage.alerts.list(rule, false));
  }

  // ------------------------------------------------------------ progress and watermarks

  getShardProgress(stream: string, shardId: string): Promise<ShardProgress | undefined> {
    return this.storage.progress.get(stream, shardId);
  }

  async putShardProgress(stream: string, p: ShardProgress): Promise<void> {
    let target = p;
    await this.settle(
      () => `progress of ${stream} ${p.shardId}`,
      async (): Promise<true | undefined> => {
        const written = await this.storage.progress.raise(stream, target);
        if (written.ok) return true;
        // Someone is ahead in one field: keep the larger of each (never backwards), if anything is left to raise.
        const stored = written.current;
        if (stored === undefined) return undefined;
        target = { shardId: p.shardId, maxEventTime: Math.max(stored.maxEventTime, p.maxEventTime), lastActivity: Math.max(stored.lastActivity, p.lastActivity) };
        return target.maxEventTime === stored.maxEventTime && target.lastActivity === stored.lastActivity ? true : undefined;
      },
    );
  }

  async listShardProgress(stream: string): Promise<ShardProgress[]> {
    return (await this.storage.progress.list(stream)).sort((a, b) => cmp(a.shardId, b.shardId));
  }

  getStreamWatermark(stream: string): Promise<EpochMs> {
    return this.storage.progress.getWatermark(stream);
  }

  putStreamWatermark(stream: string, watermark: EpochMs): Promise<EpochMs | null> {
    // A refused write means someone moved it further already: watermarks never go backwards.
    return this.storage.progress.raiseWatermark(stream, watermark);
  }

  // ------------------------------------------------------------ producer duplicates

  async dedupe(stream: string, shardId: string, entries: DedupeEntries, expiresAt: EpochMs): Promise<boolean[]> {
    const n = entries.length;
    const out = new Array<boolean>(n).fill(false);
    // Entries come in sequence order, mostly in runs of one bucket: each bucket is decided and written once.
    // Its entries are chained through one array (next[i]: the next entry of i's bucket, -1 at the end), so
    // grouping allocates nothing per entry: this runs for every event of a batch.
    const next = new Int32Array(n).fill(-1);
    const runs = new Map<number, { first: number; last: number; count: number }>();
    let run = Number.NaN;
    let current: { first: number; last: number; count: number } | undefined;
    for (let i = 0; i < n; i++) {
      const b = entries.buckets[i]!;
      if (b !== run) {
        run = b;
        current = runs.get(b);
        if (current === undefined) {
          runs.set(b, { first: i, last: i, count: 1 });
          current = runs.get(b)!;
          continue;
        }
      }
      next[current!.last] = i;
      current!.last = i;
      current!.count++;
    }
    const dedupe = this.storage.dedupe;
    const ids = entries.ids;
    // Fingerprints of the sequence numbers (dedupe.ts), computed once per entry (-1: not yet).
    const seqs = new Float64Array(n).fill(-1);
    for (const [bucket, chain] of runs) {
      let stored = await dedupe.bucket(stream, shardId, bucket);
      await this.settle(
        () => `dedupe bucket ${bucket} of ${stream} ${shardId}`,
        async (): Promise<true | undefined> => {
          const known = stored.value.ids;
          const empty = known.size === 0;
          const added = new DedupeIds(chain.count);
          let bytes = stored.value.bytes;
          let addedBytes = 0;
          for (let i = chain.first; i !== -1; i = next[i]!) {
            let mine = seqs[i]!;
            if (mine < 0) mine = seqs[i] = dedupeSeqFingerprint(entries.seqs[i]!, entries.indexes[i]!);
            // (A new bucket, the usual case, has nothing known: one lookup per entry instead of two.)
            let seq = empty ? -1 : known.get(ids, i);
            if (seq < 0) {
              // Past the cap the id is not recorded (so not deduplicated): what a bucket holds stays bounded.
              if (bytes + DEDUPE_ENTRY_BYTES > DEDUPE_MAX_BUCKET_BYTES) seq = added.get(ids, i);
              else if ((seq = added.add(ids, i, mine)) < 0) {
                bytes += DEDUPE_ENTRY_BYTES;
                addedBytes += DEDUPE_ENTRY_BYTES;
              }
            }
            // The same id with the same sequence number is a redelivery (the HWMs deal with it), not a duplicate.
            out[i] = seq >= 0 && seq !== mine;
          }
          if (added.size === 0) return true;
          // `added` is the storage's from here on (a store may keep it as the bucket's ids): it is not used again.
          const written = await dedupe.add(stream, shardId, bucket, stored, added, addedBytes, expiresAt);
          if (written.ok) return true;
          stored = written.current ?? { value: { ids: new DedupeIds(), bytes: 0 }, version: 0 };
          return undefined;
        },
      );
    }
    return out;
  }

  // ------------------------------------------------------------ quarantine

  async quarantine(stream: string, rejections: readonly Rejection[]): Promise<void> {
    if (rejections.length > 0) await this.storage.quarantine.put(stream, rejections);
  }

  async listQuarantined(stream: string, query: QuarantineQuery = {}): Promise<QuarantinedRecord[]> {
    const all = (await this.storage.quarantine.list(stream, query)).sort(quarantineOrder);
    return query.limit === undefined ? all : all.slice(0, query.limit);
  }
}

/** A copy of a key's state as believed (the empty state when nothing is known). */
function copyState(state: KeyState | undefined): KeyState {
  if (state === undefined) return { slots: {}, closed: false, closedThrough: null, closeAt: null, version: 0 };
  return { ...state, slots: JSON.parse(JSON.stringify(state.slots)) as KeyState['slots'] };
}

function byGroup(list: Array<{ groupKey: string; record: AlertRecord }>): Array<{ groupKey: string; record: AlertRecord }> {
  return list.sort((a, b) => cmp(a.groupKey, b.groupKey));
}

/** Arrival time, then shard, then sequence number (numerically: shorter is smaller). */
export function quarantineOrder(a: Rejection, b: Rejection): number {
  return a.arrivalTime - b.arrivalTime || cmp(a.shardId, b.shardId) || a.sequenceNumber.length - b.sequenceNumber.length || cmp(a.sequenceNumber, b.sequenceNumber);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
