import { descriptor } from '../../../lambdas/core/Engine';
import { caughtUp, dueIsComplete, mayCloseQuietly, onCaughtUp, planGroupClose } from '../../../lambdas/core/closing';
import { INITIAL_ALERT_STATE, onWindowClosed, type AlertState } from '../../../lambdas/core/lifecycle';
import { fn, T0, windowRule } from '../../helpers/factories';

const M = 60_000;
const key = (i: number) => descriptor('R', '["g"]', { start: T0 + i * M, end: T0 + (i + 1) * M });
const show = (plan: ReturnType<typeof planGroupClose>) => plan.map((s) => (s.kind === 'close' ? `close ${(s.key.windowStart! - T0) / M}` : `empty ${(s.start - T0) / M}`));

describe('planGroupClose (issue 19)', () => {
  it('the due windows are exactly the ones after the last evaluated: nothing can be missing', () => {
    expect(dueIsComplete(T0, [key(1), key(2)], M)).toBe(true);
    expect(dueIsComplete(T0, [key(2)], M)).toBe(false);
    expect(dueIsComplete(null, [key(1)], M)).toBe(false);
    expect(dueIsComplete(T0 + 2 * M, [key(1)], M)).toBe(true);
  });

  it('closes late windows first, then every window after the last evaluated in order, the missing ones as empty', () => {
    // evaluated through 1; due 0 (late) and 4; the base table also holds 2 (the index had not shown it).
    expect(show(planGroupClose(T0 + M, [key(0), key(4)], [key(2), key(4)], M))).toEqual(['close 0', 'close 2', 'empty 3', 'close 4']);
  });

  it('without an alert record the group starts at its first window', () => {
    expect(show(planGroupClose(null, [key(5)], [key(2), key(5)], M))).toEqual(['close 2', 'empty 3', 'empty 4', 'close 5']);
  });

  it('seals at most maxSealed missing windows, the ones nearest the last due window; existing ones are all closed', () => {
    expect(show(planGroupClose(T0, [key(100)], [key(3), key(100)], M, 3))).toEqual(['close 3', 'empty 98', 'empty 99', 'close 100']);
  });
});

describe('quiet closes of emit: early rules (closing.ts, issue 21 Deliver 3)', () => {
  const early = windowRule({ emit: 'early' });
  const group = { key: '["g"]', labels: { service: 'g' } };
  /** Firing since an early fire in window `fired`, with the bound quiet closes left (`through`). */
  const firedEarly = (fired: number, through: number | null): AlertState => ({
    ...INITIAL_ALERT_STATE,
    status: 'firing',
    alertId: 'a',
    episodeStart: T0 + fired * M,
    firedInWindow: T0 + fired * M,
    evaluatedThrough: through === null ? null : T0 + through * M,
    evaluatedEnd: through === null ? null : T0 + (through + 1) * M,
  });
  const verdict = (i: number, holds: boolean) => ({ window: { start: T0 + i * M, end: T0 + (i + 1) * M }, holds, values: { total: holds ? 3 : 1 } });
  const step = (i: number, holds: boolean) => (s: AlertState) => onWindowClosed(early, group, s, verdict(i, holds), M);

  it('may close quietly: fixed windows of early rules that are not paned; not paned hopping early rules, not anomaly rules', () => {
    expect(mayCloseQuietly(early)).toBe(true);
    expect(mayCloseQuietly(windowRule({ emit: 'early', for: 3 }))).toBe(true);
    expect(mayCloseQuietly(windowRule({ emit: 'early', window: { kind: 'hopping', sizeMs: 5 * M, slideMs: M } }))).toBe(false);
    expect(mayCloseQuietly(windowRule({ emit: 'final', window: { kind: 'hopping', sizeMs: 5 * M, slideMs: M } }))).toBe(true);
    // Early: tumbling windows only (a hopping window of one slide is one); not sessions, not overlapping windows kept whole.
    expect(mayCloseQuietly(windowRule({ emit: 'early', window: { kind: 'hopping', sizeMs: M, slideMs: M } }))).toBe(true);
    expect(mayCloseQuietly(windowRule({ emit: 'early', window: { kind: 'session', gapMs: 30_000 } }))).toBe(false);
    expect(mayCloseQuietly(windowRule({ emit: 'early', window: { kind: 'hopping', sizeMs: 5 * M, slideMs: 2 * M } }))).toBe(false);
    expect(mayCloseQuietly(windowRule({ emit: 'final', window: { kind: 'session', gapMs: 30_000 } }))).toBe(true);
    expect(mayCloseQuietly(windowRule({ emit: 'final', anomaly: {} as never }))).toBe(false);
  });

  it('caughtUp: a state that fired early above a stale bound (or none) is evaluated through the window before; others are left as they are', () => {
    expect(caughtUp(early, firedEarly(7, 2), M)).toEqual({ ...firedEarly(7, 6) });
    expect(caughtUp(early, firedEarly(7, null), M)).toEqual({ ...firedEarly(7, 6) });
    const current = firedEarly(7, 6);
    expect(caughtUp(early, current, M)).toBe(current);
    const closed = firedEarly(7, 7);
    expect(caughtUp(early, closed, M)).toBe(closed);
    const stale = firedEarly(7, 2);
    expect(caughtUp(windowRule({ emit: 'final' }), stale, M)).toBe(stale);
    const pending = { ...stale, status: 'pending' as const, firedInWindow: null };
    expect(caughtUp(early, pending, M)).toBe(pending);
    // Paned early rules never close quietly: their bound is never stale, their closes as before.
    expect(caughtUp(windowRule({ emit: 'early', window: { kind: 'hopping', sizeMs: 5 * M, slideMs: M } }), stale, M)).toBe(stale);
  });

  it("the window an early fire happened in closes without resolving from the windows below it (the gap rule would: they were the stale bound's)", () => {
    // Without caughtUp, the gap (3..6) resolves the alert, and the holding window fires it again (the same alert id).
    expect(step(7, true)(firedEarly(7, 2)).transitions.map((t) => t.state)).toEqual(['resolved', 'firing']);
    const r = onCaughtUp(early, M, step(7, true))(firedEarly(7, 2));
    expect(r.transitions).toEqual([]);
    expect([r.state.status, (r.state.evaluatedThrough! - T0) / M, r.state.consecutive]).toEqual(['firing', 7, 1]);
    // Failing, it resolves on its own values.
    const f = onCaughtUp(early, M, step(7, false))(firedEarly(7, null));
    expect(f.transitions.map((t) => [t.state, (t.window.start - T0) / M, t.values['total']])).toEqual([['resolved', 7, 1]]);
  });

  it('a window below the one fired in is a no-op that leaves the stored state as it is (nothing to write)', () => {
    const s = firedEarly(7, 2);
    expect(onCaughtUp(early, M, step(4, false))(s)).toEqual({ state: s, transitions: [] });
    expect(onCaughtUp(early, M, step(4, false))(s).state).toBe(s);
    // Final rules: unchanged (bookkeeping below an early fire cannot happen there; the step is the lifecycle's own).
    const final = windowRule({ emit: 'final', when: fn('total >= 3', (v) => (v['total'] as number) >= 3) });
    const f = (x: AlertState) => onWindowClosed(final, group, x, verdict(4, false), M);
    expect(onCaughtUp(final, M, f)).toBe(f);
  });
});
