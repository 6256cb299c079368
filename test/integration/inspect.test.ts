/**
 * The inspect commands against a state table written by the real engine and
 * DynamoDB store (dynalite): windows, alerts, quarantine list and replay.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { ENV } from '../../lambdas/core/contract';
import { Engine } from '../../lambdas/core/Engine';
import { parsePipeline } from '../../lambdas/core/pipeline';
import { Inspector } from '../../local/inspect/Inspector';
import { runInspect } from '../../local/inspect/cli';
import { freshTable, instrumentedClient, startTestDynamo, testClientConfig, type TestDynamo } from '../helpers/dynamo';
import { shardRecords, T0 } from '../helpers/factories';

const PIPELINE = `
streams:
  telemetry: { timestamp: ts, outOfOrderness: 0s }
rules:
  - alert: Errors
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate: { errors: 'count(status >= 500)', total: 'count()' }
    when: 'errors >= 2.0'
    emit: early
`;

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

async function seeded() {
  const table = await freshTable(dynamo.endpoint);
  const pipeline = parsePipeline(PIPELINE, 'inspect.yaml');
  const { client } = instrumentedClient(dynamo.endpoint);
  const store = new DynamoDBStateStore({ client, tableName: table });
  const engine = new Engine({ pipeline, stream: 'telemetry', store, clock: { now: () => T0 + 30_000 }, publish: async () => undefined });
  const s = 'shardId-000000000000';
  const records = shardRecords(s, [
    { service: 'api', ts: T0 + 1000, status: 500 },
    { service: 'api', ts: T0 + 2000, status: 503 },
    { service: 'web', ts: T0 + 3000, status: 200 },
    { service: 'web' }, // no timestamp: quarantined
  ]);
  await engine.processBatch(s, records);
  return { table, pipeline, client, store, poison: records[3]! };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {} }, out, err };
}

describe('inspect', () => {
  it('lists a rule\'s open windows with exact aggregates', async () => {
    const { table, pipeline, client } = await seeded();
    const rows = await new Inspector(client, table, pipeline).windows('Errors');
    expect(rows.map((r) => [r.group, r.start, r.values])).toEqual([
      [{ service: 'api' }, new Date(T0).toISOString(), { errors: 2, total: 2 }],
      [{ service: 'web' }, new Date(T0).toISOString(), { errors: 0, total: 1 }],
    ]);
  });

  it('with --all, lists the windows already evaluated too (a scan of the rule\'s items)', async () => {
    const { table, pipeline, client, store } = await seeded();
    // Later, with every shard idle, the ticker's advance closes window T0 (sealed, then out of the due index).
    const later = new Engine({ pipeline, stream: 'telemetry', store, clock: { now: () => T0 + 10 * 60_000 }, publish: async () => undefined });
    expect((await later.advance()).windowsClosed).toBe(2);
    const inspector = new Inspector(client, table, pipeline);
    expect(await inspector.windows('Errors')).toEqual([]);
    const all = await inspector.windows('Errors', { all: true });
    expect(all.map((r) => [r.group, r.start, r.closed, r.values])).toEqual([
      [{ service: 'api' }, new Date(T0).toISOString(), true, { errors: 2, total: 2 }],
      [{ service: 'web' }, new Date(T0).toISOString(), true, { errors: 0, total: 1 }],
    ]);
  });

  it('lists alert states, firing first', async () => {
    const { table, pipeline, client } = await seeded();
    const rows = await new Inspector(client, table, pipeline).alerts();
    expect(rows).toEqual([expect.objectContaining({ rule: 'Errors', group: { service: 'api' }, status: 'firing', unpublished: 0 })]);
  });

  it('lists quarantined records with reason, shard, sequence number and the data as received, and replays them byte for byte', async () => {
    const { table, pipeline, client, poison } = await seeded();
    const inspector = new Inspector(client, table, pipeline);
    const q = await inspector.quarantined('telemetry');
    expect(q).toEqual([expect.objectContaining({ reason: 'no-timestamp', shardId: poison.shardId, sequenceNumber: poison.sequenceNumber, partitionKey: poison.partitionKey, data: poison.data })]);
    const kinesis = new KinesisClient({ region: 'us-east-1' });
    const mock = mockClient(kinesis);
    mock.on(PutRecordsCommand).resolves({ FailedRecordCount: 0, Records: [{ SequenceNumber: '1', ShardId: 's' }] });
    const result = await inspector.replay(q, kinesis, 'telemetry');
    expect(result).toEqual({ sent: 1, failed: [] });
    const sent = mock.commandCalls(PutRecordsCommand)[0]!.args[0].input;
    expect(sent.StreamName).toBe('telemetry');
    expect(Buffer.from(sent.Records![0]!.Data!).toString('base64')).toBe(poison.data);
  });

  it('the CLI prints a table, and names what is missing', async () => {
    const { table } = await seeded();
    const ok = capture();
    const env = { [ENV.table]: table, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_REGION: String(testClientConfig(dynamo.endpoint).region) };
    const code = await runInspect('windows', ['--rule', 'Errors', '--pipeline', 'pipelines/sample.yaml'], { ...ok.io, env }).catch((e: Error) => e.message);
    // the sample pipeline has no rule "Errors": a clear error, not a crash
    expect(code).toMatch(/no rule "Errors" in .*sample\.yaml/);
    const file = join(mkdtempSync(join(tmpdir(), 'tw-inspect-')), 'p.yaml');
    writeFileSync(file, PIPELINE);
    const printed = capture();
    expect(await runInspect('windows', ['--rule', 'Errors', '--pipeline', file], { ...printed.io, env })).toBe(0);
    expect(printed.out.join('').split('\n')).toEqual([
      'start                     end                       group        closed  shards  values',
      `${new Date(T0).toISOString()}  ${new Date(T0 + 60_000).toISOString()}  service=api  no      1       errors=2 total=2`,
      `${new Date(T0).toISOString()}  ${new Date(T0 + 60_000).toISOString()}  service=web  no      1       errors=0 total=1`,
      '',
    ]);
    const noTable = capture();
    expect(await runInspect('alerts', [], noTable.io)).toBe(2);
    expect(noTable.err.join('')).toMatch(/which table\? give --table or set TIDEWATCH_TABLE/);
  });
});
