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

  describe('absence hysteresis (resolveAfter)', () => {
    const S = 1000;
    const g = { key: '["web-4"]', labels: { host: 'web-4' } };
    const rule = absenceRule({
      absentMs: 2 * M,
      resolveAfterMs: M,
      annotations: { summary: '{{host}}: no heartbeat for {{absentFor}}', runbook: 'https://runbooks/heartbeat' },
    });
    /** Seen at `at`, firing at `at` + 2m. */
    function firingSince(r: typeof rule, at: number) {
      const seen = onSeen(r, g, INITIAL_ALERT_STATE, at);
      const fired = onAbsenceCheck(r, g, seen.state, at + 2 * M);
      expect(fired.transitions.map((t) => t.state)).toEqual(['firing']);
      return fired;
    }

    it('stays firing when the group is back, and resolves at its first event resolveAfter later', () => {
      // GIVEN web-4 last seen at 10m, firing at 12m
      const fired = firingSince(rule, 10 * M);
      // WHEN it comes back at 12m10s and sends every 10 s
      let s = fired.state;
      const published: AlertTransition[] = [];
      for (let t = 12 * M + 10 * S; t <= 14 * M; t += 10 * S) {
        const seen = onSeen(rule, g, s, t);
        const checked = onAbsenceCheck(rule, g, seen.state, t);
        published.push(...seen.transitions, ...checked.transitions);
        s = checked.state;
      }
      // THEN one RESOLVED, at the first event 1m after it came back, saying it came back
      expect(published).toEqual([
        expect.objectContaining({
          state: 'resolved',
          alertId: fired.transitions[0]!.alertId,
          window: { start: 10 * M, end: 12 * M + 10 * S },
          values: { silenceMs: 2 * M + 10 * S },
          at: 13 * M + 10 * S,
          // the summary says the host came back, not that it is silent; other annotations stay
          annotations: { summary: 'web-4: seen again after 2m10s without events', runbook: 'https://runbooks/heartbeat' },
        }),
      ]);
      expect(s).toMatchObject({ status: 'inactive', alertId: null, lastSeen: 14 * M });
      expect(s).not.toHaveProperty('recoveringSince');
    });

    it('a group that flaps (silent again before it has been back resolveAfter) keeps one firing episode', () => {
      // a host that sends one heartbeat every 2m30s (just over absent) is never back for a minute
      const seen = onSeen(rule, g, INITIAL_ALERT_STATE, 0);
      let s = onAbsenceCheck(rule, g, seen.state, 2 * M).state;
      const published: AlertTransition[] = [];
      for (let k = 1; k <= 8; k++) {
        const beat = k * (2 * M + 30 * S);
        const a = onSeen(rule, g, s, beat);
        published.push(...a.transitions);
        s = a.state;
        for (let w = beat; w < beat + 2 * M + 30 * S; w += 10 * S) {
          const b = onAbsenceCheck(rule, g, s, w);
          published.push(...b.transitions);
          s = b.state;
        }
      }
      expect(published).toEqual([]);
      expect(s.status).toBe('firing');
    });

    it('a silence inside the recovery starts it over, even when no check ran in between', () => {
      const fired = firingSince(rule, 0);
      // back at 3m, then nothing until 5m30s (2m30s > absent): the recovery restarts at 5m30s
      let s = onSeen(rule, g, fired.state, 3 * M).state;
      s = onSeen(rule, g, s, 5 * M + 30 * S).state;
      expect(s).toMatchObject({ status: 'firing', recoveringSince: 5 * M + 30 * S, silentSince: 3 * M });
      // back for good: an event every 30s; resolves at 6m30s, reporting the silence that ended last
      let resolved: AlertTransition[] = [];
      for (let t = 6 * M; t <= 6 * M + 30 * S; t += 30 * S) {
        const r = onSeen(rule, g, s, t);
        s = r.state;
        resolved = [...resolved, ...r.transitions];
      }
      expect(resolved).toMatchObject([{ state: 'resolved', window: { start: 3 * M, end: 5 * M + 30 * S }, values: { silenceMs: 2 * M + 30 * S }, at: 6 * M + 30 * S }]);
      expect(resolved[0]!.annotations['summary']).toBe('web-4: seen again after 2m30s without events');
    });

    it('a check that finds the recovering group silent again keeps the episode and counts the silence from its last event', () => {
      const fired = firingSince(rule, 0);
      let s = onSeen(rule, g, fired.state, 3 * M).state;
      expect(onAbsenceCheck(rule, g, s, 5 * M - 1).state).toBe(s);
      s = onAbsenceCheck(rule, g, s, 5 * M).state;
      expect(s).toMatchObject({ status: 'firing', alertId: fired.transitions[0]!.alertId, recoveringSince: null, silentSince: 3 * M });
      expect(onAbsenceCheck(rule, g, s, 9 * M)).toEqual({ state: s, transitions: [] });
    });

    it('is idempotent: repeating a step changes nothing', () => {
      const fired = firingSince(rule, 0);
      const a = onSeen(rule, g, fired.state, 3 * M);
      expect(onSeen(rule, g, a.state, 3 * M)).toEqual({ state: a.state, transitions: [] });
      const b = onSeen(rule, g, a.state, 4 * M);
      expect(b.transitions).toHaveLength(1);
      expect(onSeen(rule, g, b.state, 4 * M).transitions).toEqual([]);
      // an event older than the silence is no recovery
      expect(onSeen(rule, g, fired.state, 0).state).toBe(fired.state);
    });

    it('resolvedAnnotations replace the resolved texts, with {{silentFor}} and {{seenAgain}}', () => {
      const custom = { ...rule, resolveAfterMs: 0, resolvedAnnotations: { summary: '{{host}}: heartbeat seen again after {{silentFor}} at {{seenAgain}}' } };
      const fired = firingSince(custom, 0);
      const back = onSeen(custom, g, fired.state, 2 * M + 10 * S);
      expect(back.transitions[0]!.annotations).toEqual({ summary: `web-4: heartbeat seen again after 2m10s at ${new Date(2 * M + 10 * S).toISOString()}`, runbook: 'https://runbooks/heartbeat' });
      expect(fired.transitions[0]!.annotations['summary']).toBe('web-4: no heartbeat for 2m');
    });
  });
});
