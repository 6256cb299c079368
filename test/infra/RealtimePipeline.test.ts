/**
 * The default deployment of the sample pipeline: one full synthesis with real
 * bundling, shared by every test in this file.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Matcher, type Template } from 'aws-cdk-lib/assertions';
import { ENV, TABLE } from '../../lambdas/core/contract';
import { PIPELINE_METRICS } from '../../lib/pipelineMetrics';
import { actionsOf, assertCount, cleanup, assertHasProperties, dashboardBodyText, dashboardWidgets, assertHasResource, assertOutput, nagFindings, only, roleOfFunction, SAMPLE_PIPELINE, statementsOfRole, synth, type Synthesized } from './support';

let s: Synthesized;
let t: Template;

beforeAll(() => {
  // GIVEN the sample pipeline file and no other setting
  // WHEN the stack is synthesized (with bundling)
  s = synth({ pipeline: { pipelineFile: SAMPLE_PIPELINE } }, { bundle: true });
  t = s.template;
});

afterAll(() => cleanup(s));

function tlsOnlyStatement(): Matcher {
  return Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
}

describe('event source mapping', () => {
  it('uses the safe defaults: batch 10,000, 1 s window (lib/batching.ts), bisect, 10 retries, 1 day, batch item failures, one lane per shard', () => {
    // THEN
    assertHasProperties(t, 'AWS::Lambda::EventSourceMapping', {
      BatchSize: 10_000,
      MaximumBatchingWindowInSeconds: 1,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 86400,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ParallelizationFactor: 1,
      StartingPosition: 'TRIM_HORIZON',
    });
  });

  it('sends batches it gives up on to the dead-letter queue', () => {
    const queue = only(t, 'AWS::SQS::Queue');
    assertHasProperties(t, 'AWS::Lambda::EventSourceMapping', {
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queue.id, 'Arn'] } } },
    });
  });
});

describe('stream', () => {
  it('is on-demand, KMS-encrypted and keeps records 24 hours', () => {
    assertHasProperties(t, 'AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      RetentionPeriodHours: 24,
    });
  });
});

describe('state table', () => {
  it('has the contract layout, TTL, on-demand billing and point-in-time recovery', () => {
    assertHasProperties(t, 'AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byCloseAt',
          KeySchema: [
            { AttributeName: 'duePk', KeyType: 'HASH' },
            { AttributeName: 'closeAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['rule', 'groupKey', 'windowStart', 'windowEnd'] },
        },
      ],
      AttributeDefinitions: Match.arrayWith([{ AttributeName: 'closeAt', AttributeType: 'N' }]),
    });
  });

  it('is encrypted with the customer-managed pipeline key and retained on delete', () => {
    const key = only(t, 'AWS::KMS::Key', { Description: Match.stringLikeRegexp('pipeline data') });
    assertHasResource(t, 'AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [key.id, 'Arn'] } },
      }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    // The retained table would be unreadable without its key.
    assertHasResource(t, 'AWS::KMS::Key', { Properties: Match.objectLike({ EnableKeyRotation: true, Description: Match.stringLikeRegexp('pipeline data') }), DeletionPolicy: 'Retain' });
  });
});

describe('alert topic and dead-letter queue', () => {
  it("lets nothing but the stack's own functions publish alerts: its policy is the TLS-only Deny alone", () => {
    // The processors and the ticker publish through their IAM roles (same account: the role policy is enough);
    // no AWS service (CloudWatch, EventBridge, S3...) publishes to the alert topic, so none is allowed in.
    const topic = only(t, 'AWS::SNS::Topic', { DisplayName: 'tidewatch alerts' });
    const policy = only(t, 'AWS::SNS::TopicPolicy', { Topics: [{ Ref: topic.id }] });
    expect((policy.resource.Properties.PolicyDocument as { Statement: unknown[] }).Statement).toEqual([
      { Sid: 'AllowPublishThroughSSLOnly', Effect: 'Deny', Principal: '*', Action: 'sns:Publish', Resource: { Ref: topic.id }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
    ]);
    for (const env of [{ [ENV.stream]: 'telemetry' }, { [ENV.stream]: undefined }]) {
      const publish = statementsOfRole(t, roleOfFunction(t, env)).filter((st) => actionsOf([st]).includes('sns:Publish'));
      expect(publish.map((st) => st.Resource)).toEqual([{ Ref: topic.id }]);
    }
  });

  it('encrypts the alert topic with the pipeline key and refuses non-TLS requests', () => {
    const key = only(t, 'AWS::KMS::Key', { Description: Match.stringLikeRegexp('pipeline data') });
    const topic = only(t, 'AWS::SNS::Topic', { DisplayName: 'tidewatch alerts' });
    expect(topic.resource.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [key.id, 'Arn'] });
    expect(topic.resource.Properties.FifoTopic).toBeUndefined();
    assertHasProperties(t, 'AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topic.id }],
      PolicyDocument: { Statement: Match.arrayWith([tlsOnlyStatement()]) },
    });
  });

  it('encrypts the dead-letter queue with the pipeline key, keeps messages 14 days and refuses non-TLS requests', () => {
    const key = only(t, 'AWS::KMS::Key', { Description: Match.stringLikeRegexp('pipeline data') });
    const queue = only(t, 'AWS::SQS::Queue');
    expect(queue.resource.Properties).toMatchObject({ KmsMasterKeyId: { 'Fn::GetAtt': [key.id, 'Arn'] }, MessageRetentionPeriod: 1209600 });
    assertHasProperties(t, 'AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue.id }],
      PolicyDocument: { Statement: Match.arrayWith([tlsOnlyStatement()]) },
    });
  });
});

describe('functions', () => {
  it('run Node.js 22 on arm64 with the pipeline environment; only the processor names a stream', () => {
    const common = {
      [ENV.table]: Match.anyValue(),
      [ENV.topicArn]: Match.anyValue(),
      [ENV.pipelineFile]: 'tidewatch/sample.yaml',
      [ENV.metricsNamespace]: 'tidewatch',
      [ENV.ruleMetricsNamespace]: 'tidewatch/rules',
      [ENV.quarantineDays]: '14',
      [ENV.fifoTopic]: 'false',
    };
    assertCount(t, 'AWS::Lambda::Function', 2, { Runtime: 'nodejs22.x', Architectures: ['arm64'] });
    assertHasProperties(t, 'AWS::Lambda::Function', { Environment: { Variables: { ...common, [ENV.stream]: 'telemetry' } } });
    assertHasProperties(t, 'AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('ticker'),
      Environment: { Variables: Match.objectEquals({ ...common, NODE_OPTIONS: '--enable-source-maps' }) },
    });
  });

  it('bundle the pipeline file and its JSON Schema at the path the environment names', () => {
    const outdir = s.app.synth().directory;
    const bundles = readdirSync(outdir).filter((d) => d.startsWith('asset.') && existsSync(join(outdir, d, 'index.js')));
    expect(bundles).toHaveLength(2);
    for (const b of bundles) {
      expect(existsSync(join(outdir, b, 'tidewatch', 'sample.yaml'))).toBe(true);
      expect(existsSync(join(outdir, b, 'tidewatch', 'schemas', 'telemetry.schema.json'))).toBe(true);
    }
  });

  it('runs the ticker every minute', () => {
    const ticker = only(t, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('ticker') });
    assertHasProperties(t, 'AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [ticker.id, 'Arn'] } })],
    });
  });
});

describe('least privilege', () => {
  it('gives the processor its own stream, queue, the table and the topic, nothing else and no wildcard resource', () => {
    const role = roleOfFunction(t, { [ENV.stream]: 'telemetry' });
    const statements = statementsOfRole(t, role);
    const stream = only(t, 'AWS::Kinesis::Stream');
    const kinesis = statements.filter((st) => actionsOf([st]).some((a) => a.startsWith('kinesis:')));
    expect(kinesis.map((st) => st.Resource)).toEqual([{ 'Fn::GetAtt': [stream.id, 'Arn'] }]);
    expect(actionsOf(statements)).toEqual(expect.arrayContaining(['kinesis:GetRecords', 'sqs:SendMessage', 'dynamodb:UpdateItem', 'sns:Publish']));
    expect(statements.map((st) => st.Resource)).not.toContain('*');
    assertHasProperties(t, 'AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('gives the ticker no stream access', () => {
    const role = roleOfFunction(t, { [ENV.stream]: undefined });
    const actions = actionsOf(statementsOfRole(t, role));
    expect(actions).not.toContain('kinesis:GetRecords');
    expect(actions.filter((a) => a.startsWith('kinesis:') || a.startsWith('sqs:'))).toEqual([]);
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:Query', 'sns:Publish']));
  });

  it('passes cdk-nag AwsSolutions with every exception acknowledged', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });
});

describe('alarms', () => {
  const rejected = (): ReturnType<typeof only> => only(t, 'AWS::CloudWatch::Alarm', { AlarmDescription: Match.stringLikeRegexp('rejected') });

  it('alarm on iterator age above 5 minutes, in milliseconds', () => {
    assertHasProperties(t, 'AWS::CloudWatch::Alarm', {
      MetricName: 'GetRecords.IteratorAgeMilliseconds',
      Namespace: 'AWS/Kinesis',
      Statistic: 'Maximum',
      Threshold: 300_000,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('alarm on processor and ticker errors and throttles, dead letters and rejected records', () => {
    for (const metric of ['Errors', 'Throttles']) {
      assertCount(t, 'AWS::CloudWatch::Alarm', 2, { MetricName: metric, Namespace: 'AWS/Lambda', Threshold: 1 });
    }
    assertHasProperties(t, 'AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
    });
    expect(rejected().resource.Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
  });

  it('alarm on rejected records through one metric, the per-stream total without Reason, whatever reasons exist', () => {
    // THEN the alarm reads exactly one metric: the dimension set the processor emits for the total
    const metrics = rejected().resource.Properties.Metrics as Array<{ Expression?: string; MetricStat?: { Metric: Record<string, unknown>; Period: number; Stat: string } }>;
    expect(metrics).toHaveLength(1);
    expect(metrics[0]!.MetricStat).toEqual({
      Metric: {
        Namespace: 'tidewatch',
        MetricName: 'RecordsRejected',
        Dimensions: [
          { Name: 'Stream', Value: 'telemetry' },
          { Name: 'service', Value: 'tidewatch-processor' },
        ],
      },
      Period: 300,
      Stat: 'Sum',
    });
    expect([...PIPELINE_METRICS.metrics.recordsRejectedTotal.dimensions].sort()).toEqual(['Stream', 'service']);
  });

  it('notify the operations topic, not the alert topic, on ALARM and on OK', () => {
    const ops = only(t, 'AWS::SNS::Topic', { DisplayName: 'tidewatch operations' });
    const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')) as Array<{ Properties: Record<string, unknown> }>;
    expect(alarms).toHaveLength(7);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: ops.id }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: ops.id }]);
    }
  });

  it('may publish to the operations topic: its policy allows exactly these alarms, for this account only, next to the TLS-only Deny', () => {
    // GIVEN the operations topic and every alarm of the stack
    const ops = only(t, 'AWS::SNS::Topic', { DisplayName: 'tidewatch operations' });
    const alarmIds = Object.keys(t.findResources('AWS::CloudWatch::Alarm')).sort();
    // THEN its one policy holds the Deny and an Allow for CloudWatch with the confused-deputy conditions
    const policy = only(t, 'AWS::SNS::TopicPolicy', { Topics: [{ Ref: ops.id }] });
    const statements = (policy.resource.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement;
    expect(statements).toHaveLength(2);
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Principal: '*', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    const allow = statements.find((st) => st.Effect === 'Allow')!;
    expect(allow).toMatchObject({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish', Resource: { Ref: ops.id } });
    const condition = allow.Condition as { StringEquals: Record<string, unknown>; ArnEquals: { 'aws:SourceArn': Array<{ 'Fn::GetAtt': [string, string] }> } };
    expect(condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(condition.ArnEquals['aws:SourceArn'].map((a) => a['Fn::GetAtt']).sort()).toEqual(alarmIds.map((id) => [id, 'Arn']));
  });

  it('encrypt the operations topic with its own key that CloudWatch may use', () => {
    const key = only(t, 'AWS::KMS::Key', { Description: Match.stringLikeRegexp('operations') });
    const ops = only(t, 'AWS::SNS::Topic', { DisplayName: 'tidewatch operations' });
    expect(ops.resource.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [key.id, 'Arn'] });
    expect(JSON.stringify(key.resource.Properties.KeyPolicy)).toContain('cloudwatch.amazonaws.com');
  });
});

describe('dashboard', () => {
  it('shows Kinesis, Lambda, DynamoDB, SQS and every custom metric', () => {
    const dashboard = only(t, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard.resource.Properties.DashboardBody);
    const expected = [
      'IncomingRecords',
      'IncomingBytes',
      'GetRecords.IteratorAgeMilliseconds',
      'Invocations',
      'Errors',
      'Duration',
      'Throttles',
      'ConcurrentExecutions',
      'ConsumedReadCapacityUnits',
      'ConsumedWriteCapacityUnits',
      'ThrottledRequests',
      'ApproximateNumberOfMessagesVisible',
      ...Object.values(PIPELINE_METRICS.metrics).map((m) => m.name),
    ];
    // Quoted once in the body, or twice inside a search expression (GroupFieldMissing: one line per rule).
    for (const name of expected) expect(body).toMatch(new RegExp(`\\\\+"${name}\\\\+"`));
    // The exact dimension set the processor emits (Powertools adds `service`).
    expect(body).toContain('\\"tidewatch\\",\\"RecordsIn\\",\\"Stream\\",\\"telemetry\\",\\"service\\",\\"tidewatch-processor\\"');
    for (const rule of ['HighErrorRate', 'SlowResponses', 'SessionBurst', 'HeartbeatMissing']) expect(body).toContain(rule);
  });

  it('graphs rule expression errors per rule and kind with one search over both functions', () => {
    const widgets = dashboardWidgets(t);
    const records = widgets.find((w) => w.properties.title === 'telemetry: records in, late, rejected')!;
    expect(records.properties.metrics).toContainEqual([
      {
        expression: `SEARCH('{"tidewatch","Expression","Rule","Stream","service"} MetricName="RuleExpressionErrors" Stream="telemetry"', 'Sum', 60)`,
        label: "expression errors: ${PROP('Dim.Rule')} ${PROP('Dim.Expression')} (${PROP('Dim.service')})",
        period: 60,
      },
    ]);
  });

  it('breaks rejected records down by reason with a search over the Reason dimension, not a list of reasons', () => {
    const widgets = dashboardWidgets(t);
    const byReason = widgets.find((w) => w.properties.title === 'telemetry: rejected by reason')!;
    expect(byReason.properties.metrics).toEqual([
      [
        {
          expression: `SEARCH('{"tidewatch","Reason","Stream","service"} MetricName="RecordsRejected" Stream="telemetry" service="tidewatch-processor"', 'Sum', 60)`,
          label: "${PROP('Dim.Reason')}",
          period: 60,
        },
      ],
    ]);
    expect(dashboardBodyText(t)).not.toContain('bad-base64');
    // and the total (no Reason) next to records in and late
    const records = widgets.find((w) => w.properties.title === 'telemetry: records in, late, rejected')!;
    expect(records.properties.metrics).toContainEqual(['tidewatch', 'RecordsRejected', 'Stream', 'telemetry', 'service', 'tidewatch-processor', expect.objectContaining({ stat: 'Sum' })]);
  });
});

describe('stack outputs', () => {
  it('name the stream to send to, the topics, the table, its key and the dashboard', () => {
    for (const output of ['StreamNametelemetry', 'AlertTopicArn', 'OperationsTopicArn', 'StateTableName', 'EncryptionKeyArn', 'DashboardUrl']) {
      assertOutput(t, output);
    }
  });
});
