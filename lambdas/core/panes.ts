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
 * Window items of hopping rules hold no per-shard slots. A window's own item
 * is the one its newest pane is kept on; the older windows a pane counts in are
 * only listed for the closer (StateStore.listWindow: DynamoDB's due buckets),
 * their items not written (before: registered, a conditional put each, issue
 * 21 cost). The closer closes a listed window with no item from its panes
 * (Engine.readWindow: version 0) and writes the window's merged value
 * ({@link FINAL_SLOT}) into an item it creates by a put if absent when it seals
 * the window; a window whose item exists gets the value when it is sealed (when
 * it is finished, for a window sealed by the code before). A window item with
 * slots is final (or, from before panes, holds the window's slots itself): its
 * slots are its value. A window the store cannot list apart from an item (a
 * close time a due bucket cannot hold) is registered as before.
 */

/** The slot of a finished hopping window's item that holds its value (merged from its panes). */
export const FINAL_SLOT = 'final';

/**
 * A pane slot's partial: the main part (counts in every window of the pane), and late parts by
 * validFrom; and what a retry of the batch needs to check again the windows its records were written
 * for (PaneWriter): the stream watermark the slot's last write was folded on (`w`; its records are in
 * the pane since the version that write produced, Slot.version), and, after a write that added to the
 * records of an attempt before it (a retry whose batch went further), the earlier writes still in reach
 * (`e`, at most EARLIER_WRITES_CAP). Each write also keeps the first sequence number of the records it
 * added (`s`): a record below it was not added by that write (a later batch's write replaced the one that
 * added it), so a retry counts nothing for it. Slots written before `w` and `e` were kept have neither
 * (and no Slot.version), slots written before `s` was kept have no `s`: a retry can tell nothing of their
 * records, as before.
 */
export interface PanePartialJson {
  readonly f?: FixedPartialJson;
  /** Late parts: the start of the oldest window each counts in, and its partial. */
  readonly l?: Readonly<Record<string, FixedPartialJson>>;
  /** The stream watermark the slot's last write was folded on (absent: none yet, or written before it was kept). */
  readonly w?: EpochMs;
  /**
   * The first sequence number (unpadded) of the records the slot's last write added: the ones from it
   * up to the slot's HWM are that write's (absent: written before it was kept; a retry can tell nothing).
   */
  readonly s?: string;
  /**
   * Earlier writes, oldest first: the records from `s` up to `h` are in since version `v`, folded on watermark `w`.
   * At most {@link EARLIER_WRITES_CAP}: past it the oldest are dropped (their records: nothing to tell).
   */
  readonly e?: readonly PaneWriteJson[];
}

/**
 * How many earlier writes a pane slot keeps (PanePartialJson.e): each retry reaching further into the
 * pane adds one (~200 bytes); without a cap a batch retried many times from one record grows its
 * pane item without bound (30 retries: 29 entries, 4,243 bytes, 5 WRU per write). A record of a
 * dropped write is not checked by a retry (counted late by no one, as before versions were kept).
 */
export const EARLIER_WRITES_CAP = 3;

/** One earlier write of a pane slot (PanePartialJson.e). */
export interface PaneWriteJson {
  /** Its high-water mark (zero-padded). */
  readonly h: string;
  /** The pane item's version it produced (absent: a slot written before versions were kept). */
  readonly v?: number;
  /** The stream watermark it was folded on. */
  readonly w?: EpochMs;
  /** The first sequence number (unpadded) of the records it added (absent: written before it was kept). */
  readonly s?: string;
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

/** What a pane builder reports of its last build (the one written, when the write went through). */
export interface PaneBuild {
  /** Records the build adds, per part (PaneBatch.parts). */
  readonly fresh: number[];
  /** The slot it built on (undefined: none). */
  on: Slot | undefined;
}

/**
 * The slot builder of one pane's batch, for StateStore.apply: the same
 * exactly-once protocol as a window key's (fold.ts, Engine.applyKey). Fast
 * path: every record is newer than the slot's HWM, the parts are merged in as
 * folded. Slow path (a redelivery overlapping the slot): the records newer
 * than the HWM are folded again, each into the part of its validity, and the
 * write the slot held is kept in `e` (PanePartialJson). `watermark`: the
 * stream watermark the batch was folded on (kept as `w`).
 */
export function paneBuilder(pb: PaneBatch, events: DecodedBatch, shared: SharedParts, watermark: EpochMs, build?: PaneBuild): (current: Slot | undefined) => SlotUpdate | null {
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
    // Records this build adds, in all and per part (`fresh`: the last build is the one written), and the first of them.
    let added = 0;
    let addedFrom = fast ? firstSeq : undefined;
    pb.parts.forEach(({ part, validFrom }, k) => {
      let n = 0;
      // A part valid from after the pane (all its windows closed) is not written.
      if (validFrom <= pb.start && fast) {
        aggs.merge(into(validFrom), part.acc);
        n = part.count;
      } else if (validFrom <= pb.start) {
        for (const i of eventsOf(part)) {
          const seq = padSequence(events.sequenceNumber(i));
          if (seq <= current!.hwm) continue;
          if (addedFrom === undefined || seq < addedFrom) addedFrom = seq;
          aggs.addEvent(into(validFrom), events.times[i]!, scopeOf(shared, events.payloads[i]!));
          n += 1;
        }
      }
      if (build !== undefined) build.fresh[k] = n;
      added += n;
    });
    if (build !== undefined) build.on = current;
    if (!fast && added === 0) return null;
    const partial: PanePartialJson = {
      ...serializePane(aggs, accs),
      ...(Number.isFinite(watermark) ? { w: watermark } : {}),
      s: unpadSequence(addedFrom!),
      ...(fast ? {} : { e: earlierWrites(current!, firstSeq) }),
    };
    return { slot: { hwm, partial: partial as unknown as PartialJson }, closeAt };
  };
}

/** The writes a slot holds (oldest first, the last one's `h` its HWM), as PanePartialJson.e has them. */
function writesOf(slot: Slot): PaneWriteJson[] {
  const p = slot.partial as unknown as PanePartialJson;
  const last: PaneWriteJson = { h: slot.hwm, ...(slot.version !== undefined ? { v: slot.version } : {}), ...(p.w !== undefined ? { w: p.w } : {}), ...(p.s !== undefined ? { s: p.s } : {}) };
  return [...(p.e ?? []), last];
}

/** The writes of `current` holding records at or after `firstSeq` (those a retry of this batch can meet again), the newest {@link EARLIER_WRITES_CAP}. */
function earlierWrites(current: Slot, firstSeq: string): PaneWriteJson[] {
  const all = writesOf(current);
  // Entry k holds the records from its `s` up to its HWM: it is in reach if its HWM is.
  return all.filter((w) => w.h >= firstSeq).slice(-EARLIER_WRITES_CAP);
}

/** A padded sequence number as stored in PanePartialJson.s (leading zeros dropped: 129 characters padded, ~56 raw). */
function unpadSequence(padded: string): string {
  const raw = padded.replace(/^0+/, '');
  return raw === '' ? '0' : raw;
}

/**
 * The start of the oldest window of the pane starting at `paneStart` that a record of it folded on
 * `watermark` counts in (fold.ts: the windows the watermark leaves open), or null when it closes all.
 */
export function validFromAt(ctx: RuleContext, paneStart: EpochMs, watermark: EpochMs): EpochMs | null {
  const step = ctx.step!;
  const slack = paneStart + sizeOf(ctx) + ctx.rule.latenessMs - watermark;
  if (slack <= 0) return null;
  const panes = sizeOf(ctx) / step;
  const open = slack > (panes - 1) * step ? panes : Math.ceil(slack / step);
  return paneStart - (open - 1) * step;
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
   * registering it (a window the store cannot list), when writing the pane, or after the write (the
   * fence: its value left the write out).
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

/**
 * Records of a pane batch that are in the pane since one version of its item: the ones a write of this
 * attempt added, or ones an earlier attempt wrote (found in the pane's slot). `from`: the oldest window
 * they were written for; `indices`: their event indices, or 'all' (the part's every record).
 */
interface PaneClaim {
  readonly pb: PaneBatch;
  readonly part: Part;
  readonly from: EpochMs;
  readonly version: number;
  readonly indices: readonly number[] | 'all';
  /** The pane batch's first event index (where a failure of its check makes the batch retry). */
  readonly first: number;
}

/** What the batch holds besides its events: what it was folded on (the stream watermark it read, the shard's progress before it). */
export interface PaneBatchContext {
  readonly streamWatermark: EpochMs;
  readonly priorMax: EpochMs;
}

/**
 * Writes a batch's panes: lists the older windows they count in for the
 * closer (no write: StateStore.listWindow; a window that cannot be listed is
 * registered, once per window a container saw), then one conditional write per
 * (rule, group, pane). A window found closed at registration takes nothing
 * more: the parts that counted in it count from the next window on. A listed
 * window that closed before the write is found by the fence after it (below):
 * its value, sealed by the closer's put if absent with the pane versions it
 * merged, leaves the write out, and the records count late for it.
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
 *
 * A retry (the check failed, or the container died after the write) finds
 * its records in the pane already: the slot tells the version of the write
 * that put them there and the watermark it was folded on (PanePartialJson), so
 * the retry checks again the windows they were written for, as the first
 * attempt would have: the same records are late, each once in the retry's
 * report (as any delivery counts the records a closed window refuses). Slots
 * written before the version was kept tell nothing, nor does a record below
 * the first one its slot's matching write added (that write was a later
 * batch's; the one that added it is gone), nor one of an earlier write dropped
 * past EARLIER_WRITES_CAP: those records are not checked (counted late by
 * nobody, as before; never a false late count).
 */
export class PaneWriter {
  private readonly registered = new Set<string>();

  constructor(
    private readonly store: StateStore,
    private readonly stream: string,
    private readonly outOfOrdernessMs: number,
    private readonly shared: SharedParts,
    private readonly concurrency: number,
    /** List the older windows (StateStore.listWindow) rather than register them (EngineOptions.listOlderWindows). */
    private readonly list = true,
  ) {}

  async apply(shardId: string, keyBatches: readonly KeyBatch[], events: DecodedBatch, batch: PaneBatchContext): Promise<PaneApplyResult> {
    const out: PaneApplyResult = { written: 0, conflicts: 0, late: new Map(), failures: [], failedAt: Infinity, early: [] };
    const pending = new Map<string, Promise<'created' | 'exists' | 'closed'>>();
    const register = (pb: PaneBatch, w: TimeWindow): Promise<'created' | 'exists' | 'closed'> => {
      const key = windowKey(pb, w);
      if (this.registered.has(key.id)) return Promise.resolve('exists');
      let p = pending.get(key.id);
      if (p === undefined) {
        p = this.store.registerWindow(key, closesAt(w, pb.rule.rule.latenessMs)).then((r) => {
          if (r !== 'closed') this.remember(key.id);
          return r;
        });
        pending.set(key.id, p);
      }
      return p;
    };
    // Records counted late, by rule: each once (by event index), whichever windows refused it.
    const counted = new Map<RuleContext, Set<number>>();
    const late = (pb: PaneBatch, part: Part, indices: readonly number[] | 'all'): void => {
      let seen = counted.get(pb.rule);
      if (seen === undefined) counted.set(pb.rule, (seen = new Set()));
      let count = 0;
      let first = Infinity;
      for (const i of indices === 'all' ? eventsOf(part) : indices) {
        if (seen.has(i)) continue;
        seen.add(i);
        count += 1;
        if (i < first) first = i;
      }
      if (count === 0) return;
      const l = out.late.get(pb.rule.rule.name) ?? { count: 0, first: Infinity };
      l.count += count;
      l.first = Math.min(l.first, first);
      out.late.set(pb.rule.rule.name, l);
    };
    const pbs = panesOf(keyBatches);
    const claims: PaneClaim[] = [];
    const found = new FoundRecords(events, batch.priorMax, this.outOfOrdernessMs);
    // Per (rule, group): the newest window found closed, the span of windows and panes touched (early rules).
    const touched = new Map<string, { ctx: RuleContext; group: GroupRef; closed: EpochMs; from: EpochMs; to: EpochMs; first: number }>();
    await forEachLimit(pbs, this.concurrency, async (pb) => {
      const first = Math.min(...pb.parts.map((p) => p.part.first));
      try {
        // The pane's write is its newest window's entry (the pane is kept on that window's item): the older ones are
        // listed for the closer, no write of their items (a window the store cannot list apart from an item is
        // registered, as before listings). A window that closed under the batch is found by the fence after the write.
        const windows = windowsOf(pb).filter((w) => w.start < pb.start && !(this.list && this.store.listWindow(windowKey(pb, w), closesAt(w, pb.rule.rule.latenessMs))));
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
            if (p.validFrom > pb.start) late(pb, p.part, 'all');
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
        const build: PaneBuild = { fresh: pb.parts.map(() => 0), on: undefined };
        const outcome = await this.store.apply(pb.key, shardId, paneBuilder(pb, events, this.shared, batch.streamWatermark, build));
        out.conflicts += outcome.conflicts;
        if (outcome.status === 'closed') {
          // The pane's newest window is closed, so are all of its windows: its records are late for every one.
          t.closed = pb.start;
          for (const p of pb.parts) if (p.validFrom <= pb.start) late(pb, p.part, 'all');
          return;
        }
        this.remember(paneWindow(pb.key).id);
        // The records already in the pane (a retry): in since the write that put them there, checked again as it would have been.
        const slot = outcome.status === 'applied' ? build.on : outcome.state.slots[shardId];
        const fast = slot === undefined || slot.hwm < padSequence(events.sequenceNumber(first));
        if (!fast) claims.push(...found.claims(pb, slot, first));
        if (outcome.status !== 'applied') return;
        out.written += 1;
        const version = outcome.state.version;
        pb.parts.forEach((p, k) => {
          if (build.fresh[k] === 0 || p.validFrom > pb.start) return;
          const indices = fast ? 'all' : found.above(p.part, slot!.hwm);
          if (moved.has(k)) late(pb, p.part, indices);
          claims.push({ pb, part: p.part, from: p.validFrom, version, indices, first });
        });
      } catch (err) {
        out.failures.push(err);
        out.failedAt = Math.min(out.failedAt, first);
      }
    });
    await this.checkClosedUnder(claims, touched, late, out);
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
   * The windows older than their pane that the claims' records were written for and that the
   * stream's watermark, read again after the writes, now closes: each one fenced (see the class).
   * A record a closed window's value left out is late for it.
   */
  private async checkClosedUnder(
    claims: readonly PaneClaim[],
    touched: Map<string, { closed: EpochMs }>,
    late: (pb: PaneBatch, part: Part, indices: readonly number[] | 'all') => void,
    out: PaneApplyResult,
  ): Promise<void> {
    const older = claims.filter((c) => c.from < c.pb.start);
    if (older.length === 0) return;
    let watermark: EpochMs;
    try {
      watermark = await this.store.getStreamWatermark(this.stream);
    } catch (err) {
      out.failures.push(err);
      out.failedAt = Math.min(out.failedAt, ...older.map((c) => c.first));
      return;
    }
    const byWindow = new Map<string, { key: KeyDescriptor; start: EpochMs; closeAt: EpochMs; group: string; claims: PaneClaim[] }>();
    for (const c of older) {
      const size = sizeOf(c.pb.rule);
      // Older windows close first: from the oldest on, while the watermark closes them.
      for (let s = c.from; s < c.pb.start; s += c.pb.rule.step!) {
        const closeAt = closesAt({ start: s, end: s + size }, c.pb.rule.rule.latenessMs);
        if (closeAt > watermark) break;
        const key = windowKey(c.pb, { start: s, end: s + size });
        const w = byWindow.get(key.id) ?? { key, start: s, closeAt, group: `${c.pb.rule.rule.name}\u0001${c.pb.group.key}`, claims: [] };
        w.claims.push(c);
        byWindow.set(key.id, w);
      }
    }
    await forEachLimit([...byWindow.values()], this.concurrency, async (w) => {
      try {
        const fenced = await this.store.fenceWindow(w.key, w.closeAt);
        if (!fenced.closed) return;
        const t = touched.get(w.group);
        if (t !== undefined) t.closed = Math.max(t.closed, w.start);
        // Closed before closes kept what they merged (or gone): whether the writes are in cannot be told.
        if (fenced.merged === undefined) return;
        for (const c of w.claims) {
          // The close read the pane after this write (its version, or a later one): the records are in.
          if ((fenced.merged[String(c.pb.start)] ?? 0) >= c.version) continue;
          late(c.pb, c.part, c.indices);
        }
      } catch (err) {
        out.failures.push(err);
        out.failedAt = Math.min(out.failedAt, ...w.claims.map((c) => c.first));
      }
    });
  }

  private remember(id: string): void {
    if (this.registered.size >= REGISTERED_CAP) this.registered.clear();
    this.registered.add(id);
  }
}

/**
 * A batch's records found in a pane slot already (a retry): for each, the write that put it there
 * (the slot's last, or an earlier one it keeps) and so the version it is in the pane since and the
 * windows it was written for (the fold's rule, on the watermark that write was folded on and the
 * shard's own before the record, which a retry of the batch sees as the first attempt did).
 */
class FoundRecords {
  private shardMax: Float64Array | undefined;

  constructor(
    private readonly events: DecodedBatch,
    private readonly priorMax: EpochMs,
    private readonly outOfOrdernessMs: number,
  ) {}

  /** The part's records above `hwm` (the ones a write on that HWM adds). */
  above(part: Part, hwm: string): number[] {
    return eventsOf(part).filter((i) => padSequence(this.events.sequenceNumber(i)) > hwm);
  }

  /** Claims for the pane batch's records the slot holds already, by part, version and oldest window. */
  claims(pb: PaneBatch, slot: Slot, first: number): PaneClaim[] {
    const writes = writesOf(slot);
    const out = new Map<string, { part: Part; from: EpochMs; version: number; indices: number[] }>();
    pb.parts.forEach(({ part }, k) => {
      for (const i of eventsOf(part)) {
        const seq = padSequence(this.events.sequenceNumber(i));
        const w = writes.find((x) => seq <= x.h);
        // Not in the slot (added by this attempt), written by code that kept no version or first sequence, or below
        // the first record the write added (a later batch's write: it did not add the record, and the write that
        // did is no longer kept): nothing to tell, nothing counted.
        if (w === undefined || w.v === undefined || w.s === undefined || seq < padSequence(w.s)) continue;
        const from = validFromAt(pb.rule, pb.start, Math.max(this.shardWatermarkBefore(i), w.w ?? -Infinity));
        if (from === null || from >= pb.start) continue;
        const id = `${String(k)}\u0001${String(w.v)}\u0001${String(from)}`;
        const c = out.get(id) ?? { part, from, version: w.v, indices: [] };
        c.indices.push(i);
        out.set(id, c);
      }
    });
    return [...out.values()].map((c) => ({ pb, first, ...c }));
  }

  /** The shard's watermark before event i, as the fold judged it (fold.ts: the newest event time before it, less outOfOrderness). */
  private shardWatermarkBefore(i: number): EpochMs {
    if (this.shardMax === undefined) {
      const times = this.events.times;
      const max = new Float64Array(this.events.length + 1);
      max[0] = this.priorMax;
      for (let k = 0; k < this.events.length; k++) max[k + 1] = times[k]! > max[k]! ? times[k]! : max[k]!;
      this.shardMax = max;
    }
    return this.shardMax[i]! - this.outOfOrdernessMs;
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
