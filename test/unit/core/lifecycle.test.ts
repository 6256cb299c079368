import {
  alertIdOf,
  INITIAL_ALERT_STATE,
  onAbsenceCheck,
  onSeen,
  onWindowClosed,
  onWindowUpdated,
  type AlertState,
  type AlertTransition,
} from '../../../lambdas/core/lifecycle';
import { absenceRule, windowRule } from '../../helpers/factories';

const M = 60_000;
const group = { key: '["api"]', labels: { service: 'api' } };
const win = (i: number) => ({ start: i * M, end: (i + 1) * M });

/** Closes windows 0..n-1 with the given verdicts; returns the states and every transition. */
function run(forN: number, verdicts: boolean[], step: number | null = M) {
  const rule = windowRule({ for: forN });
  let s: AlertState = INITIAL_ALERT_STATE;
  const transitions: AlertTransition[] = [];
  const statuses: string[] = [];
  verdicts.forEach((holds, i) => {
    const r = onWindowClosed(rule, group, s, { window: win(i), holds, values: { total: i } }, step);
    s = r.state;
    transitions.push(...r.transitions);
    statuses.push(s.status);
  });
  return { s, transitions, statuses };
}

describe('alert lifecycle', () => {
  it('for: 1 fires on the first window that holds and resolves on the first that does not', () => {
    const { transitions, statuses } = run(1, [false, true, true, false]);
    expect(statuses).toEqual(['inactive', 'firing', 'firing', 'inactive']);
    expect(transitions.map((t) => [t.state, t.window.start])).toEqual([
      ['firing', 1 * M],
      ['resolved', 3 * M],
    ]);
    expect(transitions[0]!.alertId).toBe(alertIdOf('R', '["api"]', 1 * M));
    expect(transitions[1]!.alertId).toBe(transitions[0]!.alertId);
    expect(transitions[1]!.transitionId).toBe(`${transitions[0]!.alertId}:resolved`);
  });

  it('for: 3 stays pending for two windows, fires on the third', () => {
    const { transitions, statuses } = run(3, [true, true, true, true]);
    expect(statuses).toEqual(['pending', 'pending', 'firing', 'firing']);
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ state: 'firing', window: win(2), alertId: alertIdOf('R', '["api"]', 0) });
  });

  it('a break in the run resets the count', () => {
    const { transitions, statuses } = run(2, [true, false, true, true]);
    expect(statuses).toEqual(['pending', 'inactive', 'pending', 'firing']);
    expect(transitions.map((t) => t.state)).toEqual(['firing']);
    expect(transitions[0]!.alertId).toBe(alertIdOf('R', '["api"]', 2 * M));
  });

  it('pending never publishes', () => {
    expect(run(5, [true, true, false]).transitions).toEqual([]);
  });

  it('a skipped (empty) window counts as not holding and resolves', () => {
    const rule = windowRule({ for: 1 });
    let r = onWindowClosed(rule, group, INITIAL_ALERT_STATE, { window: win(0), holds: true, values: {} }, M);
    r = onWindowClosed(rule, group, r.state, { window: win(2), holds: true, values: {} }, M);
    expect(r.transitions.map((t) => [t.state, t.window.start])).toEqual([
      ['resolved', 1 * M],
      ['firing', 2 * M],
    ]);
  });

  it('closing the same window twice is a no-op (idempotent)', () => {
    const rule = windowRule({ for: 1 });
    const first = onWindowClosed(rule, group, INITIAL_ALERT_STATE, { window: win(0), holds: true, values: {} }, M);
    const again = onWindowClosed(rule, group, first.state, { window: win(0), holds: true, values: {} }, M);
    expect(again.transitions).toEqual([]);
    expect(again.state).toBe(first.state);
  });

  it('early mode fires in an open window once the preceding closed windows complete the run', () => {
    const rule = windowRule({ for: 2, emit: 'early' });
    const closed = onWindowClosed(rule, group, INITIAL_ALERT_STATE, { window: win(0), holds: true, values: {} }, M);
    const early = onWindowUpdated(rule, group, closed.state, { window: win(1), holds: true, values: { total: 9 } }, M);
    expect(early.transitions).toHaveLength(1);
    expect(early.transitions[0]).toMatchObject({ state: 'firing', window: win(1), alertId: alertIdOf('R', '["api"]', 0) });
    // the window then closes holding: no second notification
    const close1 = onWindowClosed(rule, group, early.state, { window: win(1), holds: true, values: {} }, M);
    expect(close1.transitions).toEqual([]);
    expect(close1.state.status).toBe('firing');
    // and an update that does not hold changes nothing
    expect(onWindowUpdated(rule, group, close1.state, { window: win(2), holds: false, values: {} }, M).transitions).toEqual([]);
  });

  it('early mode does not fire when the run is not adjacent', () => {
    const rule = windowRule({ for: 2, emit: 'early' });
    const closed = onWindowClosed(rule, group, INITIAL_ALERT_STATE, { window: win(0), holds: true, values: {} }, M);
    expect(onWindowUpdated(rule, group, closed.state, { window: win(2), holds: true, values: {} }, M).transitions).toEqual([]);
  });

  it('renders annotations from group labels and values', () => {
    const { transitions } = run(1, [true]);
    expect(transitions[0]!.annotations).toEqual({ summary: 'api: 0' });
  });

  it('absence: fires once after the deadline, resolves when the group is seen again', () => {
    const rule = absenceRule({ absentMs: 2 * M });
    const g = { key: '["web-1"]', labels: { host: 'web-1' } };
    let r = onSeen(rule, g, INITIAL_ALERT_STATE, 10 * M);
    expect(onAbsenceCheck(rule, g, r.state, 12 * M - 1).transitions).toEqual([]);
    r = onAbsenceCheck(rule, g, r.state, 12 * M);
    expect(r.transitions).toMatchObject([{ state: 'firing', alertId: alertIdOf('Silent', '["web-1"]', 10 * M), window: { start: 10 * M, end: 12 * M } }]);
    expect(onAbsenceCheck(rule, g, r.state, 20 * M).transitions).toEqual([]);
    const back = onSeen(rule, g, r.state, 15 * M);
    expect(back.transitions).toMatchObject([{ state: 'resolved', alertId: r.transitions[0]!.alertId }]);
    expect(back.state.status).toBe('inactive');
  });
});
