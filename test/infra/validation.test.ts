/**
 * Props and pipeline files that must be rejected at synth, before anything
 * is deployed, with a message naming the value given and the values allowed.
 */
import { join } from 'node:path';
import { Duration, Lazy } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { PipelineError } from '../../lambdas/core/pipeline';
import type { RealtimePipelineProps } from '../../lib/RealtimePipeline';
import type { StreamOptions } from '../../lib/StreamProcessor';
import { TidewatchConfigError } from '../../lib/validate';
import { cleanupFixtures, build, pipelineFile, REPO_ROOT, SAMPLE_PIPELINE } from './support';

afterAll(() => cleanupFixtures());

type Pipeline = Omit<RealtimePipelineProps, 'existingStreams'>;

function withStream(options: StreamOptions): Pipeline {
  return { pipelineFile: SAMPLE_PIPELINE, streams: { telemetry: options } };
}

describe('parallelization factor', () => {
  it('rejects 2 with the reason', () => {
    // GIVEN a parallelization factor of 2 / WHEN the stack is built / THEN it throws
    expect(() => build({ pipeline: withStream({ parallelizationFactor: 2 }) })).toThrow(
      new TidewatchConfigError(
        'stream "telemetry": parallelizationFactor must be 1 (given 2): ' +
          "tidewatch's exactly-once state keeps one high-water mark per shard, which concurrent lanes of one shard would break",
      ),
    );
  });

  it('rejects it from the defaults of every stream too', () => {
    expect(() => build({ pipeline: { pipelineFile: SAMPLE_PIPELINE, streamDefaults: { parallelizationFactor: 4 } } })).toThrow(
      /parallelizationFactor must be 1 \(given 4\)/,
    );
  });

  it('rejects an unresolved token, which could be anything at deploy time', () => {
    expect(() => build({ pipeline: withStream({ parallelizationFactor: Lazy.number({ produce: () => 1 }) }) })).toThrow(
      /parallelizationFactor must be 1 \(given an unresolved token/,
    );
  });
});

describe('stream options out of range', () => {
  it.each<[string, StreamOptions, string]>([
    ['batchSize 0', { batchSize: 0 }, 'stream "telemetry": batchSize must be an integer between 1 and 10000 inclusive (given 0)'],
    ['batchSize 10001', { batchSize: 10_001 }, 'batchSize must be an integer between 1 and 10000 inclusive (given 10001)'],
    ['retryAttempts -1 (unbounded)', { retryAttempts: -1 }, 'retryAttempts must be an integer between 0 and 10000 inclusive (given -1)'],
    ['maxRecordAge 30 s', { maxRecordAge: Duration.seconds(30) }, 'maxRecordAge must be between 1 minute and 7 days inclusive (given 30 seconds)'],
    ['maxBatchingWindow 301 s', { maxBatchingWindow: Duration.seconds(301) }, 'maxBatchingWindow must be between 0 seconds and 5 minutes inclusive (given 5 minutes 1 second)'],
    ['retention 12 h', { retention: Duration.hours(12) }, 'retention must be between 1 day and 365 days inclusive (given 12 hours)'],
    ['retention not in whole hours', { retention: Duration.minutes(1470) }, 'retention must be a whole number of hours (given 1 day 30 minutes)'],
    ['memorySize 64', { memorySize: 64 }, 'memorySize must be an integer between 128 and 10240 inclusive (given 64)'],
    ['timeout 16 min', { timeout: Duration.minutes(16) }, 'timeout must be between 1 second and 15 minutes inclusive (given 16 minutes)'],
    ['shardCount 0', { shardCount: 0 }, 'shardCount must be an integer between 1 and 10000 inclusive (given 0)'],
    [
      'shardCount on an on-demand stream',
      { streamMode: kinesis.StreamMode.ON_DEMAND, shardCount: 2 },
      'shardCount applies to PROVISIONED streams only (given shardCount 2 with streamMode ON_DEMAND)',
    ],
    ['startingPosition AT_TIMESTAMP', { startingPosition: lambda.StartingPosition.AT_TIMESTAMP }, 'startingPosition must be one of TRIM_HORIZON, LATEST (given "AT_TIMESTAMP")'],
  ])('rejects %s', (_name, options, message) => {
    expect(() => build({ pipeline: withStream(options) })).toThrow(message);
  });

  it('accepts unresolved tokens it cannot check', () => {
    expect(() => build({ pipeline: withStream({ batchSize: Lazy.number({ produce: () => 500 }) }) })).not.toThrow();
  });
});

describe('other props', () => {
  it.each<[string, Partial<Pipeline>, string]>([
    ['a ticker faster than a minute', { ticker: { schedule: Duration.seconds(30) } }, 'ticker.schedule must be between 1 minute and 1 hour inclusive (given 30 seconds)'],
    ['quarantineDays 0', { quarantineDays: 0 }, 'quarantineDays must be an integer between 1 and 3650 inclusive (given 0)'],
    ['an AWS/ metrics namespace', { metricsNamespace: 'AWS/Lambda' }, 'metricsNamespace must be 1 to 255 letters'],
    ['a negative rejected-records threshold', { alarms: { rejectedRecordsThreshold: -1 } }, 'alarms.rejectedRecordsThreshold must be a number >= 0 (given -1)'],
    [
      'overrides for a stream the pipeline does not declare',
      { streams: { telemtry: { batchSize: 10 } } },
      'streams names stream "telemtry", which',
    ],
    [
      'email subscriptions on a FIFO topic',
      { fifoTopic: true, alertSubscriptions: { emails: ['ops@example.com'] } },
      'a FIFO alert topic delivers to SQS queues only',
    ],
    ['a filter on an unknown severity', { alertSubscriptions: { filter: { severity: ['urgent' as 'critical'] } } }, 'alert filter severity must be one of critical, warning, info (given "urgent")'],
    ['a filter on an unknown rule', { alertSubscriptions: { filter: { rule: ['HighErrorRates'] } } }, 'alert filter rule must be one of HighErrorRate, SlowResponses, ErrorSpike, SessionBurst, HeartbeatMissing, DeployThenErrors, JobNeverFinished (given "HighErrorRates")'],
    ['a malformed email', { alertSubscriptions: { emails: ['ops at example.com'] } }, 'alert subscription email must be an email address'],
  ])('rejects %s', (_name, extra, message) => {
    expect(() => build({ pipeline: { pipelineFile: SAMPLE_PIPELINE, ...extra } })).toThrow(message);
  });

  it('rejects a malformed existing stream ARN', () => {
    expect(() => build({ pipeline: { pipelineFile: SAMPLE_PIPELINE }, existingStreamArns: { telemetry: 'telemetry' } })).toThrow(
      'existing stream for "telemetry" must be a Kinesis stream ARN',
    );
  });
});

describe('pipeline file', () => {
  it('rejects an invalid file with file:line:col, the rule and the field', () => {
    // GIVEN a rule whose window is not a duration
    const file = pipelineFile(
      [
        'streams:',
        '  telemetry:',
        '    timestamp: ts',
        'rules:',
        '  - alert: TooMany',
        '    stream: telemetry',
        '    window: { tumbling: 7q }',
        '    aggregate:',
        "      n: 'count()'",
        "    when: 'n > 1.0'",
        '',
      ].join('\n'),
    );
    // WHEN the stack is built THEN it throws the loader's PipelineError
    let error: unknown;
    try {
      build({ pipeline: { pipelineFile: file } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PipelineError);
    expect((error as Error).message).toContain(`${file}:7:`);
    expect((error as Error).message).toContain('rule "TooMany" field "window.tumbling"');
  });

  it('rejects a missing file', () => {
    expect(() => build({ pipeline: { pipelineFile: join(REPO_ROOT, 'pipelines', 'nope.yaml') } })).toThrow(/cannot read the pipeline file/);
  });

  it('rejects a JSON Schema given by an absolute path, which would be missing in Lambda', () => {
    const file = pipelineFile(
      [
        'streams:',
        '  telemetry:',
        '    timestamp: ts',
        `    schema: ${join(REPO_ROOT, 'pipelines', 'schemas', 'telemetry.schema.json')}`,
        'rules:',
        '  - alert: Quiet',
        '    stream: telemetry',
        '    absent: 5m',
        '',
      ].join('\n'),
    );
    expect(() => build({ pipeline: { pipelineFile: file } })).toThrow(/does not load from inside the function bundle.*write schema paths relative to the pipeline file/);
  });
});
