import type { AlertRecord, DueKey, FencedWindow, KeyDescriptor, KeyState, MergedPanes, QuarantinedRecord, QuarantineQuery, Slot, SlotUpdate } from './StateStore';
import type { ModelRecord } from './anomaly/rule';
import { DedupeIds } from './dedupe';
import { FINAL_SLOT, paneId, paneWindow } from './panes';
import { isActive } from './state/outbox';
import { MemorySequences } from './state/MemorySequences';
import { StateProtocol, type StateProtocolOptions } from './state/StateProtocol';
import type {
  AggregateStorage,
  AlertStorage,
  AlertWrite,
  Conditional,
  DedupeBucket,
  DedupeStorage,
  ModelStorage,
  ProgressStorage,
  QuarantineStorage,
  SlotBelief,
  StateStorage,
  Versioned,
} from './state/StateStorage';
import type { Clock, EpochMs, Rejection } from './types';
import type { ShardProgress } from './watermark';

interface KeyEntry {
  readonly key: KeyDescriptor;
  slots: Record<string, Slot>;
  /** Hopping rules: the slots of the pane starting with the window, kept on its entry (panes.ts). */
  paneSlots?: Record<string, Slot>;
  closed: boolean;
  closedThrough: EpochMs | null;
  /** Null once the key is finished (no longer due). */
  closeAt: EpochMs | null;
  version: number;
  /** A hopping window sealed with its value: the pane versions it merged (panes.ts). */
  merged?: MergedPanes;
}

interface AlertEntry {
  readonly record: AlertRecord;
  readonly version: number;
}

interface BucketEntry {
  readonly ids: DedupeIds;
  bytes: number;
  version: number;
}

/** Everything an in-memory store holds: one per "table", shared by the stores over it. */
class MemoryTable {
  readonly keys = new Map<string, KeyEntry>();
  /** Hopping windows listed for the closer (StateStore.listWindow), by key id, until finished: an item may not exist. */
  readonly listed = new Map<string, { readonly key: KeyDescriptor; closeAt: EpochMs }>();
  readonly alerts = new Map<string, AlertEntry>();
  /** Anomaly models, by (rule, group). */
  readonly models = new Map<string, ModelRecord>();
  /** Sequence rules' records (state/MemorySequences.ts). */
  readonly sequences = new Map<string, { json: string; version: number; dueAt: EpochMs | null }>();
  readonly progress = new Map<string, ShardProgress>();
  readonly watermarks = new Map<string, EpochMs>();
  readonly quarantined: QuarantinedRecord[] = [];
  /** Producer-duplicate ids: per stream and shard, per event-time bucket. */
  readonly buckets = new Map<string, Map<number, BucketEntry>>();
  /** Per stream and shard, per event-time bucket: when its ids expire (the TTL of its last write). */
  readonly bucketExpiry = new Map<string, Map<number, EpochMs>>();

  constructor(readonly opts: MemoryTableOptions = {}) {}
}

interface MemoryTableOptions {
  readonly forgetFinishedWindows?: boolean;
  readonly clock?: Clock;
}

const conflict = <T>(current: T | undefined): Conditional<T> => ({ ok: false, current });

class MemoryAggregates implements AggregateStorage {
  constructor(private readonly t: MemoryTable) {}

  believe(key: KeyDescriptor, shardId: string): SlotBelief {
    if (key.pane !== undefined) {
      const w = this.t.keys.get(paneWindow(key).id);
      const slot = w?.paneSlots?.[shardId];
      return { state: w === undefined ? undefined : paneSnapshot(w), slot: slot === undefined ? undefined : clone(slot) };
    }
    const e = this.t.keys.get(key.id);
    if (e === undefined) return { state: undefined, slot: undefined };
    const slot = e.slots[shardId];
    // The state is only read by the protocol (and copied before it leaves it); the slot is the caller's.
    return { state: { slots: e.slots, closed: e.closed, closedThrough: e.closedThrough, closeAt: e.closeAt, version: e.version }, slot: slot === undefined ? undefined : clone(slot) };
  }

  async putSlot(key: KeyDescriptor, shardId: string, expectedHwm: string | undefined, update: SlotUpdate): Promise<Conditional<KeyState>> {
    if (key.pane !== undefined) return this.putPaneSlot(key, shardId, expectedHwm, update);
    const entry = this.t.keys.get(key.id);
    if (entry !== undefined && (entry.closed || entry.slots[shardId]?.hwm !== expectedHwm)) return conflict(snapshot(entry));
    if (entry === undefined && expectedHwm !== undefined) return conflict<KeyState>(undefined);
    const e: KeyEntry = entry ?? { key, slots: {}, closed: false, closedThrough: null, closeAt: null, version: 0 };
    e.slots[shardId] = clone(update.slot);
    // A fixed window's close time is its own; a session key's the minimum over its shards. Lowering it is a
    // change of its own, as on DynamoDB (a second conditional write there): the version counts both.
    const lowers = key.windowStart === null && e.closeAt !== null && update.closeAt < e.closeAt;
    e.closeAt = key.windowStart !== null || e.closeAt === null ? update.closeAt : Math.min(e.closeAt, update.closeAt);
    e.version += lowers ? 2 : 1;
    this.t.keys.set(key.id, e);
    // The slot just written is the caller's own object (the store keeps a copy): only the others are copied out.
    return { ok: true, value: snapshot(e, shardId, update.slot) };
  }

  /** A pane's slot, on the entry of the window it starts (created with it, due at the window's close); refused once the window is sealed. */
  private putPaneSlot(key: KeyDescriptor, shardId: string, expectedHwm: string | undefined, update: SlotUpdate): Conditional<KeyState> {
    const window = paneWindow(key);
    const entry = this.t.keys.get(window.id);
    if (entry !== undefined && (entry.closed || entry.paneSlots?.[shardId]?.hwm !== expectedHwm)) return conflict(paneSnapshot(entry));
    if (entry === undefined && expectedHwm !== undefined) return conflict<KeyState>(undefined);
    const e: KeyEntry = entry ?? { key: window, slots: {}, closed: false, closedThrough: null, closeAt: update.closeAt, version: 0 };
    e.paneSlots ??= {};
    e.closeAt = update.closeAt;
    e.version += 1;
    // The version this write gives the item, kept with the slot (as the DynamoDB store's single update does).
    e.paneSlots[shardId] = { ...clone(update.slot), version: e.version };
    this.t.keys.set(window.id, e);
    return { ok: true, value: paneSnapshot(e) };
  }

  async read(key: KeyDescriptor): Promise<KeyState | undefined> {
    const e = this.t.keys.get(key.id);
    return e ? snapshot(e) : undefined;
  }

  async due(rule: string, watermark: EpochMs): Promise<DueKey[]> {
    const out = new Map<string, DueKey>();
    for (const e of this.t.keys.values()) {
      if (e.key.rule === rule && e.closeAt !== null && e.closeAt <= watermark) out.set(e.key.id, { key: e.key, closeAt: e.closeAt });
    }
    // Listed hopping windows (with an item or not) until finished: the closer reads each one.
    for (const l of this.t.listed.values()) {
      if (l.key.rule !== rule || l.closeAt > watermark || out.has(l.key.id)) continue;
      const e = this.t.keys.get(l.key.id);
      if (e !== undefined && e.closed && e.closeAt === null) continue;
      out.set(l.key.id, { key: l.key, closeAt: l.closeAt });
    }
    return [...out.values()];
  }

  list(key: KeyDescriptor, closeAt: EpochMs): boolean {
    const e = this.t.keys.get(key.id);
    // Finished already: nothing to list.
    if (e !== undefined && e.closed && e.closeAt === null) return true;
    const l = this.t.listed.get(key.id);
    if (l === undefined) this.t.listed.set(key.id, { key, closeAt });
    else l.closeAt = Math.min(l.closeAt, closeAt);
    return true;
  }

  async windows(rule: string, groupKey: string, after: EpochMs | null, upTo: EpochMs): Promise<Array<{ key: KeyDescriptor; state: KeyState }>> {
    const out: Array<{ key: KeyDescriptor; state: KeyState }> = [];
    for (const e of this.t.keys.values()) {
      const s = e.key.windowStart;
      if (e.key.rule === rule && e.key.groupKey === groupKey && s !== null && s <= upTo && (after === null || s > after)) out.push({ key: e.key, state: snapshot(e) });
    }
    return out;
  }

  async sealEmpty(key: KeyDescriptor): Promise<boolean> {
    if (this.t.keys.has(key.id)) return false;
    this.t.listed.delete(key.id);
    // forgetFinishedWindows: the marker is not kept (the stream watermark already refuses records for the window).
    if (!this.t.opts.forgetFinishedWindows) this.t.keys.set(key.id, { key, slots: {}, closed: true, closedThrough: null, closeAt: null, version: 1 });
    return true;
  }

  async seal(key: KeyDescriptor): Promise<void> {
    const e = this.t.keys.get(key.id);
    if (e === undefined || e.closed) return;
    e.closed = true;
    e.version += 1;
  }

  async finish(key: KeyDescriptor, final?: Slot, merged?: MergedPanes): Promise<void> {
    this.t.listed.delete(key.id);
    if (this.t.opts.forgetFinishedWindows && key.windowStart !== null) {
      this.t.keys.delete(key.id);
      return;
    }
    const e = this.t.keys.get(key.id);
    if (!e) return;
    e.closeAt = null;
    if (final !== undefined) keepValue(e, final, merged);
  }

  async sealAt(key: KeyDescriptor, expectedVersion: number, final: Slot, merged: MergedPanes, closeAt?: EpochMs): Promise<boolean> {
    const e = this.t.keys.get(key.id);
    // No item (a listed hopping window): put if absent, closed with its value, due until finished.
    if (e === undefined && expectedVersion === 0) {
      this.t.keys.set(key.id, { key, slots: { [FINAL_SLOT]: clone(final) }, closed: true, closedThrough: null, closeAt: closeAt ?? this.t.listed.get(key.id)?.closeAt ?? null, version: 1, merged: { ...merged } });
      return true;
    }
    if (e === undefined || e.closed || e.version !== expectedVersion) return false;
    e.closed = true;
    keepValue(e, final, merged);
    return true;
  }

  async fence(key: KeyDescriptor, closeAt: EpochMs): Promise<FencedWindow> {
    const e = this.t.keys.get(key.id);
    if (e === undefined) {
      // No item (a listed hopping window): created open, so that a close that read its panes on "no item" fails its put if absent.
      // (forgetFinishedWindows: a finished window is gone too; that store's single writer never fences one: see its option.)
      this.t.keys.set(key.id, { key, slots: {}, closed: false, closedThrough: null, closeAt, version: 1 });
      return { closed: false };
    }
    if (e.closed) return { closed: true, merged: e.merged === undefined ? undefined : { ...e.merged } };
    e.version += 1;
    return { closed: false };
  }

  async sealAndFinish(key: KeyDescriptor, expectedVersion: number, final?: Slot, merged?: MergedPanes): Promise<boolean> {
    const e = this.t.keys.get(key.id);
    if (e === undefined && expectedVersion === 0 && final !== undefined) {
      // No item (a listed hopping window): put if absent, closed and finished with its value.
      this.t.keys.set(key.id, { key, slots: {}, closed: true, closedThrough: null, closeAt: null, version: 0 });
      await this.finish(key, final, merged);
      return true;
    }
    if (e === undefined || e.closed || e.version !== expectedVersion) return false;
    e.closed = true;
    // One write, as on DynamoDB: keeping the value counts it (keepValue), else the seal does.
    if (final === undefined) e.version += 1;
    await this.finish(key, final, merged);
    return true;
  }

  async panes(rule: string, groupKey: string, from: EpochMs, to: EpochMs): Promise<Array<{ start: EpochMs; state: KeyState }>> {
    const out: Array<{ start: EpochMs; state: KeyState }> = [];
    for (const e of this.t.keys.values()) {
      const s = e.key.windowStart;
      if (e.paneSlots !== undefined && e.key.rule === rule && e.key.groupKey === groupKey && s !== null && s >= from && s <= to) out.push({ start: s, state: paneSnapshot(e) });
    }
    return out;
  }

  async register(key: KeyDescriptor, closeAt: EpochMs): Promise<'created' | 'exists' | 'closed'> {
    const e = this.t.keys.get(key.id);
    if (e !== undefined) return e.closed ? 'closed' : 'exists';
    this.t.keys.set(key.id, { key, slots: {}, closed: false, closedThrough: null, closeAt, version: 1 });
    return 'created';
  }

  async putSessions(key: KeyDescriptor, closedThrough: EpochMs, nextCloseAt: EpochMs | null, expectedVersion: number): Promise<boolean> {
    const e = this.t.keys.get(key.id);
    if (!e || e.version !== expectedVersion) return false;
    e.closedThrough = closedThrough;
    e.closeAt = nextCloseAt;
    e.version += 1;
    return true;
  }
}

class MemoryAlerts implements AlertStorage {
  constructor(private readonly t: MemoryTable) {}

  async read(rule: string, groupKey: string): Promise<Versioned<AlertRecord> | undefined> {
    const e = this.t.alerts.get(alertKey(rule, groupKey));
    return e ? { value: clone(e.record), version: e.version } : undefined;
  }

  async put(rule: string, groupKey: string, record: AlertRecord, expectedVersion: number | null, _intent: AlertWrite): Promise<Conditional<Versioned<AlertRecord>>> {
    const id = alertKey(rule, groupKey);
    const e = this.t.alerts.get(id);
    if ((e?.version ?? null) !== expectedVersion) return conflict(e ? { value: clone(e.record), version: e.version } : undefined);
    const next = { record: clone(record), version: (e?.version ?? 0) + 1 };
    this.t.alerts.set(id, next);
    return { ok: true, value: { value: clone(record), version: next.version } };
  }

  async list(rule: string, activeOnly: boolean): Promise<Array<{ groupKey: string; record: AlertRecord }>> {
    const out: Array<{ groupKey: string; record: AlertRecord }> = [];
    const prefix = `${rule}\u0000`;
    for (const [id, e] of this.t.alerts) {
      if (id.startsWith(prefix) && (!activeOnly || isActive(e.record))) out.push({ groupKey: id.slice(prefix.length), record: clone(e.record) });
    }
    return out;
  }
}

class MemoryModels implements ModelStorage {
  constructor(private readonly t: MemoryTable) {}

  async read(rule: string, groupKey: string): Promise<ModelRecord | undefined> {
    const m = this.t.models.get(alertKey(rule, groupKey));
    return m ? clone(m) : undefined;
  }

  async put(rule: string, groupKey: string, record: ModelRecord, expectedLast: number | null): Promise<Conditional<ModelRecord>> {
    const id = alertKey(rule, groupKey);
    const m = this.t.models.get(id);
    if ((m?.last ?? null) !== expectedLast) return conflict(m ? clone(m) : undefined);
    this.t.models.set(id, clone(record));
    return { ok: true, value: clone(record) };
  }
}

class MemoryProgress implements ProgressStorage {
  constructor(private readonly t: MemoryTable) {}

  async get(stream: string, shardId: string): Promise<ShardProgress | undefined> {
    const p = this.t.progress.get(`${stream}\u0000${shardId}`);
    return p ? { ...p } : undefined;
  }

  async raise(stream: string, target: ShardProgress): Promise<Conditional<ShardProgress>> {
    const id = `${stream}\u0000${target.shardId}`;
    const stored = this.t.progress.get(id);
    if (stored && (stored.maxEventTime > target.maxEventTime || stored.lastActivity > target.lastActivity)) return conflict({ ...stored });
    this.t.progress.set(id, { shardId: target.shardId, maxEventTime: target.maxEventTime, lastActivity: target.lastActivity });
    return { ok: true, value: { ...target } };
  }

  async list(stream: string): Promise<ShardProgress[]> {
    const prefix = `${stream}\u0000`;
    return [...this.t.progress.entries()].filter(([id]) => id.startsWith(prefix)).map(([, p]) => ({ ...p }));
  }

  async getWatermark(stream: string): Promise<EpochMs> {
    return this.t.watermarks.get(stream) ?? -Infinity;
  }

  async raiseWatermark(stream: string, watermark: EpochMs): Promise<EpochMs | null> {
    const before = this.t.watermarks.get(stream) ?? -Infinity;
    if (before >= watermark) return null;
    this.t.watermarks.set(stream, watermark);
    return before;
  }
}

/**
 * Dedupe buckets are handed to the protocol live, not copied (it only reads
 * them): one batch checks thousands of ids, and copying a bucket per batch
 * would cost more than the check.
 */
class MemoryDedupe implements DedupeStorage {
  constructor(private readonly t: MemoryTable) {}

  /** With a clock: drops the shard's buckets whose TTL passed, as DynamoDB's TTL drops the items. */
  private expire(shardKey: string, now: EpochMs): void {
    const expiry = this.t.bucketExpiry.get(shardKey);
    if (!expiry) return;
    for (const [bucket, at] of expiry) {
      if (at >= now) continue;
      expiry.delete(bucket);
      this.t.buckets.get(shardKey)?.delete(bucket);
    }
  }

  private entry(stream: string, shardId: string, bucket: number): BucketEntry | undefined {
    return this.t.buckets.get(`${stream}\u0000${shardId}`)?.get(bucket);
  }

  async bucket(stream: string, shardId: string, bucket: number): Promise<Versioned<DedupeBucket>> {
    if (this.t.opts.clock) this.expire(`${stream}\u0000${shardId}`, this.t.opts.clock.now());
    const e = this.entry(stream, shardId, bucket);
    return e ? { value: e, version: e.version } : { value: { ids: new DedupeIds(), bytes: 0 }, version: 0 };
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
    const shardKey = `${stream}\u0000${shardId}`;
    let buckets = this.t.buckets.get(shardKey);
    if (!buckets) this.t.buckets.set(shardKey, (buckets = new Map()));
    let e = buckets.get(bucket);
    if ((e?.version ?? 0) !== current.version) return conflict(e ? { value: e, version: e.version } : undefined);
    // A new bucket takes the protocol's map of added ids as its own (it is not used again): no copy per id.
    if (!e) buckets.set(bucket, (e = { ids: added, bytes: 0, version: 0 }));
    else e.ids.addAll(added);
    e.bytes += addedBytes;
    e.version += 1;
    if (this.t.opts.clock) {
      let expiry = this.t.bucketExpiry.get(shardKey);
      if (!expiry) this.t.bucketExpiry.set(shardKey, (expiry = new Map()));
      expiry.set(bucket, expiresAt);
    }
    return { ok: true, value: { value: e, version: e.version } };
  }
}

class MemoryQuarantine implements QuarantineStorage {
  constructor(private readonly t: MemoryTable) {}

  async put(stream: string, rejections: readonly Rejection[]): Promise<void> {
    for (const r of rejections) {
      // A record's identity, or (sequence number, index) for a sub-event of a record.
      if (!this.t.quarantined.some((q) => q.stream === stream && q.shardId === r.shardId && q.sequenceNumber === r.sequenceNumber && q.index === r.index)) this.t.quarantined.push({ ...r, stream });
    }
  }

  async list(stream: string, query: QuarantineQuery): Promise<QuarantinedRecord[]> {
    return this.t.quarantined.filter((q) => q.stream === stream && (query.since === undefined || q.arrivalTime >= query.since)).map((q) => ({ ...q }));
  }
}

export interface InMemoryStateStoreOptions extends StateProtocolOptions {
  /** Share the data of another in-memory store, as two Lambda containers share one table (its options apply). */
  readonly sharing?: InMemoryStateStore;
  /**
   * Forget a fixed window's state once it is finished (evaluated): `read`
   * then returns undefined for it. For a single writer over a long history
   * (tidewatch backtest), whose engine counts any later record for that
   * window late against the stream's watermark before it reaches the store.
   * @default false (every key is kept)
   */
  readonly forgetFinishedWindows?: boolean;
  /**
   * With a clock, producer-duplicate ids are dropped once their bucket's
   * expiry (the dedupe horizon given with its last write) is past, as
   * DynamoDB's TTL drops them.
   * @default ids are kept forever
   */
  readonly clock?: Clock;
}

/**
 * The state protocol over process memory: the reference the engine is tested
 * against, the store of the built-in demo and of the tools. Values are
 * deep-copied in and out, as a database would (dedupe buckets excepted, see
 * MemoryDedupe). It holds no cache: what it believes is the truth, so its
 * conditional writes never conflict within one process.
 */
export class InMemoryStateStore extends StateProtocol {
  private readonly table: MemoryTable;
  /** Every quarantined record, in the order it was kept. */
  readonly quarantined: ReadonlyArray<QuarantinedRecord>;

  constructor(opts: InMemoryStateStoreOptions = {}) {
    const table = opts.sharing?.table ?? new MemoryTable({ forgetFinishedWindows: opts.forgetFinishedWindows, clock: opts.clock });
    const storage: StateStorage = {
      aggregates: new MemoryAggregates(table),
      alerts: new MemoryAlerts(table),
      progress: new MemoryProgress(table),
      dedupe: new MemoryDedupe(table),
      quarantine: new MemoryQuarantine(table),
      models: new MemoryModels(table),
      sequences: new MemorySequences(table.sequences),
    };
    super(storage, opts);
    this.table = table;
    this.quarantined = table.quarantined;
  }

  /**
   * Every anomaly model, for tests and inspection: the one an alert record keeps (anomaly/rule.ts,
   * modelInAlertRecord), else the model item of (rule, group).
   */
  models(): Array<{ rule: string; groupKey: string; record: ModelRecord }> {
    const byId = new Map(this.table.models);
    for (const [id, e] of this.table.alerts) if (e.record.model !== undefined) byId.set(id, e.record.model);
    return [...byId.entries()].map(([id, record]) => {
      const i = id.indexOf('\u0000');
      return { rule: id.slice(0, i), groupKey: id.slice(i + 1), record: clone(record) };
    });
  }

  /** StateStore.forgetsFinishedWindows: with `forgetFinishedWindows` (listings are seen at once here). */
  get forgetsFinishedWindows(): boolean {
    return this.table.opts.forgetFinishedWindows === true;
  }

  /** Every key and its state, for tests and inspection. */
  dump(): Array<{ key: KeyDescriptor; state: KeyState }> {
    const out: Array<{ key: KeyDescriptor; state: KeyState }> = [];
    for (const e of this.table.keys.values()) {
      out.push({ key: e.key, state: snapshot(e) });
      // A pane is kept on the entry of the window it starts; listed as a key of its own (panes.ts).
      if (e.paneSlots !== undefined) out.push({ key: { ...e.key, id: paneId(e.key.rule, e.key.groupKey, e.key.windowStart!), pane: { windowEnd: e.key.windowEnd! } }, state: paneSnapshot(e) });
    }
    return out;
  }
}

function alertKey(rule: string, groupKey: string): string {
  return `${rule}\u0000${groupKey}`;
}

/** A copy of a key's state; `written`, when given, stands for its shard's slot as it is (not copied). */
function snapshot(e: KeyEntry, shardId?: string, written?: Slot): KeyState {
  const slots: Record<string, Slot> = {};
  for (const [shard, slot] of Object.entries(e.slots)) slots[shard] = shard === shardId ? written! : clone(slot);
  return { slots, closed: e.closed, closedThrough: e.closedThrough, closeAt: e.closeAt, version: e.version, ...(e.merged !== undefined ? { merged: { ...e.merged } } : {}) };
}

/** A hopping window's value, kept in its entry (one write: the version counts it once). */
function keepValue(e: KeyEntry, final: Slot, merged: MergedPanes | undefined): void {
  e.slots = { [FINAL_SLOT]: clone(final) };
  if (merged !== undefined) e.merged = { ...merged };
  e.version += 1;
}

/** A pane's state on its window's entry: its slots, the window's closed flag and version. */
function paneSnapshot(e: KeyEntry): KeyState {
  const slots: Record<string, Slot> = {};
  for (const [shard, slot] of Object.entries(e.paneSlots ?? {})) slots[shard] = clone(slot);
  return { slots, closed: e.closed, closedThrough: null, closeAt: e.closeAt, version: e.version };
}

/** A deep copy as the DynamoDB store makes it: state goes through JSON there (see jsonCopy). */
function clone<T>(v: T): T {
  return jsonCopy(v);
}

/**
 * What `JSON.parse(JSON.stringify(v))` gives, copied directly for plain data
 * (about 3 times faster on the store's slots, and this store copies every
 * slot it takes and hands out): plain objects, arrays, strings, booleans and
 * numbers, by JSON's rules (a non-finite number becomes null, -0 becomes 0,
 * an undefined or function member is left out of an object and becomes null
 * in an array). Anything else (an object with toJSON, a class instance, a
 * bigint, undefined itself) goes through JSON, errors included.
 */
export function jsonCopy<T>(v: T): T {
  return (typeof v === 'object' && v !== null ? copyJson(v) : JSON.parse(JSON.stringify(v))) as T;
}

const getPrototypeOf = Object.getPrototypeOf;
const objectPrototype = Object.prototype;

/** Whether JSON leaves a member out of an object (and writes null for it in an array). */
function unwritten(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

function copyJson(v: unknown): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v + 0 : null;
    case 'object': {
      if (v === null) return null;
      const o = v as Record<string, unknown>;
      if (typeof o['toJSON'] === 'function') break;
      if (Array.isArray(o)) {
        const out = new Array<unknown>(o.length);
        for (let i = 0; i < o.length; i++) {
          const x: unknown = o[i];
          out[i] = unwritten(x) ? null : copyJson(x);
        }
        return out;
      }
      const proto: unknown = getPrototypeOf(o);
      if (proto !== objectPrototype && proto !== null) break;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(o)) {
        const x = o[key];
        if (unwritten(x)) continue;
        // An own "__proto__" (JSON.parse makes one) must stay a field, not set the copy's prototype.
        if (key === '__proto__') Object.defineProperty(out, key, { value: copyJson(x), enumerable: true, writable: true, configurable: true });
        else out[key] = copyJson(x);
      }
      return out;
    }
  }
  return JSON.parse(JSON.stringify(v)) as unknown;
}
