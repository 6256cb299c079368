/**
 * Due buckets on DynamoDB (issue 21, tableLayout.ts dueLayout): how the closer finds fixed windows
 * without an index entry per window item. What every store promises is in stateStore.contract.test.ts
 * (dueKeys holds every open due key); this file pins what is DynamoDB's own: the requests (one ADD per
 * window and container for all its groups, nothing for windows already listed), chunks, the delete of
 * a closed bucket only at the version read, the listing a retry makes after a container died between
 * its writes and its listing, and items written before buckets (in the due index) still closed.
 */
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { equals } from '../../lambdas/adapters/dynamodb/expressions';
import { StateTable } from '../../lambdas/adapters/dynamodb/StateTable';
import { aggregateLayout, ATTR, DUE_CHUNK_MEMBERS, DUE_ENLIST_MAX, DUE_MEMBER_BYTES, dueLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { descriptor } from '../../lambdas/core/Engine';
import type { PartialJson } from '../../lambdas/core/partials';
import { padSequence } from '../../lambdas/core/sequence';
import type { KeyDescriptor, SlotBuilder, StateStore } from '../../lambdas/core/StateStore';
import { freshTable, instrumentedClient, startTestDynamo, testClient, type TestDynamo } from '../helpers/dynamo';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const M = 60_000;
const S1 = 'shardId-000000000001';

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

const windowKey = (group: string, start = T0, rule = 'R'): KeyDescriptor => descriptor(rule, JSON.stringify([group]), { start, end: start + M });
const one = (hwm: number, closeAt: number): SlotBuilder => (current) => (current !== undefined && current.hwm >= padSequence(String(hwm)) ? null : { slot: { hwm: padSequence(String(hwm)), partial: { n: 1 } as unknown as PartialJson }, closeAt });

async function setup() {
  const tableName = await freshTable(dynamo.endpoint);
  const { client, log } = instrumentedClient(dynamo.endpoint);
  const store = new DynamoDBStateStore({ client, tableName });
  const table = new StateTable({ client: testClient(dynamo.endpoint), tableName });
  return { tableName, store, log, table, another: () => new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName }) };
}

const ops = (log: Awaited<ReturnType<typeof setup>>['log'], item: string) => log.requests.filter((r) => r.request?.item === item).map((r) => r.request!.op);
const groupsDue = async (store: StateStore, rule = 'R', watermark = Number.MAX_SAFE_INTEGER) => (await store.dueKeys(rule, watermark)).map((d) => d.key.groupKey).sort();

describe('due buckets (DynamoDB)', () => {
  it('lists a window\'s groups with one ADD per window and flush, none for groups already listed, and no index entry', async () => {
    const { store, log, table, tableName } = await setup();
    for (const g of ['a', 'b', 'c']) await store.apply(windowKey(g), S1, one(1, T0 + 2 * M));
    await store.apply(windowKey('a', T0 + M), S1, one(1, T0 + 3 * M));
    expect(ops(log, 'due')).toEqual([]);
    await store.flushDue();
    // Two windows: two buckets, one write each.
    expect(ops(log, 'due')).toEqual(['due.enlist', 'due.enlist']);
    // The window items are not in the due index (no duePk): the bucket is what lists them.
    const item = await table.get('aggregate', 'aggregate.read', aggregateLayout.key(windowKey('a')));
    expect(item?.[ATTR.duePk]).toBeUndefined();
    expect(item?.[ATTR.closeAt]).toBe(T0 + 2 * M);
    log.reset();
    // The next batch on the same windows and groups: its writes, no listing.
    for (const g of ['a', 'b', 'c']) await store.apply(windowKey(g), S1, one(2, T0 + 2 * M));
    await store.flushDue();
    expect(ops(log, 'due')).toEqual([]);
    // Another container meets the same groups: it lists them again (an ADD of what the set holds changes nothing).
    const cold = new DynamoDBStateStore({ client: instrumentedClient(dynamo.endpoint).client, tableName });
    expect((await cold.apply(windowKey('b'), S1, one(3, T0 + 2 * M))).status).toBe('applied');
    await cold.flushDue();
    expect(await groupsDue(store, 'R', T0 + 2 * M)).toEqual(['["a"]', '["b"]', '["c"]']);
    expect(await groupsDue(store, 'R', T0 + 3 * M)).toEqual(['["a"]', '["a"]', '["b"]', '["c"]']);
    expect(await groupsDue(store, 'R', T0 + 2 * M - 1)).toEqual([]);
  });

  it('deletes a closed bucket only at the version read: a group added after the read stays listed', async () => {
    const { store, another } = await setup();
    await store.apply(windowKey('a'), S1, one(1, T0 + 2 * M));
    await store.flushDue();
    const due = await store.dueKeys('R', T0 + 2 * M);
    expect(due.map((d) => d.key.groupKey)).toEqual(['["a"]']);
    // A lagging shard writes group b's window after the closer read the bucket (its watermark was behind).
    const lagging = another();
    await lagging.apply(windowKey('b'), 'shardId-000000000002', one(1, T0 + 2 * M));
    await lagging.flushDue();
    await store.finishWindow(windowKey('a'));
    await store.releaseDue('R', due);
    expect(await groupsDue(store, 'R', T0 + 2 * M)).toEqual(['["a"]', '["b"]']);
    // The next close reads both (a is finished: the closer skips it), closes b, and the bucket goes.
    const again = await store.dueKeys('R', T0 + 2 * M);
    await store.finishWindow(windowKey('b'));
    await store.releaseDue('R', again);
    expect(await store.dueKeys('R', Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  it('a retry whose first attempt died between its writes and its listing lists the windows (the records are in: unchanged)', async () => {
    const { store, another } = await setup();
    await store.apply(windowKey('a'), S1, one(5, T0 + 2 * M));
    // The container dies here: nothing flushed. Its retry runs on a new container.
    const retry = another();
    expect((await retry.apply(windowKey('a'), S1, one(5, T0 + 2 * M))).status).toBe('unchanged');
    await retry.flushDue();
    expect(await groupsDue(retry)).toEqual(['["a"]']);
  });

  it('splits a bucket in chunks of at most DUE_CHUNK_MEMBERS + DUE_ENLIST_MAX groups, all listed; a cold container finds the chunk with room', async () => {
    const { store, log, table, another } = await setup();
    const groups = Array.from({ length: DUE_CHUNK_MEMBERS + 150 }, (_, i) => `g${String(i).padStart(4, '0')}`);
    for (const [i, g] of groups.entries()) await store.apply(windowKey(g), S1, one(i + 1, T0 + 2 * M));
    await store.flushDue();
    const adds = log.requests.filter((r) => r.request?.op === 'due.enlist');
    expect(adds.length).toBe(Math.ceil(groups.length / DUE_ENLIST_MAX) + adds.filter((r) => r.conditionFailed).length);
    const items = await table.query('due', 'due.list', dueLayout.partition('R'), { keyCondition: equals(ATTR.pk, dueLayout.partition('R')), consistent: true });
    const sizes = items.map((i) => dueLayout.decode(i).members.length);
    expect(sizes.every((n) => n <= DUE_CHUNK_MEMBERS + DUE_ENLIST_MAX)).toBe(true);
    expect(sizes.length).toBe(2);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(groups.length);
    expect(await groupsDue(store)).toEqual(groups.map((g) => JSON.stringify([g])).sort());
    // A cold container with a new group: chunk 0 is full (its condition fails once), chunk 1 takes it.
    const cold = another();
    await cold.apply(windowKey('late-comer'), S1, one(1, T0 + 2 * M));
    await cold.flushDue();
    expect((await groupsDue(store)).length).toBe(groups.length + 1);
  });

  it('keeps in the due index what a bucket cannot hold (group keys over DUE_MEMBER_BYTES, session keys) and items written before buckets', async () => {
    const { store, table } = await setup();
    const long = 'x'.repeat(DUE_MEMBER_BYTES);
    await store.apply(windowKey(long), S1, one(1, T0 + 2 * M));
    await store.flushDue();
    expect((await table.get('aggregate', 'aggregate.read', aggregateLayout.key(windowKey(long))))?.[ATTR.duePk]).toBe(aggregateLayout.duePartition('R'));
    // An item as the code before due buckets wrote it: in the index, in no bucket.
    const old = windowKey('old');
    const k = aggregateLayout.key(old);
    await table.write('aggregate', 'aggregate.apply', k, { kind: 'put', item: { [ATTR.pk]: k.pk, [ATTR.sk]: k.sk, ...aggregateLayout.identity(old, 2e9, null), [ATTR.closeAt]: T0 + 2 * M, [ATTR.version]: 1 } }, 'ignore');
    expect(await groupsDue(store, 'R', T0 + 2 * M)).toEqual([JSON.stringify(['old']), JSON.stringify([long])].sort());
    await store.finishWindow(old);
    expect(await groupsDue(store, 'R', T0 + 2 * M)).toEqual([JSON.stringify([long])]);
  });
});
