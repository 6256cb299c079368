/**
 * An anomaly rule through the real engine and the DynamoDB store (dynalite):
 * the model kept in the group's alert record and learned in its one
 * conditional write per closed window (no model item: anomaly/rule.ts,
 * modelInAlertRecord), and `tidewatch windows --all` showing each learned
 * window's stored verdict.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { stateRequestOf } from '../../lambdas/adapters/dynamodb/StateTable';
import { ENV } from '../../lambdas/core/contract';
import { Engine } from '../../lambdas/core/Engine';
import { parsePipeline } from '../../lambdas/core/pipeline';
import { runInspect } from '../../local/inspect/cli';
import { freshTable, startTestDynamo, testClient, testClientConfig, type TestDynamo } from '../helpers/dynamo';
import { shardRecords, T0 } from '../helpers/factories';

const M = 60_000;
const PIPELINE = `
streams:
  telemetry: { timestamp: ts, outOfOrderness: 0s }
rules:
  - alert: Spike
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate: { errors: 'count(status >= 500)' }
    anomaly: { of: errors, direction: up, warmup: 2, minSpread: 1 }
    when: 'anomaly.score > 0.99'
`;

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

it('learns each closed window in the alert record\'s one conditional write, and tidewatch windows shows the stored verdicts', async () => {
  const table = await freshTable(dynamo.endpoint);
  const pipeline = parsePipeline(PIPELINE, 'anomaly.yaml');
  const client = testClient(dynamo.endpoint);
  const ops: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const tag = stateRequestOf(context);
      if (tag?.item === 'model' || tag?.item === 'alert') ops.push(tag.op);
      return next(args);
    },
    { step: 'initialize', priority: 'low', name: 'countModelRequests' },
  );
  const store = new DynamoDBStateStore({ client, tableName: table });
  const published: string[] = [];
  const engine = new Engine({ pipeline, stream: 'telemetry', store, clock: { now: () => T0 + 10 * M }, publish: async (t) => void published.push(`${t.state} ${t.window.start - T0}`) });
  const errors = [2, 3, 2, 9];
  let seq = 1n;
  for (let i = 0; i < errors.length; i++) {
    const events = Array.from({ length: errors[i]! }, (_, k) => ({ service: 'api', ts: T0 + i * M + k * 1000, status: 503 }));
    await engine.processBatch('shardId-000000000000', shardRecords('shardId-000000000000', events, seq));
    seq += BigInt(events.length);
  }
  await engine.processBatch('shardId-000000000000', shardRecords('shardId-000000000000', [{ service: 'api', ts: T0 + 5 * M, status: 200 }], seq));
  await engine.advance();
  // minutes 0-3 closed: one read of the alert record and one conditional write of it each (the model learned in it); the
  // first close, with no record yet, looked for a model item once (the old place, before the model moved into the record)
  expect(ops.filter((op) => op.startsWith('model.'))).toEqual(['model.read']);
  // (each batch's advance queries the rule's active alerts; the fire and the resolve are confirmed: a read and a write each)
  const close = ['alert.read', 'alert.record', 'alert.list'];
  expect(ops).toEqual(['alert.list', 'alert.read', 'model.read', 'alert.record', 'alert.list', ...close, ...close, 'alert.read', 'alert.record', 'alert.read', 'alert.confirm', 'alert.list', 'alert.read', 'alert.record', 'alert.read', 'alert.confirm', 'alert.list']);
  expect(published).toEqual([`firing ${3 * M}`, `resolved ${4 * M}`]); // minute 4 sent nothing: resolved

  const file = join(mkdtempSync(join(tmpdir(), 'tw-anomaly-')), 'p.yaml');
  writeFileSync(file, PIPELINE);
  const out: string[] = [];
  const io = { stdout: { write: (s: string) => void out.push(s) }, stderr: { write: (s: string) => void out.push(s) }, env: { [ENV.table]: table, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_REGION: String(testClientConfig(dynamo.endpoint).region) }, cwd: tmpdir() };
  expect(await runInspect('windows', ['--rule', 'Spike', '--all', '--pipeline', file], io)).toBe(0);
  const iso = (t: number) => new Date(t).toISOString();
  expect(out.join('').split('\n')).toEqual([
    'start                     end                       group        closed  shards  values    anomaly',
    `${iso(T0 + 5 * M)}  ${iso(T0 + 6 * M)}  service=api  no      1       errors=0  -`,
    `${iso(T0 + 3 * M)}  ${iso(T0 + 4 * M)}  service=api  yes     1       errors=9  score=1.0000 expected=2.45 band=[0, 6.45]`,
    `${iso(T0 + 2 * M)}  ${iso(T0 + 3 * M)}  service=api  yes     1       errors=2  score=0.0000 expected=2.5 band=[0, 6.5]`,
    `${iso(T0 + M)}  ${iso(T0 + 2 * M)}  service=api  yes     1       errors=3  warming expected=2 band=[0, 6]`,
    `${iso(T0)}  ${iso(T0 + M)}  service=api  yes     1       errors=2  warming expected=0 band=[-4, 4]`,
    '',
  ]);
  client.destroy();
});
