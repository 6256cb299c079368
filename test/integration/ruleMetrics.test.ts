/**
 * Rule values through the real handlers on dynalite: the processor and the
 * ticker write one EMF line per closed window of a rule with `metrics:` to
 * stdout (what Lambda sends to CloudWatch Logs), under the shared cap.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SNSClient } from '@aws-sdk/client-sns';
import { createRuntime } from '../../lambdas/adapters/runtime';
import { ENV } from '../../lambdas/core/contract';
import { parsePipeline } from '../../lambdas/core/pipeline';
import { createProcessorHandler } from '../../lambdas/processor/handler';
import { createTickerHandler } from '../../lambdas/ticker/handler';
import { kinesisEvent } from '../../local/esm/lambdaShapes';
import { freshTable, instrumentedClient, startDynalite } from '../helpers/dynamo';
import { shardRecords, T0 } from '../helpers/factories';
import { lambdaContext } from '../helpers/lambda';

// Powertools' own metrics stay quiet; the rule metrics are switched on through the runtime's environment.
process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';

const M = 60_000;
const S0 = 'shardId-000000000000';
const pipeline = parsePipeline(
  `streams:
  telemetry:
    timestamp: ts
rules:
  - alert: Busy
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate:
      total: 'count()'
      worst: 'max(latencyMs)'
    when: 'total >= 1000.0'
    emit: early
    metrics: { aggregates: [total, worst], maxGroups: 2 }
`,
  'rule-metrics.yaml',
);

let dynamo: { endpoint: string; stop: () => Promise<void> };
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.stop();
});

const http = (service: string, ts: number, latencyMs: number) => ({ service, ts: new Date(ts).toISOString(), latencyMs });

describe('rule metrics from the handlers', () => {
  it('writes one EMF line per closed window, at its end, capped at maxGroups a rule and hour, and counts the rest', async () => {
    // Arrange: a processor and a ticker (one container), stdout captured
    const table = await freshTable(dynamo.endpoint);
    const clock = { t: T0 + 30_000, now() { return this.t; } };
    const { client } = instrumentedClient(dynamo.endpoint);
    const runtime = createRuntime({ [ENV.table]: table, [ENV.topicArn]: 'arn:aws:sns:us-east-1:000000000000:t', POWERTOOLS_METRICS_DISABLED: 'false' }, { dynamodb: client, sns: new SNSClient({ region: 'us-east-1' }), clock, pipeline });
    const logger = new Logger({ logLevel: 'SILENT' });
    const metrics = new Metrics({ namespace: 'tidewatch-test', serviceName: 'test' });
    const processor = createProcessorHandler({ logger, metrics, runtime: () => runtime, stream: () => 'telemetry' });
    const ticker = createTickerHandler({ logger, metrics, runtime: () => runtime });
    const lines: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      // Act: three services in the first minute; nothing is closed yet
      await processor(kinesisEvent(shardRecords(S0, [http('a', T0 + 1000, 10), http('b', T0 + 2000, 30), http('a', T0 + 3000, 20), http('c', T0 + 4000, 5)], 1n)), lambdaContext());
      expect(lines).toEqual([]);
      // the ticker, a minute later (the shard is idle: the watermark follows the clock), closes the minute
      clock.t = T0 + 3 * M;
      await ticker({}, lambdaContext('tidewatch-ticker'));
    } finally {
      spy.mockRestore();
    }
    // Assert: two groups published (the cap), one counted as dropped
    const docs = lines.map((l) => JSON.parse(l) as Record<string, unknown> & { _aws: { Timestamp: number; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> } });
    const values = docs.filter((d) => d['Rule'] === 'Busy' && 'total' in d);
    expect(values).toHaveLength(2);
    for (const d of values) {
      expect(d._aws.Timestamp).toBe(T0 + M);
      expect(d._aws.CloudWatchMetrics[0]!.Namespace).toBe('tidewatch/rules');
      expect(d._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['Rule', 'service']]);
    }
    const byService = Object.fromEntries(values.map((d) => [d['service'], [d['total'], d['worst']]]));
    const expected: Record<string, [number, number]> = { a: [2, 20], b: [1, 30], c: [1, 5] };
    for (const [service, v] of Object.entries(byService)) expect(v).toEqual(expected[service as string]);
    expect(docs.filter((d) => 'RuleValuesDropped' in d).map((d) => [d['Rule'], d['Reason'], d['RuleValuesDropped']])).toEqual([['Busy', 'cap', 1]]);
    // every line is one whole JSON document (an EMF log event)
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
  });
});
