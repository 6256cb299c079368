/**
 * What real producers write, end to end on this machine: records made by the
 * reference encoders (aws-kinesis-agg for KPL aggregates, zlib for gzip and
 * CloudWatch Logs subscription payloads) are put on kinesis-local with
 * PutRecords, read by the event source mapping runner and processed by the
 * real processor handler into dynalite. One stream per format; the state,
 * the quarantine (bad sub-events alone, with their index) and the alerts are
 * checked exactly.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { AlertMessage } from '../../lambdas/adapters/SnsAlertPublisher';
import { descriptor } from '../../lambdas/core/Engine';
import { RuleAggregates, type FixedPartialJson } from '../../lambdas/core/partials';
import type { WindowRule } from '../../lambdas/core/types';
import { startLocalPipeline, type LocalPipeline } from '../../local/LocalPipeline';
import { Inspector } from '../../local/inspect/Inspector';
import { cloudWatchLogsControlRecord, cloudWatchLogsRecord, gzip, kplAggregate, type KinesisPut } from '../../local/producer/encode';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const M = 60_000;
/** The virtual now of the run: event times are one minute before it. */
const NOW = Date.UTC(2026, 10, 27, 10, 5, 30);
const T = Date.UTC(2026, 10, 27, 10, 4, 0);

const PIPELINE = String.raw`
streams:
  metrics:
    timestamp: ts
    id: eventId
  logs:
    framing: cloudwatch-logs
    parse: { regex: '^(?<level>[A-Z]+) (?<service>\S+) status=(?<status>\d{3}) latency=(?<latencyMs>\d+)ms$' }
    timestamp: cloudwatch.timestamp
    id: cloudwatch.id
    fields:
      latencyS: 'latencyMs / 1000.0'
  iot:
    framing: ndjson
    timestamp: { field: ts, format: epoch-s }
  bridge:
    framing: json-array
    timestamp: time
    id: id
rules:
  - alert: KplErrors
    stream: metrics
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate: { errors: 'count(status >= 500)', total: 'count()' }
    when: 'errors >= 3.0'
    emit: early
  - alert: LogErrors
    stream: logs
    where: 'level == "ERROR"'
    groupBy: [service, cloudwatch.logGroup]
    window: { tumbling: 1m }
    aggregate: { errors: 'count()', slowest: 'max(latencyS)' }
    when: 'errors >= 2.0'
    emit: early
    annotations:
      summary: '{{service}} in {{cloudwatch.logGroup}}: {{errors}} errors'
  - alert: HotDevice
    stream: iot
    groupBy: [device]
    window: { tumbling: 1m }
    aggregate: { peak: 'max(temp)', n: 'count()' }
    when: 'peak > 80.0'
    emit: early
  - alert: Deploys
    stream: bridge
    groupBy: [detail.service, 'detail["detail-type"]']
    window: { tumbling: 1m }
    aggregate: { n: 'count()' }
    when: 'n >= 2.0'
    emit: early
`;

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('what a record may contain, end to end (kinesis-local, the real processor handler, dynalite)', () => {
  let local: LocalPipeline;
  const alerts: AlertMessage[] = [];
  const put = async (stream: string, records: readonly KinesisPut[]) => {
    const out = await local.kinesis.client().send(new PutRecordsCommand({ StreamName: stream, Records: records.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })) }));
    expect(out.FailedRecordCount ?? 0).toBe(0);
  };
  const values = async (ruleName: string, groupValues: Array<string | null>, start: number) => {
    const rule = local.pipeline.rules.find((r) => r.name === ruleName) as WindowRule;
    const state = await local.runtime.store.read(descriptor(rule.name, JSON.stringify(groupValues), { start, end: start + M }));
    if (!state) return undefined;
    const ra = new RuleAggregates(rule);
    const acc = ra.create();
    for (const slot of Object.values(state.slots)) ra.merge(acc, ra.deserialize(slot.partial as FixedPartialJson));
    return ra.results(acc);
  };
  const idle = async () => {
    for (const m of local.mappings.values()) await m.idle();
  };
  const quarantined = async (stream: string) => {
    const inspector = new Inspector(local.dynamo.client(), local.tableName, local.pipeline);
    return (await inspector.quarantined(stream)).map((q) => ({ reason: q.reason, index: q.index, data: Buffer.from(q.data, 'base64').toString('utf8') }));
  };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidewatch-formats-'));
    const file = join(dir, 'pipeline.yaml');
    writeFileSync(file, PIPELINE);
    local = await startLocalPipeline({ pipelineFile: file, shards: 1, tickEveryMs: 3_600_000, clock: { now: () => NOW }, onAlert: (m) => alerts.push(m) });
  }, 60_000);

  afterAll(async () => {
    await local?.stop();
  }, 30_000);

  it('KPL aggregates (aws-kinesis-agg), gzip records and plain JSON in one stream: every user event counted once, a bad user record quarantined alone', async () => {
    // Arrange: 12 checkout events (4 errors) in two aggregates, one of them with a broken user record;
    // 3 search events gzip-compressed; 1 plain JSON event.
    const event = (i: number, service: string, status: number) => Buffer.from(JSON.stringify({ eventId: `${service}-${i}`, ts: T + i * 1000, service, status }));
    const first = await kplAggregate(Array.from({ length: 6 }, (_, i) => ({ partitionKey: `pk-${i % 3}`, data: event(i, 'checkout', i < 2 ? 503 : 200) })));
    const second = await kplAggregate([
      ...Array.from({ length: 6 }, (_, i) => ({ partitionKey: 'pk-x', data: event(6 + i, 'checkout', i < 2 ? 500 : 200) })),
      { partitionKey: 'pk-x', data: Buffer.from('{"eventId":"broken","ts":', 'utf8') },
    ]);
    const zipped = [0, 1, 2].map((i) => ({ partitionKey: 'pk-z', data: gzip(event(i, 'search', 200)) }));

    // Act
    await put('metrics', [...first, ...second, ...zipped, { partitionKey: 'pk-p', data: event(9, 'search', 200) }]);
    await until('the checkout state', async () => ((await values('KplErrors', ['checkout'], T))?.['total'] === 12 ? true : undefined));
    await idle();

    // Assert
    expect([first.length, second.length]).toEqual([1, 1]);
    expect(await values('KplErrors', ['checkout'], T)).toEqual({ errors: 4, total: 12 });
    expect(await values('KplErrors', ['search'], T)).toEqual({ errors: 0, total: 4 });
    expect(await quarantined('metrics')).toEqual([{ reason: 'not-json', index: 6, data: '{"eventId":"broken","ts":' }]);
    expect(alerts.filter((a) => a.rule === 'KplErrors').map((a) => [a.group, a.state])).toEqual([[{ service: 'checkout' }, 'firing']]);
  }, 60_000);

  it('CloudWatch Logs subscription payloads (gzip, several log events): regex-parsed lines, CloudWatch fields in groupBy and annotations, CONTROL_MESSAGE acknowledged', async () => {
    // Arrange
    const lines = (group: string, first: number, texts: string[]) =>
      cloudWatchLogsRecord({ logGroup: group, logStream: '2026/11/27/[$LATEST]a1', logEvents: texts.map((message, i) => ({ id: `${group}-${first + i}`, timestamp: T + (first + i) * 1000, message })) });
    const api = lines('/aws/lambda/api', 0, ['ERROR api status=503 latency=1200ms', 'INFO api status=200 latency=30ms', 'a stack trace line', 'ERROR api status=500 latency=900ms']);
    const worker = lines('/aws/lambda/worker', 10, ['ERROR worker status=500 latency=50ms', 'INFO worker status=200 latency=20ms']);

    // Act
    await put('logs', [
      { partitionKey: 'control', data: cloudWatchLogsControlRecord() },
      { partitionKey: 'api', data: api },
      { partitionKey: 'worker', data: worker },
    ]);
    const fired = await until('the LogErrors alert', () => alerts.find((a) => a.rule === 'LogErrors'));
    await idle();

    // Assert
    expect(fired).toMatchObject({ state: 'firing', group: { service: 'api', 'cloudwatch.logGroup': '/aws/lambda/api' }, annotations: { summary: 'api in /aws/lambda/api: 2 errors' } });
    expect(await values('LogErrors', ['api', '/aws/lambda/api'], T)).toEqual({ errors: 2, slowest: 1.2 });
    expect(await values('LogErrors', ['worker', '/aws/lambda/worker'], T)).toEqual({ errors: 1, slowest: 0.05 });
    // The stack trace line alone is quarantined, with its index in the record; the control message is not.
    expect(await quarantined('logs')).toEqual([{ reason: 'no-match', index: 2, data: 'a stack trace line' }]);
    expect(alerts.filter((a) => a.rule === 'LogErrors')).toHaveLength(1);
  }, 60_000);

  it('NDJSON records of IoT readings in epoch seconds, and JSON arrays of EventBridge events grouped by nested fields', async () => {
    // Arrange
    const readings = [70, 85, 60].map((temp, i) => JSON.stringify({ device: 'd-1', temp, ts: (T + i * 1000) / 1000 })).join('\n') + '\n';
    const deploy = (id: string, service: string) => ({ id, 'detail-type': 'Deploy', source: 'ci', time: new Date(T + 5000).toISOString(), detail: { service, 'detail-type': 'rollout' } });

    // Act
    await put('iot', [{ partitionKey: 'd-1', data: Buffer.from(readings) }]);
    await put('bridge', [{ partitionKey: 'eb', data: Buffer.from(JSON.stringify([deploy('1', 'api'), deploy('2', 'api'), { id: '3', detail: {} }])) }]);
    await until('the HotDevice and Deploys alerts', () => (alerts.some((a) => a.rule === 'HotDevice') && alerts.some((a) => a.rule === 'Deploys') ? true : undefined));
    await idle();

    // Assert
    expect(await values('HotDevice', ['d-1'], T)).toEqual({ peak: 85, n: 3 });
    expect(await values('Deploys', ['api', 'rollout'], T)).toEqual({ n: 2 });
    expect(alerts.find((a) => a.rule === 'Deploys')!.group).toEqual({ 'detail.service': 'api', 'detail["detail-type"]': 'rollout' });
    // The third element has no time: quarantined alone, with its index.
    expect(await quarantined('bridge')).toEqual([{ reason: 'no-timestamp', index: 2, data: '{"id":"3","detail":{}}' }]);
  }, 60_000);
});
