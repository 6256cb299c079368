/**
 * The rule sections of the dashboard (rules with `metrics:`), checked widget
 * by widget on the synthesized body of the sample pipeline (no snapshots).
 */
import { Match } from 'aws-cdk-lib/assertions';
import { DASHBOARD_LIMITS, dashboardWidgetCount } from '../../lib/PipelineDashboard';
import { ruleSectionsWidgetCount, rulePeriod } from '../../lib/RuleDashboardSection';
import { ENV } from '../../lambdas/core/contract';
import { loadPipeline } from '../../lambdas/core/pipeline';
import type { WindowRule } from '../../lambdas/core/types';
import { assertHasProperties, build, cleanup, cleanupFixtures, dashboardWidgets, pipelineFile, SAMPLE_PIPELINE, synth, type DashboardWidget, type Synthesized } from './support';

interface Props {
  readonly title?: string;
  readonly markdown?: string;
  readonly view?: string;
  readonly period?: number;
  readonly metrics?: ReadonlyArray<ReadonlyArray<unknown>>;
  readonly annotations?: { readonly horizontal?: ReadonlyArray<{ value: number; label: string }> };
}

const props = (w: DashboardWidget) => w.properties as Props;
/** The expressions (search, math, Insights) of a widget, in order. */
const expressions = (w: DashboardWidget) =>
  (props(w).metrics ?? []).flatMap((entry) => entry.filter((e): e is { expression: string } => typeof e === 'object' && e !== null && 'expression' in e).map((e) => e.expression));

let s: Synthesized;
let widgets: DashboardWidget[];
const byTitle = (title: string): DashboardWidget => {
  const found = widgets.filter((w) => props(w).title === title);
  if (found.length !== 1) throw new Error(`expected one widget titled ${JSON.stringify(title)}, found ${found.length}: ${widgets.map((w) => props(w).title).join(' | ')}`);
  return found[0]!;
};

beforeAll(() => {
  // GIVEN the sample pipeline, whose three window rules publish metrics
  // WHEN it is synthesized
  s = synth({ pipeline: { pipelineFile: SAMPLE_PIPELINE } }, { bundle: false });
  widgets = dashboardWidgets(s.template);
});

afterAll(() => {
  cleanup(s);
  cleanupFixtures();
});

describe('a rule section of the sample dashboard', () => {
  it('opens with a heading naming the rule, its condition, window, statistic and cap', () => {
    const headings = widgets.filter((w) => w.type === 'text' && (props(w).markdown ?? '').startsWith('## Rule '));
    expect(headings.map((w) => props(w).markdown!.split('\n')[0])).toEqual(['## Rule `HighErrorRate` (critical)', '## Rule `SlowResponses` (warning)', '## Rule `SessionBurst` (info)']);
    expect(props(headings[0]!).markdown).toContain('`when: errors / total > 0.05 && total >= 20` over tumbling 1m windows by service');
    expect(props(headings[0]!).markdown).toContain('Maximum per 60 s, at most 100 groups an hour (namespace `tidewatch/rules`)');
    expect(props(headings[2]!).markdown).toContain('at most 50 groups an hour');
  });

  it('graphs each published aggregate per group with Maximum at the rule period, from the namespace and dimensions the handlers emit', () => {
    const total = byTitle('HighErrorRate: total = count() by service');
    expect(expressions(total)).toEqual([`SEARCH('{"tidewatch/rules","Rule","service"} MetricName="total" Rule="HighErrorRate"', 'Maximum', 60)`]);
    expect(props(total).period).toBe(60);
    expect(expressions(byTitle('SlowResponses: p99 = percentile(latencyMs, 99) by service'))).toEqual([
      `SEARCH('{"tidewatch/rules","Rule","service"} MetricName="p99" Rule="SlowResponses"', 'Maximum', 60)`,
    ]);
    expect(expressions(byTitle('SessionBurst: worst = max(latencyMs) by host'))).toEqual([`SEARCH('{"tidewatch/rules","Rule","host"} MetricName="worst" Rule="SessionBurst"', 'Maximum', 60)`]);
    // only the listed aggregates: SessionBurst does not publish users, volume or mean
    expect(widgets.filter((w) => (props(w).title ?? '').startsWith('SessionBurst: ') && / = /.test(props(w).title!)).map((w) => props(w).title)).toEqual([
      'SessionBurst: requests = count() by host',
      'SessionBurst: worst = max(latencyMs) by host',
    ]);
  });

  it('draws the thresholds the condition compares an aggregate with, on that aggregate only (not the errors/total ratio)', () => {
    const lines = (title: string) => (props(byTitle(title)).annotations?.horizontal ?? []).map((a) => [a.value, a.label]);
    expect(lines('HighErrorRate: total = count() by service')).toEqual([[20, 'when: total >= 20']]);
    expect(lines('HighErrorRate: errors = count(status >= 500) by service')).toEqual([]);
    expect(lines('SlowResponses: p99 = percentile(latencyMs, 99) by service')).toEqual([[800, 'when: p99 > 800']]);
    expect(lines('SlowResponses: total = count() by service')).toEqual([[50, 'when: total >= 50']]);
    expect(lines('SessionBurst: requests = count() by host')).toEqual([[500, 'when: requests >= 500']]);
    expect(lines('SessionBurst: worst = max(latencyMs) by host')).toEqual([]);
  });

  it('ranks the top 10 groups with a Metrics Insights query, by the first aggregate with a threshold', () => {
    const top = byTitle('SlowResponses: top 10 groups by p99 (max over the last 3 h)');
    expect(props(top).view).toBe('bar');
    expect(expressions(top)).toEqual([`SELECT MAX("p99") FROM SCHEMA("tidewatch/rules", "Rule", "service") WHERE "Rule" = 'SlowResponses' GROUP BY "service" ORDER BY MAX() DESC LIMIT 10`]);
    expect(expressions(byTitle('HighErrorRate: top 10 groups by total (max over the last 3 h)'))[0]).toMatch(/^SELECT MAX\("total"\) .* GROUP BY "service" /);
  });

  it("shows the rule's alerts published next to the values the cap (or a label) kept from CloudWatch", () => {
    const w = byTitle('HighErrorRate: alerts published (left), values not published (right)');
    expect(expressions(w)).toEqual(['FILL(p0, 0) + FILL(t0, 0)', `SEARCH('{"tidewatch/rules","Reason","Rule"} MetricName="RuleValuesDropped" Rule="HighErrorRate"', 'Sum', 60)`]);
    expect(JSON.stringify(props(w).metrics)).toContain('"AlertsPublished","Rule","HighErrorRate","Severity","critical","Stream","telemetry","service","tidewatch-processor"');
  });

  it('no section for the absence rule; the widget count is what synth checks, within the quotas', () => {
    expect(widgets.some((w) => (props(w).markdown ?? '').includes('HeartbeatMissing'))).toBe(false);
    const pipeline = loadPipeline(SAMPLE_PIPELINE);
    // sections: HighErrorRate 1 + 2 + 1 + 1, SlowResponses 5, SessionBurst 5
    expect(ruleSectionsWidgetCount(pipeline.rules)).toBe(15);
    expect(widgets).toHaveLength(dashboardWidgetCount(1, 4, 15));
    expect(widgets.length).toBeLessThanOrEqual(DASHBOARD_LIMITS.widgets);
    expect(Math.max(...widgets.map((w) => (props(w).metrics ?? []).length))).toBeLessThanOrEqual(DASHBOARD_LIMITS.metricsPerWidget);
  });
});

describe('rule metrics configuration', () => {
  it('gives both functions the rule namespace, set by tidewatch:ruleMetricsNamespace, and the dashboard reads that namespace', () => {
    const custom = synth({ pipeline: { pipelineFile: SAMPLE_PIPELINE, ruleMetricsNamespace: 'acme/oncall' } }, { bundle: false });
    try {
      assertHasProperties(custom.template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('ticker'), Environment: { Variables: { [ENV.ruleMetricsNamespace]: 'acme/oncall' } } });
      assertHasProperties(custom.template, 'AWS::Lambda::Function', { Environment: { Variables: { [ENV.stream]: 'telemetry', [ENV.ruleMetricsNamespace]: 'acme/oncall' } } });
      expect(JSON.stringify(dashboardWidgets(custom.template))).toContain('SCHEMA(\\"acme/oncall\\", \\"Rule\\", \\"service\\")');
    } finally {
      cleanup(custom);
    }
  });

  it('refuses a bad rule namespace by name', () => {
    expect(() => build({ pipeline: { pipelineFile: SAMPLE_PIPELINE, ruleMetricsNamespace: 'AWS/Mine' } })).toThrow(/ruleMetricsNamespace must be 1 to 255 letters/);
  });

  it('graphs at the window step: hopping every, tumbling size, a minute for sessions; periods CloudWatch accepts', () => {
    const rule = (window: WindowRule['window']) => ({ window }) as WindowRule;
    expect(rulePeriod(rule({ kind: 'hopping', sizeMs: 300_000, slideMs: 60_000 })).toSeconds()).toBe(60);
    expect(rulePeriod(rule({ kind: 'tumbling', sizeMs: 3_600_000 })).toSeconds()).toBe(3600);
    expect(rulePeriod(rule({ kind: 'tumbling', sizeMs: 90_000 })).toSeconds()).toBe(120);
    expect(rulePeriod(rule({ kind: 'tumbling', sizeMs: 20_000 })).toSeconds()).toBe(30);
    expect(rulePeriod(rule({ kind: 'session', gapMs: 30_000 })).toSeconds()).toBe(60);
  });

  it('refuses at synth a pipeline whose rule sections would pass 500 widgets, saying so', () => {
    const rules = Array.from(
      { length: 30 },
      (_, i) =>
        `  - alert: R${i}\n    stream: t\n    groupBy: [g]\n    window: { tumbling: 1m }\n    aggregate:\n` +
        Array.from({ length: 20 }, (_, j) => `      a${j}: 'count()'\n`).join('') +
        `    when: 'a0 > 1.0'\n    metrics: true\n`,
    );
    const file = pipelineFile(`streams:\n  t:\n    timestamp: ts\nrules:\n${rules.join('')}`, 'many-rule-metrics.yaml');
    expect(() => build({ pipeline: { pipelineFile: file } })).toThrow(
      /the dashboard would hold 712 widgets for 1 streams, .*\(each stream adds 14, 690 of them in the sections of rules with metrics: .*or publish fewer rule values/,
    );
  });
});
