import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { PIPELINE_METRICS } from './pipelineMetrics';
import type { Rule } from '../lambdas/core/types';
import type { CustomMetrics } from './CustomMetrics';
import { ruleSectionRows, rulesWithMetrics } from './RuleDashboardSection';
import type { StreamProcessor } from './StreamProcessor';
import { TidewatchConfigError } from './validate';

export interface PipelineDashboardProps {
  /** Pipeline stream name → its resources. */
  readonly streams: ReadonlyMap<string, StreamProcessor>;
  readonly ticker: lambda.IFunction;
  readonly table: dynamodb.ITable;
  readonly rules: readonly Rule[];
  readonly metrics: CustomMetrics;
  /** Drawn as a line on the iterator-age graphs. */
  readonly iteratorAgeThreshold: Duration;
  /** Namespace of the rules' values: rules with `metrics:` get a section of their own. */
  readonly ruleMetricsNamespace: string;
}

const ONE_MINUTE = Duration.minutes(1);
const FULL = 24;
const THIRD = 8;
const QUARTER = 6;

/**
 * CloudWatch's dashboard quotas (CloudWatch User Guide, "CloudWatch service
 * quotas", Dashboards): up to 500 widgets per dashboard, up to 500 metrics per
 * widget and 2,500 per dashboard, metrics read by metric math included.
 * PutDashboard documents no byte limit for the body; it is inline in the
 * template, which CloudFormation caps at 1 MB (uploaded to S3, as cdk deploy does).
 */
export const DASHBOARD_LIMITS = { widgets: 500, metricsPerWidget: 500, metricsPerDashboard: 2500, bodyBytes: 1024 * 1024 } as const;

/** Rules per "alerts published" graph: 3 metric entries each, well under the per-widget quota. */
const RULES_PER_GRAPH = 50;

function graph(title: string, left: cloudwatch.IMetric[], width: number, extra: Partial<cloudwatch.GraphWidgetProps> = {}): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left, width, height: 6, ...extra });
}

/**
 * Widgets of the dashboard of `streams` streams and `rules` rules: 14 per stream; a heading, the ticker's 4,
 * the table's 2 and one alerts graph per 50 rules; plus the rule sections' (`ruleSectionsWidgetCount`).
 */
export function dashboardWidgetCount(streams: number, rules: number, ruleSectionWidgets = 0): number {
  return 14 * streams + 7 + Math.ceil(rules / RULES_PER_GRAPH) + ruleSectionWidgets;
}

/** Refuses, before anything is built, a dashboard CloudWatch would not accept. */
export function checkDashboardSize(streams: number, widgets: number, ruleSectionWidgets = 0): void {
  if (widgets > DASHBOARD_LIMITS.widgets) {
    const sections = ruleSectionWidgets > 0 ? `, ${ruleSectionWidgets} of them in the sections of rules with metrics: (2 or 3 each, plus one per published aggregate)` : '';
    throw new TidewatchConfigError(
      `the dashboard would hold ${widgets} widgets for ${streams} streams, and CloudWatch allows at most ${DASHBOARD_LIMITS.widgets} per dashboard ` +
        `(each stream adds 14${sections}): deploy the streams as several pipelines (one stack each, tidewatch:stackName)${ruleSectionWidgets > 0 ? ', or publish fewer rule values' : ''}`,
    );
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function functionRow(label: string, fn: lambda.IFunction): cloudwatch.IWidget[] {
  return [
    graph(`${label}: invocations`, [fn.metricInvocations({ period: ONE_MINUTE })], QUARTER),
    graph(`${label}: errors and throttles`, [fn.metricErrors({ period: ONE_MINUTE }), fn.metricThrottles({ period: ONE_MINUTE })], QUARTER),
    graph(
      `${label}: duration (ms)`,
      [
        fn.metricDuration({ period: ONE_MINUTE, statistic: 'Average' }),
        fn.metricDuration({ period: ONE_MINUTE, statistic: 'p99' }),
        fn.metricDuration({ period: ONE_MINUTE, statistic: 'Maximum' }),
      ],
      QUARTER,
    ),
    graph(`${label}: concurrent executions`, [fn.metric('ConcurrentExecutions', { period: ONE_MINUTE, statistic: 'Maximum' })], QUARTER),
  ];
}

/**
 * One dashboard for the pipeline: per stream, Kinesis intake and iterator
 * age, the processor's health, the engine's own metrics and the dead-letter
 * queue; then the ticker, the state table and the alerts per rule.
 */
/**
 * GroupFieldMissing of one stream, one line per rule that skipped events, found
 * by a search expression (one entry in the widget however many rules there are).
 */
function groupFieldMissing(namespace: string, stream: string): cloudwatch.MathExpression {
  const spec = PIPELINE_METRICS.metrics.groupFieldMissing;
  const schema = [namespace, ...[...spec.dimensions].sort()].map((x) => `"${x}"`).join(',');
  return new cloudwatch.MathExpression({
    expression: `SEARCH('{${schema}} MetricName="${spec.name}" Stream="${stream}" service="${PIPELINE_METRICS.services.processor}"', 'Sum', 60)`,
    label: "group field missing: ${PROP('Dim.Rule')}",
    period: Duration.minutes(1),
    usingMetrics: {},
  });
}

/**
 * RuleExpressionErrors of one stream, one line per rule and kind of expression that raised errors
 * (where, aggregate, when, step), from the processor and the ticker alike, found by a search expression.
 */
function ruleExpressionErrors(namespace: string, stream: string): cloudwatch.MathExpression {
  const spec = PIPELINE_METRICS.metrics.ruleExpressionErrors;
  const schema = [namespace, ...[...spec.dimensions].sort()].map((x) => `"${x}"`).join(',');
  return new cloudwatch.MathExpression({
    expression: `SEARCH('{${schema}} MetricName="${spec.name}" Stream="${stream}"', 'Sum', 60)`,
    label: "expression errors: ${PROP('Dim.Rule')} ${PROP('Dim.Expression')} (${PROP('Dim.service')})",
    period: Duration.minutes(1),
    usingMetrics: {},
  });
}

export class PipelineDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const m = props.metrics;
    const rows: cloudwatch.IWidget[][] = [];

    for (const [name, s] of props.streams) {
      const fn = s.processor.function;
      rows.push([new cloudwatch.TextWidget({ markdown: `## Stream \`${name}\``, width: FULL, height: 1 })]);
      rows.push([
        graph(`${name}: incoming records`, [s.stream.metricIncomingRecords({ period: ONE_MINUTE, statistic: 'Sum' })], THIRD),
        graph(`${name}: incoming bytes`, [s.stream.metricIncomingBytes({ period: ONE_MINUTE, statistic: 'Sum' })], THIRD),
        graph(`${name}: iterator age (ms)`, [s.stream.metricGetRecordsIteratorAgeMilliseconds({ period: ONE_MINUTE, statistic: 'Maximum' })], THIRD, {
          leftAnnotations: [{ value: props.iteratorAgeThreshold.toMilliseconds(), label: 'alarm threshold', color: cloudwatch.Color.RED }],
        }),
      ]);
      rows.push(functionRow(`${name} processor`, fn));
      rows.push([
        graph(
          `${name}: records in, late, rejected`,
          [
            m.processor('recordsIn', name, { label: 'in' }),
            m.processor('lateRecords', name, { label: 'late' }),
            m.rejectedTotal(name, ONE_MINUTE),
            // Records of several events (KPL, CloudWatch Logs): the events in them, and what decoding counted.
            m.processor('eventsIn', name, { label: 'events in' }),
            m.processor('controlMessages', name, { label: 'CloudWatch Logs control messages' }),
            m.processor('derivedFieldErrors', name, { label: 'derived-field errors' }),
            groupFieldMissing(m.namespace, name),
            ruleExpressionErrors(m.namespace, name),
          ],
          QUARTER,
        ),
        graph(`${name}: rejected by reason`, [m.rejectedByReason(name)], QUARTER, { stacked: true }),
        graph(
          `${name}: state writes`,
          [
            m.processor('aggregatesWritten', name, { label: 'aggregates written' }),
            m.processor('conditionalWriteConflicts', name, { label: 'conditional-write conflicts' }),
            m.processor('batchFailures', name, { label: 'batches retried' }),
          ],
          QUARTER,
        ),
        graph(
          `${name}: lag (ms)`,
          [
            m.processor('batchLagMs', name, { statistic: 'Maximum', label: 'batch lag (arrival → processed), max' }),
            m.processor('eventTimeLagMs', name, { statistic: 'Maximum', label: 'event-time lag (event → processed), max' }),
          ],
          QUARTER,
        ),
      ]);
      rows.push([
        graph(`${name}: dead-letter queue depth`, [s.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: ONE_MINUTE, statistic: 'Maximum' })], THIRD),
        graph(`${name}: windows closed by the ticker`, [m.ticker('windowsClosed', name)], THIRD),
      ]);
    }

    rows.push([new cloudwatch.TextWidget({ markdown: '## Ticker, state table, alerts', width: FULL, height: 1 })]);
    rows.push(functionRow('ticker', props.ticker));
    const t = props.table;
    const ops = [
      dynamodb.Operation.GET_ITEM,
      dynamodb.Operation.PUT_ITEM,
      dynamodb.Operation.UPDATE_ITEM,
      dynamodb.Operation.QUERY,
      dynamodb.Operation.BATCH_WRITE_ITEM,
    ];
    rows.push([
      graph('state table: consumed capacity units', [
        t.metricConsumedReadCapacityUnits({ period: ONE_MINUTE, statistic: 'Sum', label: 'read units' }),
        t.metricConsumedWriteCapacityUnits({ period: ONE_MINUTE, statistic: 'Sum', label: 'write units' }),
      ], THIRD),
      graph('state table: throttled requests', [
        t.metricThrottledRequestsForOperations({ operations: ops, period: ONE_MINUTE, label: 'throttled requests' }),
        t.metric('ReadThrottleEvents', { period: ONE_MINUTE, statistic: 'Sum' }),
        t.metric('WriteThrottleEvents', { period: ONE_MINUTE, statistic: 'Sum' }),
      ], THIRD),
    ]);
    const ruleGroups = chunks(props.rules, RULES_PER_GRAPH);
    ruleGroups.forEach((group, g) => {
      const title = ruleGroups.length === 1 ? 'alerts published per rule' : `alerts published per rule (${g + 1} of ${ruleGroups.length})`;
      rows[rows.length - 1]!.push(graph(title, group.map((r, i) => m.alertsPublished(r, i)), THIRD, { stacked: true }));
    });

    const before = rows.reduce((n, row) => n + row.length, 0);
    for (const rule of rulesWithMetrics(props.rules)) rows.push(...ruleSectionRows({ rule, namespace: props.ruleMetricsNamespace, metrics: m }));
    const widgets = rows.reduce((n, row) => n + row.length, 0);
    checkDashboardSize(props.streams.size, widgets, widgets - before);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: rows,
    });
  }
}
