import { descriptor } from '../../../lambdas/core/Engine';
import { dueIsComplete, planGroupClose } from '../../../lambdas/core/closing';
import { T0 } from '../../helpers/factories';

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
