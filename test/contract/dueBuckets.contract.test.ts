/**
 * Due buckets on DynamoDB (issue 21, tableLayout.ts dueLayout): how the closer finds fixed windows
 * without an index entry per window item. What every store promises is in stateStore.contract.test.ts
 * (dueKeys holds every open due key); this file pins what is DynamoDB's own: the requests (one ADD per
 * window and container for all its groups, nothing for windows already listed), chunks, the delete of
 * a closed bucket only at the version read, the listing a retry makes after a container died between
 * its writes and its listing, and items written before buckets (in the due index) still closed.
 */
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { and, atMost, equals } from '../../lambdas/adapters/dynamodb/expressions';
import { StateTable } from '../../lambdas/adapters/dynamodb/StateTable';
import { aggregateLayout, ATTR, DUE_CHUNK_MEMBERS, DUE_ENLIST_MAX, DUE_MEMBER_BYTES, dueLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { descriptor, Engine } from '../../lambdas/core/Engine';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import type { WindowRule } from '../../lambdas/core/types';
import type { PartialJson } from '../../lambdas/core/partials';
import { padSequence } from '../../lambdas/core/sequence';
import type { KeyDescriptor, SlotBuilder, StateStore } from '../../lambdas/core/StateStore';
import { freshTable, instrumentedClient, startTestDynamo, testClient, type TestDynamo } from '../helpers/dynamo';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, windowRule } from '../helpers/factories';

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
    const closer = another();
    const due = await closer.dueKeys('R', T0 + 2 * M);
    expect(due.map((d) => d.key.groupKey)).toEqual(['["a"]']);
    // The same shard, lagging, writes group b's window after the closer read the bucket (its watermark was behind).
    await store.apply(windowKey('b'), S1, one(2, T0 + 2 * M));
    await store.flushDue();
    await closer.finishWindow(windowKey('a'));
    await closer.releaseDue('R', due);
    expect(await groupsDue(store, 'R', T0 + 2 * M)).toEqual(['["a"]', '["b"]']);
    // The next close reads both (a is finished: the closer skips it), closes b, and the bucket goes.
    const again = await closer.dueKeys('R', T0 + 2 * M);
    await closer.finishWindow(windowKey('b'));
    await closer.releaseDue('R', again);
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

  it('splits a container\'s listing of a window in chunks of DUE_CHUNK_MEMBERS groups, all listed; another container writes chunks of its own', async () => {
    const { store, log, table, another } = await setup();
    const groups = Array.from({ length: 2 * DUE_CHUNK_MEMBERS + 150 }, (_, i) => `g${String(i).padStart(4, '0')}`);
    for (const [i, g] of groups.entries()) await store.apply(windowKey(g), S1, one(i + 1, T0 + 2 * M));
    await store.flushDue();
    // Never more than DUE_ENLIST_MAX groups a request, never past a chunk's DUE_CHUNK_MEMBERS, and no condition to fail.
    const adds = log.requests.filter((r) => r.request?.op === 'due.enlist');
    expect(adds.length).toBe(2 * Math.ceil(DUE_CHUNK_MEMBERS / DUE_ENLIST_MAX) + Math.ceil(150 / DUE_ENLIST_MAX));
    expect(adds.filter((r) => r.conditionFailed)).toEqual([]);
    const chunks = async () => (await table.query('due', 'due.list', dueLayout.partition('R'), { keyCondition: equals(ATTR.pk, dueLayout.partition('R')), consistent: true })).map((i) => dueLayout.decode(i));
    expect((await chunks()).map((c) => c.members.length)).toEqual([DUE_CHUNK_MEMBERS, DUE_CHUNK_MEMBERS, 150]);
    expect(await groupsDue(store)).toEqual(groups.map((g) => JSON.stringify([g])).sort());
    // A cold container with a new group: a chunk of its own (one write, nothing read or walked).
    const cold = another();
    await cold.apply(windowKey('late-comer'), S1, one(1, T0 + 2 * M));
    await cold.flushDue();
    expect((await chunks()).map((c) => c.members.length).sort((a, b) => a - b)).toEqual([1, 150, DUE_CHUNK_MEMBERS, DUE_CHUNK_MEMBERS]);
    expect((await groupsDue(store)).length).toBe(groups.length + 1);
  });

  it('a closer that read a bucket before another closer deleted it cannot delete the bucket written again since (its version only grows)', async () => {
    const { store, another } = await setup();
    await store.apply(windowKey('a'), S1, one(1, T0 + 2 * M));
    await store.flushDue();
    const closer1 = another();
    const closer2 = another();
    const due1 = await closer1.dueKeys('R', T0 + 2 * M);
    const due2 = await closer2.dueKeys('R', T0 + 2 * M);
    await closer2.finishWindow(windowKey('a'));
    await closer2.releaseDue('R', due2);
    // The same container (a lagging shard's) writes group b's window: the bucket is written again.
    await store.apply(windowKey('b'), S1, one(2, T0 + 2 * M));
    await store.flushDue();
    await closer1.releaseDue('R', due1);
    expect(await groupsDue(store)).toEqual(['["b"]']);
  });

  it('a window whose close time moved after it was listed (the rule\'s lateness raised) is listed at both; the closer skips it until the later one', async () => {
    const { store } = await setup();
    await store.apply(windowKey('a'), S1, one(1, T0 + 2 * M));
    await store.flushDue();
    await store.apply(windowKey('a'), S1, one(2, T0 + 10 * M));
    await store.flushDue();
    expect((await store.read(windowKey('a')))?.closeAt).toBe(T0 + 10 * M);
    const due = await store.dueKeys('R', T0 + 2 * M);
    expect(due.map((d) => d.listings?.length)).toEqual([1]);
    // What the closer does with it (Engine: closeAtRest, closeGroup): read it, find it due later, skip it; the early listing goes.
    await store.releaseDue('R', due);
    expect(await store.dueKeys('R', T0 + 2 * M)).toEqual([]);
    expect((await store.dueKeys('R', T0 + 10 * M)).map((d) => d.key.groupKey)).toEqual(['["a"]']);
    // The lateness back as it was: the window written again at the first close time is listed there again
    // (this container forgot the listing the closer here deleted).
    await store.apply(windowKey('a'), S1, one(3, T0 + 2 * M));
    await store.flushDue();
    expect((await store.dueKeys('R', T0 + 2 * M)).map((d) => d.key.groupKey)).toEqual(['["a"]']);
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

  it('an engine closing windows still listed after an earlier close (its release failed) skips the finished ones: no seal, no lifecycle step, no second report', async () => {
    const { store, another } = await setup();
    const rule: WindowRule = windowRule({
      name: 'Errors',
      aggregates: [countAgg('n'), { name: 'errs', kind: 'count', condition: fn('status >= 500', (v) => (v['status'] as number) >= 500), source: 'count(status >= 500)' }],
      when: fn('errs * 2 > n', (v) => (v['errs'] as number) * 2 > (v['n'] as number)),
    });
    const pipeline = pipelineOf([rule], streamSpec({ outOfOrdernessMs: 10_000, idleTimeoutMs: M }));
    let ids = 0;
    const ev = (offsetMs: number, status: number) => ({ eventId: `e${++ids}`, service: 'a', ts: new Date(T0 + offsetMs).toISOString(), status });
    const reports: number[] = [];
    const published: AlertTransition[] = [];
    const engine = (s: StateStore, now: number) =>
      new Engine({ pipeline, stream: 'telemetry', store: s, clock: { now: () => now }, publish: async (t) => void published.push(t), onWindowClosed: (w) => void reports.push((w.window.start - T0) / M) });
    const writes = (calls: string[]) => (s: StateStore): StateStore =>
      new Proxy(s, {
        get(t, prop, r) {
          const v = Reflect.get(t, prop, r) as unknown;
          if (typeof v !== 'function' || typeof prop !== 'string') return v;
          return async (...args: unknown[]) => {
            const k = args[0] as KeyDescriptor | string;
            if (['sealWindow', 'finishWindow', 'closeWindowAt', 'sealWindowAt', 'updateAlert'].includes(prop)) calls.push(typeof k === 'object' && k.windowStart !== null ? `${prop} ${(k.windowStart - T0) / M}` : prop);
            // As if a group was added to the bucket since it was read: the delete fails, the bucket stays.
            if (prop === 'releaseDue') return undefined;
            return (v as (...a: unknown[]) => Promise<unknown>).apply(t, args);
          };
        },
      });
    // Every window holds (all errors): the group fires and is not at rest when its windows close (the batch's own advance closes 0 to 2).
    const first: string[] = [];
    const batch = await engine(writes(first)(store), T0 + 4 * M + 2_000).processBatch(S1, shardRecords(S1, [0, 1, 2, 3, 4].map((k) => ev(k * M + 10_000, 503)), 1n));
    expect(batch.error).toBeNull();
    const finished = first.filter((c) => c.startsWith('finishWindow')).map((c) => Number(c.split(' ')[1]));
    expect(finished.slice(0, 3)).toEqual([0, 1, 2]);
    expect(reports).toEqual(finished);
    const second: string[] = [];
    await engine(writes(second)(another()), T0 + 4 * M + 2_000).advance();
    // The finished windows' buckets are still there: each is read and skipped (a full advance may close a window due by now).
    expect(second.filter((c) => finished.includes(Number(c.split(' ')[1])))).toEqual([]);
    expect(reports.filter((w) => finished.includes(w))).toEqual(finished);
    expect(published.map((t) => t.state)).toEqual(['firing']);
  });
  it('a window listed with no item (listWindow) is in a range of sort keys of its own: the closer of the code before (keys from a digit up to the close time) never reads it; this closer does', async () => {
    const { store, log, table } = await setup();
    expect(store.listWindow(windowKey('a'), T0 + 2 * M)).toBe(true);
    await store.apply(windowKey('b'), S1, one(1, T0 + 2 * M));
    await store.flushDue();
    // Two buckets of one window: one of windows with items, one of windows with none (its key after an L).
    expect(ops(log, 'due')).toEqual(['due.enlist', 'due.enlist']);
    const all = await table.query('due', 'due.list', dueLayout.partition('R'), { keyCondition: equals(ATTR.pk, dueLayout.partition('R')), consistent: true });
    expect(all.map((i) => [String(i[ATTR.sk]).charAt(0), [...(i[ATTR.members] as Set<string>)]]).sort()).toEqual([
      ['0', [JSON.stringify(['b'])]],
      ['L', [JSON.stringify(['a'])]],
    ]);
    // The query of the code before these listings: the partition's keys up to the close time's.
    const before = await table.query('due', 'due.list', dueLayout.partition('R'), { keyCondition: and(equals(ATTR.pk, dueLayout.partition('R')), atMost(ATTR.sk, `${String(T0 + 2 * M).padStart(16, '0')}$`)), consistent: true });
    expect(before.flatMap((i) => [...(i[ATTR.members] as Set<string>)])).toEqual([JSON.stringify(['b'])]);
    // This closer reads both, and not before the close time.
    expect(await groupsDue(store, 'R', T0 + 2 * M - 1)).toEqual([]);
    expect(await groupsDue(store, 'R', T0 + 2 * M)).toEqual([JSON.stringify(['a']), JSON.stringify(['b'])]);
    // Released like any bucket (on the version read).
    const due = await store.dueKeys('R', T0 + 2 * M);
    await store.releaseDue('R', due);
    expect(await groupsDue(store)).toEqual([]);
    // Listed again after the release (the container forgot it listed it there).
    expect(store.listWindow(windowKey('a'), T0 + 2 * M)).toBe(true);
    await store.flushDue();
    expect(await groupsDue(store)).toEqual([JSON.stringify(['a'])]);
  });
});
