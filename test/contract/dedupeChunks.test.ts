/**
 * Producer-duplicate ids on DynamoDB, as stored: one chunk item per bucket
 * per batch holding only the ids that batch adds (so a write is billed on
 * them, not on the whole bucket), its TTL the batch's horizon, the chunk
 * number as the bucket's version, and items of the layout before chunks
 * still honoured. The answers themselves are in the store contract
 * (stateStore.contract.test.ts), the same for every store.
 */
import { PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { dedupeLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { DEDUPE_ENTRY_BYTES } from '../../lambdas/core/dedupe';
import { dedupeEntries } from '../helpers/dedupeEntries';
import { freshTable, instrumentedClient, operations, startTestDynamo, testClient, type TestDynamo } from '../helpers/dynamo';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const S1 = 'shardId-000000000001';
const id16 = (n: number) => `id${String(n).padStart(14, '0')}`;

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

const entries = dedupeEntries;

async function items(tableName: string): Promise<Array<{ sk: string; entries: number; ttl: unknown }>> {
  const client = testClient(dynamo.endpoint);
  try {
    const out = await client.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: marshall({ ':pk': dedupeLayout.partition('telemetry', S1) }), ConsistentRead: true }));
    return (out.Items ?? []).map((i) => unmarshall(i)).map((i) => ({ sk: String(i['sk']), entries: i['ids'] instanceof Uint8Array ? i['ids'].byteLength / DEDUPE_ENTRY_BYTES : -1, ttl: i['expiresAt'] }));
  } finally {
    client.destroy();
  }
}

describe('producer ids on DynamoDB: one chunk per bucket per batch, of the new ids only', () => {
  it('each batch puts one chunk per bucket it adds ids to, holding only those ids, with its own TTL; a redelivery writes nothing', async () => {
    const tableName = await freshTable(dynamo.endpoint);
    const { client, log } = instrumentedClient(dynamo.endpoint);
    const store = new DynamoDBStateStore({ client, tableName });
    const first = Array.from({ length: 30 }, (_, i) => ({ bucket: T0 + (i < 20 ? 0 : 1000), id: id16(i), seq: String(100 + i) }));
    expect((await store.dedupe('telemetry', S1, entries(first), T0 + 10 * 60_000)).some((d) => d)).toBe(false);
    const second = Array.from({ length: 5 }, (_, i) => ({ bucket: T0, id: id16(30 + i), seq: String(200 + i) }));
    await store.dedupe('telemetry', S1, entries(second), T0 + 11 * 60_000);
    // Warm: a redelivery of the first batch answers from the cache, writes nothing.
    log.reset();
    expect((await store.dedupe('telemetry', S1, entries(first), T0 + 10 * 60_000)).some((d) => d)).toBe(false);
    expect(log.requests.length).toBe(0);
    expect(await items(tableName)).toEqual([
      { sk: `${T0}#000001`, entries: 20, ttl: Math.ceil((T0 + 10 * 60_000) / 1000) },
      { sk: `${T0}#000002`, entries: 5, ttl: Math.ceil((T0 + 11 * 60_000) / 1000) },
      { sk: `${T0 + 1000}#000001`, entries: 10, ttl: Math.ceil((T0 + 10 * 60_000) / 1000) },
    ]);
    // A cold container reads each bucket once (one query of its chunks), then writes one chunk for the new id.
    const cold = instrumentedClient(dynamo.endpoint);
    const coldStore = new DynamoDBStateStore({ client: cold.client, tableName });
    const resent = [
      { bucket: T0, id: id16(3), seq: '900' },
      { bucket: T0, id: id16(33), seq: '901' },
      { bucket: T0 + 1000, id: id16(25), seq: '902' },
      { bucket: T0 + 1000, id: id16(99), seq: '903' },
    ];
    expect(await coldStore.dedupe('telemetry', S1, entries(resent), T0 + 12 * 60_000)).toEqual([true, true, true, false]);
    expect([operations(cold.log, 'dedupe.read').map((r) => r.command), operations(cold.log, 'dedupe.add').map((r) => [r.command, r.request?.key.sk])]).toEqual([
      ['QueryCommand', 'QueryCommand'],
      [['PutItemCommand', `${T0 + 1000}#000002`]],
    ]);
  });

  it('a writer whose chunk number was taken fails once, reads the bucket again and decides on every id in it', async () => {
    const tableName = await freshTable(dynamo.endpoint);
    const a = instrumentedClient(dynamo.endpoint);
    const storeA = new DynamoDBStateStore({ client: a.client, tableName });
    const storeB = new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName });
    await storeA.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(1), seq: '10' }]), T0 + 60_000);
    // B (another container) reads the bucket, sees chunk 1, writes chunk 2: A's cache is now behind.
    expect(await storeB.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(1), seq: '11' }, { bucket: T0, id: id16(2), seq: '12' }]), T0 + 60_000)).toEqual([true, false]);
    a.log.reset();
    expect(await storeA.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(2), seq: '13' }, { bucket: T0, id: id16(3), seq: '14' }]), T0 + 60_000)).toEqual([true, false]);
    expect([a.log.conditionFailures('dedupe'), a.log.requests.map((r) => [r.command, r.request?.key.sk])]).toEqual([
      1,
      [
        ['PutItemCommand', `${T0}#000002`],
        ['QueryCommand', undefined], // a query names the partition only
        ['PutItemCommand', `${T0}#000003`],
      ],
    ]);
    expect((await items(tableName)).map((i) => [i.sk, i.entries])).toEqual([
      [`${T0}#000001`, 1],
      [`${T0}#000002`, 1],
      [`${T0}#000003`, 1],
    ]);
  });

  it('reads an item of the layout before chunks (JSON ids, whole sequence numbers) as part of its bucket', async () => {
    const tableName = await freshTable(dynamo.endpoint);
    const admin = testClient(dynamo.endpoint);
    await admin.send(
      new PutItemCommand({ TableName: tableName, Item: marshall({ pk: dedupeLayout.partition('telemetry', S1), sk: String(T0), ids: JSON.stringify({ [id16(1)]: '10', [id16(2)]: '11' }), v: 3, expiresAt: 1 }) }),
    );
    admin.destroy();
    const store = new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName });
    const got = await store.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(1), seq: '10' }, { bucket: T0, id: id16(2), seq: '99' }, { bucket: T0, id: id16(3), seq: '12' }]), T0 + 60_000);
    expect(got).toEqual([false, true, false]);
    expect((await items(tableName)).map((i) => [i.sk, i.entries])).toEqual([
      [String(T0), -1],
      [`${T0}#000001`, 1],
    ]);
  });
});
