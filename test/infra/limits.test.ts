/**
 * CloudWatch, SNS and CloudFormation limits that `cdk synth` does not check and
 * `cdk deploy` would hit: a pipeline with several streams and every rule kind,
 * and every alarm, the dashboard and the operations topic policy held against
 * the documented quotas. Bundling is skipped (the bundles are not under test).
 *
 * Sources, as documented by AWS:
 * - CloudWatch API Reference, PutMetricAlarm: `Period` is 10, 20, 30 or a
 *   multiple of 60 seconds; `Period` x `EvaluationPeriods` is at most 86,400 s
 *   for periods under an hour and 604,800 s otherwise; `Metrics` holds up to 20
 *   MetricDataQuery structures, at most 10 of them with a MetricStat and at most
 *   10 with an Expression; `Dimensions` at most 30; `AlarmDescription` at most
 *   1024 characters; `DatapointsToAlarm` at most `EvaluationPeriods`.
 * - CloudWatch User Guide, "CloudWatch service quotas": alarm actions 5 per
 *   alarm (per state); alarms based on metric math expressions can have up to
 *   10 metrics; dashboards up to 500 widgets, 500 metrics per widget and 2,500
 *   per dashboard, metrics read by metric math included.
 * - PutDashboard documents no byte limit for `DashboardBody`; the body is
 *   inline in the template, which CloudFormation takes up to 1 MB from S3
 *   ("CloudFormation quotas").
 * - Amazon SNS Developer Guide, "Amazon SNS API permissions: Actions and
 *   resources reference": a topic policy is at most 30 KB and 100 statements.
 *
 * The issue asks for at most 10 entries in an alarm's `Metrics` in all: stricter
 * than PutMetricAlarm's 10 + 10, and what is asserted.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sns from 'aws-cdk-lib/aws-sns';
import { MAX_ALARM_ARNS_IN_POLICY, OperationsTopic } from '../../lib/OperationsTopic';
import { DASHBOARD_LIMITS, dashboardWidgetCount } from '../../lib/PipelineDashboard';
import { cleanup, cleanupFixtures, dashboardBodyText, dashboardWidgets, nagFindings, only, pipelineFile, synth, type Synthesized } from './support';

const STREAMS = ['api', 'clicks', 'heartbeats'] as const;

/** Three streams and every rule kind: tumbling (early), hopping (final), session, absence; every aggregate. */
function everyKindPipeline(): string {
  return pipelineFile(
    [
      'streams:',
      '  api:',
      '    timestamp: ts',
      '    id: eventId',
      '  clicks:',
      '    timestamp: ts',
      '  heartbeats:',
      '    timestamp: $arrival',
      'rules:',
      '  - alert: ApiErrors',
      '    stream: api',
      '    groupBy: [service]',
      '    window: { tumbling: 1m }',
      '    aggregate:',
      "      errors: 'count(status >= 500)'",
      "      total: 'count()'",
      "    when: 'errors / total > 0.05 && total >= 20.0'",
      '    for: 3',
      '    emit: early',
      '    severity: critical',
      '  - alert: ApiLatency',
      '    stream: api',
      '    groupBy: [service]',
      '    window: { hopping: 10m, every: 1m }',
      '    aggregate:',
      "      p99: 'percentile(latencyMs, 99)'",
      "      worst: 'max(latencyMs)'",
      "      best: 'min(latencyMs)'",
      "      mean: 'avg(latencyMs)'",
      "    when: 'p99 > 800.0'",
      '    emit: final',
      '    severity: warning',
      '  - alert: ClickBurst',
      '    stream: clicks',
      '    groupBy: [user]',
      '    window: { session: 5m }',
      '    aggregate:',
      "      clicks: 'count()'",
      "      pages: 'distinct(page)'",
      "      spent: 'sum(amount)'",
      "    when: 'clicks > 100.0'",
      '    severity: info',
      '  - alert: HostSilent',
      '    stream: heartbeats',
      '    groupBy: [host]',
      '    absent: 10m',
      '    severity: critical',
      '',
    ].join('\n'),
    'every-kind.yaml',
  );
}

type Resource = { Properties: Record<string, unknown> };
interface MetricStat {
  readonly Metric: { readonly Dimensions?: readonly unknown[] };
  readonly Period: number;
}
interface Query {
  readonly Id: string;
  readonly MetricStat?: MetricStat;
  readonly Expression?: string;
  readonly Period?: number;
}

/** CloudWatch's valid alarm periods: 10, 20, 30 or any multiple of 60 seconds. */
function validPeriod(p: number): boolean {
  return [10, 20, 30].includes(p) || (Number.isInteger(p) && p > 0 && p % 60 === 0);
}

/** Every way an alarm breaks PutMetricAlarm's limits, as sentences (empty when it keeps them all). */
function alarmLimitViolations(id: string, props: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const queries = (props['Metrics'] as Query[] | undefined) ?? [];
  const evaluationPeriods = props['EvaluationPeriods'] as number;
  if (queries.length > 0) {
    const withStat = stats(queries);
    const expressions = queries.filter((q) => q.Expression !== undefined);
    if (queries.length > 10) problems.push(`${id}: ${queries.length} entries in Metrics (at most 10)`);
    if (withStat.length > 10) problems.push(`${id}: ${withStat.length} MetricStat entries (at most 10)`);
    if (expressions.length > 10) problems.push(`${id}: ${expressions.length} Expression entries (at most 10)`);
    if (queries.filter((q) => (q as { ReturnData?: boolean }).ReturnData !== false).length !== 1) problems.push(`${id}: not exactly one entry returns data`);
  } else if (props['MetricName'] === undefined) {
    problems.push(`${id}: neither MetricName nor Metrics`);
  }
  const dimensionSets = queries.length > 0 ? stats(queries).map((s) => s.Metric.Dimensions ?? []) : [(props['Dimensions'] as unknown[] | undefined) ?? []];
  for (const dims of dimensionSets) if (dims.length > 30) problems.push(`${id}: ${dims.length} dimensions (at most 30)`);
  const periods = queries.length > 0 ? queries.flatMap((q) => [q.MetricStat?.Period, q.Period]).filter((p): p is number => p !== undefined) : [props['Period'] as number];
  if (periods.length === 0) problems.push(`${id}: no period`);
  for (const p of periods) {
    if (!validPeriod(p)) problems.push(`${id}: period ${p} s (10, 20, 30 or a multiple of 60)`);
    const range = p * evaluationPeriods;
    const max = p < 3600 ? 86_400 : 604_800;
    if (range > max) problems.push(`${id}: period ${p} s x ${evaluationPeriods} evaluation periods = ${range} s (at most ${max})`);
  }
  if (!Number.isInteger(evaluationPeriods) || evaluationPeriods < 1) problems.push(`${id}: EvaluationPeriods ${evaluationPeriods}`);
  const datapoints = (props['DatapointsToAlarm'] as number | undefined) ?? evaluationPeriods;
  if (datapoints < 1 || datapoints > evaluationPeriods) problems.push(`${id}: DatapointsToAlarm ${datapoints} of ${evaluationPeriods}`);
  for (const key of ['AlarmActions', 'OKActions', 'InsufficientDataActions']) {
    const actions = (props[key] as unknown[] | undefined) ?? [];
    if (actions.length > 5) problems.push(`${id}: ${actions.length} ${key} (at most 5)`);
  }
  const description = (props['AlarmDescription'] as string | undefined) ?? '';
  if (description.length > 1024) problems.push(`${id}: description of ${description.length} characters (at most 1024)`);
  return problems;
}

function stats(queries: readonly Query[]): MetricStat[] {
  return queries.flatMap((q) => (q.MetricStat === undefined ? [] : [q.MetricStat]));
}

/** Series a dashboard metric entry reads: a search expression may return one per reason; counted generously. */
const SERIES_PER_SEARCH = 50;

function seriesOf(entry: ReadonlyArray<unknown>): number {
  const options = entry.find((e): e is { expression?: string } => typeof e === 'object' && e !== null);
  return options?.expression?.startsWith('SEARCH(') === true ? SERIES_PER_SEARCH : 1;
}

/** The longest value a CloudFormation token in these templates resolves to: generous (names are at most 256 characters). */
const TOKEN_BYTES = 256;

let s: Synthesized;
let t: Template;

beforeAll(() => {
  // GIVEN a pipeline with three streams and every rule kind, alarms on
  // WHEN it is synthesized
  s = synth({ pipeline: { pipelineFile: everyKindPipeline() } }, { bundle: false });
  t = s.template;
});

afterAll(() => {
  cleanup(s);
  cleanupFixtures();
});

describe('every alarm of a pipeline with several streams and every rule kind', () => {
  it('has the five stream alarms per stream and the two ticker alarms', () => {
    expect(Object.keys(t.findResources('AWS::CloudWatch::Alarm'))).toHaveLength(5 * STREAMS.length + 2);
  });

  it('keeps within PutMetricAlarm limits: at most 10 metric entries, 30 dimensions, valid periods and evaluation ranges, 5 actions', () => {
    const alarms = Object.entries(t.findResources('AWS::CloudWatch::Alarm')) as Array<[string, Resource]>;
    expect(alarms.flatMap(([id, a]) => alarmLimitViolations(id, a.Properties))).toEqual([]);
  });

  it('reads one metric per rejected-records alarm, however many rejection reasons there are', () => {
    for (const stream of STREAMS) {
      const alarm = only(t, 'AWS::CloudWatch::Alarm', { AlarmDescription: Match.stringLikeRegexp(`stream "${stream}": more than 0 records rejected`) });
      const queries = alarm.resource.Properties['Metrics'] as Query[];
      expect(queries).toHaveLength(1);
      expect(queries[0]!.MetricStat?.Metric.Dimensions).toEqual([
        { Name: 'Stream', Value: stream },
        { Name: 'service', Value: 'tidewatch-processor' },
      ]);
    }
  });

  it('the limit check itself catches an alarm over the limits (11 metrics, 31 dimensions, a 45 s period, a 2-day range)', () => {
    const dims = Array.from({ length: 31 }, (_, i) => ({ Name: `d${i}`, Value: 'v' }));
    const queries: Query[] = [
      { Id: 'e', Expression: 'SUM(METRICS())', Period: 45 },
      ...Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, MetricStat: { Metric: { Dimensions: dims }, Period: 300 } })),
    ];
    expect(alarmLimitViolations('Bad', { Metrics: queries, EvaluationPeriods: 600 })).toEqual(
      expect.arrayContaining([
        'Bad: 11 entries in Metrics (at most 10)',
        'Bad: 31 dimensions (at most 30)',
        'Bad: period 45 s (10, 20, 30 or a multiple of 60)',
        'Bad: period 300 s x 600 evaluation periods = 180000 s (at most 86400)',
      ]),
    );
  });
});

describe('the dashboard of that pipeline', () => {
  it('keeps within the dashboard quotas: widgets, metrics per widget and per dashboard', () => {
    const widgets = dashboardWidgets(t);
    const perWidget = widgets.map((w) => (w.properties.metrics ?? []).reduce((n, entry) => n + seriesOf(entry), 0));
    expect(widgets.length).toBeLessThanOrEqual(DASHBOARD_LIMITS.widgets);
    expect(Math.max(...perWidget)).toBeLessThanOrEqual(DASHBOARD_LIMITS.metricsPerWidget);
    expect(perWidget.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(DASHBOARD_LIMITS.metricsPerDashboard);
    // 14 widgets per stream, 8 for the ticker, table and alerts: what synth checks before building anything
    expect(widgets).toHaveLength(14 * STREAMS.length + 8);
    expect(dashboardWidgetCount(STREAMS.length, 4)).toBe(widgets.length);
  });

  it('has a body far below the 1 MB a template may take, with every token at its longest', () => {
    const bytes = Buffer.byteLength(dashboardBodyText(t, () => 'x'.repeat(TOKEN_BYTES)));
    expect(bytes).toBeLessThan(DASHBOARD_LIMITS.bodyBytes / 10);
  });

  it('refuses at synth, before bundling anything, a pipeline whose dashboard would exceed 500 widgets, naming the count', () => {
    const many = Array.from({ length: 36 }, (_, i) => `  s${i}:\n    timestamp: ts`).join('\n');
    const file = pipelineFile(`streams:\n${many}\nrules:\n  - alert: Quiet\n    stream: s0\n    absent: 5m\n`, 'many-streams.yaml');
    expect(() => synth({ pipeline: { pipelineFile: file, alarms: { enabled: false } } }, { bundle: true })).toThrow(
      'the dashboard would hold 512 widgets for 36 streams, and CloudWatch allows at most 500 per dashboard',
    );
  });
});

describe('the operations topic policy of that pipeline', () => {
  it("names every alarm and stays under SNS's 30 KB with every ARN at its longest", () => {
    const ops = only(t, 'AWS::SNS::Topic', { DisplayName: 'tidewatch operations' });
    const policy = only(t, 'AWS::SNS::TopicPolicy', { Topics: [{ Ref: ops.id }] });
    const text = JSON.stringify(policy.resource.Properties['PolicyDocument']);
    const worst = text.replace(/\{"Fn::GetAtt":\["[^"]+","Arn"\]\}/g, `"${'x'.repeat(300)}"`).replace(/\{"Ref":"[^"]+"\}/g, `"${'x'.repeat(TOKEN_BYTES)}"`);
    expect(Buffer.byteLength(worst)).toBeLessThan(30 * 1024);
    for (const id of Object.keys(t.findResources('AWS::CloudWatch::Alarm'))) expect(text).toContain(`{"Fn::GetAtt":["${id}","Arn"]}`);
  });

  it('passes cdk-nag AwsSolutions', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });
});

describe('OperationsTopic.allowAlarmsToPublish', () => {
  function alarms(stack: Stack, n: number): cloudwatch.Alarm[] {
    const metric = new cloudwatch.Metric({ namespace: 'test', metricName: 'm' });
    return Array.from({ length: n }, (_, i) => new cloudwatch.Alarm(stack, `A${i}`, { metric, threshold: 1, evaluationPeriods: 1 }));
  }

  it(`matches the account's alarms in the region by ARN pattern beyond ${MAX_ALARM_ARNS_IN_POLICY} alarms`, () => {
    // GIVEN a TLS-only topic and one alarm more than the policy names one by one
    const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'S');
    const topic = new sns.Topic(stack, 'T', { enforceSSL: true });
    // WHEN they are allowed to publish
    expect(OperationsTopic.allowAlarmsToPublish(stack, topic, alarms(stack, MAX_ALARM_ARNS_IN_POLICY + 1))).toBe(true);
    // THEN the Allow keeps both conditions, with an ARN pattern of this account and region
    const policy = Object.values(Template.fromStack(stack).findResources('AWS::SNS::TopicPolicy'))[0] as Resource;
    const allow = (policy.Properties['PolicyDocument'] as { Statement: Array<Record<string, unknown>> }).Statement.find((st) => st.Effect === 'Allow');
    expect(allow?.['Condition']).toEqual({
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:*']] } },
    });
  });

  it('warns, and changes nothing, when the topic is imported', () => {
    const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'S');
    const topic = sns.Topic.fromTopicArn(stack, 'T', 'arn:aws:sns:us-east-1:123456789012:ops');
    expect(OperationsTopic.allowAlarmsToPublish(stack, topic, alarms(stack, 1))).toBe(false);
    Annotations.fromStack(stack).hasWarning('/S', Match.stringLikeRegexp('arn:aws:sns:us-east-1:123456789012:ops is imported.*must allow sns:Publish for cloudwatch.amazonaws.com'));
    expect(Template.fromStack(stack).findResources('AWS::SNS::TopicPolicy')).toEqual({});
  });
});
