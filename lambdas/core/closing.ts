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
export function planGroupClose(after: EpochMs | null, due: readonly KeyDescriptor[], existing: readonly KeyDescriptor[], step: number, maxSealed = MAX_SEALED_EMPTY): CloseStep[] {
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
 * `emit: early` rules keep it: an early verdict on a window checks it against
 * `evaluatedThrough`, which is how a redelivered batch learns that the
 * window was closed already (and must not fire on it).
 */

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
  if (rule.emit === 'early') return step;
  return (s) => {
    const r = step(s);
    if (r.transitions.length === 0 && atRest(s) && sameButEvaluated(s, r.state)) return { state: s, transitions: [] };
    return r;
  };
}
