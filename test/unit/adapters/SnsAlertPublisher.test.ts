import { asRecorded, publishInput } from '../../../lambdas/adapters/SnsAlertPublisher';
import { INITIAL_ALERT_STATE, onWindowClosed, type AlertTransition } from '../../../lambdas/core/lifecycle';
import { T0, windowRule } from '../../helpers/factories';

const M = 60_000;

describe('every publish of a transition has the same bytes (issue 19)', () => {
  it('the publish input is a function of the recorded transition: a live object and its outbox record give the same bytes', () => {
    const live = {
      alertId: 'a',
      transitionId: 'a:resolved',
      rule: 'R',
      state: 'resolved',
      severity: 'warning',
      group: { service: 'api' },
      labels: {},
      window: { start: T0, end: T0 + M },
      values: { total: 0, mean: Number.NaN, hi: undefined as unknown as null },
      annotations: { summary: 'x' },
      at: T0 + M,
    } as AlertTransition;
    const recorded = asRecorded(live);
    expect(JSON.stringify(publishInput('arn:t', live, true))).toBe(JSON.stringify(publishInput('arn:t', recorded, true)));
    expect(JSON.parse(publishInput('arn:t', live).Message!).values).toEqual({ total: 0, mean: null });
  });

  it('a resolve reached through the gap rule carries the rule\'s empty values, like one from an evaluated empty window', () => {
    const rule = windowRule();
    const group = { key: '["api"]', labels: { service: 'api' } };
    const firing = onWindowClosed(rule, group, INITIAL_ALERT_STATE, { window: { start: T0, end: T0 + M }, holds: true, values: { total: 3 } }, M).state;
    const empty = { total: 0 };
    // Window T0+1m empty and evaluated (ticker path) vs skipped over when T0+2m closes (gap path).
    const viaEmpty = onWindowClosed(rule, group, firing, { window: { start: T0 + M, end: T0 + 2 * M }, holds: false, values: empty }, M, empty).transitions;
    const viaGap = onWindowClosed(rule, group, firing, { window: { start: T0 + 2 * M, end: T0 + 3 * M }, holds: false, values: { total: 1 } }, M, empty).transitions;
    expect(viaGap).toEqual(viaEmpty);
    expect(publishInput('arn:t', viaGap[0]!)).toEqual(publishInput('arn:t', viaEmpty[0]!));
  });
});
