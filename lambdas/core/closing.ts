import type { AlertState, StepResult } from './lifecycle';
import type { KeyDescriptor } from './StateStore';
import type { EpochMs, WindowRule } from './types';

/**
 * Closing one group's fixed windows in order when the due list may lag
 * (issue 19). On DynamoDB the due list is a global secondary index, which is
 * eventually consistent: a window item written a moment ago (a lagging shard
 * creating window W1 and moving the watermark past W1 and W2 in one
 * invocation) may be missing from it while a later window W2 shows. Taking
 * the missing W1 for empty would let the alert lifecycle skip it for good
 * (windows at or before `evaluatedThrough` are ignored).
 *
 * So a closer never infers "empty" from the due list. For each group with
 * due windows it knows the group's windows from the rule (multiples of the
 * step) and the last window evaluated (the alert record's
 * `evaluatedThrough`, a strongly consistent read). When the due windows of
 * the group are exactly the windows after it, nothing can be missing; else it
 * reads the group's windows from the base table (strongly consistent) and
 * plans: every existing window is closed, in order of start, and the
 * missing ones nearest to the last due window are sealed as empty (a closed
 * marker, so no later write can fill a window already judged) and evaluated
 * as empty, in their place in the order.
 *
 * At most `maxSealed` missing windows per group and close are sealed (the
 * most recent ones, the ones a processor with a slightly stale watermark can
 * still reach); older missing windows are judged empty by the lifecycle's
 * gap rule without a marker. A group without an alert record has never had
 * a window evaluated: its lower bound is its first window.
 */

/** One step of a group's close: an existing window to seal and evaluate, or a missing one to seal as empty and evaluate. */
export type CloseStep = { readonly kind: 'close'; readonly key: KeyDescriptor } | { readonly kind: 'empty'; readonly start: EpochMs };

/** Missing windows sealed as empty per group and close, by default. */
export const MAX_SEALED_EMPTY = 16;

/** True when `due` (starts after `after`) holds every window start in (after, last]: the due list cannot have missed one. */
export function dueIsComplete(after: EpochMs | null, due: readonly KeyDescriptor[], step: number): boolean {
  if (after === null) return false;
  const starts = new Set(due.map((k) => k.windowStart!).filter((s) => s > after));
  if (starts.size === 0) return true;
  const last = Math.max(...starts);
  return starts.size === Math.round((last - after) / step);
}

/**
 * The order in which to close one group's windows. `due`: the group's due
 * keys (from the due list); `existing`: its windows in (after, last] as the
 * base table holds them (`due` itself when {@link dueIsComplete}). Windows at
 * or before `after` (late or already evaluated) are closed first, as before
 * (the lifecycle ignores them; closing takes them out of the due list).
 */
export function planGroupClose(
  after: EpochMs | null,
  due: readonly KeyDescriptor[],
  existing: readonly KeyDescriptor[],
  step: number,
  maxSealed = MAX_SEALED_EMPTY,
  /** Window starts already closed while the group was at rest (failing: skipped, neither closed again nor sealed). */
  done: ReadonlySet<EpochMs> = new Set(),
): CloseStep[] {
  const out: CloseStep[] = [];
  const early = due.filter((k) => after !== null && k.windowStart! <= after).sort((a, b) => a.windowStart! - b.windowStart!);
  for (const key of early) out.push({ kind: 'close', key });
  const byStart = new Map<EpochMs, KeyDescriptor>();
  for (const k of [...existing, ...due]) if (after === null || k.windowStart! > after) byStart.set(k.windowStart!, k);
  if (byStart.size === 0) return out;
  const last = Math.max(...byStart.keys());
  const first = after !== null ? after + step : Math.min(...byStart.keys());
  const starts = new Set(byStart.keys());
  // The most recent missing windows (nearest the last due one) are sealed; iteration stays bounded however long the group was quiet.
  for (let i = 0, s = last; i < maxSealed && s >= first; i++, s -= step) starts.add(s);
  for (const s of [...starts].sort((a, b) => a - b)) {
    if (done.has(s)) continue;
    const key = byStart.get(s);
    out.push(key !== undefined ? { kind: 'close', key } : { kind: 'empty', start: s });
  }
  return out;
}

/**
 * Closing a window without a write per group when nothing about the group
 * changes. A closed window whose condition does not hold, for a group whose
 * alert is at rest (inactive, no run of windows, no episode), changes only the
 * bookkeeping of which window was evaluated last (`evaluatedThrough`,
 * `evaluatedEnd`). For an `emit: final` rule that bookkeeping is not needed
 * at rest: evaluating such a window again (a second closer, a redelivery)
 * gives the same verdict on the same sealed state, and a failing verdict on a
 * state at rest leaves it at rest; the windows skipped over by a hopping rule
 * are failing verdicts too. So the step records nothing, and nothing is
 * written (no alert item is created for a group that never held).
 *
 * `emit: early` rules close quietly too (issue 21, Deliver 3), on fixed windows that are not
 * paned (tumbling: one item per window; hopping rules' early verdicts come from panes, panes.ts,
 * and keep recording). Until then an early verdict checked a window against `evaluatedThrough`,
 * which is how a redelivered batch learned that the window was closed already (and must not fire
 * on it). It can learn it from the window's item instead:
 *
 * 1. After a quiet close of W, every early verdict on W is on W's final state. A batch reaching W
 *    after the close meets the sealed item: its new records are refused ('closed': no verdict),
 *    and a redelivery of records W holds is 'unchanged' (StateProtocol.apply). An 'unchanged'
 *    state is the key as the container last saw it, which on DynamoDB may be a stale cached belief
 *    (the container's own last write, or a failed condition's answer: other shards' slots older,
 *    `closed` not yet set). A partial state may hold where the final one fails (HighErrorRate:
 *    `errors / total > 0.05`, diluted by later requests). "It held, so it fired then" does not
 *    save it: the group may have been firing from an earlier window then (the early step a no-op),
 *    resolved by that window's close, and at rest again when W closed; or the early step's write
 *    failed and the batch is retried. So an 'unchanged' state whose early verdict holds is read
 *    again, strongly consistently, and judged on what is stored (Engine.applyKey): after the
 *    quiet close that is the sealed final state, whose verdict is the closed one, which failed (or
 *    W <= `evaluatedThrough`: the early step is a no-op). A cold container (or one whose cache is
 *    behind) has no usable belief: its write fails on the stored item, which comes back with the
 *    failure (`conflicts` > 0), and it decides on that, the same final state: no read. Cost: one
 *    read per redelivered key decided on a belief that holds (never on a first delivery: an
 *    'applied' state is the item after the write, every shard included, and the write is refused
 *    once the item is sealed).
 * 2. An early step that was in flight at the close (its state read before the closer's, holding,
 *    then diluted by another shard) may still record a fire on W after W closed quietly: the
 *    closer decided on the alert state it read at rest. Without quiet closes the same fire is one
 *    interleaving away (the early write landing just before the closer's step), and the closer
 *    then resolves it on W's failing verdict. So does the next advance here: a firing group's next
 *    window is W itself (see 3), whose finished item is closed again, the ordinary way, and W's
 *    failing verdict resolves the alert (the same transitions as that interleaving).
 * 3. Quiet closes do not move `evaluatedThrough`, so a state that leaves rest by an early fire
 *    (`for: 1`; `for: N > 1` never fires early from rest: `consecutive` is 0, and a state with a
 *    run has `evaluatedThrough` on the close that made it) keeps a stale one (or none), far below
 *    the window F it fired in. Every window below F is bookkeeping only for that state
 *    (lifecycle.ts: an earlier window closing after an early fire), so the closer treats the state
 *    as evaluated through F - step (caughtUp): windows at or below it are no-ops (no alert write),
 *    the lower bound of the ordered close is F - step (no query of the windows quietly closed
 *    since the stale bound, no seals below F), and F's close meets no gap (which would resolve the
 *    alert from windows before the one it fired in). The state is changed only in what a step
 *    records; a step that leaves it as it is writes nothing.
 * 4. `for: N` and the `adjacent` test of onWindowUpdated: at rest `consecutive` is 0, so an early
 *    verdict after quiet closes finds no run whether or not `evaluatedThrough` is adjacent, as it
 *    would after recorded failing closes. Windows judged empty and ticker closes go through the
 *    same steps (closeEmpty seals a marker: records for it are refused as late, no verdict).
 *
 * Anomaly rules never close quietly: their model learns every closed window, in order, with its
 * own conditional write (anomaly/rule.ts), so a close always has something to record.
 */

/**
 * Whether a rule's windows may close quietly at all (see above): not anomaly rules; an `emit: early`
 * rule only on tumbling windows (a hopping window of one slide is one). The argument above is made for
 * a window kept in its own item and judged whole: paned hopping windows take their early verdicts from
 * panes, and a session key holds several sessions, with neither the read-again of a believed state
 * (Engine.applyKey, fixed windows only) nor caughtUp (fixed windows only) to cover it: an early session
 * rule closing quietly fired on a closed, failing session and stayed firing (found in review, contract
 * test earlyQuietClose). Overlapping windows not kept as panes are left out too: not argued.
 */
export function mayCloseQuietly(rule: WindowRule): boolean {
  if (rule.anomaly !== undefined) return false;
  return rule.emit !== 'early' || tumbling(rule);
}

/** Tumbling windows, or hopping ones of one slide (the same windows). */
function tumbling(rule: WindowRule): boolean {
  const w = rule.window;
  return w.kind === 'tumbling' || (w.kind === 'hopping' && w.slideMs === w.sizeMs);
}

/**
 * An early rule's state that left rest by an early fire in window F, as evaluated through F - step
 * (see 3 above); any other state as it is, and any state of a rule that never closes quietly (its
 * bound is never stale: paned early rules keep the ordered close's seals and bookkeeping).
 */
export function caughtUp(rule: WindowRule, s: AlertState, step: number): AlertState {
  if (rule.emit !== 'early' || !mayCloseQuietly(rule) || s.status !== 'firing' || s.firedInWindow === null || rule.window.kind === 'session') return s;
  const before = s.firedInWindow - step;
  if (s.evaluatedThrough !== null && s.evaluatedThrough >= before) return s;
  return { ...s, evaluatedThrough: before, evaluatedEnd: before + rule.window.sizeMs };
}

/** A closed window's lifecycle step on the state caughtUp makes of it; a step that changes nothing there leaves the state as it is (writes nothing). */
export function onCaughtUp(rule: WindowRule, step: number | null, f: (s: AlertState) => StepResult): (s: AlertState) => StepResult {
  if (rule.emit !== 'early' || step === null) return f;
  return (s) => {
    const c = caughtUp(rule, s, step);
    if (c === s) return f(s);
    const r = f(c);
    return r.state === c && r.transitions.length === 0 ? { state: s, transitions: [] } : r;
  };
}

/** Nothing to remember: inactive, no run of windows, no episode. */
export function atRest(s: AlertState): boolean {
  return (
    s.status === 'inactive' &&
    s.consecutive === 0 &&
    s.episodeStart === null &&
    s.alertId === null &&
    s.firedInWindow === null &&
    (s.recoveringSince ?? null) === null &&
    (s.silentSince ?? null) === null
  );
}

/** The same state but for the evaluation bookkeeping. */
function sameButEvaluated(a: AlertState, b: AlertState): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (k === 'evaluatedThrough' || k === 'evaluatedEnd') continue;
    if ((a[k as keyof AlertState] ?? null) !== (b[k as keyof AlertState] ?? null)) return false;
  }
  return true;
}

/** A closed window's lifecycle step, without the bookkeeping-only change of a group at rest (see above). */
export function quietClose(rule: WindowRule, step: (s: AlertState) => StepResult): (s: AlertState) => StepResult {
  if (!mayCloseQuietly(rule)) return step;
  return (s) => {
    const r = step(s);
    if (r.transitions.length === 0 && atRest(s) && sameButEvaluated(s, r.state)) return { state: s, transitions: [] };
    return r;
  };
}

/**
 * Closing a group's windows: the two designs above, reconciled (issue 19 x issue 21).
 *
 * Quiet close leaves no alert record for a group at rest, and does not move
 * `evaluatedThrough` at rest. The in-order closer used that record as the lower
 * bound of the windows to check; without it, it queried the group's whole
 * base-table partition (every window up to retention) and sealed up to
 * {@link MAX_SEALED_EMPTY} missing windows on every close: per sparse group, a
 * query and up to 16 writes per closed window, the cost issue 21 removed.
 *
 * The argument for closing at rest without looking back:
 *
 * 1. At rest, a failing verdict records nothing and judges nothing: the state
 *    and `evaluatedThrough` stay as they are. A window that shows later, out of
 *    order (its item was hidden by index lag), still has its start after
 *    `evaluatedThrough`, so it is evaluated when it shows, from the same state
 *    it would have met in order (failing windows between leave rest as it is).
 *    Order among the windows of a group at rest does not matter while every
 *    step is quiet, so such a window is closed quietly (read, evaluate, seal and
 *    finish in one write on the version read): no base-table query, no seals,
 *    no alert write. A judged-empty window needs no marker either: at rest an
 *    empty window is never judged (the next step starts from the same state
 *    whether it later fills or not, and if it fills it is evaluated then).
 * 2. Ordering matters only when a step would change the state: a verdict holds
 *    from rest, or the group is not at rest. From then on
 *    `evaluatedThrough` moves and windows before it are ignored for good, so
 *    every window the step judges must be known first. Not at rest: the lower
 *    bound is `evaluatedThrough` (issue 19 as before). At rest the record's
 *    `evaluatedThrough`, if any, is stale (quiet closes did not move it), so
 *    the lower bound is {@link lookbackAfter}: a window hidden from the due
 *    list by index lag was created by a processor whose watermark had not
 *    closed it, at most an index lag ago; that processor's watermark was at
 *    least min(W.start, the watermark before this close) minus a bound on how
 *    far the watermark moves during an index lag plus a cached watermark's
 *    staleness ({@link INDEX_LAG_LOOKBACK_MS}, event time). So a hidden window
 *    starts after min(W.start, previous) - size - lateness - bound. The base
 *    table (strongly consistent) is queried over that range only; unfinished
 *    windows there are closed first, in order; finished ones there were closed
 *    quietly (failing: the same as judged failing, skipped); missing ones in
 *    (lower bound, last due] are sealed before they are judged empty: these
 *    are the windows this step judges (they fall at or before the new
 *    `evaluatedThrough`).
 *
 * Taking `previous` (the stream watermark the closing processor read before
 * its batch) into the bound covers the issue's case of a lagging shard that
 * creates W1 and moves the watermark past many windows in one invocation: its
 * view before the batch was below W1's close time. What it does not cover: a
 * ticker (which reads the already moved watermark) racing that processor
 * within the index lag, or a writer whose cached watermark is staler than the
 * bound; such a hidden window older than the lower bound is ignored when it
 * shows (the bounded imperfection issue 19 already accepted beyond its 16
 * seals). Cost: at rest, per group with due windows, one alert read, then per
 * window one key read and one write; a step that leaves rest adds one bounded
 * base-table query and one write per missing window sealed in the lookback
 * ((size + lateness + bound) / step windows at most, capped at 16).
 */

/** Event-time bound on how far the watermark moves during an index lag plus a cached watermark's staleness (see above). */
export const INDEX_LAG_LOOKBACK_MS = 60_000;

/**
 * The lower bound (exclusive, a window start on the step grid) of the windows
 * to check before a step that leaves rest at window `start`: every window a
 * lagging index may hide starts after it (see above). `previous` is the stream
 * watermark before this close (ignored when not finite).
 */
export function lookbackAfter(start: EpochMs, size: number, latenessMs: number, previous: EpochMs, step: number, boundMs = INDEX_LAG_LOOKBACK_MS): EpochMs {
  const from = Number.isFinite(previous) ? Math.min(start, previous) : start;
  const raw = from - size - latenessMs - boundMs;
  return start - Math.ceil((start - raw) / step) * step;
}

/** True when a lifecycle step of a closed window, quiet-closed (see quietClose), leaves `state` exactly as it is and records nothing. */
export function isQuiet(rule: WindowRule, state: AlertState, step: (s: AlertState) => StepResult): boolean {
  if (!mayCloseQuietly(rule) || !atRest(state)) return false;
  const r = quietClose(rule, step)(state);
  return r.state === state && r.transitions.length === 0;
}
