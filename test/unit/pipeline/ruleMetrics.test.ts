import { parsePipeline, PipelineError } from '../../../lambdas/core/pipeline';
import { thresholdsOf } from '../../../lambdas/core/thresholds';
import type { WindowRule } from '../../../lambdas/core/types';

function rule(metrics: string | undefined, opts: { groupBy?: string; when?: string; absent?: boolean } = {}): string {
  const head = 'streams:\n  t:\n    timestamp: ts\nrules:\n  - alert: R\n    stream: t\n';
  if (opts.absent) return `${head}    groupBy: [host]\n    absent: 2m\n    metrics: ${metrics}\n`;
  return (
    head +
    `    groupBy: [${opts.groupBy ?? 'service'}]\n    window: { tumbling: 1m }\n    aggregate:\n      errors: 'count(status >= 500)'\n      total: 'count()'\n      p99: 'percentile(latencyMs, 99)'\n` +
    `    when: '${opts.when ?? 'errors / total > 0.05 && total >= 20'}'\n` +
    (metrics === undefined ? '' : `    metrics: ${metrics}\n`)
  );
}

const compiled = (text: string) => parsePipeline(text, 'p.yaml').rules[0] as WindowRule;
function problems(text: string): string[] {
  try {
    parsePipeline(text, 'p.yaml');
  } catch (e) {
    if (e instanceof PipelineError) return e.message.split('\n');
    throw e;
  }
  return [];
}

describe('metrics: on a window rule', () => {
  it('is off by default, and takes true, a list (kept in the rule order) or { aggregates, maxGroups }', () => {
    expect(compiled(rule(undefined)).metrics).toBeUndefined();
    expect(compiled(rule('false')).metrics).toBeUndefined();
    expect(compiled(rule('true')).metrics).toEqual({ aggregates: ['errors', 'total', 'p99'], maxGroups: 100 });
    expect(compiled(rule('[p99, errors]')).metrics).toEqual({ aggregates: ['errors', 'p99'], maxGroups: 100 });
    expect(compiled(rule('{ aggregates: [total], maxGroups: 20 }')).metrics).toEqual({ aggregates: ['total'], maxGroups: 20 });
    expect(compiled(rule('{ maxGroups: 10000 }')).metrics).toEqual({ aggregates: ['errors', 'total', 'p99'], maxGroups: 10000 });
  });

  it('names what is wrong and what is allowed', () => {
    expect(problems(rule('[totl]'))).toEqual(['p.yaml:14:15: rule "R" field "metrics.0": "totl" is not an aggregate of this rule; did you mean "total"? (aggregates: errors, total, p99)']);
    expect(problems(rule('[total, total]'))).toEqual(['p.yaml:14:22: rule "R" field "metrics.1": "total" is listed twice']);
    expect(problems(rule('{ maxGroups: 0 }'))).toEqual(['p.yaml:14:27: rule "R" field "metrics.maxGroups": expected a whole number of groups from 1 to 10000 (given 0)']);
    expect(problems(rule('{ maxGroup: 5 }'))).toEqual(['p.yaml:14:16: rule "R" field "metrics.maxGroup": unknown key; did you mean "maxGroups"? (metrics may have: aggregates, maxGroups)']);
    expect(problems(rule('yes'))).toEqual([
      'p.yaml:14:14: rule "R" field "metrics": expected true, a list of aggregate names such as [errors, total], or { aggregates: [...], maxGroups: 100 } (given "yes")',
    ]);
    expect(problems(rule('true', { groupBy: 'Rule' }))).toEqual(['p.yaml:14:14: rule "R" field "metrics": group label "Rule" cannot be a metric dimension: Rule and _aws are reserved']);
    expect(problems(rule('true', { absent: true }))[0]).toMatch(/field "metrics": not allowed in an absence rule .* metrics belongs to window rules/);
  });

  it('refuses more group labels than CloudWatch has dimensions for (Rule + 29)', () => {
    const labels = Array.from({ length: 30 }, (_, i) => `l${i}`).join(', ');
    expect(problems(rule('true', { groupBy: labels }))).toEqual(['p.yaml:14:14: rule "R" field "metrics": a metric has at most 30 dimensions in CloudWatch: Rule and 29 group labels (this rule groups by 30)']);
  });
});

describe('thresholdsOf (from the parsed when)', () => {
  it('finds each aggregate compared with a constant, either side, under && || ! and with constant arithmetic', () => {
    expect(thresholdsOf(compiled(rule(undefined)))).toEqual([{ aggregate: 'total', op: '>=', value: 20, text: 'total >= 20' }]);
    expect(thresholdsOf(compiled(rule(undefined, { when: 'p99 > 2.0 * 400.0 || !(50 > total)' })))).toEqual([
      { aggregate: 'p99', op: '>', value: 800, text: 'p99 > 800' },
      { aggregate: 'total', op: '<', value: 50, text: 'total < 50' },
    ]);
    expect(thresholdsOf(compiled(rule(undefined, { when: 'errors >= -1.5 && errors >= -1.5 && errors != 3.0' })))).toEqual([
      { aggregate: 'errors', op: '>=', value: -1.5, text: 'errors >= -1.5' },
      { aggregate: 'errors', op: '!=', value: 3, text: 'errors != 3' },
    ]);
  });

  it('ignores comparisons of several aggregates, of group labels and of strings', () => {
    expect(thresholdsOf(compiled(rule(undefined, { when: 'errors / total > 0.05 && errors > total && service == "x" && p99 > p99' })))).toEqual([]);
  });
});
