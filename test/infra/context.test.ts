/** CDK context keys → RealtimePipelineProps (no synthesis). */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { CONTEXT_KEYS, DEFAULT_PIPELINE_FILE, settingsFromContext } from '../../lib/TidewatchContext';

function settings(context: Record<string, unknown>) {
  return settingsFromContext((key) => context[key]);
}

describe('settingsFromContext', () => {
  it('defaults to the sample pipeline, stack Tidewatch, cdk-nag on, nothing else set', () => {
    // GIVEN no context WHEN read
    const s = settings({});
    // THEN
    expect(s.stackName).toBe('Tidewatch');
    expect(s.nag).toBe(true);
    expect(s.pipeline.pipelineFile).toBe(DEFAULT_PIPELINE_FILE);
    expect(s.pipeline.streamDefaults).toEqual({});
    expect(s.pipeline.alertSubscriptions).toBeUndefined();
    expect(s.existingStreamArns).toEqual({});
  });

  it('reads command-line strings: numbers, durations, enums, booleans and lists', () => {
    const s = settings({
      [CONTEXT_KEYS.streamMode]: 'provisioned',
      [CONTEXT_KEYS.shardCount]: '3',
      [CONTEXT_KEYS.retention]: '7d',
      [CONTEXT_KEYS.batchSize]: '500',
      [CONTEXT_KEYS.maxBatchingWindow]: '5s',
      [CONTEXT_KEYS.startingPosition]: 'LATEST',
      [CONTEXT_KEYS.maxRecordAge]: '6h',
      [CONTEXT_KEYS.processorMemorySize]: '2048',
      [CONTEXT_KEYS.processorTimeout]: '90s',
      [CONTEXT_KEYS.tickerSchedule]: '2m',
      [CONTEXT_KEYS.tableRemovalPolicy]: 'destroy',
      [CONTEXT_KEYS.fifoTopic]: 'true',
      [CONTEXT_KEYS.listHoppingWindows]: 'false',
      [CONTEXT_KEYS.alarms]: 'false',
      [CONTEXT_KEYS.alertEmails]: 'a@example.com, b@example.com',
      [CONTEXT_KEYS.alertFilter]: '{"severity":["critical"]}',
      [CONTEXT_KEYS.iteratorAgeAlarm]: '10m',
      [CONTEXT_KEYS.existingStreams]: '{"telemetry":"arn:aws:kinesis:us-east-1:123456789012:stream/t"}',
    });
    expect(s.pipeline.streamDefaults).toEqual({
      streamMode: kinesis.StreamMode.PROVISIONED,
      shardCount: 3,
      retention: Duration.days(7),
      batchSize: 500,
      maxBatchingWindow: Duration.seconds(5),
      startingPosition: lambda.StartingPosition.LATEST,
      maxRecordAge: Duration.hours(6),
      memorySize: 2048,
      timeout: Duration.seconds(90),
    });
    expect(s.pipeline.ticker).toEqual({ schedule: Duration.minutes(2) });
    expect(s.pipeline.stateTable).toEqual({ removalPolicy: RemovalPolicy.DESTROY });
    expect(s.pipeline.fifoTopic).toBe(true);
    expect(s.pipeline.listHoppingWindows).toBe(false);
    expect(s.pipeline.alarms).toEqual({ enabled: false, iteratorAgeThreshold: Duration.minutes(10) });
    expect(s.pipeline.alertSubscriptions).toEqual({ emails: ['a@example.com', 'b@example.com'], filter: { severity: ['critical'] } });
    expect(s.existingStreamArns).toEqual({ telemetry: 'arn:aws:kinesis:us-east-1:123456789012:stream/t' });
  });

  it('reads cdk.json values as written: numbers, booleans, arrays, objects, per-stream overrides', () => {
    const s = settings({
      [CONTEXT_KEYS.batchSize]: 100,
      [CONTEXT_KEYS.nag]: false,
      [CONTEXT_KEYS.opsEmails]: ['ops@example.com'],
      [CONTEXT_KEYS.streams]: { telemetry: { shardCount: 2, retention: '48h' } },
    });
    expect(s.nag).toBe(false);
    expect(s.pipeline.streamDefaults).toEqual({ batchSize: 100 });
    expect(s.pipeline.operationsEmails).toEqual(['ops@example.com']);
    expect(s.pipeline.streams?.telemetry?.shardCount).toBe(2);
    expect(s.pipeline.streams?.telemetry?.retention?.toHours()).toBe(48);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a batch size that is not a number', { [CONTEXT_KEYS.batchSize]: 'lots' }, 'context tidewatch:batchSize must be an integer (given "lots")'],
    ['a duration without unit', { [CONTEXT_KEYS.maxRecordAge]: '3600' }, 'context tidewatch:maxRecordAge: a duration needs a unit'],
    ['an unknown stream mode', { [CONTEXT_KEYS.streamMode]: 'ondemand' }, 'context tidewatch:streamMode must be one of on-demand, provisioned (given "ondemand")'],
    ['a boolean spelled yes', { [CONTEXT_KEYS.alarms]: 'yes' }, 'context tidewatch:alarms must be true or false (given "yes")'],
    ['a filter that is not JSON', { [CONTEXT_KEYS.alertFilter]: '{severity: critical}' }, 'context tidewatch:alertFilter is not valid JSON'],
    ['a filter on an unknown attribute', { [CONTEXT_KEYS.alertFilter]: '{"team":["a"]}' }, 'keys among severity, rule, state'],
    ['an unknown per-stream field', { [CONTEXT_KEYS.streams]: { telemetry: { shards: 2 } } }, 'context tidewatch:streams.telemetry must be an object with fields among'],
    ['a log retention CloudWatch does not offer', { [CONTEXT_KEYS.logRetentionDays]: '10' }, 'context tidewatch:logRetentionDays must be one of 1, 3, 5, 7, 14'],
  ])('rejects %s, naming the key', (_name, context, message) => {
    expect(() => settings(context)).toThrow(message);
  });
});
