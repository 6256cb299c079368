/**
 * Producer-duplicate ids on DynamoDB, as stored: one chunk item per bucket
 * per batch holding only the ids that batch adds (so a write is billed on
 * them, not on the whole bucket), its TTL the batch's horizon, the chunk
 * number as the bucket's version, and items of the layout before chunks
 * still honoured. The answers themselves are in the store contract
 * (stateStore.contract.test.ts), the same for every store.
 */
import { PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { DEDUPE_MAX_CHUNK_BYTES } from '../../lambdas/adapters/dynamodb/DedupeRepository';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { dedupeLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { DEDUPE_BUCKET_MS, DEDUPE_ENTRY_BYTES, DEDUPE_MAX_BUCKET_BYTES, dedupeId, dedupeSeqFingerprint } from '../../lambdas/core/dedupe';
import { dedupeEntries, dedupeIdsOf } from '../helpers/dedupeEntries';
import { OLD_ENTRY_BYTES, oldChunkBytes, oldEntry } from '../helpers/legacyDedupe';
import { freshTable, instrumentedClient, operations, startTestDynamo, testClient, type TestDynamo } from '../helpers/dynamo';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const S1 = 'shardId-000000000001';
/** The next bucket's start: buckets span 5 seconds of event time. */
const B = DEDUPE_BUCKET_MS;
/** A test id in dedupeId's form: a hash, as ids are (a bucket keeps their first 64 bits, where ids like `id0000…0001` and `id0000…0002` do not differ). */
const id16 = (n: number) => dedupeId(`id-${n}`);

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

const entries = dedupeEntries;

/** The partition's items: entries of a 12-byte chunk (`ids12`), of an 18-byte chunk written before (`ids`, binary), -1 for the layout before chunks. */
async function items(tableName: string): Promise<Array<{ sk: string; entries: number; ttl: unknown }>> {
  const client = testClient(dynamo.endpoint);
  try {
    const out = await client.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: marshall({ ':pk': dedupeLayout.partition('telemetry', S1) }), ConsistentRead: true }));
    const entries = (i: Record<string, unknown>): number => {
      const fresh = i['ids12'];
      const old = i['ids'];
      if (fresh instanceof Uint8Array) return fresh.byteLength / DEDUPE_ENTRY_BYTES;
      return old instanceof Uint8Array ? old.byteLength / OLD_ENTRY_BYTES : -1;
    };
    return (out.Items ?? []).map((i) => unmarshall(i)).map((i) => ({ sk: String(i['sk']), entries: entries(i), ttl: i['expiresAt'] }));
  } finally {
    client.destroy();
  }
}

describe('producer ids on DynamoDB: one chunk per bucket per batch, of the new ids only', () => {
  it('each batch puts one chunk per bucket it adds ids to, holding only those ids, with its own TTL; a redelivery writes nothing', async () => {
    const tableName = await freshTable(dynamo.endpoint);
    const { client, log } = instrumentedClient(dynamo.endpoint);
    const store = new DynamoDBStateStore({ client, tableName });
    const first = Array.from({ length: 30 }, (_, i) => ({ bucket: T0 + (i < 20 ? 0 : B), id: id16(i), seq: String(100 + i) }));
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
      { sk: `${T0 + B}#000001`, entries: 10, ttl: Math.ceil((T0 + 10 * 60_000) / 1000) },
    ]);
    // A cold container reads each bucket once (one query of its chunks), then writes one chunk for the new id.
    const cold = instrumentedClient(dynamo.endpoint);
    const coldStore = new DynamoDBStateStore({ client: cold.client, tableName });
    const resent = [
      { bucket: T0, id: id16(3), seq: '900' },
      { bucket: T0, id: id16(33), seq: '901' },
      { bucket: T0 + B, id: id16(25), seq: '902' },
      { bucket: T0 + B, id: id16(99), seq: '903' },
    ];
    expect(await coldStore.dedupe('telemetry', S1, entries(resent), T0 + 12 * 60_000)).toEqual([true, true, true, false]);
    expect([operations(cold.log, 'dedupe.read').map((r) => r.command), operations(cold.log, 'dedupe.add').map((r) => [r.command, r.request?.key.sk])]).toEqual([
      ['QueryCommand', 'QueryCommand'],
      [['PutItemCommand', `${T0 + B}#000002`]],
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

  it('a bucket the code before wrote (18-byte chunks, and the layout before chunks) answers the same after the upgrade; new ids go in a 12-byte chunk', async () => {
    const tableName = await freshTable(dynamo.endpoint);
    const admin = testClient(dynamo.endpoint);
    const pk = dedupeLayout.partition('telemetry', S1);
    const ttl = Math.ceil((T0 + 60 * 60_000) / 1000);
    // As the code before recorded them: the engine's hashes of the event ids, 48-bit fingerprints of the sequence numbers.
    const chunk1 = oldChunkBytes([oldEntry('order-1', '100'), oldEntry('order-2', '101'), oldEntry('order-3', '102', 0)]);
    const chunk2 = oldChunkBytes([oldEntry('order-4', '103')]);
    for (const item of [
      { pk, sk: String(T0), ids: JSON.stringify({ [dedupeId('order-5')]: '104' }), v: 1, expiresAt: ttl },
      { pk, sk: `${T0}#000001`, ids: chunk1, expiresAt: ttl },
      { pk, sk: `${T0}#000002`, ids: chunk2, expiresAt: ttl },
    ]) {
      await admin.send(new PutItemCommand({ TableName: tableName, Item: marshall(item) }));
    }
    const store = new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName });
    const got = await store.dedupe(
      'telemetry',
      S1,
      entries([
        { bucket: T0, id: dedupeId('order-1'), seq: '100' }, // redelivery of its record: not a duplicate
        { bucket: T0, id: dedupeId('order-2'), seq: '200' }, // the producer resent it: a duplicate
        { bucket: T0, id: dedupeId('order-3'), seq: '102', index: 0 }, // redelivery of the same sub-event
        { bucket: T0, id: dedupeId('order-3'), seq: '102', index: 1 }, // the id again in another sub-event: a duplicate
        { bucket: T0, id: dedupeId('order-4'), seq: '300' }, // resent, recorded in the second old chunk
        { bucket: T0, id: dedupeId('order-5'), seq: '104' }, // redelivery, recorded in the layout before chunks
        { bucket: T0, id: dedupeId('order-6'), seq: '105' }, // new
      ]),
      T0 + 60 * 60_000,
    );
    expect(got).toEqual([false, true, false, true, true, false, false]);
    // The new id went into chunk 3, in `ids12` (12 bytes), the old items untouched.
    const stored = (await admin.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: marshall({ ':pk': pk }), ConsistentRead: true }))).Items!.map((i) => unmarshall(i));
    expect(stored.map((i) => [i['sk'], Object.keys(i).filter((k) => k.startsWith('ids')), i['ids12'] instanceof Uint8Array ? i['ids12'].byteLength : -1])).toEqual([
      [String(T0), ['ids'], -1],
      [`${T0}#000001`, ['ids'], -1],
      [`${T0}#000002`, ['ids'], -1],
      [`${T0}#000003`, ['ids12'], 12],
    ]);
    expect(Buffer.from(stored[1]!['ids'] as Uint8Array).equals(Buffer.from(chunk1))).toBe(true);
    // Another container (cold) reads all four items as one bucket.
    const cold = new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName });
    expect(
      await cold.dedupe(
        'telemetry',
        S1,
        entries([
          { bucket: T0, id: dedupeId('order-6'), seq: '999' },
          { bucket: T0, id: dedupeId('order-1'), seq: '100' },
          { bucket: T0, id: dedupeId('order-2'), seq: '101' },
          { bucket: T0, id: dedupeId('order-5'), seq: '998' },
          { bucket: T0, id: dedupeId('order-7'), seq: '106' },
        ]),
        T0 + 60 * 60_000,
      ),
    ).toEqual([true, false, false, true, false]);
    admin.destroy();
  });
  it('reads the items of one-second buckets (the layout before 5-second buckets) with the bucket that spans them, in one Query; new ids go in a chunk of the bucket', async () => {
    expect(B).toBe(5000);
    const tableName = await freshTable(dynamo.endpoint);
    const admin = testClient(dynamo.endpoint);
    const pk = dedupeLayout.partition('telemetry', S1);
    const ttl = Math.ceil((T0 + 60 * 60_000) / 1000);
    const chunk = (ids: Array<[string, string]>) => dedupeLayout.encodeChunk({ pk, sk: 'x' }, dedupeIdsOf(ids.map(([id, seq]) => [id, dedupeSeqFingerprint(seq)])), ttl)['ids12'];
    // As the code of one-second buckets filed them: seconds T0+1s (chunks 1 and 3), T0+4s, T0+2s before chunks, T0 itself;
    // and two seconds of other buckets (T0-1s, T0+5s), which bucket T0 must not take.
    for (const item of [
      { pk, sk: `${T0 - 1000}#000001`, ids12: chunk([[id16(90), '90']]), expiresAt: ttl },
      { pk, sk: `${T0}#000001`, ids12: chunk([[id16(1), '1']]), expiresAt: ttl },
      { pk, sk: `${T0 + 1000}#000001`, ids12: chunk([[id16(2), '2']]), expiresAt: ttl },
      { pk, sk: `${T0 + 1000}#000003`, ids12: chunk([[id16(3), '3']]), expiresAt: ttl },
      { pk, sk: String(T0 + 2000), ids: JSON.stringify({ [id16(4)]: '4' }), v: 1, expiresAt: ttl },
      { pk, sk: `${T0 + 4000}#000002`, ids: oldChunkBytes([oldEntry('order-5', '5')]), expiresAt: ttl },
      { pk, sk: `${T0 + 5000}#000001`, ids12: chunk([[id16(91), '91']]), expiresAt: ttl },
    ]) {
      await admin.send(new PutItemCommand({ TableName: tableName, Item: marshall(item) }));
    }
    const { client, log } = instrumentedClient(dynamo.endpoint);
    const store = new DynamoDBStateStore({ client, tableName });
    const got = await store.dedupe(
      'telemetry',
      S1,
      entries([
        { bucket: T0, id: id16(1), seq: '100' }, // resent: recorded in second T0
        { bucket: T0, id: id16(2), seq: '2' }, // redelivery of its record (second T0+1s)
        { bucket: T0, id: id16(3), seq: '300' }, // resent (second T0+1s, chunk 3)
        { bucket: T0, id: id16(4), seq: '400' }, // resent (T0+2s, the layout before chunks)
        { bucket: T0, id: dedupeId('order-5'), seq: '500' }, // resent (T0+4s, an 18-byte chunk)
        { bucket: T0, id: id16(90), seq: '900' }, // recorded in the bucket before: not this bucket's
        { bucket: T0, id: id16(91), seq: '910' }, // recorded in the next bucket: not this bucket's
      ]),
      T0 + 60 * 60_000,
    );
    expect(got).toEqual([true, false, true, true, true, false, false]);
    // One Query; the new ids in one chunk numbered after the highest under the bucket's own key (second T0's chunk 1:
    // the other seconds' chunk numbers, up to 3, are theirs).
    expect(log.requests.map((r) => [r.command, r.request?.key.sk])).toEqual([
      ['QueryCommand', undefined],
      ['PutItemCommand', `${T0}#000002`],
    ]);
    expect((await items(tableName)).find((i) => i.sk === `${T0}#000002`)?.entries).toBe(2);
    // A cold container reads them all as one bucket again.
    const cold = new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName });
    expect(await cold.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(1), seq: '1' }, { bucket: T0, id: id16(2), seq: '999' }, { bucket: T0, id: id16(90), seq: '901' }]), T0 + 60 * 60_000)).toEqual([false, true, true]);
    admin.destroy();
  });

  it('a batch adding more ids to a bucket than a chunk holds puts several chunks; a bucket not on the 5-second grid is refused', async () => {
    const tableName = await freshTable(dynamo.endpoint);
    const { client, log } = instrumentedClient(dynamo.endpoint);
    const store = new DynamoDBStateStore({ client, tableName });
    const perChunk = DEDUPE_MAX_CHUNK_BYTES / DEDUPE_ENTRY_BYTES;
    expect(perChunk).toBe(25_600);
    expect(DEDUPE_MAX_BUCKET_BYTES / DEDUPE_ENTRY_BYTES).toBe(5 * perChunk);
    const many = Array.from({ length: perChunk + 10 }, (_, i) => ({ bucket: T0, id: dedupeId(`big-${i}`), seq: String(1000 + i) }));
    expect((await store.dedupe('telemetry', S1, entries(many), T0 + 60_000)).some((d) => d)).toBe(false);
    expect(operations(log, 'dedupe.add').map((r) => r.request?.key.sk)).toEqual([`${T0}#000001`, `${T0}#000002`]);
    expect((await items(tableName)).map((i) => [i.sk, i.entries])).toEqual([
      [`${T0}#000001`, perChunk],
      [`${T0}#000002`, 10],
    ]);
    const cold = new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName });
    const again = await cold.dedupe('telemetry', S1, entries([many[0]!, { ...many[perChunk + 5]!, seq: '7' }, { bucket: T0, id: dedupeId('new'), seq: '8' }]), T0 + 60_000);
    expect(again).toEqual([false, true, false]);
    await expect(store.dedupe('telemetry', S1, entries([{ bucket: T0 + 1000, id: id16(1), seq: '1' }]), T0 + 60_000)).rejects.toThrow(/dedupe bucket \d+ is not a multiple of 5000 ms/);
  });
  it('chunk numbers follow the bucket\'s own key only: a writer whose cache is behind cannot slip a chunk into a gap left by another second\'s one-second chunks (the reviewer\'s case)', async () => {
    const tableName = await freshTable(dynamo.endpoint);
    const admin = testClient(dynamo.endpoint);
    const pk = dedupeLayout.partition('telemetry', S1);
    const ttl = Math.ceil((T0 + 60 * 60_000) / 1000);
    const storeA = new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName });
    // Container A records an id (chunk 1 of the bucket) and keeps the bucket cached.
    expect(await storeA.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(1), seq: '1' }]), T0 + 60_000)).toEqual([false]);
    // The code before, in the rollout overlap, files an id of second T0+2s as its chunk 3.
    await admin.send(new PutItemCommand({ TableName: tableName, Item: marshall({ pk, sk: `${T0 + 2000}#000003`, ids12: dedupeLayout.encodeChunk({ pk, sk: 'x' }, dedupeIdsOf([[id16(50), dedupeSeqFingerprint('50')]]), ttl)['ids12'], expiresAt: ttl }) }));
    // Container C (cold) records id X: its chunk is the bucket's chunk 2 (not 4).
    const storeC = new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName });
    expect(await storeC.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(7), seq: '70' }]), T0 + 60_000)).toEqual([false]);
    // A, its cache behind, meets X again from a producer retry: its chunk 2 is taken, it reads again and drops X.
    expect(await storeA.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(7), seq: '71' }]), T0 + 60_000)).toEqual([true]);
    expect((await items(tableName)).map((i) => i.sk)).toEqual([`${T0}#000001`, `${T0}#000002`, `${T0 + 2000}#000003`]);
    admin.destroy();
  });
});
