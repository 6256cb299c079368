/** inspect --all on a hopping rule (panes, issue 21): windows judged empty are not listed as windows. */
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { Engine } from '../../lambdas/core/Engine';
import { parsePipeline } from '../../lambdas/core/pipeline';
import { Inspector } from '../../local/inspect/Inspector';
import { freshTable, instrumentedClient, startTestDynamo, type TestDynamo } from '../helpers/dynamo';
import { shardRecords, T0 } from '../helpers/factories';

const PIPELINE = `
streams:
  telemetry: { timestamp: ts, outOfOrderness: 0s, idleTimeout: 1m }
rules:
  - alert: Hop
    stream: telemetry
    groupBy: [service]
    window: { hopping: 3m, every: 1m }
    aggregate: { total: 'count()' }
    when: 'total >= 1.0'
`;

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

describe('inspect --all, hopping rule', () => {
  it('lists the windows with events, not the windows judged empty after them (their closed markers)', async () => {
    const table = await freshTable(dynamo.endpoint);
    const pipeline = parsePipeline(PIPELINE, 'hop.yaml');
    const { client } = instrumentedClient(dynamo.endpoint);
    const store = new DynamoDBStateStore({ client, tableName: table });
    const s = 'shardId-000000000000';
    await new Engine({ pipeline, stream: 'telemetry', store, clock: { now: () => T0 + 10_000 }, publish: async () => undefined }).processBatch(s, shardRecords(s, [{ service: 'api', ts: T0 + 5_000 }]));
    // Idle: windows -2m, -1m, 0 close with the event (firing); the firing alert's next windows are judged empty.
    const later = new Engine({ pipeline, stream: 'telemetry', store, clock: { now: () => T0 + 6 * 60_000 }, publish: async () => undefined });
    await later.advance();
    await later.advance();
    const all = await new Inspector(client, table, pipeline).windows('Hop', { all: true });
    expect(all.map((r) => [(Date.parse(r.start) - T0) / 60_000, r.closed, r.values]).sort((a, b) => (a[0] as number) - (b[0] as number))).toEqual([
      [-2, true, { total: 1 }],
      [-1, true, { total: 1 }],
      [0, true, { total: 1 }],
    ]);
  });
});
