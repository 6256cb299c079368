import { parsePipeline, PipelineError } from '../../../lambdas/core/pipeline';
import type { WindowRule } from '../../../lambdas/core/types';

function rule(anomaly: string | undefined, opts: { when?: string; window?: string; extra?: string; annotations?: string } = {}): string {
  return (
    'streams:\n  t:\n    timestamp: ts\nrules:\n  - alert: R\n    stream: t\n    groupBy: [service]\n' +
    `    window: ${opts.window ?? '{ tumbling: 1m }'}\n    aggregate:\n      errors: 'count(status >= 500)'\n      total: 'count()'\n` +
    `    when: '${opts.when ?? 'anomaly.score > 0.99 && total >= 20.0'}'\n` +
    (anomaly === undefined ? '' : `    anomaly: ${anomaly}\n`) +
    (opts.extra ?? '') +
    (opts.annotations === undefined ? '' : `    annotations: { summary: '${opts.annotations}' }\n`)
  );
}

const compiled = (text: string) => parsePipeline(text, 'p.yaml').rules[0] as WindowRule;
function problems(text: string): string[] {
  try {
    parsePipeline(text, 'p.yaml');
  } catch (e) {
    if (e instanceof PipelineError) return e.message.split('\n').filter((l) => !/^\d+ problems in /.test(l)).map((l) => l.trim());
    throw e;
  }
  return [];
}

describe('anomaly: on a window rule', () => {
  it('takes the aggregate and the detector options, with the documented defaults', () => {
    expect(compiled(rule('{ of: errors }')).anomaly).toEqual({
      of: 'errors',
      detector: 'robust',
      options: { direction: 'both', sensitivity: 4, warmup: 12, alpha: 0.1, shiftAfter: 6, minSpread: 0, season: 'week' },
      fill: null,
    });
    expect(compiled(rule('{ of: errors, detector: robust, direction: up, sensitivity: 4, warmup: 30, alpha: 0.05, shiftAfter: 10, minSpread: 1, fill: 0 }')).anomaly).toEqual({
      of: 'errors',
      detector: 'robust',
      options: { direction: 'up', sensitivity: 4, warmup: 30, alpha: 0.05, shiftAfter: 10, minSpread: 1, season: 'week' },
      fill: 0,
    });
    expect(compiled(rule('{ of: errors, detector: seasonal, season: day }')).anomaly).toEqual({
      of: 'errors',
      detector: 'seasonal',
      options: { direction: 'both', sensitivity: 4, warmup: 12, alpha: 0.1, shiftAfter: 6, minSpread: 0, season: 'day' },
      fill: null,
    });
    expect(compiled(rule(undefined, { when: 'total > 5.0' })).anomaly).toBeUndefined();
  });

  it('defaults `of` to the only aggregate', () => {
    const text = rule('{ direction: down }').replace("      errors: 'count(status >= 500)'\n", '').replace(' && total >= 20.0', '');
    expect(compiled(text).anomaly?.of).toBe('total');
    expect(problems(rule('{ direction: down }'))).toEqual(['p.yaml:13:14: rule "R" field "anomaly": missing (required): of, the aggregate to model, one of errors | total']);
  });

  it('names the field and the allowed values of each mistake', () => {
    expect(problems(rule('{ of: erors }'))).toEqual(['p.yaml:13:20: rule "R" field "anomaly.of": expected the name of one of this rule\'s aggregates: errors | total (given "erors")']);
    expect(problems(rule('{ of: errors, detector: rcf }'))).toEqual(['p.yaml:13:38: rule "R" field "anomaly.detector": expected one of robust | seasonal (given "rcf")']);
    expect(problems(rule('{ of: errors, detector: seasonal, season: month }'))).toEqual([
      'p.yaml:13:56: rule "R" field "anomaly.season": expected one of day | week (the seasonal detector\'s profile: hour of day, or hour of week) (given "month")',
    ]);
    expect(problems(rule('{ of: errors, season: day }'))).toEqual([
      'p.yaml:13:36: rule "R" field "anomaly.season": applies to the seasonal detector only (this rule\'s detector is robust): add detector: seasonal, or remove season',
    ]);
    expect(problems(rule('{ of: errors, direction: rising }'))).toEqual([
      'p.yaml:13:39: rule "R" field "anomaly.direction": expected one of up | down | both (up: only rises alert) (given "rising")',
    ]);
    expect(problems(rule('{ of: errors, sensitivity: 0 }'))).toEqual([
      'p.yaml:13:41: rule "R" field "anomaly.sensitivity": expected a number above 0 and at most 20 (the half-width of the band in robust standard deviations; score 0.99 at its edge) (given 0)',
    ]);
    expect(problems(rule('{ of: errors, warmup: 1.5 }'))).toEqual(['p.yaml:13:36: rule "R" field "anomaly.warmup": expected a whole number of windows from 2 to 1000 (given 1.5)']);
    expect(problems(rule('{ of: errors, alpha: 1 }'))).toEqual(['p.yaml:13:35: rule "R" field "anomaly.alpha": expected a number between 0 and 1 (exclusive): the weight of a new window (given 1)']);
    expect(problems(rule('{ of: errors, fill: none }'))).toEqual([
      'p.yaml:13:34: rule "R" field "anomaly.fill": expected a number learned for windows in which the group sent nothing, e.g. 0 for counts (given "none")',
    ]);
    expect(problems(rule('{ of: errors, sensitivty: 3 }'))).toEqual([
      'p.yaml:13:28: rule "R" field "anomaly.sensitivty": unknown key (anomaly may have: of, detector, direction, sensitivity, warmup, alpha, shiftAfter, minSpread, season, fill)',
    ]);
    expect(problems(rule('errors'))).toEqual(['p.yaml:13:14: rule "R" field "anomaly": expected a map such as { of: errors, direction: up } (given "errors")']);
  });

  it('needs fixed windows that close (no sessions, no emit: early)', () => {
    expect(problems(rule('{ of: errors }', { window: '{ session: 5m }' }))).toEqual([
      'p.yaml:13:14: rule "R" field "anomaly": needs a tumbling or hopping window: a session is not a regular series of windows',
    ]);
    expect(problems(rule('{ of: errors }', { extra: '    emit: early\n' }))).toEqual([
      'p.yaml:13:14: rule "R" field "anomaly": cannot be used with emit: early: a window is scored when it closes (remove emit: early)',
    ]);
    expect(compiled(rule('{ of: errors }', { window: '{ hopping: 5m, every: 1m }' })).anomaly?.of).toBe('errors');
  });

  it('checks anomaly.* in when and {{anomaly.*}} in annotations', () => {
    expect(problems(rule('{ of: errors }', { when: 'anomaly.scor > 0.9' }))).toEqual([
      'p.yaml:12:12: rule "R" field "when": unknown name "anomaly.scor": anomaly has score, expected, lower, upper, warming; did you mean "score"?',
    ]);
    expect(problems(rule(undefined, { when: 'anomaly.score > 0.9' }))[0]).toMatch(/field "when": unknown name "anomaly": this expression may use errors, total, service.* \(anomaly\.\* needs an anomaly: block on the rule\)$/);
    const ok = compiled(rule('{ of: errors }', { annotations: '{{service}} errors {{errors}}, expected {{anomaly.lower}}-{{anomaly.upper}} (score {{anomaly.score}}, warming {{anomaly.warming}}, {{anomaly.expected}})' }));
    expect(ok.anomaly?.of).toBe('errors');
    expect(problems(rule(undefined, { when: 'total > 1.0', annotations: '{{anomaly.score}}' }))[0]).toMatch(/field "annotations.summary": unknown name \{\{anomaly.score\}\}/);
  });

  it('evaluates when with the verdict fields', () => {
    const r = compiled(rule('{ of: errors }', { when: 'anomaly.score > 0.99 && !anomaly.warming && errors > anomaly.upper && total >= 20.0' }));
    const anomaly = { score: 0.995, expected: 10, lower: 4, upper: 16, warming: false };
    expect(r.when.evaluate({ service: 'a', errors: 40, total: 100, anomaly })).toBe(true);
    expect(r.when.evaluate({ service: 'a', errors: 40, total: 100, anomaly: { ...anomaly, warming: true } })).toBe(false);
    expect(r.when.evaluate({ service: 'a', errors: 40, total: 10, anomaly })).toBe(false);
  });
});
