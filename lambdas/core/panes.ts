import { descriptor, eventsOf, type KeyBatch, type Part, type RuleContext, type SharedParts } from './fold';
import { scopeOf } from './fold';
import type { GroupRef } from './group';
import type { FixedPartialJson, PartialJson, RuleAggregates, WindowAcc } from './partials';
import { padSequence } from './sequence';
import type { KeyDescriptor, KeyState, Slot, SlotUpdate, StateStore } from './StateStore';
import type { DecodedBatch } from './decode';
import type { EpochMs } from './types';
import { closesAt, type TimeWindow } from './windows';

/**
 * Panes: the stored unit of hopping windows (issue 21).
 *
 * A hopping window of size S starting every P (S a multiple of P, P < S) is
 * the union of S/P panes, each one slide [p, p + P) of event time. The fold
 * already folds each event into its pane (fold.ts); here a batch writes one
 * item per touched (rule, group, pane), with the per-shard high-water-mark
 * protocol of window items (StateStore.apply: a slot per shard, replaced only
 * if its stored HWM is the one it was built on). A window's value is the
 * merge of its panes, computed when the window is evaluated (on close, and
 * for `emit: early` after the batch's writes), and stored in the window's own
 * item when it is sealed for its close, with the versions of the pane items it
 * merged, so a closed window is final whatever its panes do later, and a batch
 * can tell whether a pane write it made is in it (PaneWriter).
 *
 * Lateness. An event late for the older windows of its pane but not for the
 * newer ones (fold.ts: "a part of its own, in the open ones only") is kept in
 * the pane apart from the rest, under the start of the oldest window it
 * counts in (`validFrom`): a window starting at w takes a pane's main part and
 * the late parts with validFrom <= w. The main part counts in every window of
 * the pane.
 *
 * Window items of hopping rules hold no per-shard slots: a batch writes one
 * the first time it contributes to the window (a registration: the window's
 * entry in the due index, so the closer finds it as it finds any window), and
 * the closer writes the window's merged value into it ({@link FINAL_SLOT})
 * when it seals the window (when it finishes it, for a window sealed by the
 * code before). A window item with slots is final (or, from before panes,
 * holds the window's slots itself): its slots are its value.
 */

/** The slot of a finished hopping window's item that holds its value (merged from its panes). */
export const FINAL_SLOT = 'final';

/** A pane slot's partial: the main part (counts in every window of the pane), and late parts by validFrom. */
export interface PanePartialJson {
  readonly f?: FixedPartialJson;
  /** Late parts: the start of the oldest window each counts in, and its partial. */
  readonly l?: Readonly<Record<string, FixedPartialJson>>;
}

/** Whether the rule's windows are stored as panes: hopping windows whose size is a multiple of the slide. */
export function isPaned(ctx: RuleContext): boolean {
  const w = ctx.rule.window;
  return w.kind === 'hopping' && w.slideMs < w.sizeMs && w.sizeMs % w.slideMs === 0;
}

/** The key of one pane of (rule, group): its start and end (start + step). */
export function paneDescriptor(rule: string, groupKey: string, start: EpochMs, step: number, size: number): KeyDescriptor {
  return { id: paneId(rule, groupKey, start), rule, groupKey, windowStart: start, windowEnd: start + step, pane: { windowEnd: start + size } };
}

/** The window a pane is kept with: the one it starts (its newest). */
export function paneWindow(key: KeyDescriptor): KeyDescriptor {
  return descriptor(key.rule, key.groupKey, { start: key.windowStart!, end: key.pane!.windowEnd });
}

export function paneId(rule: string, groupKey: string, start: EpochMs): string {
  return `${rule}\u0001${groupKey}\u0001P${String(start)}`;
}

/** What one batch holds for one pane: its parts with the start of the oldest window each counts in. */
export interface PaneBatch {
  readonly key: KeyDescriptor;
  readonly rule: RuleContext;
  readonly group: GroupRef;
  readonly start: EpochMs;
  readonly parts: Array<{ readonly part: Part; validFrom: EpochMs }>;
}

/**
 * Regroups the window keys of paned rules (as the fold makes them: one per
 * window, holding the parts attached to it) by pane: every part belongs to one
 * pane and counts in the windows from the oldest it was attached to.
 */
export function panesOf(keyBatches: readonly KeyBatch[]): PaneBatch[] {
  // By rule, then part: rules that fold alike (fold.ts, foldTwins) hold the same Part objects, each in its own keys.
  const byRule = new Map<RuleContext, Map<Part, { kb: KeyBatch; from: EpochMs }>>();
  for (const kb of keyBatches) {
    const start = kb.window!.start;
    let validFrom = byRule.get(kb.rule);
    if (validFrom === undefined) byRule.set(kb.rule, (validFrom = new Map()));
    for (const part of kb.parts) {
      const v = validFrom.get(part);
      if (v === undefined || start < v.from) validFrom.set(part, { kb, from: start });
    }
  }
  const out = new Map<string, PaneBatch>();
  for (const [part, { kb, from }] of [...byRule.values()].flatMap((m) => [...m])) {
    const id = paneId(kb.rule.rule.name, kb.group.key, part.start);
    let pb = out.get(id);
    if (pb === undefined) {
      pb = { key: paneDescriptor(kb.rule.rule.name, kb.group.key, part.start, kb.rule.step!, kb.window!.end - kb.window!.start), rule: kb.rule, group: kb.group, start: part.start, parts: [] };
      out.set(id, pb);
    }
    pb.parts.push({ part, validFrom: from });
  }
  return [...out.values()];
}

/** The window size of a paned rule (isPaned: a hopping window, never a session). */
function sizeOf(ctx: RuleContext): number {
  const w = ctx.rule.window;
  return w.kind === 'session' ? 0 : w.sizeMs;
}

/** The start of the oldest window containing the pane starting at `start` (a part valid from there counts in all of them). */
export function oldestWindowOf(ctx: RuleContext, start: EpochMs): EpochMs {
  return start - sizeOf(ctx) + ctx.step!;
}

/** The windows a pane batch's parts count in, oldest first. */
export function windowsOf(pb: PaneBatch): TimeWindow[] {
  const size = sizeOf(pb.rule);
  const from = Math.min(...pb.parts.map((p) => p.validFrom));
  const out: TimeWindow[] = [];
  for (let s = from; s <= pb.start; s += pb.rule.step!) out.push({ start: s, end: s + size });
  return out;
}

function accsOf(aggs: RuleAggregates, p: PanePartialJson | undefined): Map<string, WindowAcc> {
  const out = new Map<string, WindowAcc>();
  if (p?.f) out.set('f', aggs.deserialize(p.f));
  for (const [from, partial] of Object.entries(p?.l ?? {})) out.set(from, aggs.deserialize(partial));
  return out;
}

function serializePane(aggs: RuleAggregates, accs: Map<string, WindowAcc>): PanePartialJson {
  const f = accs.get('f');
  const l: Record<string, FixedPartialJson> = {};
  let late = false;
  for (const [from, acc] of accs) {
    if (from === 'f') continue;
    l[from] = aggs.serialize(acc);
    late = true;
  }
  return { ...(f ? { f: aggs.serialize(f) } : {}), ...(late ? { l } : {}) };
}

/**
 * The slot builder of one pane's batch, for StateStore.apply: the same
 * exactly-once protocol as a window key's (fold.ts, Engine.applyKey). Fast
 * path: every record is newer than the slot's HWM, the parts are merged in as
 * folded. Slow path (a redelivery overlapping the slot): the records newer
 * than the HWM are folded again, each into the part of its validity.
 */
export function paneBuilder(pb: PaneBatch, events: DecodedBatch, shared: SharedParts, fresh?: number[]): (current: Slot | undefined) => SlotUpdate | null {
  const { rule, aggs } = pb.rule;
  let first = Infinity;
  let last = -1;
  for (const { part } of pb.parts) {
    if (part.first < first) first = part.first;
    if (part.last > last) last = part.last;
  }
  const firstSeq = padSequence(events.sequenceNumber(first));
  const hwm = padSequence(events.sequenceNumber(last));
  const full = oldestWindowOf(pb.rule, pb.start);
  const size = sizeOf(pb.rule);
  const closeAt = pb.start + size + rule.latenessMs;
  return (current) => {
    const fast = current === undefined || current.hwm < firstSeq;
    const accs = accsOf(aggs, current?.partial as PanePartialJson | undefined);
    const into = (from: EpochMs): WindowAcc => {
      const k = from <= full ? 'f' : String(from);
      let acc = accs.get(k);
      if (acc === undefined) accs.set(k, (acc = aggs.create()));
      return acc;
    };
    // Records this build adds, in all and per part (`fresh`: the last build is the one written).
    let added = 0;
    pb.parts.forEach(({ part, validFrom }, k) => {
      let n = 0;
      // A part valid from after the pane (all its windows closed) is not written.
      if (validFrom <= pb.start && fast) {
        aggs.merge(into(validFrom), part.acc);
        n = part.count;
      } else if (validFrom <= pb.start) {
        for (const i of eventsOf(part)) {
          if (padSequence(events.sequenceNumber(i)) <= current!.hwm) continue;
          aggs.addEvent(into(validFrom), events.times[i]!, scopeOf(shared, events.payloads[i]!));
          n += 1;
        }
      }
      if (fresh !== undefined) fresh[k] = n;
      added += n;
    });
    if (!fast && added === 0) return null;
    return { slot: { hwm, partial: serializePane(aggs, accs) as unknown as PartialJson }, closeAt };
  };
}

/** One pane as read: its start and state. */
export interface StoredPane {
  readonly start: EpochMs;
  readonly state: KeyState;
}

/** The value of the window starting at `windowStart` (size `size`): the merge of its panes, each pane's late parts that count in it included. */
export function windowAcc(aggs: RuleAggregates, panes: readonly StoredPane[], windowStart: EpochMs, size: number): WindowAcc {
  const acc = aggs.create();
  for (const pane of panes) {
    if (pane.start < windowStart || pane.start >= windowStart + size) continue;
    for (const slot of Object.values(pane.state.slots)) {
      const p = slot.partial as unknown as PanePartialJson;
      if (p.f) aggs.merge(acc, aggs.deserialize(p.f));
      for (const [from, partial] of Object.entries(p.l ?? {})) if (Number(from) <= windowStart) aggs.merge(acc, aggs.deserialize(partial));
    }
  }
  return acc;
}

/**
 * A hopping window's state for evaluation: a window item with slots (its value
 * as kept, or from before panes: its own slots) as it is; else its slots
 * replaced by one, {@link FINAL_SLOT}, merged from its panes (one read of the
 * group's panes in the window, after the item's: `state.version` is the one
 * before it), with `merged` the version of each pane item read but the
 * window's own. An open window is sealed with that value (Engine.closeKey,
 * StateStore.sealWindowAt): a retried close evaluates it on what it kept, and
 * a batch that wrote a pane after the read finds by its version that the
 * window's value left its records out (PaneWriter: they are late for it).
 */
export async function windowState(store: StateStore, ctx: RuleContext, key: KeyDescriptor, state: KeyState): Promise<KeyState> {
  if (Object.keys(state.slots).length > 0) return state;
  const size = key.windowEnd! - key.windowStart!;
  const panes = await store.readPanes(key.rule, key.groupKey, key.windowStart!, key.windowEnd! - ctx.step!);
  const acc = windowAcc(ctx.aggs, panes, key.windowStart!, size);
  const merged: Record<string, number> = {};
  for (const p of panes) if (p.start > key.windowStart!) merged[String(p.start)] = p.state.version;
  return { ...state, slots: { [FINAL_SLOT]: { hwm: '', partial: ctx.aggs.serialize(acc) } }, merged };
}

/** Whether a hopping window's state holds a value just merged from its panes that its open item does not keep yet (windowState). */
export function mergedNotKept(state: KeyState): boolean {
  return !state.closed && state.merged !== undefined;
}

/** The slot a finished hopping window keeps (its value), from the state it was evaluated on. */
export function finalSlotOf(ctx: RuleContext, state: KeyState): Slot | undefined {
  if (!isPaned(ctx)) return undefined;
  return state.slots[FINAL_SLOT];
}

/** A window of an `emit: early` hopping rule touched by a batch, with its value merged from its panes (for the early verdict). */
export interface EarlyWindow {
  readonly ctx: RuleContext;
  readonly group: GroupRef;
  readonly window: TimeWindow;
  readonly state: KeyState;
  /** Index of the first event of the group's panes in the batch (where a failure to record the verdict stops the batch). */
  readonly first: number;
}

export interface PaneApplyResult {
  /** Pane items written. */
  written: number;
  conflicts: number;
  /**
   * Records a window they were folded for did not take, by rule, with the first one's event index:
   * the window was closed under the batch (after its read of the stream's watermark), found so when
   * registering it, when writing the pane, or after the write (its value left the write out).
   * Each record once per rule, however many of its windows did not take it.
   */
  readonly late: Map<string, { count: number; first: number }>;
  readonly failures: unknown[];
  /** The lowest event index whose pane (or window registration, or check of a window closed under it) failed, or Infinity. */
  failedAt: number;
  readonly early: EarlyWindow[];
}

/** Window items known to exist, kept by a container between batches: a window is registered once. */
const REGISTERED_CAP = 50_000;

/** A pane write that took effect: the pane item's version after it, and the records it added per part (PaneBatch.parts). */
interface PaneWritten {
  readonly pb: PaneBatch;
  readonly version: number;
  readonly fresh: readonly number[];
  readonly first: number;
}

/**
 * Writes a batch's panes: registers the windows they count in (once per
 * window: a container remembers the windows it saw), then one conditional
 * write per (rule, group, pane). A window found closed at registration takes
 * nothing more: the parts that counted in it count from the next window on.
 *
 * A window can also close between the batch's read of the stream's watermark
 * and its pane write, the pane still open for newer windows (an idle shard's
 * watermark follows the wall clock): the write goes through and the window's
 * value, sealed with the pane versions it merged (windowState), leaves it out.
 * So after its writes the batch reads the watermark again, and fences each
 * older window of its panes that it now closes (StateStore.fenceWindow): one
 * still open has its version raised, so that a close that read the panes
 * before reads them again; a closed one tells by the versions it merged
 * whether each pane write is in its value, and those that are not are late.
 * One read per batch; a fence only per window a close raced.
 */
export class PaneWriter {
  private readonly registered = new Set<string>();

  constructor(
    private readonly store: StateStore,
    private readonly stream: string,
    private readonly shared: SharedParts,
    private readonly concurrency: number,
  ) {}

  async apply(shardId: string, keyBatches: readonly KeyBatch[], events: DecodedBatch): Promise<PaneApplyResult> {
    const out: PaneApplyResult = { written: 0, conflicts: 0, late: new Map(), failures: [], failedAt: Infinity, early: [] };
    const pending = new Map<string, Promise<'created' | 'exists' | 'closed'>>();
    const register = (pb: PaneBatch, w: TimeWindow): Promise<'created' | 'exists' | 'closed'> => {
      const key = windowKey(pb, w);
      if (this.registered.has(key.id)) return Promise.resolve('exists');
      let p = pending.get(key.id);
      if (p === undefined) {
        p = this.store.registerWindow(key, w.end + pb.rule.rule.latenessMs).then((r) => {
          if (r !== 'closed') this.remember(key.id);
          return r;
        });
        pending.set(key.id, p);
      }
      return p;
    };
    // Records counted late, by rule: each once, whichever windows refused it.
    const counted = new Map<RuleContext, Set<Part>>();
    const late = (pb: PaneBatch, part: Part, count: number): void => {
      let parts = counted.get(pb.rule);
      if (parts === undefined) counted.set(pb.rule, (parts = new Set()));
      if (count === 0 || parts.has(part)) return;
      parts.add(part);
      const l = out.late.get(pb.rule.rule.name) ?? { count: 0, first: Infinity };
      l.count += count;
      l.first = Math.min(l.first, part.first);
      out.late.set(pb.rule.rule.name, l);
    };
    const pbs = panesOf(keyBatches);
    const written: PaneWritten[] = [];
    // Per (rule, group): the newest window found closed, the span of windows and panes touched (early rules).
    const touched = new Map<string, { ctx: RuleContext; group: GroupRef; closed: EpochMs; from: EpochMs; to: EpochMs; first: number }>();
    await forEachLimit(pbs, this.concurrency, async (pb) => {
      const first = Math.min(...pb.parts.map((p) => p.part.first));
      try {
        // The pane's write is its newest window's entry (the pane is kept on that window's item): the older ones are registered.
        const windows = windowsOf(pb).filter((w) => w.start < pb.start);
        const outcomes = await Promise.all(windows.map((w) => register(pb, w)));
        let closed = -Infinity;
        outcomes.forEach((r, i) => {
          if (r === 'closed' && windows[i]!.start > closed) closed = windows[i]!.start;
        });
        // Parts meant for a window found closed: late for it, on in the newer ones (counted once written, on what the write adds).
        const moved = new Set<number>();
        if (closed > -Infinity) {
          pb.parts.forEach((p, k) => {
            if (p.validFrom > closed) return;
            p.validFrom = closed + pb.rule.step!;
            if (p.validFrom > pb.start) late(pb, p.part, p.part.count);
            else moved.add(k);
          });
        }
        const id = `${pb.rule.rule.name}\u0001${pb.group.key}`;
        const t = touched.get(id) ?? { ctx: pb.rule, group: pb.group, closed: -Infinity, from: Infinity, to: -Infinity, first: Infinity };
        t.closed = Math.max(t.closed, closed);
        t.from = Math.min(t.from, ...pb.parts.map((p) => p.validFrom));
        t.to = Math.max(t.to, pb.start);
        t.first = Math.min(t.first, first);
        touched.set(id, t);
        if (pb.parts.every((p) => p.validFrom > pb.start)) return;
        const fresh = pb.parts.map(() => 0);
        const outcome = await this.store.apply(pb.key, shardId, paneBuilder(pb, events, this.shared, fresh));
        out.conflicts += outcome.conflicts;
        if (outcome.status === 'closed') {
          // The pane's newest window is closed, so are all of its windows: its records are late for every one.
          t.closed = pb.start;
          for (const p of pb.parts) if (p.validFrom <= pb.start) late(pb, p.part, p.part.count);
          return;
        }
        this.remember(paneWindow(pb.key).id);
        if (outcome.status !== 'applied') return;
        out.written += 1;
        for (const k of moved) late(pb, pb.parts[k]!.part, fresh[k]!);
        written.push({ pb, version: outcome.state.version, fresh, first });
      } catch (err) {
        out.failures.push(err);
        out.failedAt = Math.min(out.failedAt, first);
      }
    });
    await this.checkClosedUnder(written, touched, late, out);
    // emit: early: every open window touched, from its panes (one read of the group's panes).
    for (const t of touched.values()) {
      if (t.ctx.rule.emit !== 'early' || t.first >= out.failedAt) continue;
      const size = sizeOf(t.ctx);
      const from = Math.max(t.from, t.closed + t.ctx.step!);
      if (from > t.to) continue;
      try {
        const panes = await this.store.readPanes(t.ctx.rule.name, t.group.key, from, t.to + size - t.ctx.step!);
        for (let s = from; s <= t.to; s += t.ctx.step!) {
          const acc = windowAcc(t.ctx.aggs, panes, s, size);
          const state: KeyState = { slots: { [FINAL_SLOT]: { hwm: '', partial: t.ctx.aggs.serialize(acc) } }, closed: false, closedThrough: null, closeAt: s + size + t.ctx.rule.latenessMs, version: 0 };
          out.early.push({ ctx: t.ctx, group: t.group, window: { start: s, end: s + size }, state, first: t.first });
        }
      } catch (err) {
        out.failures.push(err);
        out.failedAt = Math.min(out.failedAt, t.first);
      }
    }
    return out;
  }

  /**
   * The windows older than their pane that the batch's pane writes added records to and that the
   * stream's watermark, read again after the writes, now closes: each one fenced (see the class).
   * A record a closed window's value left out is late for it.
   */
  private async checkClosedUnder(
    written: readonly PaneWritten[],
    touched: Map<string, { closed: EpochMs }>,
    late: (pb: PaneBatch, part: Part, count: number) => void,
    out: PaneApplyResult,
  ): Promise<void> {
    // The oldest window each write added records to (its parts' validFrom), when older than its pane.
    const older = written.flatMap((w) => {
      let from = Infinity;
      w.pb.parts.forEach((p, k) => {
        if (w.fresh[k]! > 0 && p.validFrom < from) from = p.validFrom;
      });
      return from < w.pb.start ? [{ w, from }] : [];
    });
    if (older.length === 0) return;
    let watermark: EpochMs;
    try {
      watermark = await this.store.getStreamWatermark(this.stream);
    } catch (err) {
      out.failures.push(err);
      out.failedAt = Math.min(out.failedAt, ...older.map((o) => o.w.first));
      return;
    }
    const byWindow = new Map<string, { key: KeyDescriptor; start: EpochMs; group: string; writes: PaneWritten[] }>();
    for (const { w, from } of older) {
      const size = sizeOf(w.pb.rule);
      // Older windows close first: from the oldest on, while the watermark closes them.
      for (let s = from; s < w.pb.start && closesAt({ start: s, end: s + size }, w.pb.rule.rule.latenessMs) <= watermark; s += w.pb.rule.step!) {
        const key = windowKey(w.pb, { start: s, end: s + size });
        const c = byWindow.get(key.id) ?? { key, start: s, group: `${w.pb.rule.rule.name}\u0001${w.pb.group.key}`, writes: [] };
        c.writes.push(w);
        byWindow.set(key.id, c);
      }
    }
    await forEachLimit([...byWindow.values()], this.concurrency, async (c) => {
      try {
        const fenced = await this.store.fenceWindow(c.key);
        if (!fenced.closed) return;
        const t = touched.get(c.group);
        if (t !== undefined) t.closed = Math.max(t.closed, c.start);
        // Closed before closes kept what they merged (or gone): whether the writes are in cannot be told.
        if (fenced.merged === undefined) return;
        for (const w of c.writes) {
          // The close read the pane after this write (its version, or a later one): the records are in.
          if ((fenced.merged[String(w.pb.start)] ?? 0) >= w.version) continue;
          w.pb.parts.forEach((p, k) => {
            if (p.validFrom <= c.start) late(w.pb, p.part, w.fresh[k]!);
          });
        }
      } catch (err) {
        out.failures.push(err);
        out.failedAt = Math.min(out.failedAt, ...c.writes.map((w) => w.first));
      }
    });
  }

  private remember(id: string): void {
    if (this.registered.size >= REGISTERED_CAP) this.registered.clear();
    this.registered.add(id);
  }
}

function windowKey(pb: PaneBatch, w: TimeWindow): KeyDescriptor {
  return descriptor(pb.rule.rule.name, pb.group.key, w);
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

/**
 * Every window of a hopping rule that holds a pane, from pane items as stored
 * (for tools and tests reading a store's items: an open window's value lives
 * in its panes): per group key, per window start, the merged value.
 */
export function windowsFromPanes(
  aggs: RuleAggregates,
  sizeMs: number,
  stepMs: number,
  panes: ReadonlyArray<{ readonly groupKey: string } & StoredPane>,
): Map<string, Map<EpochMs, WindowAcc>> {
  const byGroup = new Map<string, StoredPane[]>();
  for (const p of panes) {
    const list = byGroup.get(p.groupKey) ?? [];
    list.push(p);
    byGroup.set(p.groupKey, list);
  }
  const out = new Map<string, Map<EpochMs, WindowAcc>>();
  for (const [groupKey, list] of byGroup) {
    const starts = new Set<EpochMs>();
    for (const p of list) for (let s = p.start - sizeMs + stepMs; s <= p.start; s += stepMs) starts.add(s);
    const windows = new Map<EpochMs, WindowAcc>();
    for (const s of [...starts].sort((a, b) => a - b)) {
      const acc = windowAcc(aggs, list, s, sizeMs);
      if (acc.n > 0) windows.set(s, acc);
    }
    out.set(groupKey, windows);
  }
  return out;
}
