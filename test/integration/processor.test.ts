/**
 * The processor and ticker handlers against a real DynamoDB API (dynalite,
 * started by the test) and the real SNS client (its transport mocked with
 * aws-sdk-client-mock): exactly-once aggregates under every redelivery Lambda
 * does, alerts recorded before they are published, and the request counts
 * that make the cost.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient, type PublishCommandInput } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { aggregateLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { createRuntime, type Runtime } from '../../lambdas/adapters/runtime';
import type { AlertMessage } from '../../lambdas/adapters/SnsAlertPublisher';
import { ENV } from '../../lambdas/core/contract';
import { descriptor } from '../../lambdas/core/Engine';
import { RuleAggregates, type FixedPartialJson } from '../../lambdas/core/partials';
import { parsePipeline } from '../../lambdas/core/pipeline';
import type { KinesisLikeRecord, WindowRule } from '../../lambdas/core/types';
import { createProcessorHandler } from '../../lambdas/processor/handler';
import { createTickerHandler } from '../../lambdas/ticker/handler';
import { freshTable, instrumentedClient, returnOldItemOnConditionFailure, returnsOldItem, startTestDynamo, type Injector, type RequestLog, type TestDynamo } from '../helpers/dynamo';
import { shardRecords, T0 } from '../helpers/factories';
import { kinesisEvent } from '../../local/esm/lambdaShapes';
import { lambdaContext } from '../helpers/lambda';

process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';

const M = 60_000;
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:tidewatch-alerts';

const PIPELINE = `
streams:
  telemetry:
    timestamp: ts
    id: eventId
    outOfOrderness: 0s
    idleTimeout: 1m
rules:
  - alert: Errors
    stream: telemetry
    where: 'kind == "http"'
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate:
      errors: 'count(status >= 500)'
      total: 'count()'
      latency: 'sum(latencyMs)'
      worst: 'max(latencyMs)'
    when: 'errors >= 3.0'
    emit: early
    severity: critical
    annotations:
      summary: '{{service}}: {{errors}} errors'
  - alert: Busy
    stream: telemetry
    where: 'kind == "http"'
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate:
      total: 'count()'
    when: 'total >= 5.0'
    emit: final
    severity: warning
  - alert: Silent
    stream: telemetry
    where: 'kind == "heartbeat"'
    groupBy: [host]
    absent: 2m
`;
const pipeline = parsePipeline(PIPELINE, 'test-pipeline.yaml');
const errorsRule = pipeline.rules.find((r) => r.name === 'Errors') as WindowRule;

class Clock {
  constructor(public t: number) {}
  now() {
    return this.t;
  }
}

let dynamo: TestDynamo;
/** Whether the endpoint returns the stored item with a failed condition (DynamoDB does; dynalite does not): then a conflict costs no read. */
let returnsOld: boolean;
beforeAll(async () => {
  dynamo = await startTestDynamo();
  returnsOld = await returnsOldItem(dynamo.endpoint, await freshTable(dynamo.endpoint));
});
afterAll(async () => {
  await dynamo.stop();
});

const silent = () => new Logger({ logLevel: (process.env['TEST_LOG_LEVEL'] as 'SILENT' | undefined) ?? 'SILENT' });
const noMetrics = () => new Metrics({ namespace: 'tidewatch-test', serviceName: 'test' });

interface Container {
  runtime: Runtime;
  log: RequestLog;
  client: DynamoDBClient;
  process: (records: KinesisLikeRecord[]) => Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }>;
  tick: () => Promise<unknown>;
}

/** One Lambda container: its own clients, caches and handler instances, sharing the table. */
function container(table: string, clock: Clock, sns: SNSClient, inject?: Injector, opts: { returnOldItem?: boolean } = {}): Container {
  const { client, log } = instrumentedClient(dynamo.endpoint, inject);
  if (opts.returnOldItem) returnOldItemOnConditionFailure(client, dynamo.endpoint);
  const runtime = createRuntime({ [ENV.table]: table, [ENV.topicArn]: TOPIC }, { dynamodb: client, sns, clock, pipeline });
  const processor = createProcessorHandler({ logger: silent(), metrics: noMetrics(), runtime: () => runtime, stream: () => 'telemetry' });
  const ticker = createTickerHandler({ logger: silent(), metrics: noMetrics(), runtime: () => runtime });
  return {
    runtime,
    log,
    client,
    process: async (records) => (await processor(kinesisEvent(records), lambdaContext())) as { batchItemFailures: Array<{ itemIdentifier: string }> },
    tick: () => ticker({}, lambdaContext('tidewatch-ticker')),
  };
}

function snsMock() {
  const sns = new SNSClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const mock = mockClient(sns);
  mock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  const messages = () => mock.commandCalls(PublishCommand).map((c) => JSON.parse(c.args[0].input.Message!) as AlertMessage);
  return { sns, mock, messages };
}

const http = (service: string, ts: number, status = 200, latencyMs = 10) => ({ kind: 'http', service, ts, status, latencyMs, eventId: `e-${service}-${ts}` });

/** The Errors rule's aggregates of one (service, window) as stored, merged over shards. */
async function errorsWindow(c: Container, service: string, windowStart: number) {
  const state = await c.runtime.store.read(descriptor('Errors', JSON.stringify([service]), { start: windowStart, end: windowStart + M }));
  const ra = new RuleAggregates(errorsRule);
  const acc = ra.create();
  for (const s of Object.values(state?.slots ?? {})) ra.merge(acc, ra.deserialize(s.partial as FixedPartialJson));
  return ra.results(acc);
}

const S0 = 'shardId-000000000000';
const S1 = 'shardId-000000000001';
const S2 = 'shardId-000000000002';

/** 10 api events in window 0: 4 errors; latencies 1..10. */
function apiBatch(shard = S0, firstSeq = 1n) {
  return shardRecords(
    shard,
    Array.from({ length: 10 }, (_, i) => http('api', T0 + 1000 + i * 1000, i % 3 === 0 ? 500 : 200, i + 1)),
    firstSeq,
    T0 + 20_000,
  );
}
const API_EXPECTED = { errors: 4, total: 10, latency: 55, worst: 10 };

describe('processor: exactly-once aggregates over at-least-once delivery', () => {
  it('fast path: one conditional write per touched aggregate per batch, no reads', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const c = container(table, new Clock(T0 + 30_000), sns);
    const records = shardRecords(
      S0,
      Array.from({ length: 300 }, (_, i) => http(['api', 'web', 'db'][i % 3]!, T0 + i * 100)),
      1n,
    );
    const res = await c.process(records);
    expect(res.batchItemFailures).toEqual([]);
    // 3 services x 2 rules, all in window 0: 6 aggregate keys
    expect(c.log.count('UpdateItemCommand', 'aggregate')).toBe(6);
    expect(c.log.count('GetItemCommand', 'aggregate')).toBe(0);
    expect(await errorsWindow(c, 'web', T0)).toEqual({ errors: 0, total: 100, latency: 1000, worst: 10 });
  });

  it('the same batch delivered twice counts once and publishes once (warm container: no write at all)', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns, messages } = snsMock();
    const c = container(table, new Clock(T0 + 30_000), sns);
    const batch = apiBatch();
    await c.process(batch);
    c.log.reset();
    const again = await c.process(batch);
    expect(again.batchItemFailures).toEqual([]);
    expect(c.log.count('UpdateItemCommand', 'aggregate')).toBe(0);
    expect(await errorsWindow(c, 'api', T0)).toEqual(API_EXPECTED);
    expect(messages().map((m) => [m.rule, m.state, m.group])).toEqual([['Errors', 'firing', { service: 'api' }]]);
  });

  it('a redelivery to a cold container takes the slow path: a failed condition, a read, nothing applied twice', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const clock = new Clock(T0 + 30_000);
    await container(table, clock, sns).process(apiBatch());
    const cold = container(table, clock, sns);
    const res = await cold.process(apiBatch());
    expect(res.batchItemFailures).toEqual([]);
    // two keys (Errors, Busy): each one failed conditional write and one read (none where the API returns the item with the failure), no second write
    expect(cold.log.count('UpdateItemCommand', 'aggregate')).toBe(2);
    expect(cold.log.count('GetItemCommand', 'aggregate')).toBe(returnsOld ? 0 : 2);
    expect(cold.log.conditionFailures('aggregate')).toBe(2);
    expect(await errorsWindow(cold, 'api', T0)).toEqual(API_EXPECTED);
  });

  it('where the API returns the stored item with the failed condition (as DynamoDB does), the slow path costs no read', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const clock = new Clock(T0 + 30_000);
    await container(table, clock, sns).process(apiBatch());
    // dynalite ignores ReturnValuesOnConditionCheckFailure: the test client returns the item as DynamoDB would.
    const cold = container(table, clock, sns, undefined, { returnOldItem: true });
    const res = await cold.process(apiBatch());
    expect(res.batchItemFailures).toEqual([]);
    expect(cold.log.count('UpdateItemCommand', 'aggregate')).toBe(2);
    expect(cold.log.conditionFailures('aggregate')).toBe(2);
    expect(cold.log.count('GetItemCommand', 'aggregate')).toBe(0);
    expect(await errorsWindow(cold, 'api', T0)).toEqual(API_EXPECTED);
  });

  it('a batch bisected and retried in halves counts once', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const c = container(table, new Clock(T0 + 30_000), sns);
    const batch = apiBatch();
    await c.process(batch.slice(0, 5)); // first half, then Lambda retries each half
    await c.process(batch.slice(0, 5));
    await c.process(batch.slice(5));
    expect(await errorsWindow(c, 'api', T0)).toEqual(API_EXPECTED);
  });

  it('a retry starting in the middle of an applied batch counts once, in a cold container too', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const clock = new Clock(T0 + 30_000);
    const batch = apiBatch();
    await container(table, clock, sns).process(batch);
    const cold = container(table, clock, sns);
    await cold.process(batch.slice(4));
    expect(await errorsWindow(cold, 'api', T0)).toEqual(API_EXPECTED);
  });

  it('two shards updating one group concurrently, from two containers, both count', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns, messages } = snsMock();
    const clock = new Clock(T0 + 30_000);
    const a = container(table, clock, sns);
    const b = container(table, clock, sns);
    await Promise.all([a.process(apiBatch(S0)), b.process(apiBatch(S1))]);
    expect(await errorsWindow(a, 'api', T0)).toEqual({ errors: 8, total: 20, latency: 110, worst: 10 });
    // each shard's container saw errors >= 3 and tried to fire: one alert id, recorded once
    const firing = messages().filter((m) => m.state === 'firing');
    expect(new Set(firing.map((m) => m.alertId)).size).toBe(1);
    const alert = await a.runtime.store.activeAlerts('Errors');
    expect(alert.map((x) => [x.groupKey, x.record.state.status, x.record.outbox.length])).toEqual([['["api"]', 'firing', 0]]);
  });

  it('parent shard then child shards after a reshard: sequence numbers restart, nothing lost or doubled', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const c = container(table, new Clock(T0 + 30_000), sns);
    await c.process(apiBatch(S0, 5_000n));
    // children start their own, lower sequence space
    await c.process(shardRecords(S1, [http('api', T0 + 30_000, 500, 20)], 1n, T0 + 30_000));
    await c.process(shardRecords(S2, [http('api', T0 + 31_000, 200, 30), http('api', T0 + 32_000, 200, 5)], 1n, T0 + 30_000));
    await c.process(shardRecords(S1, [http('api', T0 + 30_000, 500, 20)], 1n, T0 + 30_000)); // redelivered
    expect(await errorsWindow(c, 'api', T0)).toEqual({ errors: 5, total: 13, latency: 110, worst: 30 });
  });

  it('poison records are quarantined with payload, reason, shard and sequence number; the batch goes on', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const c = container(table, new Clock(T0 + 30_000), sns);
    const good = apiBatch();
    const bad: KinesisLikeRecord[] = [
      { ...good[0]!, sequenceNumber: '2', data: '%%%not-base64%%%' },
      { ...good[0]!, sequenceNumber: '3', data: Buffer.from('{"kind":"http",').toString('base64') },
      { ...good[0]!, sequenceNumber: '4', data: Buffer.from(JSON.stringify({ kind: 'http', service: 'api' })).toString('base64') },
    ];
    const mixed = [good[0]!, ...bad.map((b, i) => ({ ...b, sequenceNumber: (BigInt(good[0]!.sequenceNumber) + BigInt(i) + 1n).toString() }))];
    const rest = good.slice(1).map((r, i) => ({ ...r, sequenceNumber: (BigInt(good[0]!.sequenceNumber) + 10n + BigInt(i)).toString() }));
    const res = await c.process([...mixed, ...rest]);
    expect(res.batchItemFailures).toEqual([]);
    expect(await errorsWindow(c, 'api', T0)).toEqual(API_EXPECTED);
    const items = (await c.runtime.store.listQuarantined('telemetry')).map((r) => ({ reason: r.reason, seq: r.sequenceNumber, shard: r.shardId, data: r.data }));
    // the data is kept exactly as received, even when it is not valid base64
    const expected = mixed.slice(1).map((r, i) => ({ reason: ['bad-base64', 'not-json', 'no-timestamp'][i], seq: r.sequenceNumber, shard: S0, data: r.data }));
    expect(items.sort((x, y) => (x.seq! < y.seq! ? -1 : 1))).toEqual(expected);
  });

  it('a throttled write is reported as a batch item failure at the right record; the retry counts once', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const clock = new Clock(T0 + 30_000);
    let keyWrites = 0;
    const web = aggregateLayout.key(descriptor('Errors', JSON.stringify(['web']), { start: T0, end: T0 + M }));
    const throttleSecond: Injector = (_command, _input, request) => {
      if (request?.op === 'aggregate.apply' && request.key.pk === web.pk && ++keyWrites === 1) {
        const err = new Error('Rate of requests exceeds the allowed throughput');
        err.name = 'ProvisionedThroughputExceededException';
        throw err;
      }
    };
    const c = container(table, clock, sns, throttleSecond);
    const records = shardRecords(S0, [http('api', T0 + 1000), http('api', T0 + 2000), http('web', T0 + 3000, 500), http('api', T0 + 4000), http('web', T0 + 5000)], 1n);
    const res = await c.process(records);
    // the first record that fed the failed aggregate: Lambda retries from there
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: records[2]!.sequenceNumber }]);
    const retry = await c.process(records.slice(2));
    expect(retry.batchItemFailures).toEqual([]);
    expect(await errorsWindow(c, 'api', T0)).toMatchObject({ total: 3, errors: 0 });
    expect(await errorsWindow(c, 'web', T0)).toMatchObject({ total: 2, errors: 1 });
  });
});

describe('processor: producer duplicates (stream declares id: eventId, dedupe on by default)', () => {
  it('a producer retry landing the same event again counts once, even in a cold container; one dedupe write per 5 seconds of event time', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const clock = new Clock(T0 + 30_000);
    const c = container(table, clock, sns);
    const batch = apiBatch(); // 10 events over 10 seconds of event time (T0+1s .. T0+10s)
    await c.process(batch);
    // Buckets of 5 seconds (DEDUPE_BUCKET_MS): T0 (4 events), T0+5s (5), T0+10s (1).
    expect(c.log.count('PutItemCommand', 'dedupe')).toBe(3);
    // the producer resent events 3..5 with the same ids: new sequence numbers
    const resent = shardRecords(S0, [3, 4, 5].map((i) => http('api', T0 + 1000 + i * 1000, i % 3 === 0 ? 500 : 200, i + 1)), 100n, T0 + 25_000);
    const cold = container(table, clock, sns);
    await cold.process(resent);
    expect(await errorsWindow(cold, 'api', T0)).toEqual(API_EXPECTED);
    expect(cold.log.count('PutItemCommand', 'dedupe')).toBe(0);
  });
});

describe('processor: alerts recorded before they are published', () => {
  it('a publish failure after the state write is retried with the same alert id, and published once', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns, mock } = snsMock();
    mock.on(PublishCommand).rejectsOnce(Object.assign(new Error('SNS internal error'), { name: 'InternalErrorException' })).resolves({ MessageId: 'm-2' });
    const c = container(table, new Clock(T0 + 30_000), sns);
    const batch = apiBatch();
    const first = await c.process(batch);
    expect(first.batchItemFailures).toHaveLength(1);
    const retry = await c.process(batch.filter((r) => BigInt(r.sequenceNumber) >= BigInt(first.batchItemFailures[0]!.itemIdentifier)));
    expect(retry.batchItemFailures).toEqual([]);
    const calls = mock.commandCalls(PublishCommand).map((x) => x.args[0].input as PublishCommandInput);
    expect(calls).toHaveLength(2);
    const bodies = calls.map((x) => JSON.parse(x.Message!) as AlertMessage);
    expect(bodies[0]!.alertId).toBe(bodies[1]!.alertId);
    expect(bodies[1]).toMatchObject({ rule: 'Errors', state: 'firing', severity: 'critical', group: { service: 'api' }, annotations: { summary: 'api: 4 errors' } });
    expect(calls[1]!.MessageAttributes).toEqual({
      severity: { DataType: 'String', StringValue: 'critical' },
      rule: { DataType: 'String', StringValue: 'Errors' },
      state: { DataType: 'String', StringValue: 'firing' },
    });
    expect(calls[1]!.Subject).toBe('[FIRING] critical Errors api');
    expect(await errorsWindow(c, 'api', T0)).toEqual(API_EXPECTED);
    const [rec] = await c.runtime.store.activeAlerts('Errors');
    expect(rec!.record.outbox).toEqual([]);
  });
});

describe('processor: logs', () => {
  it('carry the shard and sequence range of each batch and no payload values; listed fields are redacted from rejection reasons', async () => {
    // Arrange: Powertools prints through the global console in dev mode, so the test can read every line
    process.env['POWERTOOLS_DEV'] = 'true';
    const lines: string[] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
      jest.spyOn(console, m).mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(' '));
      }),
    );
    const table = await freshTable(dynamo.endpoint);
    const { sns } = snsMock();
    const { client } = instrumentedClient(dynamo.endpoint);
    const runtime = createRuntime({ [ENV.table]: table, [ENV.topicArn]: TOPIC, [ENV.redactFields]: 'ts' }, { dynamodb: client, sns, clock: new Clock(T0 + 30_000), pipeline });
    const handler = createProcessorHandler({ logger: new Logger({ serviceName: 'p', logLevel: 'DEBUG' }), metrics: noMetrics(), runtime: () => runtime, stream: () => 'telemetry' });
    const SECRET = 's3cr3t-7f1e';
    const records = shardRecords(S0, [
      { ...http('api', T0 + 1000), token: SECRET, service: `api-${SECRET}` },
      { kind: 'http', service: 'api', ts: `${SECRET}-not-a-time`, eventId: 'x' },
    ]);
    // Act
    try {
      await handler(kinesisEvent(records), lambdaContext());
    } finally {
      spies.forEach((s) => s.mockRestore());
      delete process.env['POWERTOOLS_DEV'];
    }
    // Assert
    const batch = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['message'] === 'batch applied');
    expect(batch).toMatchObject({ shardId: S0, firstSequence: records[0]!.sequenceNumber, lastSequence: records[1]!.sequenceNumber, records: 2, rejected: { 'bad-timestamp': 1 } });
    expect(lines.filter((l) => l.includes(SECRET))).toEqual([]);
    const [q] = await runtime.store.listQuarantined('telemetry');
    expect(q!.message).toBe('field "ts" is [redacted]: expected an ISO-8601 date-time with a time zone (e.g. 2026-11-27T10:00:00.000Z) or epoch milliseconds');
  });
});

describe('ticker', () => {
  it('closes due windows (final rules), resolves quiet groups and fires absence rules; twice or concurrently, each transition once', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { sns, messages } = snsMock();
    const clock = new Clock(T0 + 30_000);
    const c = container(table, clock, sns);
    await c.process(
      shardRecords(S0, [...Array.from({ length: 6 }, (_, i) => http('api', T0 + i * 1000)), { kind: 'heartbeat', host: 'h1', ts: T0 + 500, eventId: 'hb1' }], 1n),
    );
    expect(messages()).toEqual([]);
    // the shard goes idle: the watermark follows the wall clock (now - idle timeout 1m = T0 + 3m)
    clock.t = T0 + 4 * M;
    const other = container(table, clock, sns);
    await Promise.all([c.tick(), other.tick()]);
    await c.tick();
    expect(messages().map((m) => [m.rule, m.state, m.group])).toEqual(
      expect.arrayContaining([
        ['Busy', 'firing', { service: 'api' }],
        ['Busy', 'resolved', { service: 'api' }],
        ['Silent', 'firing', { host: 'h1' }],
      ]),
    );
    expect(messages()).toHaveLength(3);
  });
});
