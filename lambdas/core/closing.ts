import type { AlertState, StepResult } from './lifecycle';
import type { WindowRule } from './types';

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
