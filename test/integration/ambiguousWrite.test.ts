/**
 * Issue 19, ambiguous writes: the PutItem that records an alert transition is applied by DynamoDB
 * (dynalite behind a proxy) but its response is lost (the proxy drops the connection after the
 * write). The writer reads the item back, sees its own write, and publishes the transition in the
 * same invocation: it is not left in the outbox for the 30 s lease.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { alertLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { Engine } from '../../lambdas/core/Engine';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import { freshTable, startTestDynamo, testClientConfig, type TestDynamo } from '../helpers/dynamo';
import { fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../helpers/factories';
import { droppingProxy } from '../helpers/servers';

const M = 60_000;
let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

/** Drops the response of the first PutItem of rule R's alert items (the transition's record). */
const firstAlertPut = () => {
  let done = false;
  return (target: string, body: string) => {
    if (done || !target.endsWith('.PutItem')) return false;
    const item = (JSON.parse(body) as { Item?: { pk?: { S?: string } } }).Item;
    if (item?.pk?.S !== alertLayout.partition('R')) return false;
    done = true;
    return true;
  };
};

async function run(sdkAttempts: number) {
  const table = await freshTable(dynamo.endpoint);
  const proxy = await droppingProxy(dynamo.endpoint, firstAlertPut());
  const client = new DynamoDBClient({ ...testClientConfig(proxy.url), maxAttempts: sdkAttempts });
  const store = new DynamoDBStateStore({ client, tableName: table });
  const published: AlertTransition[] = [];
  const engine = new Engine({
    pipeline: pipelineOf([windowRule({ when: fn('total >= 1', (v) => (v['total'] as number) >= 1) })], streamSpec({ idleTimeoutMs: 3_600_000 })),
    stream: 'telemetry',
    store,
    clock: { now: () => T0 + 10 * M },
    publish: async (t) => {
      published.push(t);
    },
  });
  try {
    // One invocation: api's window T0 gets an event, and the shard's progress (T0+5m) closes it: api fires.
    const report = await engine.processBatch(
      'shardId-A',
      shardRecords('shardId-A', [
        { eventId: 'a', service: 'api', ts: T0 + 1_000 },
        { eventId: 'b', service: 'other', ts: T0 + 5 * M },
      ]),
    );
    const alert = await store.readAlert('R', '["api"]');
    return {
      error: report.error,
      retryFrom: report.retryFrom,
      dropped: proxy.dropped.length,
      published: report.published.map((t) => `${t.state} ${(t.window.start - T0) / M}`),
      publishCalls: published.map((t) => t.transitionId),
      outbox: alert?.outbox.length,
      status: alert?.state.status,
    };
  } finally {
    client.destroy();
    await proxy.close();
  }
}

describe('an alert transition whose record write was applied but whose response was lost (issue 19)', () => {
  it('without SDK retries: the writer reads the item back, finds its own write, and publishes in the same invocation', async () => {
    const r = await run(1);
    expect(r).toEqual({
      error: null,
      retryFrom: null,
      dropped: 1,
      // Fired in window 0, resolved in window 1 (judged empty, sealed) in the same advance.
      published: ['firing 0', 'resolved 1'],
      publishCalls: [r.publishCalls[0], r.publishCalls[1]],
      outbox: 0,
      status: 'inactive',
    });
    expect(r.publishCalls).toHaveLength(2);
    expect(new Set(r.publishCalls).size).toBe(2);
  });

  it('with SDK retries: the retried put fails its condition on the writer\'s own write, which its write id recognises', async () => {
    const r = await run(3);
    expect({ ...r, publishCalls: r.publishCalls.length }).toEqual({ error: null, retryFrom: null, dropped: 1, published: ['firing 0', 'resolved 1'], publishCalls: 2, outbox: 0, status: 'inactive' });
  });
});
