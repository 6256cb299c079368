import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { RULE_METRICS } from '../lambdas/core/contract';
import { thresholdsOf, type Threshold } from '../lambdas/core/thresholds';
import type { Rule, WindowRule } from '../lambdas/core/types';
import type { CustomMetrics } from './CustomMetrics';

/**
 * The dashboard section of a rule that publishes its values (`metrics:` in the
 * pipeline file): a heading with the condition, one graph per published
 * aggregate with the rule's thresholds on that aggregate drawn as horizontal
 * annotations (read from the parsed `when`), the top groups by value (a
 * Metrics Insights query), and the rule's alerts published next to the values
 * the cardinality cap dropped.
 *
 * Every graph reads Maximum: a window published twice (a retried close,
 * concurrent tickers, EMF's at-least-once delivery) has the same value twice,
 * which Maximum does not change (Sum would double it).
 */
export interface RuleSectionProps {
  readonly rule: WindowRule;
  /** Namespace of the rule values. */
  readonly namespace: string;
  /** The handlers' metrics (AlertsPublished). */
  readonly metrics: CustomMetrics;
}

const WIDTH = 6;
const PER_ROW = 4;
/** Groups the top-groups widget lists. */
export const TOP_GROUPS = 10;

/** Rules that get a section. */
export function rulesWithMetrics(rules: readonly Rule[]): WindowRule[] {
  return rules.filter((r): r is WindowRule => r.type === 'window' && r.metrics !== undefined);
}

/** Widgets of one rule's section: a heading, a graph per aggregate, the top groups (when grouped), alerts. */
export function ruleSectionWidgetCount(rule: WindowRule): number {
  return 1 + rule.metrics!.aggregates.length + (rule.groupBy.length > 0 ? 1 : 0) + 1;
}

/** Widgets of every rule section of a pipeline. */
export function ruleSectionsWidgetCount(rules: readonly Rule[]): number {
  return rulesWithMetrics(rules).reduce((n, r) => n + ruleSectionWidgetCount(r), 0);
}

/**
 * The graph period of a rule: one window step (tumbling size, hopping `every`),
 * so each period holds one window's value per group; a minute for sessions.
 * CloudWatch periods are 1, 5, 10, 30 or a multiple of 60 seconds.
 */
export function rulePeriod(rule: WindowRule): Duration {
  const w = rule.window;
  const stepMs = w.kind === 'tumbling' ? w.sizeMs : w.kind === 'hopping' ? w.slideMs : 60_000;
  const s = Math.max(1, Math.round(stepMs / 1000));
  const valid = [1, 5, 10, 30].includes(s) || s % 60 === 0 ? s : s < 60 ? [1, 5, 10, 30, 60].find((p) => p >= s)! : Math.ceil(s / 60) * 60;
  return Duration.seconds(valid);
}

/** An identifier in a search expression or a Metrics Insights query, in double quotes (the pipeline refuses names with quotes). */
function q(s: string): string {
  if (/["'\\]/.test(s)) throw new Error(`RuleDashboardSection: ${JSON.stringify(s)} cannot appear in a metric query`);
  return `"${s}"`;
}

/** `SEARCH` over one aggregate of the rule, one line per group (at most 500: SEARCH's limit). */
export function aggregateSearch(rule: WindowRule, namespace: string, aggregate: string, period: Duration): cloudwatch.SearchExpression {
  const schema = [namespace, RULE_METRICS.dimensions.rule, ...rule.groupBy].map(q).join(',');
  const label = rule.groupBy.length === 0 ? rule.name : rule.groupBy.map((g) => `\${PROP('Dim.${g}')}`).join(' ');
  return new cloudwatch.SearchExpression({
    expression: `SEARCH('{${schema}} MetricName=${q(aggregate)} ${RULE_METRICS.dimensions.rule}=${q(rule.name)}', '${RULE_METRICS.statistic}', ${period.toSeconds()})`,
    label,
    period,
  });
}

/** The Metrics Insights query of the top groups by an aggregate's maximum (Insights reads the last 3 hours). */
export function topGroupsQuery(rule: WindowRule, namespace: string, aggregate: string): string {
  const dims = [RULE_METRICS.dimensions.rule, ...rule.groupBy].map(q).join(', ');
  const by = rule.groupBy.map(q).join(', ');
  return `SELECT MAX(${q(aggregate)}) FROM SCHEMA(${q(namespace)}, ${dims}) WHERE ${q(RULE_METRICS.dimensions.rule)} = '${rule.name}' GROUP BY ${by} ORDER BY MAX() DESC LIMIT ${TOP_GROUPS}`;
}

function annotation(t: Threshold): cloudwatch.HorizontalAnnotation {
  return { value: t.value, label: `when: ${t.text}`, color: cloudwatch.Color.RED };
}

/** The aggregate the top-groups widget ranks by: the first one the condition compares with a constant, else the first published. */
export function rankingAggregate(rule: WindowRule): string {
  const published = rule.metrics!.aggregates;
  return thresholdsOf(rule).find((t) => published.includes(t.aggregate))?.aggregate ?? published[0]!;
}

function windowText(rule: WindowRule): string {
  const w = rule.window;
  const d = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);
  return w.kind === 'tumbling' ? `tumbling ${d(w.sizeMs)}` : w.kind === 'hopping' ? `hopping ${d(w.sizeMs)} every ${d(w.slideMs)}` : `session ${d(w.gapMs)}`;
}

/** The rows of a rule's section (each at most 24 wide). */
export function ruleSectionRows(props: RuleSectionProps): cloudwatch.IWidget[][] {
  const { rule, namespace } = props;
  const period = rulePeriod(rule);
  const thresholds = thresholdsOf(rule);
  const by = rule.groupBy.length > 0 ? ` by ${rule.groupBy.join(', ')}` : '';
  const heading = new cloudwatch.TextWidget({
    markdown:
      `## Rule \`${rule.name}\` (${rule.severity})\n` +
      `\`when: ${rule.when.source.replace(/`/g, "'")}\` over ${windowText(rule)} windows${by}; values at each window's end, Maximum per ${period.toSeconds()} s, ` +
      `at most ${rule.metrics!.maxGroups} groups an hour (namespace \`${namespace}\`).`,
    width: 24,
    height: 2,
  });
  const widgets: cloudwatch.IWidget[] = [];
  for (const aggregate of rule.metrics!.aggregates) {
    const source = rule.aggregates.find((a) => a.name === aggregate)!.source;
    widgets.push(
      new cloudwatch.GraphWidget({
        title: `${rule.name}: ${aggregate} = ${source}${by}`,
        left: [aggregateSearch(rule, namespace, aggregate, period)],
        leftAnnotations: thresholds.filter((t) => t.aggregate === aggregate).map(annotation),
        width: WIDTH,
        height: 6,
        period,
      }),
    );
  }
  if (rule.groupBy.length > 0) {
    const ranked = rankingAggregate(rule);
    widgets.push(
      new cloudwatch.GraphWidget({
        title: `${rule.name}: top ${TOP_GROUPS} groups by ${ranked} (max over the last 3 h)`,
        left: [new cloudwatch.MathExpression({ expression: topGroupsQuery(rule, namespace, ranked), label: rule.groupBy.map((g) => `\${PROP('Dim.${g}')}`).join(' '), period })],
        view: cloudwatch.GraphWidgetView.BAR,
        width: WIDTH,
        height: 6,
        period,
      }),
    );
  }
  const dropped = new cloudwatch.SearchExpression({
    expression: `SEARCH('{${[namespace, RULE_METRICS.dimensions.reason, RULE_METRICS.dimensions.rule].map(q).join(',')}} MetricName=${q(RULE_METRICS.dropped)} ${RULE_METRICS.dimensions.rule}=${q(rule.name)}', 'Sum', 60)`,
    label: `values dropped: \${PROP('Dim.${RULE_METRICS.dimensions.reason}')}`,
    period: Duration.minutes(1),
  });
  widgets.push(
    new cloudwatch.GraphWidget({
      title: `${rule.name}: alerts published (left), values not published (right)`,
      left: [props.metrics.alertsPublished(rule)],
      right: [dropped],
      width: WIDTH,
      height: 6,
    }),
  );
  const rows: cloudwatch.IWidget[][] = [[heading]];
  for (let i = 0; i < widgets.length; i += PER_ROW) rows.push(widgets.slice(i, i + PER_ROW));
  return rows;
}
