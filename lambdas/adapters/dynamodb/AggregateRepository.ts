import { randomBytes } from 'node:crypto';
import { TABLE } from '../../core/contract';
import { descriptor } from '../../core/fold';
import { FINAL_SLOT, paneWindow } from '../../core/panes';
import type { AggregateStorage, Conditional, SlotBelief } from '../../core/state/StateStorage';
import type { DueKey, FencedWindow, KeyDescriptor, KeyState, MergedPanes, Slot, SlotUpdate } from '../../core/StateStore';
import type { EpochMs } from '../../core/types';
import { and, atLeast, atMost, attributeExists, attributeNotExists, beginsWith, between, equals, greaterThan, type UpdateSpec } from './expressions';
import { aggregateLayout, ATTR, DUE_CHUNK_MEMBERS, DUE_ENLIST_MAX, dueLayout, paneLayout, slotAttributes, type NativeItem } from './tableLayout';
import type { StateTable } from './StateTable';

export interface AggregateRepositoryOptions {
  /** How long state outlives its window (TTL). @default 7 days */
  readonly retentionMs?: number;
  /** Aggregate keys whose state is cached between batches. @default 50000 */
  readonly cacheSize?: number;
}

const DAY = 86_400_000;

/** Sets `key` in `map` as its newest entry, evicting the oldest while the map holds `cap` (a Map keeps insertion order). */
function rememberIn<K, V>(map: Map<K, V>, key: K, value: V, cap: number): void {
  map.delete(key);
  if (map.size >= cap) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
  map.set(key, value);
}

/** A bucket as this container tracks it: (rule, close time, window). */
function bucketId(key: KeyDescriptor, closeAt: EpochMs, itemless: boolean): string {
  return `${key.rule}\u0000${closeAt}\u0000${key.windowStart!}\u0000${key.windowEnd!}${itemless ? '\u0000L' : ''}`;
}

interface PendingBucket {
  readonly rule: string;
  /** Of windows listed with no item (dueLayout.key). */
  readonly itemless: boolean;
  readonly window: { readonly start: EpochMs; readonly end: EpochMs };
  readonly closeAt: EpochMs;
  readonly members: Set<string>;
}

/** A closed hopping window's value (core/panes.ts), as the slot attributes of its item, and the pane versions it merged. */
function finalAttributes(key: KeyDescriptor, final: Slot, merged: MergedPanes | undefined): NativeItem {
  const a = slotAttributes(FINAL_SLOT);
  return { [a.hwm]: final.hwm, [a.partial]: JSON.stringify(final.partial), ...(merged !== undefined ? aggregateLayout.mergedPanes(key, merged) : {}) };
}

/**
 * Aggregate key items. A batch writes each key it touches once:
 *
 *   SET h_<shard> = :new, p_<shard> = :partial, <identity, due index entry> ADD v 1
 *   IF h_<shard> = :hwmTheSlotWasBuiltOn (or attribute_not_exists) AND attribute_not_exists(closed)
 *   RETURN ALL_NEW
 *
 * Fast path: the key's state is cached from this container's previous write
 * (or the key is new): one conditional write, no read, and the returned item
 * gives the merged view of every shard for `emit: early` rules. Slow path (a
 * redelivery, a cold container meeting an existing key): the condition fails,
 * the stored item comes back (with the failure on DynamoDB, else read), and the
 * protocol rebuilds the slot on it.
 */
export class AggregateRepository implements AggregateStorage {
  private readonly retentionMs: number;
  private readonly cacheSize: number;
  /** Keys as this container last saw them (its own writes, or what a failed condition returned). */
  private readonly cache = new Map<string, KeyState>();
  /** (bucket, group) pairs this container added to due buckets (oldest first). */
  private readonly enlisted = new Map<string, true>();
  /** Groups enlisted since the last flush, by bucket. */
  private readonly pending = new Map<string, PendingBucket>();
  /** This container's id in due bucket keys: the chunks it writes are its own (dueLayout). */
  private readonly writer = randomBytes(6).toString('hex');
  /** The chunk this container adds to, by bucket, and the groups it holds. */
  private readonly chunks = new Map<string, { chunk: number; members: number }>();
  /** The version of this container's last bucket write: every chunk write takes the next one. */
  private bucketWrites = 0;

  constructor(
    private readonly table: StateTable,
    opts: AggregateRepositoryOptions = {},
  ) {
    this.retentionMs = opts.retentionMs ?? 7 * DAY;
    this.cacheSize = opts.cacheSize ?? 50_000;
  }

  believe(key: KeyDescriptor, shardId: string): SlotBelief {
    const state = this.cache.get(key.id);
    return { state, slot: state?.slots[shardId] };
  }

  async putSlot(key: KeyDescriptor, shardId: string, expectedHwm: string | undefined, update: SlotUpdate): Promise<Conditional<KeyState>> {
    if (key.pane !== undefined) return this.putPaneSlot(key, shardId, expectedHwm, update);
    const slot = slotAttributes(shardId);
    const set = {
      [slot.hwm]: update.slot.hwm,
      [slot.partial]: JSON.stringify(update.slot.partial),
      ...aggregateLayout.identity(key, this.expiresAt(update.closeAt), key.windowStart !== null ? update.closeAt : null),
      // A fixed window's close time is its own; a session key's is the minimum over shards (set when absent, lowered below).
      ...(key.windowStart !== null ? { [ATTR.closeAt]: update.closeAt } : {}),
    };
    const spec: UpdateSpec = { set, add: { [ATTR.version]: 1 }, ...(key.windowStart === null ? { setIfNotExists: { [ATTR.closeAt]: update.closeAt } } : {}) };
    const written = await this.table.write(
      'aggregate',
      'aggregate.apply',
      aggregateLayout.key(key),
      {
        kind: 'update',
        update: spec,
        condition: and(expectedHwm === undefined ? attributeNotExists(slot.hwm) : equals(slot.hwm, expectedHwm), attributeNotExists(ATTR.closed)),
        returnNew: true,
      },
      'current',
    );
    if (!written.ok) {
      const current = written.current === undefined ? undefined : aggregateLayout.state(written.current);
      if (current === undefined) this.cache.delete(key.id);
      else this.remember(key.id, current);
      return { ok: false, current };
    }
    let state = aggregateLayout.state(written.attributes ?? {});
    if (key.windowStart === null && state.closeAt !== null && update.closeAt < state.closeAt) state = await this.lowerCloseAt(key, update.closeAt, state);
    this.remember(key.id, state);
    return { ok: true, value: state };
  }

  /**
   * A pane's slot (core/panes.ts), on the item of the window the pane starts: the same conditional
   * write as a window key's (on the pane's HWM attribute, refused once the window is sealed), which
   * also makes the item the window's entry in the due index.
   */
  private async putPaneSlot(key: KeyDescriptor, shardId: string, expectedHwm: string | undefined, update: SlotUpdate): Promise<Conditional<KeyState>> {
    const slot = paneLayout.slotAttributes(shardId);
    const window = paneWindow(key);
    const set = {
      [slot.hwm]: update.slot.hwm,
      [slot.partial]: JSON.stringify(update.slot.partial),
      ...aggregateLayout.identity(window, this.expiresAt(update.closeAt), update.closeAt),
      [ATTR.closeAt]: update.closeAt,
    };
    const written = await this.table.write(
      'aggregate',
      'aggregate.paneApply',
      aggregateLayout.key(window),
      {
        kind: 'update',
        // The version raised as by ADD, and kept with the slot: the version of the pane that carries its records (core/panes.ts).
        update: { set, setSum: { [ATTR.version]: { from: ATTR.version, ifAbsent: 0, plus: 1 }, [slot.version]: { from: ATTR.version, ifAbsent: 0, plus: 1 } } },
        condition: and(expectedHwm === undefined ? attributeNotExists(slot.hwm) : equals(slot.hwm, expectedHwm), attributeNotExists(ATTR.closed)),
        returnNew: true,
      },
      'current',
    );
    if (!written.ok) {
      const current = written.current === undefined ? undefined : paneLayout.state(written.current);
      if (current === undefined) this.cache.delete(key.id);
      else this.remember(key.id, current);
      return { ok: false, current };
    }
    const state = paneLayout.state(written.attributes ?? {});
    this.remember(key.id, state);
    return { ok: true, value: state };
  }

  async panes(rule: string, groupKey: string, from: EpochMs, to: EpochMs): Promise<Array<{ start: EpochMs; state: KeyState }>> {
    // The group's partition on the base table (strongly consistent): the items of the windows starting in [from, to].
    const partition = aggregateLayout.key(descriptor(rule, groupKey, { start: 0, end: 0 })).pk;
    const range = aggregateLayout.windowsAfter(from - 1);
    const items = await this.table.query('aggregate', 'aggregate.panes', partition, {
      keyCondition: and(equals(ATTR.pk, partition), range.op === 'after' ? greaterThan(ATTR.sk, range.sk) : beginsWith(ATTR.sk, range.sk)),
      filter: and(atLeast(ATTR.windowStart, from), atMost(ATTR.windowStart, to)),
      consistent: true,
    });
    return items.map((item) => ({ start: aggregateLayout.decode(item).windowStart!, state: paneLayout.state(item) })).filter((p) => Object.keys(p.state.slots).length > 0);
  }

  async register(key: KeyDescriptor, closeAt: EpochMs): Promise<'created' | 'exists' | 'closed'> {
    const k = aggregateLayout.key(key);
    const item = { [ATTR.pk]: k.pk, [ATTR.sk]: k.sk, ...aggregateLayout.identity(key, this.expiresAt(closeAt), closeAt), [ATTR.closeAt]: closeAt, [ATTR.version]: 1 };
    const written = await this.table.write('aggregate', 'aggregate.register', k, { kind: 'put', item, condition: attributeNotExists(ATTR.pk) }, 'current');
    // Listed for the closer at the close time the item holds (an existing one's writer may have died before listing it).
    if (written.ok) {
      this.enlist(key, closeAt);
      return 'created';
    }
    const current = written.current === undefined ? undefined : aggregateLayout.state(written.current);
    if (current?.closed === true) return 'closed';
    if (current?.closeAt != null) this.enlist(key, current.closeAt);
    return 'exists';
  }

  /** Session keys: another shard set a later close time; lower it to ours (conditional, so the minimum wins). */
  private async lowerCloseAt(key: KeyDescriptor, closeAt: EpochMs, state: KeyState): Promise<KeyState> {
    const written = await this.table.write(
      'aggregate',
      'aggregate.lowerCloseAt',
      aggregateLayout.key(key),
      { kind: 'update', update: { set: { [ATTR.closeAt]: closeAt }, add: { [ATTR.version]: 1 } }, condition: greaterThan(ATTR.closeAt, closeAt), returnNew: true },
      'ignore',
    );
    return written.ok && written.attributes ? aggregateLayout.state(written.attributes) : state;
  }

  async read(key: KeyDescriptor): Promise<KeyState | undefined> {
    const item = await this.table.get('aggregate', 'aggregate.read', aggregateLayout.key(key));
    return item ? aggregateLayout.state(item) : undefined;
  }

  /** The TTL (epoch seconds) of an item last due at `t`: the retention after it. */
  private expiresAt(t: EpochMs): number {
    return Math.ceil((t + this.retentionMs) / 1000);
  }

  async due(rule: string, watermark: EpochMs): Promise<DueKey[]> {
    const partition = aggregateLayout.duePartition(rule);
    const bound = dueLayout.upTo(watermark);
    const itemlessBound = dueLayout.upTo(watermark, true);
    const buckets = dueLayout.partition(rule);
    const [indexed, withItems, itemless] = await Promise.all([
      // Session keys, windows a bucket cannot hold, and items written before due buckets.
      this.table.query('aggregate', 'aggregate.due', partition, {
        index: TABLE.dueIndex.name,
        keyCondition: and(equals(ATTR.duePk, partition), atMost(ATTR.closeAt, watermark)),
      }),
      bound === null ? Promise.resolve([]) : this.table.query('due', 'due.list', buckets, { keyCondition: and(equals(ATTR.pk, buckets), atMost(ATTR.sk, bound)), consistent: true }),
      // Windows listed with no item (their own range of sort keys, dueLayout.key).
      itemlessBound === null
        ? Promise.resolve([])
        : this.table.query('due', 'due.list', buckets, { keyCondition: and(equals(ATTR.pk, buckets), between(ATTR.sk, dueLayout.itemlessFrom(), itemlessBound)), consistent: true }),
    ]);
    const out = new Map<string, DueKey>();
    for (const item of [...withItems, ...itemless]) {
      const b = dueLayout.decode(item);
      const listing = { sk: b.key.sk, version: b.version };
      for (const groupKey of b.members) {
        const key = descriptor(rule, groupKey, { start: b.windowStart, end: b.windowEnd });
        // A window listed twice (another chunk, or a close time from before a change of the rule's lateness): its earliest close, every listing.
        const seen = out.get(key.id);
        out.set(key.id, { key, closeAt: Math.min(b.closeAt, seen?.closeAt ?? Infinity), listings: [...(seen?.listings ?? []), listing] });
      }
    }
    for (const item of indexed) {
      const a = aggregateLayout.decode(item);
      const key = descriptor(rule, a.groupKey, a.windowStart === null || a.windowEnd === null ? null : { start: a.windowStart, end: a.windowEnd });
      if (!out.has(key.id)) out.set(key.id, { key, closeAt: a.state.closeAt! });
    }
    return [...out.values()];
  }

  /** A window with no item: listed in a bucket of its own kind (dueLayout.key, `itemless`). */
  list(key: KeyDescriptor, closeAt: EpochMs): boolean {
    if (!dueLayout.holds(key, closeAt)) return false;
    this.enlist(key, closeAt, true);
    return true;
  }

  enlist(key: KeyDescriptor, closeAt: EpochMs, itemless = false): void {
    if (!dueLayout.holds(key, closeAt)) return;
    const window = { start: key.windowStart!, end: key.windowEnd! };
    const bucket = bucketId(key, closeAt, itemless);
    if (this.enlisted.has(`${bucket}\u0000${key.groupKey}`)) return;
    let b = this.pending.get(bucket);
    if (b === undefined) this.pending.set(bucket, (b = { rule: key.rule, itemless, window, closeAt, members: new Set() }));
    b.members.add(key.groupKey);
  }

  async flushEnlisted(): Promise<void> {
    if (this.pending.size === 0) return;
    const buckets = [...this.pending.entries()];
    this.pending.clear();
    const failed: unknown[] = [];
    await Promise.all(
      buckets.map(async ([id, b]) => {
        const members = [...b.members];
        try {
          for (let i = 0; i < members.length; ) {
            const own = this.chunks.get(id) ?? { chunk: 0, members: 0 };
            if (own.members >= DUE_CHUNK_MEMBERS) {
              own.chunk += 1;
              own.members = 0;
            }
            const n = Math.min(DUE_ENLIST_MAX, DUE_CHUNK_MEMBERS - own.members, members.length - i);
            const part = members.slice(i, i + n);
            await this.addToBucket(id, b, own.chunk, part);
            own.members += n;
            // Least recently used first (a bucket forgotten would start again at chunk 0, which may be full).
            rememberIn(this.chunks, id, own, this.cacheSize);
            i += n;
          }
        } catch (err) {
          // Kept for the next flush (the batch fails and is retried); the groups added already stay listed.
          const left = this.pending.get(id);
          if (left === undefined) this.pending.set(id, b);
          else for (const m of members) left.members.add(m);
          failed.push(err);
        }
      }),
    );
    if (failed.length > 0) throw failed[0];
  }

  /** One ADD of `members` to this container's chunk of the bucket (no condition: no one else writes it). */
  private async addToBucket(id: string, b: PendingBucket, chunk: number, members: readonly string[]): Promise<void> {
    const expires = this.expiresAt(b.closeAt);
    this.bucketWrites += 1;
    await this.table.write(
      'due',
      'due.enlist',
      dueLayout.key(b.rule, b.window, b.closeAt, this.writer, chunk, b.itemless),
      { kind: 'update', update: { set: { ...dueLayout.identity(b.rule, b.window, b.closeAt, expires), [ATTR.version]: this.bucketWrites }, add: { [ATTR.members]: new Set(members) } } },
      'ignore',
    );
    for (const m of members) rememberIn(this.enlisted, `${id}\u0000${m}`, true, this.cacheSize);
  }

  async release(rule: string, due: readonly DueKey[]): Promise<void> {
    const listings = new Map<string, { version: number; keys: KeyDescriptor[] }>();
    for (const d of due) {
      for (const l of d.listings ?? []) {
        const b = listings.get(l.sk) ?? { version: l.version, keys: [] };
        b.keys.push(d.key);
        listings.set(l.sk, b);
      }
    }
    // A bucket a group was added to since it was read stays (its version moved): the next close reads it again.
    await Promise.all(
      [...listings].map(async ([sk, b]) => {
        const deleted = await this.table.write('due', 'due.release', { pk: dueLayout.partition(rule), sk }, { kind: 'delete', condition: equals(ATTR.version, b.version) }, 'ignore');
        // This container forgets it listed them there: a window written again at that close time (a lateness changed
        // back) is listed again, not taken for listed.
        if (deleted.ok) for (const k of b.keys) this.enlisted.delete(`${bucketId(k, dueLayout.closeAtOf(sk), dueLayout.itemless(sk))}\u0000${k.groupKey}`);
      }),
    );
  }

  async windows(rule: string, groupKey: string, after: EpochMs | null, upTo: EpochMs): Promise<Array<{ key: KeyDescriptor; state: KeyState }>> {
    // The group's own partition on the base table: strongly consistent, unlike the due index.
    const partition = aggregateLayout.key(descriptor(rule, groupKey, { start: 0, end: 0 })).pk;
    const range = aggregateLayout.windowsAfter(after);
    const items = await this.table.query('aggregate', 'aggregate.windows', partition, {
      keyCondition: and(equals(ATTR.pk, partition), range.op === 'after' ? greaterThan(ATTR.sk, range.sk) : beginsWith(ATTR.sk, range.sk)),
      filter: and(atMost(ATTR.windowStart, upTo), ...(after !== null ? [greaterThan(ATTR.windowStart, after)] : [])),
      consistent: true,
    });
    return items.map((item) => {
      const a = aggregateLayout.decode(item);
      return { key: descriptor(rule, groupKey, { start: a.windowStart!, end: a.windowEnd! }), state: a.state };
    });
  }

  async sealEmpty(key: KeyDescriptor): Promise<boolean> {
    const expires = this.expiresAt(key.windowEnd!);
    const written = await this.table.write('aggregate', 'aggregate.sealEmpty', aggregateLayout.key(key), { kind: 'put', item: aggregateLayout.emptyMarker(key, expires), condition: attributeNotExists(ATTR.pk) }, 'ignore');
    this.cache.delete(key.id);
    return written.ok;
  }

  async seal(key: KeyDescriptor): Promise<void> {
    // Already sealed, or never written (an empty window): both fine.
    await this.table.write(
      'aggregate',
      'aggregate.seal',
      aggregateLayout.key(key),
      { kind: 'update', update: { set: { [ATTR.closed]: true }, add: { [ATTR.version]: 1 } }, condition: and(attributeExists(ATTR.pk), attributeNotExists(ATTR.closed)) },
      'ignore',
    );
    this.cache.delete(key.id);
  }

  async finish(key: KeyDescriptor, final?: Slot, merged?: MergedPanes): Promise<void> {
    const update: UpdateSpec = final === undefined ? { remove: [ATTR.duePk, ATTR.closeAt] } : { set: finalAttributes(key, final, merged), add: { [ATTR.version]: 1 }, remove: [ATTR.duePk, ATTR.closeAt] };
    await this.table.write('aggregate', 'aggregate.finish', aggregateLayout.key(key), { kind: 'update', update, condition: attributeExists(ATTR.pk) }, 'ignore');
    this.cache.delete(key.id);
  }

  async sealAt(key: KeyDescriptor, expectedVersion: number, final: Slot, merged: MergedPanes, closeAt?: EpochMs): Promise<boolean> {
    if (expectedVersion === 0) {
      // No item (a hopping window only listed, its value in newer windows' panes): put if absent, closed, due until finished.
      const at = closeAt ?? key.windowEnd!;
      const k = aggregateLayout.key(key);
      const item: NativeItem = {
        [ATTR.pk]: k.pk,
        [ATTR.sk]: k.sk,
        ...aggregateLayout.identity(key, this.expiresAt(at), at),
        [ATTR.closeAt]: at,
        [ATTR.closed]: true,
        [ATTR.version]: 1,
        ...finalAttributes(key, final, merged),
      };
      const put = await this.table.write('aggregate', 'aggregate.sealAt', k, { kind: 'put', item, condition: attributeNotExists(ATTR.pk) }, 'ignore');
      this.cache.delete(key.id);
      return put.ok;
    }
    const written = await this.table.write(
      'aggregate',
      'aggregate.sealAt',
      aggregateLayout.key(key),
      {
        kind: 'update',
        update: { set: { [ATTR.closed]: true, ...finalAttributes(key, final, merged) }, add: { [ATTR.version]: 1 } },
        condition: and(equals(ATTR.version, expectedVersion), attributeNotExists(ATTR.closed)),
      },
      'ignore',
    );
    this.cache.delete(key.id);
    return written.ok;
  }

  async fence(key: KeyDescriptor, closeAt: EpochMs): Promise<FencedWindow> {
    // An item that does not exist (a hopping window only listed) is created open, due at `closeAt`: a close that read
    // its panes on "no item" then fails its put if absent (sealAt at version 0) and reads them again.
    const identity = { ...aggregateLayout.identity(key, this.expiresAt(closeAt), closeAt), [ATTR.closeAt]: closeAt };
    const written = await this.table.write(
      'aggregate',
      'aggregate.fence',
      aggregateLayout.key(key),
      { kind: 'update', update: { setIfNotExists: identity, add: { [ATTR.version]: 1 } }, condition: attributeNotExists(ATTR.closed) },
      'current',
    );
    if (written.ok) return { closed: false };
    // Closed: what it merged, if it kept it.
    return { closed: true, merged: written.current === undefined ? undefined : aggregateLayout.state(written.current).merged };
  }

  async sealAndFinish(key: KeyDescriptor, expectedVersion: number, final?: Slot, merged?: MergedPanes): Promise<boolean> {
    if (expectedVersion === 0 && final !== undefined) {
      // No item (a hopping window only listed): put if absent, closed and finished with its value (no due entry).
      const item: NativeItem = { ...aggregateLayout.emptyMarker(key, this.expiresAt(key.windowEnd!)), ...finalAttributes(key, final, merged) };
      const put = await this.table.write('aggregate', 'aggregate.sealAndFinish', aggregateLayout.key(key), { kind: 'put', item, condition: attributeNotExists(ATTR.pk) }, 'ignore');
      this.cache.delete(key.id);
      return put.ok;
    }
    const written = await this.table.write(
      'aggregate',
      'aggregate.sealAndFinish',
      aggregateLayout.key(key),
      {
        kind: 'update',
        update: { set: { [ATTR.closed]: true, ...(final === undefined ? {} : finalAttributes(key, final, merged)) }, add: { [ATTR.version]: 1 }, remove: [ATTR.duePk, ATTR.closeAt] },
        condition: and(equals(ATTR.version, expectedVersion), attributeNotExists(ATTR.closed)),
      },
      'ignore',
    );
    this.cache.delete(key.id);
    return written.ok;
  }

  async putSessions(key: KeyDescriptor, closedThrough: EpochMs, nextCloseAt: EpochMs | null, expectedVersion: number): Promise<boolean> {
    const update: UpdateSpec =
      nextCloseAt === null
        ? { set: { [ATTR.closedThrough]: closedThrough }, add: { [ATTR.version]: 1 }, remove: [ATTR.duePk, ATTR.closeAt] }
        : { set: { [ATTR.closedThrough]: closedThrough, [ATTR.closeAt]: nextCloseAt }, add: { [ATTR.version]: 1 } };
    const written = await this.table.write('aggregate', 'aggregate.advanceSessions', aggregateLayout.key(key), { kind: 'update', update, condition: equals(ATTR.version, expectedVersion) }, 'ignore');
    if (!written.ok) return false;
    const c = this.cache.get(key.id);
    if (c) this.cache.set(key.id, { ...c, closedThrough, closeAt: nextCloseAt, version: c.version === expectedVersion ? c.version + 1 : c.version });
    return true;
  }

  private remember(id: string, state: KeyState): void {
    rememberIn(this.cache, id, state, this.cacheSize);
  }
}
