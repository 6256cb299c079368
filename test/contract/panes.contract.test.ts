/**
 * The StateStore contract for pane items (lambdas/core/panes.ts, issue 21):
 * the same answers from the in-memory store and from DynamoDB (dynalite) —
 * pane slots under the HWM protocol, a window's panes in one read, window
 * registration, a finished window keeping its value — and on DynamoDB the
 * exact requests each costs.
 */
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { descriptor } from '../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../lambdas/core/InMemoryStateStore';
import { FINAL_SLOT, paneDescriptor, windowAcc, windowsFromPanes, type PanePartialJson } from '../../lambdas/core/panes';
import { RuleAggregates, type FixedPartialJson, type PartialJson } from '../../lambdas/core/partials';
import { padSequence } from '../../lambdas/core/sequence';
import type { KeyDescriptor, Slot, SlotBuilder, StateStore } from '../../lambdas/core/StateStore';
import type { WindowRule } from '../../lambdas/core/types';
import { countAgg, windowRule } from '../helpers/factories';
import { freshTable, instrumentedClient, startTestDynamo, type RequestLog, type TestDynamo } from '../helpers/dynamo';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const M = 60_000;
const S1 = 'shardId-000000000001';
const S2 = 'shardId-000000000002';
const G = JSON.stringify(['g']);

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

interface Stores {
  readonly store: StateStore;
  another(): StateStore;
  /** DynamoDB: the requests made (undefined in memory). */
  readonly log?: RequestLog;
}

const fixtures: Array<{ name: string; fresh(): Promise<Stores> }> = [
  {
    name: 'in memory',
    fresh: async () => {
      const store = new InMemoryStateStore();
      return { store, another: () => new InMemoryStateStore({ sharing: store }) };
    },
  },
  {
    name: 'DynamoDB',
    fresh: async () => {
      const tableName = await freshTable(dynamo.endpoint);
      const { client, log } = instrumentedClient(dynamo.endpoint);
      return { store: new DynamoDBStateStore({ client, tableName }), another: () => new DynamoDBStateStore({ client: instrumentedClient(dynamo.endpoint).client, tableName }), log };
    },
  },
];

/** A 3-minute window sliding every minute, counting events. */
const rule: WindowRule = windowRule({ name: 'R', window: { kind: 'hopping', sizeMs: 3 * M, slideMs: M }, aggregates: [countAgg('n')] });
const aggs = new RuleAggregates(rule);
const seq = (n: number) => padSequence(String(n));

/** A window partial of `k` events. */
function count(k: number): FixedPartialJson {
  const acc = aggs.create();
  for (let i = 0; i < k; i++) aggs.addEvent(acc, T0, {});
  return aggs.serialize(acc);
}

/** Merges pane partials (main parts together, late parts by validFrom). */
function mergePanes(a: PanePartialJson, b: PanePartialJson): PanePartialJson {
  const merge = (x: FixedPartialJson | undefined, y: FixedPartialJson | undefined): FixedPartialJson | undefined => {
    if (x === undefined || y === undefined) return x ?? y;
    const acc = aggs.deserialize(x);
    aggs.merge(acc, aggs.deserialize(y));
    return aggs.serialize(acc);
  };
  const l: Record<string, FixedPartialJson> = { ...a.l };
  for (const [from, p] of Object.entries(b.l ?? {})) l[from] = merge(l[from], p)!;
  const f = merge(a.f, b.f);
  return { ...(f ? { f } : {}), ...(Object.keys(l).length > 0 ? { l } : {}) };
}

/** A builder adding `n` events (and late parts: validFrom -> count) up to `hwm`; nothing when the slot already holds it. */
function adds(n: number, hwm: number, late: Record<number, number> = {}): SlotBuilder {
  return (current) => {
    if (current !== undefined && current.hwm >= seq(hwm)) return null;
    const mine: PanePartialJson = { ...(n > 0 ? { f: count(n) } : {}), l: Object.fromEntries(Object.entries(late).map(([from, k]) => [from, count(k)])) };
    const merged = mergePanes((current?.partial as unknown as PanePartialJson | undefined) ?? {}, mine);
    return { slot: { hwm: seq(hwm), partial: merged as unknown as PartialJson }, closeAt: T0 + 10 * M };
  };
}

const pane = (start: number): KeyDescriptor => paneDescriptor('R', G, start, M, 3 * M);
const window = (start: number): KeyDescriptor => descriptor('R', G, { start, end: start + 3 * M });
const countOf = (panes: Awaited<ReturnType<StateStore['readPanes']>>, start: number) => windowAcc(aggs, panes, start, 3 * M).n;

describe.each(fixtures)('pane items: $name', (fixture) => {
  it('a pane takes one slot per shard under the HWM protocol: a redelivery writes nothing, a cold container rebuilds on what is stored', async () => {
    const { store, another } = await fixture.fresh();
    expect((await store.apply(pane(T0), S1, adds(2, 5))).status).toBe('applied');
    expect((await store.apply(pane(T0), S2, adds(3, 7))).status).toBe('applied');
    expect((await store.apply(pane(T0), S1, adds(2, 5))).status).toBe('unchanged');
    // Another container, no cache: its write on an existing slot fails its condition and is rebuilt on the stored slot.
    const cold = another();
    const r = await cold.apply(pane(T0), S1, adds(1, 9));
    expect(r.status).toBe('applied');
    const panes = await store.readPanes('R', G, T0, T0);
    expect(panes.map((p) => p.start)).toEqual([T0]);
    expect(countOf(panes, T0)).toBe(6);
    expect(Object.keys(panes[0]!.state.slots).sort()).toEqual([S1, S2]);
    expect(panes[0]!.state.slots[S1]!.hwm).toBe(seq(9));
  });

  it("keeps a pane on the item of the window it starts: the write makes that window due, its own slots stay empty; a window's panes are read alone", async () => {
    const { store } = await fixture.fresh();
    const starts = [T0 - M, T0, T0 + M, T0 + 2 * M, T0 + 3 * M];
    for (const [i, start] of starts.entries()) await store.apply(pane(start), S1, adds(i + 1, i + 1));
    expect(await store.registerWindow(window(T0), T0 + 3 * M)).toBe('exists');
    const panes = await store.readPanes('R', G, T0, T0 + 2 * M);
    expect(panes.map((p) => p.start).sort((a, b) => a - b)).toEqual([T0, T0 + M, T0 + 2 * M]);
    // Window T0 = panes T0 .. T0+2m: 2 + 3 + 4 events.
    expect(countOf(panes, T0)).toBe(9);
    const due = await store.dueKeys('R', T0 + 100 * M);
    expect(due.map((d) => [d.key.id, d.closeAt])).toEqual(starts.map((s) => [window(s).id, T0 + 10 * M]));
    expect((await store.groupWindows('R', G, null, T0 + 100 * M)).map((w) => w.key.id)).toEqual(starts.map((s) => window(s).id));
    expect((await store.read(window(T0)))!.slots).toEqual({});
  });

  it('registers a window once: created (no slots, due at its close), then exists; closed once sealed or sealed empty', async () => {
    const { store, another } = await fixture.fresh();
    expect(await store.registerWindow(window(T0), T0 + 4 * M)).toBe('created');
    expect(await another().registerWindow(window(T0), T0 + 4 * M)).toBe('exists');
    const state = await store.read(window(T0));
    expect(state).toEqual({ slots: {}, closed: false, closedThrough: null, closeAt: T0 + 4 * M, version: 1 });
    expect((await store.dueKeys('R', T0 + 4 * M)).map((d) => d.closeAt)).toEqual([T0 + 4 * M]);
    await store.sealWindow(window(T0));
    expect(await store.registerWindow(window(T0), T0 + 4 * M)).toBe('closed');
    expect(await store.sealEmptyWindow(window(T0 + M))).toBe(true);
    expect(await another().registerWindow(window(T0 + M), T0 + 5 * M)).toBe('closed');
  });

  it('a finished window keeps the value it was evaluated on (finish or seal-and-finish with a final slot): later pane writes do not change it', async () => {
    const { store, another } = await fixture.fresh();
    await store.apply(pane(T0), S1, adds(2, 1));
    await store.registerWindow(window(T0), T0 + 3 * M);
    await store.registerWindow(window(T0 - M), T0 + 2 * M);
    const value = (n: number): Slot => ({ hwm: '', partial: count(n) });
    await store.sealWindow(window(T0));
    await store.finishWindow(window(T0), value(2));
    const v = (await store.read(window(T0 - M)))!.version;
    expect(await store.closeWindowAt(window(T0 - M), v, value(2))).toBe(true);
    // One write: the version moves by one in either store.
    expect((await another().read(window(T0 - M)))!.version).toBe(v + 1);
    // A pane's newest window (the one it starts) is closed: so are all of its windows, it takes nothing more.
    expect(await store.apply(pane(T0), S1, adds(5, 2))).toEqual({ status: 'closed', conflicts: expect.any(Number) as number });
    expect((await another().apply(pane(T0), S1, adds(5, 2))).status).toBe('closed');
    for (const s of [store, another()]) {
      for (const start of [T0, T0 - M]) {
        const state = (await s.read(window(start)))!;
        expect(state.closed).toBe(true);
        expect(state.closeAt).toBeNull();
        expect(Object.keys(state.slots)).toEqual([FINAL_SLOT]);
        expect((state.slots[FINAL_SLOT]!.partial as FixedPartialJson).n).toBe(2);
      }
    }
    // Finished: the closer that closed them forgets their listing (DynamoDB's due buckets keep it until then).
    await store.releaseDue('R', await store.dueKeys('R', T0 + 100 * M));
    expect(await store.dueKeys('R', T0 + 100 * M)).toEqual([]);
  });

  it('a window sealed with its value keeps it and the pane versions it merged (sealWindowAt, on the version read); fenceWindow raises an open window\'s version, and tells a closed one\'s versions', async () => {
    const { store, another } = await fixture.fresh();
    await store.registerWindow(window(T0), T0 + 3 * M);
    const written = await store.apply(pane(T0 + M), S1, adds(2, 1));
    const paneVersion = written.status === 'applied' ? written.state.version : -1;
    expect((await store.readPanes('R', G, T0, T0 + 2 * M)).map((p) => [p.start, p.state.version])).toEqual([[T0 + M, paneVersion]]);
    const read = (await store.read(window(T0)))!;
    // A batch fences the open window: a close that read it before cannot seal it on that read.
    expect(await another().fenceWindow(window(T0), T0 + 3 * M)).toEqual({ closed: false });
    const merged = { [String(T0 + M)]: paneVersion };
    expect(await store.sealWindowAt(window(T0), read.version, { hwm: '', partial: count(2) }, merged)).toBe(false);
    const again = (await store.read(window(T0)))!;
    expect(again.version).toBe(read.version + 1);
    expect(again.closed).toBe(false);
    expect(await store.sealWindowAt(window(T0), again.version, { hwm: '', partial: count(2) }, merged)).toBe(true);
    expect(await store.sealWindowAt(window(T0), again.version + 1, { hwm: '', partial: count(3) }, merged)).toBe(false);
    for (const s of [store, another()]) {
      const state = (await s.read(window(T0)))!;
      expect(state).toEqual({ slots: { [FINAL_SLOT]: { hwm: '', partial: count(2) } }, closed: true, closedThrough: null, closeAt: T0 + 3 * M, version: again.version + 1, merged });
      expect(await s.fenceWindow(window(T0), T0 + 3 * M)).toEqual({ closed: true, merged });
    }
    // Still due until finished; finishing keeps the value.
    expect((await store.dueKeys('R', T0 + 3 * M)).map((d) => d.key.id)).toEqual([window(T0).id]);
    await store.finishWindow(window(T0), { hwm: '', partial: count(2) }, merged);
    expect((await store.read(window(T0)))!.merged).toEqual(merged);
    await store.releaseDue('R', await store.dueKeys('R', T0 + 3 * M));
    expect(await store.dueKeys('R', T0 + 3 * M)).toEqual([]);
  });

  it('a window closed before closes kept what they merged (sealed, finished with its value) reads without it, and fences as closed, unknown', async () => {
    const { store } = await fixture.fresh();
    await store.registerWindow(window(T0), T0 + 3 * M);
    await store.sealWindow(window(T0));
    expect(await store.fenceWindow(window(T0), T0 + 3 * M)).toEqual({ closed: true, merged: undefined });
    await store.finishWindow(window(T0), { hwm: '', partial: count(1) });
    const state = (await store.read(window(T0)))!;
    expect(state.merged).toBeUndefined();
    expect(state.slots).toEqual({ [FINAL_SLOT]: { hwm: '', partial: count(1) } });
    expect(await store.fenceWindow(window(T0), T0 + 3 * M)).toEqual({ closed: true, merged: undefined });
  });

  it('a late-only part counts in the windows from its validFrom on, not in older ones', async () => {
    const { store } = await fixture.fresh();
    // Pane T0+2m: 4 events for every window (T0 .. T0+2m), 1 late for window T0 (valid from T0+m on).
    await store.apply(pane(T0 + 2 * M), S1, adds(4, 1, { [T0 + M]: 1 }));
    const panes = await store.readPanes('R', G, T0, T0 + 4 * M);
    expect([T0, T0 + M, T0 + 2 * M].map((s) => countOf(panes, s))).toEqual([4, 5, 5]);
    const all = windowsFromPanes(
      aggs,
      3 * M,
      M,
      panes.map((p) => ({ groupKey: G, ...p })),
    );
    expect([...all.get(G)!.entries()].map(([s, acc]) => [s - T0, acc.n])).toEqual([
      [0, 4],
      [M, 5],
      [2 * M, 5],
    ]);
  });
});

describe.each(fixtures)('hopping windows listed, with no item (issue 21, cost): $name', (fixture) => {
  const closeAt = T0 + 3 * M;
  const final: Slot = { hwm: '', partial: count(2) };
  const merged = { [String(T0 + M)]: 3 };

  it('listWindow lists a window for the closer without writing its item; it stays due until finished', async () => {
    const { store, another, log } = await fixture.fresh();
    expect(store.listWindow(window(T0), closeAt)).toBe(true);
    log?.reset();
    await store.flushDue();
    // DynamoDB: the listing is one bucket write, no aggregate item.
    expect(log?.requests.map((r) => r.request?.op) ?? ['due.enlist']).toEqual(['due.enlist']);
    expect(await another().read(window(T0))).toBeUndefined();
    expect((await another().dueKeys('R', closeAt)).map((d) => d.key.id)).toEqual([window(T0).id]);
    expect(await another().dueKeys('R', closeAt - 1)).toEqual([]);
    expect(await store.closeWindowAt(window(T0), 0, final, merged)).toBe(true);
    await store.releaseDue('R', await store.dueKeys('R', closeAt));
    expect(await store.dueKeys('R', closeAt)).toEqual([]);
  });

  it('sealWindowAt at version 0 creates the item closed with its value (a put if absent), due until finished; a second one fails', async () => {
    const { store, another } = await fixture.fresh();
    expect(await store.sealWindowAt(window(T0), 0, final, merged, closeAt)).toBe(true);
    expect(await another().sealWindowAt(window(T0), 0, { hwm: '', partial: count(9) }, {}, closeAt)).toBe(false);
    for (const s of [store, another()]) {
      expect(await s.read(window(T0))).toEqual({ slots: { [FINAL_SLOT]: final }, closed: true, closedThrough: null, closeAt, version: 1, merged });
      expect(await s.fenceWindow(window(T0), closeAt)).toEqual({ closed: true, merged });
    }
    // A pane write to a window it closes is refused (the window item is the pane's own).
    expect((await store.apply(pane(T0), S1, adds(1, 1))).status).toBe('closed');
    await store.finishWindow(window(T0), final, merged);
    expect((await another().read(window(T0)))!.closeAt).toBeNull();
  });

  it('closeWindowAt at version 0 creates the item closed and finished with its value; a second one fails', async () => {
    const { store, another } = await fixture.fresh();
    expect(await store.closeWindowAt(window(T0), 0, final, merged)).toBe(true);
    expect(await another().closeWindowAt(window(T0), 0, final, merged)).toBe(false);
    for (const s of [store, another()]) {
      expect(await s.read(window(T0))).toEqual({ slots: { [FINAL_SLOT]: final }, closed: true, closedThrough: null, closeAt: null, version: 1, merged });
      expect(await s.fenceWindow(window(T0), closeAt)).toEqual({ closed: true, merged });
    }
  });

  it('fenceWindow on a window with no item creates it open (due at its close): a close that read its panes on "no item" fails its put if absent', async () => {
    const { store, another } = await fixture.fresh();
    expect(await another().fenceWindow(window(T0), closeAt)).toEqual({ closed: false });
    const state = (await store.read(window(T0)))!;
    expect(state).toEqual({ slots: {}, closed: false, closedThrough: null, closeAt, version: 1 });
    expect(await store.sealWindowAt(window(T0), 0, final, merged, closeAt)).toBe(false);
    expect(await store.closeWindowAt(window(T0), 0, final, merged)).toBe(false);
    // Fenced again: the version moves; the close on the version it read goes through.
    expect(await another().fenceWindow(window(T0), closeAt)).toEqual({ closed: false });
    expect(await store.sealWindowAt(window(T0), 2, final, merged)).toBe(true);
    expect((await another().read(window(T0)))!.closed).toBe(true);
  });
});

describe('pane items on DynamoDB: requests', () => {
  it("one conditional write per pane per batch, none for a warm redelivery; a window's panes in one Query", async () => {
    const { store, log } = await fixtures[1]!.fresh();
    await store.apply(pane(T0), S1, adds(2, 5));
    await store.apply(pane(T0), S2, adds(3, 7));
    await store.apply(pane(T0), S1, adds(2, 5));
    await store.apply(pane(T0 + M), S1, adds(1, 8));
    expect(log!.requests.filter((r) => r.request?.op === 'aggregate.paneApply').length).toBe(3);
    log!.reset();
    const panes = await store.readPanes('R', G, T0, T0 + 2 * M);
    expect(log!.requests.map((r) => [r.command, r.request?.op])).toEqual([['QueryCommand', 'aggregate.panes']]);
    expect(countOf(panes, T0)).toBe(6);
  });
});
