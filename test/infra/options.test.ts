/**
 * Non-default deployments: a provisioned stream next to an existing one, a
 * FIFO alert topic with a filtered SQS subscription, an AWS-managed table key,
 * alarms off. Bundling is skipped here (the default suite covers it).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ENV } from '../../lambdas/core/contract';
import { actionsOf, assertCount, cleanup, cleanupFixtures, assertHasProperties, assertHasResource, nagFindings, only, roleOfFunction, SAMPLE_PIPELINE, statementsOfRole, synth, twoStreamPipeline, type Synthesized } from './support';

const AUDIT_ARN = 'arn:aws:kinesis:eu-west-1:123456789012:stream/audit-events';
const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:critical-alerts.fifo';

afterAll(() => cleanupFixtures());

describe('a two-stream pipeline with a provisioned stream, an existing stream and a FIFO topic', () => {
  let s: Synthesized;
  let t: Template;

  beforeAll(() => {
    // GIVEN a pipeline with streams telemetry and audit
    // WHEN telemetry is provisioned with 2 shards and audit is an existing stream, alerts go to a FIFO topic
    s = synth(
      {
        pipeline: {
          pipelineFile: twoStreamPipeline(),
          streams: {
            telemetry: { shardCount: 2, retention: Duration.hours(48), encryption: 'customer-managed', batchSize: 200 },
          },
          fifoTopic: true,
          alertSubscriptions: { queueArns: [QUEUE_ARN], filter: { severity: ['critical'], state: ['firing'] } },
          stateTable: { encryption: 'aws-managed', removalPolicy: RemovalPolicy.DESTROY },
        },
        existingStreamArns: { audit: AUDIT_ARN },
      },
      { bundle: false },
    );
    t = s.template;
  });

  afterAll(() => cleanup(s));

  it('creates only the telemetry stream, provisioned with 2 shards, 48 h retention, on the pipeline key', () => {
    // THEN
    const key = only(t, 'AWS::KMS::Key', { Description: Match.stringLikeRegexp('pipeline data') });
    assertCount(t, 'AWS::Kinesis::Stream', 1);
    assertHasProperties(t, 'AWS::Kinesis::Stream', {
      ShardCount: 2,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      RetentionPeriodHours: 48,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': [key.id, 'Arn'] } },
    });
  });

  it('reads the existing stream from LATEST and the created one from TRIM_HORIZON', () => {
    const stream = only(t, 'AWS::Kinesis::Stream');
    assertHasProperties(t, 'AWS::Lambda::EventSourceMapping', { EventSourceArn: AUDIT_ARN, StartingPosition: 'LATEST', BatchSize: 10_000 });
    assertHasProperties(t, 'AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [stream.id, 'Arn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 200,
    });
  });

  it("lets each processor read its own stream only, and gives each its own dead-letter queue", () => {
    const stream = only(t, 'AWS::Kinesis::Stream');
    const kinesisResources = (name: string): unknown[] =>
      statementsOfRole(t, roleOfFunction(t, { [ENV.stream]: name }))
        .filter((st) => actionsOf([st]).some((a) => a.startsWith('kinesis:')))
        .map((st) => st.Resource);
    expect(kinesisResources('telemetry')).toEqual([{ 'Fn::GetAtt': [stream.id, 'Arn'] }]);
    expect(kinesisResources('audit')).toEqual([AUDIT_ARN]);
    assertCount(t, 'AWS::SQS::Queue', 2);
  });

  it('makes the alert topic FIFO without content-based deduplication and tells the handlers', () => {
    assertHasProperties(t, 'AWS::SNS::Topic', { DisplayName: 'tidewatch alerts', FifoTopic: true, ContentBasedDeduplication: false });
    assertCount(t, 'AWS::Lambda::Function', 3, { Environment: { Variables: Match.objectLike({ [ENV.fifoTopic]: 'true' }) } });
  });

  it('subscribes the queue with a filter policy on the message attributes', () => {
    assertHasProperties(t, 'AWS::SNS::Subscription', {
      Protocol: 'sqs',
      Endpoint: QUEUE_ARN,
      FilterPolicy: { severity: ['critical'], state: ['firing'] },
    });
  });

  it('encrypts the table with the AWS-managed key and deletes it with the stack', () => {
    assertHasResource(t, 'AWS::DynamoDB::Table', {
      // SSE enabled without a key id: DynamoDB's aws/dynamodb key.
      Properties: Match.objectLike({ SSESpecification: Match.objectEquals({ SSEEnabled: true }) }),
      DeletionPolicy: 'Delete',
    });
    assertHasResource(t, 'AWS::KMS::Key', { Properties: Match.objectLike({ Description: Match.stringLikeRegexp('pipeline data') }), DeletionPolicy: 'Delete' });
  });

  it('has one set of stream alarms per stream', () => {
    assertCount(t, 'AWS::CloudWatch::Alarm', 2, { MetricName: 'GetRecords.IteratorAgeMilliseconds' });
    assertCount(t, 'AWS::CloudWatch::Alarm', 12);
  });

  it('passes cdk-nag AwsSolutions', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });
});

describe('alarms turned off and settings changed', () => {
  let s: Synthesized;
  let t: Template;

  beforeAll(() => {
    // GIVEN the sample pipeline
    // WHEN alarms are disabled and the ticker, namespace and processor are tuned
    s = synth(
      {
        pipeline: {
          pipelineFile: SAMPLE_PIPELINE,
          alarms: { enabled: false },
          ticker: { schedule: Duration.minutes(5) },
          metricsNamespace: 'acme/tidewatch',
          streamDefaults: { memorySize: 2048, timeout: Duration.minutes(2), startingPosition: lambda.StartingPosition.LATEST, streamMode: kinesis.StreamMode.ON_DEMAND },
          redactFields: ['userId', 'email'],
          listHoppingWindows: false,
        },
      },
      { bundle: false },
    );
    t = s.template;
  });

  afterAll(() => cleanup(s));

  it('creates no alarm and no operations topic', () => {
    assertCount(t, 'AWS::CloudWatch::Alarm', 0);
    assertCount(t, 'AWS::SNS::Topic', 1);
    assertCount(t, 'AWS::KMS::Key', 1);
  });

  it('applies the settings', () => {
    assertHasProperties(t, 'AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    assertHasProperties(t, 'AWS::Lambda::EventSourceMapping', { StartingPosition: 'LATEST' });
    assertHasProperties(t, 'AWS::Lambda::Function', {
      MemorySize: 2048,
      Timeout: 120,
      Environment: { Variables: Match.objectLike({ [ENV.metricsNamespace]: 'acme/tidewatch', [ENV.redactFields]: 'userId,email', [ENV.listHoppingWindows]: 'false' }) },
    });
    expect(JSON.stringify(only(t, 'AWS::CloudWatch::Dashboard').resource.Properties.DashboardBody)).toContain('acme/tidewatch');
  });
});
