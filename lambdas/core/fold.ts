import type { SequenceStats } from './cep/types';
import { eventVariables, isMissingField } from './expression';
import { groupOf, hasGroupFields, type GroupRef } from './group';
import { foldValue, type RuleAggregates, type WindowAcc } from './partials';
import type { KeyDescriptor } from './StateStore';
import type { DecodedBatch } from './decode';
import type { AbsenceRule, CompiledExpression, EpochMs, JsonObject, WindowRule } from './types';
import type { TimeWindow } from './windows';

/**
 * Folding one shard batch: routes decoded events to rules, groups and
 * windows, in sequence order, and pre-aggregates them on the way.
 *
 * Cost model. Everything here runs per event (10,000 events per batch), so
 * the loop allocates almost nothing and computes each aggregate value once:
 *
 * - An event is folded into exactly one accumulator per rule, its *part*.
 *   For fixed windows the part is the event's pane (one slide of event time,
 *   shared by every hopping window that covers it), so a 5m window sliding
 *   every 1m costs one add per event, not five; the panes are merged into
 *   each window once per batch, when the key is written. For sessions the
 *   part is a run of events closer than the gap. An event that is too late
 *   for the older windows of its pane (but not all) gets a part of its own
 *   attached to the windows still open (rare).
 * - Parts keep the indices of their events, so the exactly-once slow path
 *   (a key whose stored high-water mark is inside this batch: a redelivery)
 *   can refold exactly the records that are new to the key. They are chained
 *   through one Int32Array per rule (an event is in one part per rule), so
 *   keeping them allocates nothing per event.
 */

export interface RuleContext {
  readonly rule: WindowRule;
  readonly aggs: RuleAggregates;
  /** Distance between window starts (tumbling: the size); null for sessions. */
  readonly step: number | null;
  /** Index of the rule's filter among the stream's distinct filters (-1: none). */
  readonly whereIndex: number;
  /** Index of the rule's groupBy among the stream's distinct groupBy lists. */
  readonly groupIndex: number;
}

export interface AbsenceContext {
  readonly rule: AbsenceRule;
  readonly whereIndex: number;
  readonly groupIndex: number;
}

/** Filters and groupBy lists shared by a stream's rules: each is evaluated once per event. */
export interface SharedParts {
  readonly wheres: readonly CompiledExpression[];
  readonly groupBys: ReadonlyArray<readonly string[]>;
  /** Whether some expression needs the CEL scope of eventVariables() rather than the payload itself. */
  readonly needsEventVariables: boolean;
}

export interface RuleBatchStats {
  matched: number;
  late: number;
  /** The batch's first late record for the rule: its event time and the watermark it was judged against (for messages). */
  firstLate?: { readonly eventTime: EpochMs; readonly watermark: EpochMs };
  filterErrors: number;
  valueErrors: number;
  conditionErrors: number;
  overflow: number;
  /** Events skipped because a groupBy field is missing (counted, never grouped under null). */
  missingGroup: number;
  /** Sequence rules: what their matchers counted (expired, evicted, at the state bound, ...); see cep/types.ts. */
  sequence?: SequenceStats;
}

/** The kinds of a rule's expressions (the `Expression` dimension of RuleExpressionErrors). */
export type ExpressionKind = 'where' | 'aggregate' | 'when' | 'step';

/** A rule's expression errors in one batch, by kind; kinds without errors left out. */
export function expressionErrors(stats: Pick<RuleBatchStats, 'filterErrors' | 'valueErrors' | 'conditionErrors' | 'sequence'>): Partial<Record<ExpressionKind, number>> {
  const out: Partial<Record<ExpressionKind, number>> = {};
  if (stats.filterErrors > 0) out.where = stats.filterErrors;
  if (stats.valueErrors > 0) out.aggregate = stats.valueErrors;
  if (stats.conditionErrors > 0) out.when = stats.conditionErrors;
  const step = stats.sequence?.conditionErrors ?? 0;
  if (step > 0) out.step = step;
  return out;
}

/** Events of one key folded together: a pane, a session run, or one event of its own. */
export interface Part {
  start: EpochMs;
  /** Sessions: end of the run (last event + gap). Panes: start + step. */
  end: EpochMs;
  readonly acc: WindowAcc;
  /** Index (into the batch's events) of the first and the last event folded in, and how many were. */
  readonly first: number;
  last: number;
  count: number;
  /** The rule's chain: chain[i] is the index of the event after i in its part (see eventsOf). */
  readonly chain: Int32Array;
}

function newPart(start: EpochMs, end: EpochMs, acc: WindowAcc, i: number, chain: Int32Array): Part {
  return { start, end, acc, first: i, last: i, count: 0, chain };
}

/** Appends event i (after the part's last) to the part's chain. */
function link(part: Part, i: number): void {
  if (part.count > 0) part.chain[part.last] = i;
  part.last = i;
  part.count += 1;
}

/** The indices of a part's events, ascending. */
export function eventsOf(part: Part): number[] {
  const out = new Array<number>(part.count);
  let i = part.first;
  for (let k = 0; k < part.count; k++) {
    out[k] = i;
    i = part.chain[i]!;
  }
  return out;
}

/** What one batch holds for one key: its parts (already folded), merged into the key's slot when written. */
export interface KeyBatch {
  readonly key: KeyDescriptor;
  readonly rule: RuleContext;
  readonly group: GroupRef;
  readonly window: TimeWindow | null;
  readonly parts: Part[];
}

export interface SeenGroup {
  readonly rule: AbsenceRule;
  readonly group: GroupRef;
  eventTime: EpochMs;
  /** Index of the first event of the group in the batch. */
  readonly first: number;
}

export interface FoldResult {
  readonly keyBatches: KeyBatch[];
  /** Absence rules: the groups seen, by rule then group key. */
  readonly seen: SeenGroup[];
  readonly lateCount: number;
  /** Index of the event the batch stops at (a rule reached its group cap; always the first event of its record), or -1. */
  readonly stopAt: number;
}

/**
 * A group as the engine's group cache hands it out, with room to memo one
 * batch's state of it per rule (valid while `batch` is that fold's number).
 * The fold's own maps stay the truth: a group met through a fresh slot (the
 * cache was cleared, or the value is not cached) is found there.
 */
export interface GroupSlot {
  readonly ref: GroupRef;
  batch: number;
  readonly folds: Array<GroupFold | undefined>;
  readonly seen: Array<SeenGroup | undefined>;
}

export function groupSlot(ref: GroupRef): GroupSlot {
  return { ref, batch: -1, folds: [], seen: [] };
}

/**
 * What cachedGroup returns for an event that lacks one of the groupBy fields:
 * the rule skips the event and counts it (RuleBatchStats.missingGroup, the
 * GroupFieldMissing metric). A field the producer set to JSON null is
 * present: it groups under null.
 */
export const MISSING_GROUP: GroupSlot = groupSlot({ key: '\u0000missing', labels: {} });

/** Numbers folds, for the memo in GroupSlot. */
let foldCounter = 0;

/** One group's state in one rule over the batch. */
export interface GroupFold {
  readonly group: GroupRef;
  /** Fixed windows: panes by start, and the window keys by start. */
  readonly panes: Map<number, Part>;
  readonly windows: Map<number, KeyBatch>;
  /** The pane that took the last event (events mostly arrive in time order). */
  lastPane: Part | undefined;
  /** Sessions: the key, and the run that took the last event. */
  session: KeyBatch | undefined;
  lastRun: Part | undefined;
}

export function keyId(rule: string, groupKey: string, window: TimeWindow | null): string {
  return `${rule}\u0001${groupKey}\u0001${window === null ? 'S' : String(window.start)}`;
}

export function descriptor(rule: string, groupKey: string, window: TimeWindow | null): KeyDescriptor {
  return { id: keyId(rule, groupKey, window), rule, groupKey, windowStart: window?.start ?? null, windowEnd: window?.end ?? null };
}

/** The lowest and highest event index of a key's parts. */
export function indexRange(kb: KeyBatch): { first: number; last: number } {
  let first = Infinity;
  let last = -1;
  for (const p of kb.parts) {
    if (p.first < first) first = p.first;
    if (p.last > last) last = p.last;
  }
  return { first, last };
}

/** The events of a key's parts, in index (sequence) order. */
export function indicesOf(kb: KeyBatch): number[] {
  if (kb.parts.length === 1) return eventsOf(kb.parts[0]!);
  return kb.parts.flatMap(eventsOf).sort((a, b) => a - b);
}

/** The variables expressions see for an event. */
export function scopeOf(shared: SharedParts, payload: JsonObject): Record<string, unknown> {
  return shared.needsEventVariables ? eventVariables(payload) : payload;
}

/** A filter's verdict; an evaluation error counts as not matching (2: counted; a missing field is not, see isMissingField). */
function passes(expr: CompiledExpression, vars: Record<string, unknown>): 0 | 1 | 2 {
  try {
    return expr.evaluate(vars) === true ? 1 : 0;
  } catch (e) {
    return isMissingField(e) ? 0 : 2;
  }
}

export interface FoldInput {
  readonly events: DecodedBatch;
  readonly rules: readonly RuleContext[];
  readonly absence: readonly AbsenceContext[];
  readonly shared: SharedParts;
  /** Per shared groupBy, the engine's cache of groups by their values (see cachedGroup). */
  readonly groupCaches: readonly GroupCache[];
  readonly priorMax: EpochMs;
  readonly streamWatermark: EpochMs;
  readonly outOfOrdernessMs: number;
  readonly maxGroups: number;
  readonly perRule: Record<string, RuleBatchStats>;
}

/** An aggregate argument that threw for the event (its aggregates count a value error). */
const FAILED: unique symbol = Symbol('tidewatch.argumentFailed');

/** An aggregate argument's value for the event: a missing field is no value (null), another error FAILED. */
function argument(expr: CompiledExpression, vars: Record<string, unknown>): unknown {
  try {
    return expr.evaluate(vars);
  } catch (e) {
    return isMissingField(e) ? null : FAILED;
  }
}

/**
 * What the fold of a rule list needs besides the rules, worked out once per
 * list: which rules are twins (foldTwins), the window geometry in flat
 * arrays, and the aggregate arguments the folded rules share. An argument
 * (value or count condition) is evaluated at most once per event, however
 * many aggregates of however many rules take it (`latencyMs` for a
 * percentile, a max and an avg), as the filters are (SharedParts.wheres).
 * Same source, same value: expressions are pure functions of the event.
 */
interface FoldPlan {
  readonly twins: Int32Array | null;
  /** 1 for a session rule. */
  readonly session: Uint8Array;
  /** Fixed windows: the step, the size, size / step, and (size / step - 1) * step. */
  readonly step: Float64Array;
  readonly size: Float64Array;
  readonly panes: Float64Array;
  readonly fullSlack: Float64Array;
  /** Sessions: the gap. */
  readonly gap: Float64Array;
  readonly lateness: Float64Array;
  /** The distinct aggregate arguments of the rules folded, and per rule and aggregate the index of its own (-1: count()). */
  readonly args: readonly CompiledExpression[];
  readonly argOf: readonly Int32Array[];
}

const planCache = new WeakMap<readonly RuleContext[], FoldPlan>();

function planOf(rules: readonly RuleContext[]): FoldPlan {
  let plan = planCache.get(rules);
  if (plan !== undefined) return plan;
  const twins = twinsOf(rules);
  const n = rules.length;
  const session = new Uint8Array(n);
  const step = new Float64Array(n);
  const size = new Float64Array(n);
  const panes = new Float64Array(n);
  const fullSlack = new Float64Array(n);
  const gap = new Float64Array(n);
  const lateness = new Float64Array(n);
  const args: CompiledExpression[] = [];
  const argIndex = new Map<string, number>();
  const argOf = rules.map((ctx, r) => {
    const w = ctx.rule.window;
    lateness[r] = ctx.rule.latenessMs;
    if (w.kind === 'session') {
      session[r] = 1;
      gap[r] = w.gapMs;
    } else {
      step[r] = ctx.step!;
      size[r] = w.sizeMs;
      panes[r] = w.sizeMs / ctx.step!;
      fullSlack[r] = (panes[r]! - 1) * ctx.step!;
    }
    return Int32Array.from(ctx.aggs.args, (arg) => {
      if (arg === undefined || (twins !== null && twins[r]! >= 0)) return -1;
      let k = argIndex.get(arg.source);
      if (k === undefined) {
        k = args.push(arg) - 1;
        argIndex.set(arg.source, k);
      }
      return k;
    });
  });
  plan = { twins, session, step, size, panes, fullSlack, gap, lateness, args, argOf };
  planCache.set(rules, plan);
  return plan;
}

/**
 * Routes a batch's events to rules, groups and windows, in sequence order,
 * folding each into its part. A record is late for a window the watermark
 * before it (the shard's, or the stream's when ahead) has closed.
 */
export function foldBatch(input: FoldInput): FoldResult {
  const { events, rules, absence, shared, perRule } = input;
  const plan = planOf(rules);
  const keyBatches: KeyBatch[] = [];
  const groupsByRule = rules.map(() => new Map<string, GroupFold>());
  const seenByRule = absence.map(() => new Map<string, SeenGroup>());
  const seen: SeenGroup[] = [];
  const stats = rules.map((c) => perRule[c.rule.name]!);
  const absenceStats = absence.map((c) => perRule[c.rule.name]!);
  // Per event: filter verdicts (0 unknown, 1 pass, 2 fail, 3 error) and groups, shared by rules.
  const whereMemo = new Uint8Array(shared.wheres.length);
  const groupMemo = new Array<GroupSlot | undefined>(shared.groupBys.length);
  // Per event: the aggregate arguments' values, valid where argAt holds the event's index + 1.
  const { args, argOf } = plan;
  const argValue = new Array<unknown>(args.length).fill(undefined);
  const argAt = new Int32Array(args.length);
  const batch = ++foldCounter;
  const matchedGroup = new Array<GroupFold | undefined>(rules.length);
  const chains = rules.map(() => new Int32Array(events.length));
  const twins = plan.twins;
  const before = twins === null ? null : stats.map((st) => ({ ...st }));
  let lateCount = 0;
  let maxT = input.priorMax;
  let stopAt = -1;
  const ooo = input.outOfOrdernessMs;

  const verdict = (index: number, vars: Record<string, unknown>): number => {
    let w = whereMemo[index]!;
    if (w === 0) {
      const r = passes(shared.wheres[index]!, vars);
      w = r === 1 ? 1 : r === 0 ? 2 : 3;
      whereMemo[index] = w;
    }
    return w;
  };

  const { payloads, times } = events;
  const firstRecord = events.records[0];
  events: for (let i = 0; i < events.length; i++) {
    const t = times[i]!;
    // The shard's watermark before this record, or the stream's if that is ahead (idle shards).
    const watermark = maxT - ooo > input.streamWatermark ? maxT - ooo : input.streamWatermark;
    const payload = payloads[i]!;
    const vars = shared.needsEventVariables ? eventVariables(payload) : payload;
    for (let k = 0; k < whereMemo.length; k++) whereMemo[k] = 0;
    for (let k = 0; k < groupMemo.length; k++) groupMemo[k] = undefined;

    // First every rule's filter and group, so that a record past a rule's group cap
    // stops the batch before any of it is folded anywhere.
    for (let r = 0; r < rules.length; r++) {
      const ctx = rules[r]!;
      matchedGroup[r] = undefined;
      // A rule that folds like an earlier one takes that rule's parts after the loop (foldTwins).
      if (twins !== null && twins[r]! >= 0) continue;
      if (ctx.whereIndex >= 0) {
        const w = verdict(ctx.whereIndex, vars);
        if (w === 3) stats[r]!.filterErrors += 1;
        if (w !== 1) continue;
      }
      const slot = (groupMemo[ctx.groupIndex] ??= stamped(cachedGroup(shared.groupBys[ctx.groupIndex]!, input.groupCaches[ctx.groupIndex]!, payload), batch));
      if (slot === MISSING_GROUP) {
        stats[r]!.missingGroup += 1;
        continue;
      }
      let gf = slot.folds[r];
      if (gf === undefined) {
        const group = slot.ref;
        const groups = groupsByRule[r]!;
        gf = groups.get(group.key);
        if (gf === undefined) {
          // The batch's first record is never stopped (one record of many events may hold more
          // groups than the cap: it goes through whole, or it could never be applied).
          if (groups.size >= input.maxGroups && events.records[i] !== firstRecord) {
            // Past the cap the batch stops here and Lambda retries from this record:
            // the batch is split, never a record dropped.
            stats[r]!.overflow += 1;
            stopAt = i;
            break events;
          }
          gf = { group, panes: new Map(), windows: new Map(), lastPane: undefined, session: undefined, lastRun: undefined };
          groups.set(group.key, gf);
        }
        slot.folds[r] = gf;
      }
      matchedGroup[r] = gf;
    }

    for (let r = 0; r < rules.length; r++) {
      const gf = matchedGroup[r];
      if (gf === undefined) continue;
      const ctx = rules[r]!;
      const st = stats[r]!;
      st.matched += 1;
      const lateness = plan.lateness[r]!;
      let part: Part | undefined;
      if (plan.session[r] === 1) {
        const gap = plan.gap[r]!;
        if (t + gap + lateness <= watermark) {
          st.late += 1;
          st.firstLate ??= { eventTime: t, watermark };
          lateCount += 1;
          continue;
        }
        // The run that took the group's last event, when [t, t + gap) touches it (the usual case).
        part = gf.lastRun;
        if (part !== undefined && t <= part.end && t + gap >= part.start) {
          if (t < part.start) part.start = t;
          if (t + gap > part.end) part.end = t + gap;
        } else {
          part = newRun(gf, ctx, plan, r, times, i, chains[r]!, keyBatches);
        }
      } else {
        // Windows holding t start at paneStart - j*step, j = 0..k-1; older ones close first.
        // How many the watermark leaves open: window j is open while paneStart - j*step + size + lateness > watermark.
        const step = plan.step[r]!;
        const paneStart = Math.floor(t / step) * step;
        const slack = paneStart + plan.size[r]! + lateness - watermark;
        if (slack <= 0) {
          st.late += 1;
          st.firstLate ??= { eventTime: t, watermark };
          lateCount += 1;
          continue;
        }
        if (slack > plan.fullSlack[r]!) {
          part = gf.lastPane;
          if (part === undefined || part.start !== paneStart) part = paneOf(gf, ctx, plan, r, times, i, chains[r]!, keyBatches);
        } else {
          // Too late for the older windows of its pane: a part of its own, in the open ones only.
          part = ownPart(gf, ctx, plan, r, times, i, Math.ceil(slack / step), chains[r]!, keyBatches);
        }
      }
      // The event count and max event time here rather than in a call: t stays an unboxed double.
      const acc = part.acc;
      acc.n += 1;
      if (t > acc.maxEventTime) acc.maxEventTime = t;
      // The aggregate values (RuleAggregates.addValues, with the arguments shared).
      const codes = ctx.aggs.codes;
      const of = argOf[r]!;
      const accs = acc.accs;
      let errors = 0;
      for (let j = 0; j < codes.length; j++) {
        const a = of[j]!;
        let v: unknown = true;
        if (a >= 0) {
          if (argAt[a] === i + 1) v = argValue[a];
          else {
            v = argument(args[a]!, vars);
            argValue[a] = v;
            argAt[a] = i + 1;
          }
          if (v === FAILED) {
            errors++;
            continue;
          }
        }
        try {
          errors += foldValue(codes[j]!, accs[j], v);
        } catch {
          errors++;
        }
      }
      if (errors > 0) st.valueErrors += errors;
      link(part, i);
    }

    for (let a = 0; a < absence.length; a++) {
      const ctx = absence[a]!;
      if (ctx.whereIndex >= 0 && verdict(ctx.whereIndex, vars) !== 1) continue;
      const slot = (groupMemo[ctx.groupIndex] ??= stamped(cachedGroup(shared.groupBys[ctx.groupIndex]!, input.groupCaches[ctx.groupIndex]!, payload), batch));
      if (slot === MISSING_GROUP) {
        absenceStats[a]!.missingGroup += 1;
        continue;
      }
      absenceStats[a]!.matched += 1;
      const s = slot.seen[a] ?? seenByRule[a]!.get(slot.ref.key);
      if (s === undefined) {
        const entry: SeenGroup = { rule: ctx.rule, group: slot.ref, eventTime: t, first: i };
        seenByRule[a]!.set(slot.ref.key, entry);
        seen.push(entry);
        slot.seen[a] = entry;
      } else {
        slot.seen[a] = s;
        if (t > s.eventTime) s.eventTime = t;
      }
    }
    if (t > maxT) maxT = t;
  }
  if (twins !== null) return { keyBatches: foldTwins(rules, twins, keyBatches, stats, before!), seen, lateCount: lateCount + twinLate(twins, stats, before!), stopAt };
  return { keyBatches, seen, lateCount, stopAt };
}

/**
 * What makes two window rules fold alike: the same filter, groupBy, window,
 * lateness and aggregates (kinds and expressions, in order). Such rules (say
 * a threshold rule and an anomaly rule over the same per-minute counts, or a
 * warning and a critical threshold on one aggregate) have the same parts for
 * every batch: only the first is folded, the others get its parts under
 * their own keys. Their `when`, emit, `for`, anomaly model and alerts stay
 * their own.
 */
function foldSignature(ctx: RuleContext): string {
  const { rule } = ctx;
  const aggregates = rule.aggregates.map((a) => [a.kind, a.value?.source ?? null, a.condition?.source ?? null, a.quantile ?? null]);
  return JSON.stringify([ctx.whereIndex, ctx.groupIndex, rule.window, rule.latenessMs, aggregates]);
}

const twinCache = new WeakMap<readonly RuleContext[], Int32Array | null>();

/** Per rule, the index of the first earlier rule it folds like (-1: none); null when no rule has one. Computed once per rule list. */
function twinsOf(rules: readonly RuleContext[]): Int32Array | null {
  let twins = twinCache.get(rules);
  if (twins !== undefined) return twins;
  const first = new Map<string, number>();
  const out = new Int32Array(rules.length).fill(-1);
  let any = false;
  rules.forEach((ctx, r) => {
    const sig = foldSignature(ctx);
    const p = first.get(sig);
    if (p === undefined) first.set(sig, r);
    else {
      out[r] = p;
      any = true;
    }
  });
  twins = any ? out : null;
  twinCache.set(rules, twins);
  return twins;
}

/** Late records the twins' folds would have counted (as their first rules did). */
function twinLate(twins: Int32Array, stats: readonly RuleBatchStats[], before: readonly RuleBatchStats[]): number {
  let late = 0;
  for (let r = 0; r < twins.length; r++) if (twins[r]! >= 0) late += stats[twins[r]!]!.late - before[twins[r]!]!.late;
  return late;
}

/**
 * The twins' keys (their own descriptors over their first rule's parts, which
 * nothing changes after the fold) and counts, with the keys in the order the
 * fold would have made them: by the event that created the key, then by rule.
 * A group cap stops the batch at the first rule (the twins come later), so
 * only that rule counts the overflow, as before.
 */
function foldTwins(rules: readonly RuleContext[], twins: Int32Array, keyBatches: KeyBatch[], stats: RuleBatchStats[], before: readonly RuleBatchStats[]): KeyBatch[] {
  const order = new Map<RuleContext, number>();
  rules.forEach((ctx, r) => order.set(ctx, r));
  const out = [...keyBatches];
  for (let r = 0; r < twins.length; r++) {
    const p = twins[r]!;
    if (p < 0) continue;
    const ctx = rules[r]!;
    const from = rules[p]!;
    const st = stats[r]!;
    const ps = stats[p]!;
    const was = before[p]!;
    st.matched += ps.matched - was.matched;
    st.late += ps.late - was.late;
    st.filterErrors += ps.filterErrors - was.filterErrors;
    st.valueErrors += ps.valueErrors - was.valueErrors;
    st.missingGroup += ps.missingGroup - was.missingGroup;
    if (st.firstLate === undefined && ps.firstLate !== undefined && was.firstLate === undefined) st.firstLate = ps.firstLate;
    for (const kb of keyBatches) {
      if (kb.rule !== from) continue;
      out.push({ key: descriptor(ctx.rule.name, kb.group.key, kb.window), rule: ctx, group: kb.group, window: kb.window, parts: kb.parts.slice() });
    }
  }
  // Stable: keys of one event and rule keep their order.
  return out.sort((a, b) => a.parts[0]!.first - b.parts[0]!.first || order.get(a.rule)! - order.get(b.rule)!);
}

/** Groups a GroupCache holds at most: past it, it starts again empty. */
export const MAX_CACHED_GROUPS = 4096;

/**
 * The engine's cache of one groupBy's groups by their values (see
 * cachedGroup): one level of maps per field, each by that field's value, the
 * last one holding the groups. Nothing is built per event: a joined key (the
 * JSON of the values, as it was) cost an array and a string per event for a
 * groupBy of several fields.
 */
export class GroupCache {
  readonly root = new Map<string, unknown>();
  /** Groups held (the last level's entries). */
  size = 0;
}

/** The values of the event being looked up (cachedGroup is not re-entrant), so that nothing is allocated per event. */
const groupValues: string[] = [];

/**
 * The group of an event under `groupBy`, from `cache` (groups repeat across
 * events and batches) when its values are short strings, as group labels
 * usually are; anything else takes the full path, uncached.
 */
export function cachedGroup(groupBy: readonly string[], cache: GroupCache, payload: JsonObject): GroupSlot {
  // A string is always the payload's own value: what a parsed JSON object inherits
  // (Object.prototype's members) is never a string. Anything else takes groupOf,
  // which reads own properties only.
  const n = groupBy.length;
  if (n === 1) {
    // The usual groupBy: one field, one level.
    const v = payload[groupBy[0]!];
    if (typeof v !== 'string' || v.length > 64) return hasGroupFields(groupBy, payload) ? groupSlot(groupOf(groupBy, payload)) : MISSING_GROUP;
    const g = cache.root.get(v) as GroupSlot | undefined;
    return g === undefined ? newCachedGroup(groupBy, cache, cache.root, v, payload) : g;
  }
  for (let f = 0; f < n; f++) {
    const v = payload[groupBy[f]!];
    if (typeof v !== 'string' || v.length > 64) return hasGroupFields(groupBy, payload) ? groupSlot(groupOf(groupBy, payload)) : MISSING_GROUP;
    groupValues[f] = v;
  }
  // One map per field, by value, so ("a\u0000b", "c") and ("a", "b\u0000c") stay apart.
  let level = cache.root;
  for (let f = 0; f < n - 1; f++) {
    let next = level.get(groupValues[f]!) as Map<string, unknown> | undefined;
    if (next === undefined) {
      next = new Map<string, unknown>();
      level.set(groupValues[f]!, next);
    }
    level = next;
  }
  const last = n === 0 ? '' : groupValues[n - 1]!;
  const g = level.get(last) as GroupSlot | undefined;
  return g === undefined ? newCachedGroup(groupBy, cache, level, last, payload) : g;
}

/** A group met for the first time (since the cache last started again), cached in `level` under `last`. */
function newCachedGroup(groupBy: readonly string[], cache: GroupCache, level: Map<string, unknown>, last: string, payload: JsonObject): GroupSlot {
  if (cache.size >= MAX_CACHED_GROUPS) {
    // `level` goes with the rest: the lookup starts again from the empty root.
    cache.root.clear();
    cache.size = 0;
    return cachedGroup(groupBy, cache, payload);
  }
  const g = groupSlot(groupOf(groupBy, payload));
  level.set(last, g);
  cache.size += 1;
  return g;
}

/** The slot, its memo emptied if it holds another fold's state. */
function stamped(slot: GroupSlot, batch: number): GroupSlot {
  if (slot.batch !== batch) {
    slot.batch = batch;
    slot.folds.length = 0;
    slot.seen.length = 0;
  }
  return slot;
}

/*
 * The rare paths of a fixed-window event take its index, not its time, and
 * read the time themselves: a double argument is boxed for the call, and
 * TurboFan places that allocation where every event pays for it.
 */

/** The pane of event i other than the group's last pane: found, or created and attached to its windows; it becomes the last pane. */
function paneOf(gf: GroupFold, ctx: RuleContext, plan: FoldPlan, r: number, times: Float64Array, i: number, chain: Int32Array, keyBatches: KeyBatch[]): Part {
  const step = plan.step[r]!;
  const paneStart = Math.floor(times[i]! / step) * step;
  let part = gf.panes.get(paneStart);
  if (part === undefined) {
    part = newPart(paneStart, paneStart + step, ctx.aggs.create(), i, chain);
    gf.panes.set(paneStart, part);
    attach(gf, ctx, part, paneStart, plan.panes[r]!, keyBatches);
  }
  gf.lastPane = part;
  return part;
}

/** A part of its own for event i, too late for the older windows of its pane, in the `open` newest ones. */
function ownPart(gf: GroupFold, ctx: RuleContext, plan: FoldPlan, r: number, times: Float64Array, i: number, open: number, chain: Int32Array, keyBatches: KeyBatch[]): Part {
  const step = plan.step[r]!;
  const paneStart = Math.floor(times[i]! / step) * step;
  const part = newPart(paneStart, paneStart + step, ctx.aggs.create(), i, chain);
  attach(gf, ctx, part, paneStart, open, keyBatches);
  return part;
}

/** Adds a part to the `open` newest windows of its pane, creating their keys. */
function attach(gf: GroupFold, ctx: RuleContext, part: Part, paneStart: EpochMs, open: number, keyBatches: KeyBatch[]): void {
  const size = ctx.rule.window.kind === 'session' ? 0 : ctx.rule.window.sizeMs;
  for (let j = 0; j < open; j++) {
    const start = paneStart - j * ctx.step!;
    let kb = gf.windows.get(start);
    if (kb === undefined) {
      const window = { start, end: start + size };
      kb = { key: descriptor(ctx.rule.name, gf.group.key, window), rule: ctx, group: gf.group, window, parts: [] };
      gf.windows.set(start, kb);
      keyBatches.push(kb);
    }
    kb.parts.push(part);
  }
}

/**
 * A new session run for event i (at t) that touches none of the group's
 * last run. Runs that come to touch each other are merged when the key is
 * written (mergeSessionLists), so the result is the same as sorting first.
 */
function newRun(gf: GroupFold, ctx: RuleContext, plan: FoldPlan, r: number, times: Float64Array, i: number, chain: Int32Array, keyBatches: KeyBatch[]): Part {
  const t = times[i]!;
  const gap = plan.gap[r]!;
  let kb = gf.session;
  if (kb === undefined) {
    kb = { key: descriptor(ctx.rule.name, gf.group.key, null), rule: ctx, group: gf.group, window: null, parts: [] };
    gf.session = kb;
    keyBatches.push(kb);
  }
  const run = newPart(t, t + gap, ctx.aggs.create(), i, chain);
  kb.parts.push(run);
  gf.lastRun = run;
  return run;
}
