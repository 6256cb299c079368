/**
 * The inspect commands against a state table written by the real engine and
 * DynamoDB store (dynalite): windows, alerts, quarantine list and replay.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeStreamSummaryCommand, KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { ENV } from '../../lambdas/core/contract';
import { Engine } from '../../lambdas/core/Engine';
import { parsePipeline } from '../../lambdas/core/pipeline';
import { Inspector } from '../../local/inspect/Inspector';
import { runInspect } from '../../local/inspect/cli';
import { writeRunningPipeline, type RunningPipeline } from '../../local/discovery';
import { freshTable, instrumentedClient, startTestDynamo, testClientConfig, type TestDynamo } from '../helpers/dynamo';
import { silentServer } from '../helpers/servers';
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

/** A folder with no .tidewatch/local.json: the CLI finds no running pipeline there. */
const nowhere = mkdtempSync(join(tmpdir(), 'tw-nolocal-'));

function capture(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env, cwd: nowhere }, out, err, text: () => out.join(''), errors: () => err.join('') };
}

function pipelineFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tw-inspect-')), 'p.yaml');
  writeFileSync(file, PIPELINE);
  return file;
}

/** A state file as npm start writes it while it runs. */
function runningPipeline(table: string, file: string, kinesis = 'http://127.0.0.1:1'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tw-local-')), 'local.json');
  const state: RunningPipeline = {
    version: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    pipelineFile: file,
    dataDir: null,
    region: String(testClientConfig(dynamo.endpoint).region),
    endpoints: { kinesis, dynamodb: dynamo.endpoint, sns: 'http://127.0.0.1:1' },
    table,
    topicArn: 'arn:aws:sns:us-east-1:000000000000:t',
    streams: [{ name: 'telemetry', shards: 1, watermark: null }],
    clock: { eventTime: T0, wallTime: Date.now(), rate: 1 },
  };
  writeRunningPipeline(path, state);
  return path;
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

  it('lists an open hopping window with the merge of its panes (kept on the items of the windows they start)', async () => {
    const table = await freshTable(dynamo.endpoint);
    const pipeline = parsePipeline(
      `
streams:
  telemetry: { timestamp: ts, outOfOrderness: 0s }
rules:
  - alert: Slow
    stream: telemetry
    groupBy: [service]
    window: { hopping: 3m, every: 1m }
    aggregate: { total: 'count()' }
    when: 'total >= 100.0'
`,
      'hop.yaml',
    );
    const { client } = instrumentedClient(dynamo.endpoint);
    const engine = new Engine({ pipeline, stream: 'telemetry', store: new DynamoDBStateStore({ client, tableName: table }), clock: { now: () => T0 + 80_000 }, publish: async () => undefined });
    const s = 'shardId-000000000000';
    await engine.processBatch(s, shardRecords(s, [{ service: 'api', ts: T0 + 1000 }, { service: 'api', ts: T0 + 70_000 }]));
    // Window T0-2m closed (the watermark, 70 s, passed its close at 1 m); the open ones, newest first.
    const rows = await new Inspector(client, table, pipeline).windows('Slow');
    expect(rows.map((r) => [(Date.parse(r.start) - T0) / 60_000, r.closed, r.shards, r.values])).toEqual([
      [1, false, 1, { total: 1 }],
      [0, false, 1, { total: 2 }],
      [-1, false, 1, { total: 2 }],
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
    expect(result).toEqual({ sent: 1, failed: [], skipped: [] });
    const sent = mock.commandCalls(PutRecordsCommand)[0]!.args[0].input;
    expect(sent.StreamName).toBe('telemetry');
    expect(Buffer.from(sent.Records![0]!.Data!).toString('base64')).toBe(poison.data);
  });

  it('the CLI prints a table, and names what is missing', async () => {
    const { table } = await seeded();
    const env = { [ENV.table]: table, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_REGION: String(testClientConfig(dynamo.endpoint).region) };
    // the sample pipeline has no rule "Errors": a usage error that names the rules there is
    const wrongPipeline = capture(env);
    expect(await runInspect('windows', ['--rule', 'Errors', '--pipeline', 'pipelines/sample.yaml'], wrongPipeline.io)).toBe(2);
    expect(wrongPipeline.errors()).toMatch(/tidewatch windows: no rule "Errors" in .*sample\.yaml \(rules: HighErrorRate, SlowResponses, ErrorSpike, SessionBurst, HeartbeatMissing, DeployThenErrors, JobNeverFinished\)/);
    const printed = capture(env);
    expect(await runInspect('windows', ['--rule', 'Errors', '--pipeline', pipelineFile()], printed.io)).toBe(0);
    expect(printed.text().split('\n')).toEqual([
      'start                     end                       group        closed  shards  values',
      `${new Date(T0).toISOString()}  ${new Date(T0 + 60_000).toISOString()}  service=api  no      1       errors=2 total=2`,
      `${new Date(T0).toISOString()}  ${new Date(T0 + 60_000).toISOString()}  service=web  no      1       errors=0 total=1`,
      '',
    ]);
    const noTable = capture();
    expect(await runInspect('alerts', [], noTable.io)).toBe(2);
    expect(noTable.errors()).toMatch(/which table\? give --table or set TIDEWATCH_TABLE, or run npm start in this folder/);
    const typo = capture(env);
    expect(await runInspect('alerts', ['--rul', 'x'], typo.io)).toBe(2);
    expect(typo.errors()).toContain('tidewatch alerts: unknown option --rul (did you mean --rule?)');
  });

  it('finds the running local pipeline: no --pipeline, --table or --endpoint needed', async () => {
    // GIVEN npm start's state file (table, pipeline file, endpoints), and nothing else
    const { table } = await seeded();
    const env = { TIDEWATCH_LOCAL: runningPipeline(table, pipelineFile()) };
    // WHEN
    const windows = capture(env);
    const alerts = capture(env);
    const quarantine = capture(env);
    // THEN
    expect(await runInspect('windows', ['--rule', 'Errors'], windows.io)).toBe(0);
    expect(windows.text()).toContain('service=api  no      1       errors=2 total=2');
    expect(await runInspect('alerts', [], alerts.io)).toBe(0);
    expect(alerts.text()).toMatch(/^status\s+rule\s+group[^\n]*\nfiring\s+Errors\s+service=api/);
    expect(await runInspect('quarantine', ['list'], quarantine.io)).toBe(0);
    expect(quarantine.text()).toContain('no-timestamp');
    // a state file left by a pipeline that has exited is not used, and said so
    const stale = runningPipeline(table, pipelineFile());
    const state = JSON.parse(readFileSync(stale, 'utf8')) as RunningPipeline;
    writeRunningPipeline(stale, { ...state, pid: 2 ** 22 + 12345 });
    const gone = capture({ TIDEWATCH_LOCAL: stale });
    expect(await runInspect('alerts', [], gone.io)).toBe(2);
    expect(gone.errors()).toContain(`${stale} is left from a pipeline that has exited (pid ${2 ** 22 + 12345})`);
  });

  it('replays with only what npm start printed, marks each record with the time and its new sequence number, and refuses to replay it twice without --force', async () => {
    const { table, poison } = await seeded();
    const env = { TIDEWATCH_LOCAL: runningPipeline(table, pipelineFile()) };
    const kinesis = mockClient(KinesisClient);
    try {
      let seq = 100;
      kinesis.on(DescribeStreamSummaryCommand).resolves({});
      kinesis.on(PutRecordsCommand).callsFake(async (input: { Records: unknown[] }) => ({ FailedRecordCount: 0, Records: input.Records.map(() => ({ SequenceNumber: String(seq++), ShardId: 'shardId-000000000000' })) }));
      // WHEN replayed once
      const first = capture(env);
      expect([await runInspect('quarantine', ['replay'], first.io), first.errors()]).toEqual([0, '']);
      expect(first.text()).toContain('replayed 1 of 1 quarantined records to telemetry (each marked with the time and its new sequence number)');
      const sent = kinesis.commandCalls(PutRecordsCommand)[0]!.args[0].input;
      expect(Buffer.from(sent.Records![0]!.Data!).toString('base64')).toBe(poison.data);
      // THEN the list shows the mark, and a second replay is refused
      const listed = capture(env);
      expect(await runInspect('quarantine', ['list', '--json'], listed.io)).toBe(0);
      expect(JSON.parse(listed.text())).toMatchObject({ sequenceNumber: poison.sequenceNumber, replayed: { to: 'telemetry', sequenceNumber: '100', count: 1 } });
      const again = capture(env);
      expect(await runInspect('quarantine', ['replay'], again.io)).toBe(0);
      expect(again.text()).toContain('replayed 0 of 0 quarantined records to telemetry');
      expect(again.errors()).toContain('skipped 1 record(s) replayed before (give --force to send them again)');
      expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(1);
      // unless forced
      const forced = capture(env);
      expect(await runInspect('quarantine', ['replay', '--force', '--json'], forced.io)).toBe(0);
      expect(JSON.parse(forced.text())).toEqual({ sent: 1, failed: [], skipped: [] });
      const after = capture(env);
      await runInspect('quarantine', ['list', '--json'], after.io);
      expect(JSON.parse(after.text())).toMatchObject({ replayed: { sequenceNumber: '101', count: 2 } });
    } finally {
      kinesis.restore();
    }
  });

  it('fails fast and names the table and the endpoint: missing table, refused connection, an endpoint that never answers', async () => {
    const file = pipelineFile();
    const missing = capture();
    expect(await runInspect('alerts', ['--table', 'nope', '--endpoint', dynamo.endpoint, '--pipeline', file], missing.io)).toBe(1);
    expect(missing.errors()).toBe(`tidewatch alerts: table "nope" does not exist at ${dynamo.endpoint}: is the pipeline running? (npm start prints its endpoints)\n`);
    const refused = capture();
    expect(await runInspect('alerts', ['--table', 't', '--endpoint', 'http://127.0.0.1:1', '--pipeline', file], refused.io)).toBe(1);
    expect(refused.errors()).toContain('cannot connect to DynamoDB at http://127.0.0.1:1 (connection refused)');
    const silent = await silentServer();
    try {
      const hung = capture({ TIDEWATCH_REQUEST_TIMEOUT: '250ms' });
      const started = Date.now();
      expect(await runInspect('windows', ['--rule', 'Errors', '--table', 't', '--endpoint', silent.url, '--pipeline', file], hung.io)).toBe(1);
      expect(hung.errors()).toContain(`DynamoDB at ${silent.url} did not answer within 250ms (--request-timeout)`);
      expect(Date.now() - started).toBeLessThan(5000);
      const badTimeout = capture();
      expect(await runInspect('alerts', ['--table', 't', '--request-timeout', '5', '--pipeline', file], badTimeout.io)).toBe(2);
      expect(badTimeout.errors()).toContain('--request-timeout: a duration needs a unit: write 5s, 5m or 5ms');
    } finally {
      await silent.close();
    }
  });
});

afterAll(() => rmSync(nowhere, { recursive: true, force: true }));
