import { INITIAL_ALERT_STATE } from './lifecycle';
import type { AlertRecord, AlertUpdate, ApplyOutcome, Claim, DedupeEntries, DueKey, KeyDescriptor, KeyState, OutboxEntry, Slot, SlotBuilder, StateStore } from './StateStore';
import type { AlertState, StepResult } from './lifecycle';
import type { Clock, EpochMs, Rejection } from './types';
import type { ShardProgress } from './watermark';

interface KeyEntry {
  key: KeyDescriptor;
  slots: Record<string, Slot>;
  closed: boolean;
  closedThrough: EpochMs | null;
  closeAt: EpochMs | null;
  version: number;
  /** Evaluated: no longer due. */
  finished: boolean;
}

interface AlertEntry {
  state: AlertState;
  outbox: OutboxEntry[];
}

export interface InMemoryStateStoreOptions {
  /**
   * Forget a fixed window's state once it is finished (evaluated): `read`
   * then returns undefined for it. For a single writer over a long history
   * (tidewatch backtest), whose engine counts any later record for that
   * window late against the stream's watermark before it reaches the store.
   * @default false (every key is kept)
   */
  readonly forgetFinishedWindows?: boolean;
  /**
   * With a clock, producer-duplicate ids are dropped once their expiry (the
   * dedupe horizon given to `dedupe`) is past, as DynamoDB's TTL drops them.
   * @default ids are kept forever
   */
  readonly clock?: Clock;
}

/**
 * A StateStore in process memory with the same semantics as the DynamoDB
 * store: the reference the engine is tested against, and the store of the
 * built-in demo. Values are deep-copied in and out, as a database would.
 */
export class InMemoryStateStore implements StateStore {
  private readonly keys = new Map<string, KeyEntry>();
  private readonly alerts = new Map<string, AlertEntry>();
  private readonly progress = new Map<string, ShardProgress>();
  private readonly watermarks = new Map<string, EpochMs>();
  readonly quarantined: Array<Rejection & { stream: string }> = [];
  /** Producer-duplicate ids: per stream and shard, per event-time bucket, id -> sequence number. */
  private readonly seenIds = new Map<string, Map<number, Map<string, string>>>();
  /** Counts of operations, for tests that assert cost. */
  readonly counters = { applyWrites: 0, applyConflicts: 0, reads: 0 };
  /** With opts.clock: per stream and shard, per event-time bucket, when its ids expire. */
  private readonly idExpiry = new Map<string, Map<number, EpochMs>>();

  constructor(private readonly opts: InMemoryStateStoreOptions = {}) {}

  async apply(key: KeyDescriptor, shardId: string, build: SlotBuilder): Promise<ApplyOutcome> {
    const entry = this.keys.get(key.id);
    if (entry?.closed) return { status: 'closed', conflicts: 0 };
    const current = entry?.slots[shardId];
    const update = build(current === undefined ? undefined : clone(current), entry?.closedThrough ?? null);
    if (update === null) {
      return { status: 'unchanged', state: entry ? snapshot(entry) : emptyState(), conflicts: 0 };
    }
    if (current !== undefined && update.slot.hwm <= current.hwm) {
      throw new Error(`store contract: a new slot must raise the high-water mark (shard ${shardId}, key ${key.id})`);
    }
    const e: KeyEntry = entry ?? { key, slots: {}, closed: false, closedThrough: null, closeAt: null, version: 0, finished: false };
    e.slots[shardId] = clone(update.slot);
    e.closeAt = e.closeAt === null ? update.closeAt : Math.min(e.closeAt, update.closeAt);
    e.version += 1;
    this.keys.set(key.id, e);
    this.counters.applyWrites += 1;
    // The slot just written is the caller's own object (the store keeps a copy): only the others are copied out.
    return { status: 'applied', state: snapshot(e, shardId, update.slot), conflicts: 0 };
  }

  async read(key: KeyDescriptor): Promise<KeyState | undefined> {
    this.counters.reads += 1;
    const e = this.keys.get(key.id);
    return e ? snapshot(e) : undefined;
  }

  async dueKeys(rule: string, watermark: EpochMs): Promise<DueKey[]> {
    const out: DueKey[] = [];
    for (const e of this.keys.values()) {
      if (e.key.rule === rule && !e.finished && e.closeAt !== null && e.closeAt <= watermark) out.push({ key: e.key, closeAt: e.closeAt });
    }
    return out.sort((a, b) => a.closeAt - b.closeAt || (a.key.windowStart ?? 0) - (b.key.windowStart ?? 0) || cmp(a.key.id, b.key.id));
  }

  async sealWindow(key: KeyDescriptor): Promise<void> {
    const e = this.keys.get(key.id) ?? { key, slots: {}, closed: false, closedThrough: null, closeAt: null, version: 0, finished: false };
    if (!e.closed) {
      e.closed = true;
      e.version += 1;
    }
    this.keys.set(key.id, e);
  }

  async finishWindow(key: KeyDescriptor): Promise<void> {
    if (this.opts.forgetFinishedWindows && key.windowStart !== null) {
      this.keys.delete(key.id);
      return;
    }
    const e = this.keys.get(key.id);
    if (e) e.finished = true;
  }

  async advanceSessions(key: KeyDescriptor, closedThrough: EpochMs, nextCloseAt: EpochMs | null, expectedVersion: number): Promise<boolean> {
    const e = this.keys.get(key.id);
    if (!e || e.version !== expectedVersion) return false;
    e.closedThrough = Math.max(e.closedThrough ?? -Infinity, closedThrough);
    e.closeAt = nextCloseAt;
    e.version += 1;
    return true;
  }

  async updateAlert(rule: string, groupKey: string, step: (state: AlertState) => StepResult, claim: Claim): Promise<AlertUpdate> {
    const id = alertKey(rule, groupKey);
    const e = this.alerts.get(id) ?? { state: INITIAL_ALERT_STATE, outbox: [] };
    const r = step(clone(e.state));
    const until = claim.now + claim.leaseMs;
    const expired = e.outbox.filter((o) => o.claimedUntil <= claim.now);
    if (r.transitions.length === 0 && expired.length === 0 && JSON.stringify(r.state) === JSON.stringify(e.state)) {
      return { record: clone(e), claimed: [] };
    }
    const outbox = [
      ...e.outbox.map((o) => (o.claimedUntil <= claim.now ? { ...o, claimedUntil: until } : o)),
      ...r.transitions.map((transition) => ({ transition, claimedUntil: until })),
    ];
    const next: AlertEntry = { state: clone(r.state), outbox: clone(outbox) };
    this.alerts.set(id, next);
    return { record: clone(next), claimed: clone([...expired.map((o) => o.transition), ...r.transitions]) };
  }

  async confirmPublished(rule: string, groupKey: string, transitionIds: readonly string[]): Promise<void> {
    const e = this.alerts.get(alertKey(rule, groupKey));
    if (!e) return;
    const done = new Set(transitionIds);
    e.outbox = e.outbox.filter((o) => !done.has(o.transition.transitionId));
  }

  async releaseClaims(rule: string, groupKey: string, transitionIds: readonly string[]): Promise<void> {
    const e = this.alerts.get(alertKey(rule, groupKey));
    if (!e) return;
    const ids = new Set(transitionIds);
    e.outbox = e.outbox.map((o) => (ids.has(o.transition.transitionId) ? { ...o, claimedUntil: 0 } : o));
  }

  async activeAlerts(rule: string): Promise<Array<{ groupKey: string; record: AlertRecord }>> {
    return this.alertsOf(rule).filter(({ record }) => record.state.status !== 'inactive' || record.outbox.length > 0);
  }

  async absenceGroups(rule: string): Promise<Array<{ groupKey: string; record: AlertRecord }>> {
    return this.alertsOf(rule);
  }

  private alertsOf(rule: string): Array<{ groupKey: string; record: AlertRecord }> {
    const out: Array<{ groupKey: string; record: AlertRecord }> = [];
    const prefix = `${rule}\u0000`;
    for (const [id, e] of this.alerts) {
      if (id.startsWith(prefix)) out.push({ groupKey: id.slice(prefix.length), record: clone(e) });
    }
    return out.sort((a, b) => cmp(a.groupKey, b.groupKey));
  }

  async getShardProgress(stream: string, shardId: string): Promise<ShardProgress | undefined> {
    const p = this.progress.get(`${stream}\u0000${shardId}`);
    return p ? { ...p } : undefined;
  }

  async putShardProgress(stream: string, p: ShardProgress): Promise<void> {
    const id = `${stream}\u0000${p.shardId}`;
    const old = this.progress.get(id);
    this.progress.set(id, {
      shardId: p.shardId,
      maxEventTime: Math.max(old?.maxEventTime ?? -Infinity, p.maxEventTime),
      lastActivity: Math.max(old?.lastActivity ?? -Infinity, p.lastActivity),
    });
  }

  async listShardProgress(stream: string): Promise<ShardProgress[]> {
    const prefix = `${stream}\u0000`;
    return [...this.progress.entries()].filter(([id]) => id.startsWith(prefix)).map(([, p]) => ({ ...p }));
  }

  async getStreamWatermark(stream: string): Promise<EpochMs> {
    return this.watermarks.get(stream) ?? -Infinity;
  }

  async putStreamWatermark(stream: string, watermark: EpochMs): Promise<void> {
    this.watermarks.set(stream, Math.max(this.watermarks.get(stream) ?? -Infinity, watermark));
  }

  async dedupe(stream: string, shardId: string, entries: DedupeEntries, expiresAt: EpochMs): Promise<boolean[]> {
    const out = new Array<boolean>(entries.length);
    const shardKey = `${stream}\u0000${shardId}`;
    let buckets = this.seenIds.get(shardKey);
    if (!buckets) this.seenIds.set(shardKey, (buckets = new Map()));
    if (this.opts.clock) this.expireIds(shardKey, buckets, entries, expiresAt, this.opts.clock.now());
    // Entries come in sequence order, so runs of them share a bucket: look each run's bucket up once.
    let bucket = Number.NaN;
    let ids = new Map<string, string>();
    for (let i = 0; i < entries.length; i++) {
      if (entries.buckets[i] !== bucket) {
        bucket = entries.buckets[i]!;
        const found = buckets.get(bucket);
        if (found) ids = found;
        else buckets.set(bucket, (ids = new Map()));
      }
      const id = entries.ids[i]!;
      const seq = ids.get(id);
      if (seq === undefined) ids.set(id, entries.seqs[i]!);
      out[i] = seq !== undefined && seq !== entries.seqs[i];
    }
    return out;
  }

  /** Drops the buckets whose ids expired (opts.clock), and notes when those of this call expire. */
  private expireIds(shardKey: string, buckets: Map<number, Map<string, string>>, entries: DedupeEntries, expiresAt: EpochMs, now: EpochMs): void {
    let expiry = this.idExpiry.get(shardKey);
    if (!expiry) this.idExpiry.set(shardKey, (expiry = new Map()));
    for (const [bucket, at] of expiry) {
      if (at >= now) continue;
      expiry.delete(bucket);
      buckets.delete(bucket);
    }
    for (let i = 0; i < entries.length; i++) {
      const b = entries.buckets[i]!;
      if ((expiry.get(b) ?? -Infinity) < expiresAt) expiry.set(b, expiresAt);
    }
  }

  async quarantine(stream: string, rejections: readonly Rejection[]): Promise<void> {
    for (const r of rejections) {
      if (!this.quarantined.some((q) => q.shardId === r.shardId && q.sequenceNumber === r.sequenceNumber)) this.quarantined.push({ ...r, stream });
    }
  }

  /** Every key and its state, for tests and inspection. */
  dump(): Array<{ key: KeyDescriptor; state: KeyState }> {
    return [...this.keys.values()].map((e) => ({ key: e.key, state: snapshot(e) }));
  }
}

function alertKey(rule: string, groupKey: string): string {
  return `${rule}\u0000${groupKey}`;
}

/** A copy of a key's state; `written`, when given, stands for its shard's slot as it is (not copied). */
function snapshot(e: KeyEntry, shardId?: string, written?: Slot): KeyState {
  const slots: Record<string, Slot> = {};
  for (const [shard, slot] of Object.entries(e.slots)) slots[shard] = shard === shardId ? written! : clone(slot);
  return { slots, closed: e.closed, closedThrough: e.closedThrough, closeAt: e.closeAt, version: e.version };
}

function emptyState(): KeyState {
  return { slots: {}, closed: false, closedThrough: null, closeAt: null, version: 0 };
}

/** A deep copy as the DynamoDB store makes it: state goes through JSON there (and JSON is faster to copy than structuredClone). */
function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
