/**
 * The StateStore contract: one suite over every store. The in-memory store
 * (the engine's reference, the demo's and the tools' store) and the DynamoDB
 * store (on dynalite, or on TIDEWATCH_TEST_DYNAMODB_ENDPOINT) must give the
 * same answers to every operation — through conflicts, redeliveries, claims,
 * paging and DynamoDB's size limits — and a randomised run of interleaved
 * operations from two "containers" compares them answer by answer.
 *
 * Two things are costs or beliefs, not answers, and differ by design:
 * `conflicts` in apply's outcome (the in-memory store never conflicts: it
 * believes the truth; the DynamoDB store does whenever a container's cache is
 * behind), and the state of an `unchanged` outcome, which is the key as the
 * container last saw it (its cache on DynamoDB: a warm redelivery costs no
 * request) — every shard as of then, the truth in memory. Both are asserted
 * where they are known.
 */
import fc from 'fast-check';
import { learnStep, storedVerdict, type AnomalySpec, type ModelRecord } from '../../lambdas/core/anomaly/rule';
import { DEFAULT_ANOMALY_OPTIONS } from '../../lambdas/core/anomaly/types';
import { DEDUPE_BUCKET_MS, DEDUPE_ENTRY_BYTES, DEDUPE_MAX_BUCKET_BYTES, dedupeId } from '../../lambdas/core/dedupe';
import { descriptor } from '../../lambdas/core/Engine';
import { INITIAL_ALERT_STATE, type AlertState, type AlertTransition, type StepResult } from '../../lambdas/core/lifecycle';
import type { PartialJson } from '../../lambdas/core/partials';
import { padSequence } from '../../lambdas/core/sequence';
import type { Claim, DueKey, KeyDescriptor, Slot, SlotBuilder, StateStore } from '../../lambdas/core/StateStore';
import type { Rejection } from '../../lambdas/core/types';
import { dedupeEntries } from '../helpers/dedupeEntries';
import { storeFixtures } from '../helpers/storeFixtures';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const M = 60_000;
const S1 = 'shardId-000000000001';
const S2 = 'shardId-000000000002';

const { inMemory, onDynamoDB } = storeFixtures();

// ------------------------------------------------------------------ helpers

const seq = (n: number) => padSequence(String(n));
const windowKey = (group = 'g', start = T0, rule = 'R'): KeyDescriptor => descriptor(rule, JSON.stringify([group]), { start, end: start + M });
const sessionKey = (group = 'g', rule = 'S'): KeyDescriptor => descriptor(rule, JSON.stringify([group]), null);

interface Folded {
  readonly n: number;
  /** The records folded in, so a test sees each exactly once. */
  readonly seqs: readonly number[];
}

/**
 * The engine's kind of builder: folds the records newer than the slot's HWM,
 * nothing when there are none. Records `calls` (what it was given).
 */
function folding(records: readonly number[], closeAt: number, calls: Array<{ hwm: string | null; closedThrough: number | null }> = []): SlotBuilder {
  return (current, closedThrough) => {
    calls.push({ hwm: current?.hwm ?? null, closedThrough });
    const fresh = records.filter((r) => current === undefined || seq(r) > current.hwm);
    if (fresh.length === 0) return null;
    const before = (current?.partial as Folded | undefined) ?? { n: 0, seqs: [] };
    // The stores keep a partial as opaque JSON: this one lists the records folded in.
    const partial: Folded = { n: before.n + fresh.length, seqs: [...before.seqs, ...fresh] };
    const slot: Slot = { hwm: seq(Math.max(...records)), partial: partial as unknown as PartialJson };
    return { slot, closeAt };
  };
}

const folded = (slot: Slot | undefined) => slot?.partial as Folded | undefined;

function transition(rule: string, group: string, id: string, state: 'firing' | 'resolved' = 'firing'): AlertTransition {
  return { alertId: id, transitionId: `${id}:${state}`, rule, state, severity: 'critical', group: { g: group }, labels: {}, window: { start: T0, end: T0 + M }, values: { n: 1 }, annotations: {}, at: T0 + M };
}

/** A lifecycle step: fires (with transition `id`) when inactive, else leaves the state as it is. */
const fire =
  (rule: string, group: string, id: string) =>
  (s: AlertState): StepResult =>
    s.status === 'inactive' ? { state: { ...s, status: 'firing', alertId: id, consecutive: 1 }, transitions: [transition(rule, group, id)] } : { state: s, transitions: [] };
const noChange = (s: AlertState): StepResult => ({ state: s, transitions: [] });
const claimAt = (now: number): Claim => ({ now, leaseMs: 30_000 });

const entries = dedupeEntries;

/** A test id in dedupeId's form: a hash, as ids are (a bucket keeps their first 64 bits, where ids like `id0000…0001` and `id0000…0002` do not differ). */
const id16 = (n: number) => dedupeId(`id-${n}`);

function rejection(overrides: Partial<Rejection> = {}): Rejection {
  return { reason: 'not-json', message: 'record data is not JSON', shardId: S1, sequenceNumber: '1', partitionKey: 'pk', arrivalTime: T0, data: Buffer.from('{"oops').toString('base64'), ...overrides };
}

// ------------------------------------------------------------------ the contract

describe.each([inMemory, onDynamoDB])('StateStore contract: $name', (fixture) => {
  describe('apply (exactly-once slots)', () => {
    it('writes a new key: one slot, its close time, version 1; read gives the same', async () => {
      const { store } = await fixture.fresh();
      const calls: Array<{ hwm: string | null; closedThrough: number | null }> = [];
      const out = await store.apply(windowKey(), S1, folding([1, 2, 3], T0 + 2 * M, calls));
      const state = { slots: { [S1]: { hwm: seq(3), partial: { n: 3, seqs: [1, 2, 3] } } }, closed: false, closedThrough: null, closeAt: T0 + 2 * M, version: 1 };
      expect(out).toEqual({ status: 'applied', state, conflicts: 0 });
      expect(calls).toEqual([{ hwm: null, closedThrough: null }]);
      expect(await store.read(windowKey())).toEqual(state);
      expect(await store.read(windowKey('other'))).toBeUndefined();
    });

    it('keeps each shard its own slot; the state after a write holds every shard', async () => {
      const { store } = await fixture.fresh();
      await store.apply(windowKey(), S1, folding([1, 2], T0 + 2 * M));
      const out = await store.apply(windowKey(), S2, folding([1], T0 + 2 * M));
      expect(out.status).toBe('applied');
      expect(out.status === 'applied' && Object.fromEntries(Object.entries(out.state.slots).map(([s, slot]) => [s, folded(slot)]))).toEqual({
        [S1]: { n: 2, seqs: [1, 2] },
        [S2]: { n: 1, seqs: [1] },
      });
      expect((await store.read(windowKey()))?.version).toBe(2);
    });

    it('a redelivery of what the slot holds writes nothing and answers with the state', async () => {
      const { store } = await fixture.fresh();
      await store.apply(windowKey(), S1, folding([1, 2, 3], T0 + 2 * M));
      const again = await store.apply(windowKey(), S1, folding([1, 2, 3], T0 + 2 * M));
      expect(again).toEqual({ status: 'unchanged', state: await store.read(windowKey()), conflicts: 0 });
      expect((await store.read(windowKey()))?.version).toBe(1);
    });

    it('a redelivery overlapping the slot folds only the records above its HWM', async () => {
      const { store } = await fixture.fresh();
      await store.apply(windowKey(), S1, folding([1, 2, 3], T0 + 2 * M));
      await store.apply(windowKey(), S1, folding([2, 3, 4, 5], T0 + 2 * M));
      expect(folded((await store.read(windowKey()))?.slots[S1])).toEqual({ n: 5, seqs: [1, 2, 3, 4, 5] });
    });

    it('a cold container meeting an existing key rebuilds on the stored slot: nothing counted twice', async () => {
      const { store, another } = await fixture.fresh();
      await store.apply(windowKey(), S1, folding([1, 2, 3], T0 + 2 * M));
      const cold = another();
      const calls: Array<{ hwm: string | null; closedThrough: number | null }> = [];
      const out = await cold.apply(windowKey(), S1, folding([1, 2, 3, 4], T0 + 2 * M, calls));
      expect(out.status).toBe('applied');
      expect(folded((await store.read(windowKey()))?.slots[S1])).toEqual({ n: 4, seqs: [1, 2, 3, 4] });
      // The last build was given the stored slot; a cold DynamoDB container first tried on an empty belief (one conflict).
      expect(calls.at(-1)).toEqual({ hwm: seq(3), closedThrough: null });
      expect([out.conflicts, calls.length]).toEqual(fixture.name === 'DynamoDB' ? [1, 2] : [0, 1]);
    });

    it('a container whose cache is behind (another wrote since) rebuilds on what is stored', async () => {
      const { store, another } = await fixture.fresh();
      const b = another();
      await store.apply(windowKey(), S1, folding([1, 2], T0 + 2 * M));
      await b.apply(windowKey(), S1, folding([1, 2, 3, 4], T0 + 2 * M));
      const out = await store.apply(windowKey(), S1, folding([3, 4, 5, 6], T0 + 2 * M));
      expect(out.status).toBe('applied');
      expect(folded((await b.read(windowKey()))?.slots[S1])).toEqual({ n: 6, seqs: [1, 2, 3, 4, 5, 6] });
    });

    it('a sealed key takes no more contributions, from any container', async () => {
      const { store, another } = await fixture.fresh();
      await store.apply(windowKey(), S1, folding([1], T0 + 2 * M));
      await store.sealWindow(windowKey());
      expect(await store.apply(windowKey(), S1, folding([2], T0 + 2 * M))).toMatchObject({ status: 'closed' });
      expect(await another().apply(windowKey(), S2, folding([1], T0 + 2 * M))).toMatchObject({ status: 'closed' });
      expect(folded((await store.read(windowKey()))?.slots[S1])).toEqual({ n: 1, seqs: [1] });
    });

    it('refuses a builder that does not raise the high-water mark (a bug, not a conflict)', async () => {
      const { store } = await fixture.fresh();
      await store.apply(windowKey(), S1, folding([5], T0 + 2 * M));
      const lowering: SlotBuilder = () => ({ slot: { hwm: seq(5), partial: { n: 0, a: [], t: null } }, closeAt: T0 });
      await expect(store.apply(windowKey(), S1, lowering)).rejects.toThrow(/must raise the high-water mark/);
    });

    it('a session key closes at the earliest of its shards; the builder sees its closedThrough', async () => {
      const { store } = await fixture.fresh();
      await store.apply(sessionKey(), S1, folding([1], T0 + 5 * M));
      await store.apply(sessionKey(), S2, folding([1], T0 + 3 * M));
      await store.apply(sessionKey(), S1, folding([2], T0 + 9 * M));
      const state = await store.read(sessionKey());
      expect(state?.closeAt).toBe(T0 + 3 * M);
      expect(await store.advanceSessions(sessionKey(), T0 + 4 * M, T0 + 9 * M, state!.version)).toBe(true);
      const calls: Array<{ hwm: string | null; closedThrough: number | null }> = [];
      await store.apply(sessionKey(), S2, folding([2], T0 + 10 * M, calls));
      expect(calls.at(-1)).toEqual({ hwm: seq(1), closedThrough: T0 + 4 * M });
    });
  });

  describe('closing windows', () => {
    it('lists the due keys of a rule by close time, then window start, across pages', async () => {
      const { store } = await fixture.fresh({ pageSize: 2 });
      for (const [group, start] of [
        ['b', T0 + M],
        ['a', T0],
        ['c', T0],
        ['a', T0 + 2 * M],
        ['d', T0 + 3 * M],
      ] as const) {
        await store.apply(windowKey(group, start), S1, folding([1], start + 2 * M));
      }
      await store.apply(windowKey('z', T0, 'Other'), S1, folding([1], T0));
      const due = await store.dueKeys('R', T0 + 4 * M);
      expect(due.map((d) => [d.key.groupKey, d.key.windowStart, d.closeAt])).toEqual([
        ['["a"]', T0, T0 + 2 * M],
        ['["c"]', T0, T0 + 2 * M],
        ['["b"]', T0 + M, T0 + 3 * M],
        ['["a"]', T0 + 2 * M, T0 + 4 * M],
      ]);
      expect(due[0]!.key).toEqual(windowKey('a', T0));
    });

    it('seal is idempotent and keeps the key due; finish takes it out; neither creates an item for an empty window', async () => {
      const { store } = await fixture.fresh();
      await store.apply(windowKey(), S1, folding([1], T0 + 2 * M));
      await store.sealWindow(windowKey());
      await store.sealWindow(windowKey());
      expect(await store.read(windowKey())).toMatchObject({ closed: true, version: 2, closeAt: T0 + 2 * M });
      expect((await store.dueKeys('R', T0 + 2 * M)).length).toBe(1);
      await store.finishWindow(windowKey());
      await store.finishWindow(windowKey());
      expect(await store.read(windowKey())).toMatchObject({ closed: true, version: 2, closeAt: null });
      expect(await openDue(store, 'R', Number.MAX_SAFE_INTEGER)).toEqual([]);
      await store.releaseDue('R', await store.dueKeys('R', Number.MAX_SAFE_INTEGER));
      expect(await store.dueKeys('R', Number.MAX_SAFE_INTEGER)).toEqual([]);
      // An empty window (never written): nothing is stored, and a later contribution is applied (the engine refuses it by the watermark first).
      await store.sealWindow(windowKey('empty'));
      await store.finishWindow(windowKey('empty'));
      expect(await store.read(windowKey('empty'))).toBeUndefined();
      expect((await store.apply(windowKey('empty'), S1, folding([1], T0 + 2 * M))).status).toBe('applied');
    });

    it('lists a group\'s windows from the base table (finished and sealed-empty ones too), by start, in (after, upTo]', async () => {
      const { store } = await fixture.fresh({ pageSize: 2 });
      for (const start of [T0, T0 + M, T0 + 3 * M, T0 + 5 * M]) await store.apply(windowKey('a', start), S1, folding([1], start + 2 * M));
      await store.apply(windowKey('b', T0 + 2 * M), S1, folding([1], T0 + 4 * M));
      await store.apply(windowKey('a', T0 + 2 * M, 'Other'), S1, folding([1], T0 + 4 * M));
      await store.sealWindow(windowKey('a', T0 + M));
      await store.finishWindow(windowKey('a', T0 + M));
      expect(await store.sealEmptyWindow(windowKey('a', T0 + 4 * M))).toBe(true);
      const starts = async (after: number | null, upTo: number) => (await store.groupWindows('R', '["a"]', after, upTo)).map((w) => [w.key.windowStart, w.state.closed, w.state.closeAt, Object.keys(w.state.slots).length]);
      expect(await starts(null, T0 + 4 * M)).toEqual([
        [T0, false, T0 + 2 * M, 1],
        [T0 + M, true, null, 1],
        [T0 + 3 * M, false, T0 + 5 * M, 1],
        [T0 + 4 * M, true, null, 0],
      ]);
      expect(await starts(T0, T0 + 3 * M)).toEqual([
        [T0 + M, true, null, 1],
        [T0 + 3 * M, false, T0 + 5 * M, 1],
      ]);
      expect(await starts(T0 + 5 * M, T0 + 9 * M)).toEqual([]);
      expect((await store.groupWindows('R', '["a"]', T0 + 3 * M, T0 + 5 * M))[1]!.key).toEqual(windowKey('a', T0 + 5 * M));
    });

    it('seals an empty window with a closed marker: not due, a later contribution is refused (late); an existing key is left alone', async () => {
      const { store, another } = await fixture.fresh();
      expect(await store.sealEmptyWindow(windowKey('empty'))).toBe(true);
      expect(await store.sealEmptyWindow(windowKey('empty'))).toBe(false);
      expect(await store.read(windowKey('empty'))).toEqual({ slots: {}, closed: true, closedThrough: null, closeAt: null, version: 1 });
      expect(await store.dueKeys('R', Number.MAX_SAFE_INTEGER)).toEqual([]);
      // From this container and from a cold one: the contribution is late, nothing is stored.
      expect((await store.apply(windowKey('empty'), S1, folding([1], T0 + 2 * M))).status).toBe('closed');
      expect((await another().apply(windowKey('empty'), S2, folding([2], T0 + 2 * M))).status).toBe('closed');
      expect(await store.read(windowKey('empty'))).toEqual({ slots: {}, closed: true, closedThrough: null, closeAt: null, version: 1 });
      await store.apply(windowKey('full'), S1, folding([1], T0 + 2 * M));
      expect(await store.sealEmptyWindow(windowKey('full'))).toBe(false);
      expect(await store.read(windowKey('full'))).toMatchObject({ closed: false, version: 1, closeAt: T0 + 2 * M });
    });

    it('reads an alert record strongly consistently (undefined when there is none)', async () => {
      const { store, another } = await fixture.fresh();
      expect(await store.readAlert('R', 'g')).toBeUndefined();
      await store.updateAlert('R', 'g', fire('R', 'g', 'x'), claimAt(T0));
      expect(await another().readAlert('R', 'g')).toEqual({ state: { ...INITIAL_ALERT_STATE, status: 'firing', alertId: 'x', consecutive: 1 }, outbox: [{ transition: transition('R', 'g', 'x'), claimedUntil: T0 + 30_000 }] });
    });

    it('seals and finishes a window in one write only at the version read and only if open; never creates an item', async () => {
      const { store, another } = await fixture.fresh();
      await store.apply(windowKey(), S1, folding([1], T0 + 2 * M));
      const read = (await store.read(windowKey()))!;
      // Another shard's contribution lands after the read: the version moved, nothing is closed.
      await another().apply(windowKey(), S2, folding([5], T0 + 2 * M));
      expect(await store.closeWindowAt(windowKey(), read.version)).toBe(false);
      expect(await store.read(windowKey())).toMatchObject({ closed: false, version: read.version + 1, closeAt: T0 + 2 * M });
      const again = (await store.read(windowKey()))!;
      expect(await another().closeWindowAt(windowKey(), again.version)).toBe(true);
      expect(await store.read(windowKey())).toMatchObject({ closed: true, version: again.version + 1, closeAt: null });
      expect(await openDue(store, 'R', Number.MAX_SAFE_INTEGER)).toEqual([]);
      await store.releaseDue('R', await store.dueKeys('R', Number.MAX_SAFE_INTEGER));
      expect(await store.dueKeys('R', Number.MAX_SAFE_INTEGER)).toEqual([]);
      // Closed: no second close, and contributions are refused.
      expect(await store.closeWindowAt(windowKey(), again.version + 1)).toBe(false);
      expect((await store.apply(windowKey(), S1, folding([9], T0 + 2 * M))).status).toBe('closed');
      expect(await store.closeWindowAt(windowKey('empty'), 0)).toBe(false);
      expect(await store.read(windowKey('empty'))).toBeUndefined();
    });

    it('advances a session key only at the expected version', async () => {
      const { store } = await fixture.fresh();
      await store.apply(sessionKey(), S1, folding([1], T0 + 2 * M));
      const v = (await store.read(sessionKey()))!.version;
      expect(await store.advanceSessions(sessionKey(), T0 + 2 * M, T0 + 5 * M, v + 1)).toBe(false);
      expect(await store.advanceSessions(sessionKey(), T0 + 2 * M, T0 + 5 * M, v)).toBe(true);
      expect(await store.read(sessionKey())).toMatchObject({ closedThrough: T0 + 2 * M, closeAt: T0 + 5 * M, version: v + 1 });
      expect(await store.advanceSessions(sessionKey(), T0 + 5 * M, null, v + 1)).toBe(true);
      expect(await store.read(sessionKey())).toMatchObject({ closedThrough: T0 + 5 * M, closeAt: null, version: v + 2 });
      expect(await store.dueKeys('S', Number.MAX_SAFE_INTEGER)).toEqual([]);
      expect(await store.advanceSessions(sessionKey('never'), T0, null, 0)).toBe(false);
    });
  });

  describe('alerts and their outbox (claims)', () => {
    it('records a step with its transitions, claimed by the caller for the lease', async () => {
      const { store } = await fixture.fresh();
      const out = await store.updateAlert('R', 'g', fire('R', 'g', 'a1'), claimAt(T0));
      expect(out.claimed).toEqual([transition('R', 'g', 'a1')]);
      expect(out.record.outbox).toEqual([{ transition: transition('R', 'g', 'a1'), claimedUntil: T0 + 30_000 }]);
      expect(await store.activeAlerts('R')).toEqual([{ groupKey: 'g', record: out.record }]);
    });

    it('writes nothing when nothing changes and nothing is claimable; another claimer leaves a live claim alone', async () => {
      const { store, another } = await fixture.fresh();
      await store.updateAlert('R', 'g', fire('R', 'g', 'a1'), claimAt(T0));
      const other = await another().updateAlert('R', 'g', noChange, claimAt(T0 + 10_000));
      expect(other.claimed).toEqual([]);
      expect(other.record.outbox[0]!.claimedUntil).toBe(T0 + 30_000);
    });

    it('an expired claim (its publisher crashed) is claimed by the next step on the item', async () => {
      const { store, another } = await fixture.fresh();
      await store.updateAlert('R', 'g', fire('R', 'g', 'a1'), claimAt(T0));
      const later = await another().updateAlert('R', 'g', noChange, claimAt(T0 + 30_000));
      expect(later.claimed).toEqual([transition('R', 'g', 'a1')]);
      expect(later.record.outbox).toEqual([{ transition: transition('R', 'g', 'a1'), claimedUntil: T0 + 60_000 }]);
    });

    it('confirmed transitions leave the outbox; released claims are claimable at once; unknown ids and items change nothing', async () => {
      const { store } = await fixture.fresh();
      await store.updateAlert('R', 'g', fire('R', 'g', 'a1'), claimAt(T0));
      await store.releaseClaims('R', 'g', ['a1:firing']);
      const retry = await store.updateAlert('R', 'g', noChange, claimAt(T0 + 1));
      expect(retry.claimed.map((t) => t.transitionId)).toEqual(['a1:firing']);
      await store.confirmPublished('R', 'g', ['a1:firing', 'nope']);
      await store.confirmPublished('R', 'never', ['a1:firing']);
      await store.releaseClaims('R', 'never', ['a1:firing']);
      const [active] = await store.activeAlerts('R');
      expect(active!.record).toEqual({ state: { ...INITIAL_ALERT_STATE, status: 'firing', alertId: 'a1', consecutive: 1 }, outbox: [] });
      expect((await store.absenceGroups('R')).map((a) => a.groupKey)).toEqual(['g']);
    });

    it('a step on a known record (readAlertVersion) is decided on it when it writes, and on what is stored when the record changed since or the step writes nothing on it', async () => {
      const { store, another } = await fixture.fresh();
      const bump = (s: AlertState): StepResult => ({ state: { ...s, consecutive: s.consecutive + 1 }, transitions: [] });
      // Known absent, still absent: written on it.
      expect(await store.readAlertVersion('R', 'g')).toBeNull();
      await store.updateAlert('R', 'g', bump, claimAt(T0), null);
      const known = await store.readAlertVersion('R', 'g');
      expect(known).toEqual({ record: { state: { ...INITIAL_ALERT_STATE, consecutive: 1 }, outbox: [] }, version: 1 });
      // Another container changes the record after it was read: the step runs again on the stored record.
      await another().updateAlert('R', 'g', fire('R', 'g', 'a1'), claimAt(T0));
      const out = await store.updateAlert('R', 'g', bump, claimAt(T0 + 1), known);
      expect(out.record.state).toEqual({ ...INITIAL_ALERT_STATE, status: 'firing', alertId: 'a1', consecutive: 2 });
      // A step that writes nothing on the (stale) known record is decided on the stored one: here it fires.
      const stale = { record: { state: INITIAL_ALERT_STATE, outbox: [] }, version: 1 };
      const onlyFromFiring = (s: AlertState): StepResult => (s.status === 'firing' ? { state: { ...s, status: 'inactive', alertId: null, consecutive: 0 }, transitions: [transition('R', 'g', 'a1', 'resolved')] } : { state: s, transitions: [] });
      const resolved = await store.updateAlert('R', 'g', onlyFromFiring, claimAt(T0 + 2), stale);
      expect([resolved.record.state.status, resolved.claimed.map((t) => t.transitionId)]).toEqual(['inactive', ['a1:resolved']]);
      // Known absent while the item exists: the conditional write fails and the step runs on what is stored.
      const again = await another().updateAlert('R', 'g', bump, claimAt(T0 + 3), null);
      expect(again.record.state.consecutive).toBe(1);
      expect((await store.readAlertVersion('R', 'g'))!.record.state.consecutive).toBe(1);
    });

    it('concurrent steps from two containers are each recorded once (optimistic concurrency, the step run again)', async () => {
      const { store, another } = await fixture.fresh();
      const b = another();
      await store.updateAlert('R', 'g', noChange, claimAt(T0)); // the item does not exist: nothing written
      const appending = (id: string) => (s: AlertState): StepResult => ({ state: { ...s, consecutive: s.consecutive + 1 }, transitions: [transition('R', 'g', id)] });
      const [x, y] = await Promise.all([store.updateAlert('R', 'g', appending('x'), claimAt(T0)), b.updateAlert('R', 'g', appending('y'), claimAt(T0))]);
      expect([x.claimed.map((t) => t.alertId), y.claimed.map((t) => t.alertId)]).toEqual([['x'], ['y']]);
      const [rec] = await store.absenceGroups('R');
      expect(rec!.record.state.consecutive).toBe(2);
      expect(rec!.record.outbox.map((o) => o.transition.alertId).sort()).toEqual(['x', 'y']);
    });

    it('lists active and all records of a rule by group, across pages (some of them empty after the filter)', async () => {
      const { store } = await fixture.fresh({ pageSize: 2 });
      for (const g of ['e', 'b', 'a', 'd', 'c']) await store.updateAlert('R', g, (s) => ({ state: { ...s, lastSeen: T0 }, transitions: [] }), claimAt(T0));
      await store.updateAlert('R', 'd', fire('R', 'd', 'ad'), claimAt(T0));
      await store.updateAlert('R', 'b', fire('R', 'b', 'ab'), claimAt(T0));
      await store.updateAlert('Other', 'a', fire('Other', 'a', 'x'), claimAt(T0));
      expect((await store.activeAlerts('R')).map((a) => a.groupKey)).toEqual(['b', 'd']);
      expect((await store.absenceGroups('R')).map((a) => [a.groupKey, a.record.state.lastSeen])).toEqual([
        ['a', T0],
        ['b', T0],
        ['c', T0],
        ['d', T0],
        ['e', T0],
      ]);
    });
  });

  describe('shard progress and the stream watermark (never backwards)', () => {
    it('keeps the larger of each field, whoever writes', async () => {
      const { store, another } = await fixture.fresh();
      expect(await store.getShardProgress('telemetry', S1)).toBeUndefined();
      await store.putShardProgress('telemetry', { shardId: S1, maxEventTime: 10, lastActivity: 100 });
      await another().putShardProgress('telemetry', { shardId: S1, maxEventTime: 5, lastActivity: 200 });
      expect(await another().getShardProgress('telemetry', S1)).toEqual({ shardId: S1, maxEventTime: 10, lastActivity: 200 });
      await store.putShardProgress('telemetry', { shardId: S1, maxEventTime: 20, lastActivity: 50 });
      await store.putShardProgress('telemetry', { shardId: S2, maxEventTime: 1, lastActivity: 1 });
      await store.putShardProgress('other', { shardId: S1, maxEventTime: 99, lastActivity: 99 });
      expect(await another().listShardProgress('telemetry')).toEqual([
        { shardId: S1, maxEventTime: 20, lastActivity: 200 },
        { shardId: S2, maxEventTime: 1, lastActivity: 1 },
      ]);
    });

    it('moves the stream watermark only forwards', async () => {
      const { store, another } = await fixture.fresh();
      expect(await store.getStreamWatermark('telemetry')).toBe(-Infinity);
      // A raise answers with the watermark it replaced (-Infinity: none); a refused one with null (Engine.advance: one closer per move).
      expect(await store.putStreamWatermark('telemetry', T0)).toBe(-Infinity);
      expect(await another().putStreamWatermark('telemetry', T0 - 1)).toBeNull();
      expect(await store.putStreamWatermark('telemetry', T0)).toBeNull();
      expect(await another().getStreamWatermark('telemetry')).toBe(T0);
      expect(await another().putStreamWatermark('telemetry', T0 + 1)).toBe(T0);
      expect(await store.getStreamWatermark('telemetry')).toBe(T0 + 1);
    });
  });

  describe('producer duplicates', () => {
    it('an id seen with another sequence number is a duplicate; with the same one, a redelivery; per shard and bucket; across containers', async () => {
      const { store, another } = await fixture.fresh();
      const first = entries([
        { bucket: T0, id: id16(1), seq: '10' },
        { bucket: T0, id: id16(2), seq: '11' },
        { bucket: T0, id: id16(1), seq: '12' },
      ]);
      expect(await store.dedupe('telemetry', S1, first, T0 + 10 * M)).toEqual([false, false, true]);
      const second = entries([
        { bucket: T0, id: id16(1), seq: '10' },
        { bucket: T0, id: id16(2), seq: '20' },
        { bucket: T0 + DEDUPE_BUCKET_MS, id: id16(1), seq: '21' },
        { bucket: T0, id: id16(3), seq: '22' },
      ]);
      expect(await another().dedupe('telemetry', S1, second, T0 + 10 * M)).toEqual([false, true, false, false]);
      expect(await store.dedupe('telemetry', S2, entries([{ bucket: T0, id: id16(1), seq: '5' }]), T0 + 10 * M)).toEqual([false]);
      // The first container's view is behind (another wrote id 3): it still sees the truth.
      expect(await store.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(3), seq: '30' }]), T0 + 10 * M)).toEqual([true]);
    });

    it('a batch delivered again (whole, or overlapping the next) is no duplicate, in a cold container too; resends within a batch and across batches are', async () => {
      const { store, another } = await fixture.fresh();
      const batch1 = [
        { bucket: T0, id: id16(1), seq: '101' },
        { bucket: T0, id: id16(2), seq: '102' },
        { bucket: T0, id: id16(2), seq: '103' }, // resent within the batch
        { bucket: T0 + DEDUPE_BUCKET_MS, id: id16(3), seq: '104' },
      ];
      expect(await store.dedupe('telemetry', S1, entries(batch1), T0 + 10 * M)).toEqual([false, false, true, false]);
      // Redelivered whole, to the same container and to a new one: the same answers, nothing is new.
      expect(await store.dedupe('telemetry', S1, entries(batch1), T0 + 10 * M)).toEqual([false, false, true, false]);
      expect(await another().dedupe('telemetry', S1, entries(batch1), T0 + 10 * M)).toEqual([false, false, true, false]);
      // Retried from 103 on, with new records after it: 103 is still a resend of 2, 105 of 1; 106 is new, 107 a resend of it.
      const batch2 = [
        { bucket: T0, id: id16(2), seq: '103' },
        { bucket: T0 + DEDUPE_BUCKET_MS, id: id16(3), seq: '104' },
        { bucket: T0, id: id16(1), seq: '105' },
        { bucket: T0 + DEDUPE_BUCKET_MS, id: id16(6), seq: '106' },
        { bucket: T0 + DEDUPE_BUCKET_MS, id: id16(6), seq: '107' },
      ];
      expect(await another().dedupe('telemetry', S1, entries(batch2), T0 + 10 * M)).toEqual([true, false, true, false, true]);
      expect(await store.dedupe('telemetry', S1, entries([{ bucket: T0 + DEDUPE_BUCKET_MS, id: id16(6), seq: '106' }, { bucket: T0 + DEDUPE_BUCKET_MS, id: id16(6), seq: '108' }]), T0 + 10 * M)).toEqual([false, true]);
    });

    it("a sub-event is (sequence number, index): its record's other sub-events are other events, and it matches an id recorded as the text `<seq>/<index>` (as the code before indexes did)", async () => {
      const { store, another } = await fixture.fresh();
      // Recorded the way the code before wrote sub-events: the sequence number text "300/1", no index.
      expect(await store.dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(9), seq: '300/1' }]), T0 + 10 * M)).toEqual([false]);
      const record = [
        { bucket: T0, id: id16(7), seq: '300', index: 0 },
        { bucket: T0, id: id16(8), seq: '300', index: 1 },
        { bucket: T0, id: id16(7), seq: '300', index: 2 }, // a repeated id inside one record
        { bucket: T0, id: id16(9), seq: '300', index: 1 }, // the redelivery of what was recorded as "300/1"
        { bucket: T0, id: id16(9), seq: '300', index: 3 },
      ];
      expect(await store.dedupe('telemetry', S1, entries(record), T0 + 10 * M)).toEqual([false, false, true, false, true]);
      // Redelivered, to a cold container too: the same answers. The whole record 300 is another event than its sub-event 0.
      expect(await another().dedupe('telemetry', S1, entries(record), T0 + 10 * M)).toEqual([false, false, true, false, true]);
      expect(await another().dedupe('telemetry', S1, entries([{ bucket: T0, id: id16(7), seq: '300' }, { bucket: T0, id: id16(8), seq: '300/1' }]), T0 + 10 * M)).toEqual([true, false]);
    });

    it('two containers recording one bucket at once: an id sent by both is a duplicate in exactly one of them, and later batches see every id', async () => {
      const { store, another } = await fixture.fresh();
      const b = another();
      const [x, y] = await Promise.all([
        store.dedupe('telemetry', S1, entries([1, 2, 3].map((i) => ({ bucket: T0, id: id16(i), seq: `1${i}` }))), T0 + M),
        b.dedupe('telemetry', S1, entries([3, 4].map((i) => ({ bucket: T0, id: id16(i), seq: `2${i}` }))), T0 + M),
      ]);
      expect([...x, ...y].filter((d) => d)).toEqual([true]);
      expect([x.slice(0, 2), y[1]]).toEqual([[false, false], false]);
      const later = entries([1, 2, 3, 4, 5].map((i) => ({ bucket: T0, id: id16(i), seq: `3${i}` })));
      expect(await another().dedupe('telemetry', S1, later, T0 + M)).toEqual([true, true, true, true, false]);
    });

    it(`past ${DEDUPE_MAX_BUCKET_BYTES / 1024} KiB of ids a bucket records no more (so resends of later ids are not caught), the same in every store`, async () => {
      const { store, another } = await fixture.fresh();
      const long = (n: number) => String(10n ** 128n + BigInt(n)); // 129 digits, the longest Kinesis sequence numbers
      const fit = Math.floor(DEDUPE_MAX_BUCKET_BYTES / DEDUPE_ENTRY_BYTES);
      const n = fit + 40;
      const sent = entries(Array.from({ length: n }, (_, i) => ({ bucket: T0, id: id16(i), seq: long(i) })));
      expect((await store.dedupe('telemetry', S1, sent, T0 + M)).every((d) => !d)).toBe(true);
      const resent = entries(Array.from({ length: n }, (_, i) => ({ bucket: T0, id: id16(i), seq: long(n + i) })));
      const dup = await another().dedupe('telemetry', S1, resent, T0 + M);
      expect([dup.slice(0, fit).every((d) => d), dup.slice(fit).some((d) => d)]).toEqual([true, false]);
    });
  });

  describe('quarantine', () => {
    it('keeps rejected records whole, lists them by arrival, shard and sequence number, once each', async () => {
      const { store, another } = await fixture.fresh({ pageSize: 2 });
      const rs = [
        rejection({ sequenceNumber: '100', arrivalTime: T0 + 5 }),
        rejection({ sequenceNumber: '99', arrivalTime: T0 + 5 }),
        rejection({ sequenceNumber: '7', shardId: S2, arrivalTime: T0 }),
        rejection({ sequenceNumber: '8', arrivalTime: T0 + 1, reason: 'bad-base64', data: '%%not base64%%', partitionKey: 'ключ' }),
      ];
      await store.quarantine('telemetry', rs);
      await another().quarantine('telemetry', [rs[0]!]);
      await store.quarantine('other', [rejection()]);
      const listed = await another().listQuarantined('telemetry');
      expect(listed).toEqual([rs[2], rs[3], rs[1], rs[0]].map((r) => ({ ...r, stream: 'telemetry' })));
      expect((await store.listQuarantined('telemetry', { since: T0 + 1, limit: 2 })).map((r) => r.sequenceNumber)).toEqual(['8', '99']);
    });

    it('a record of 1 MiB (over the 400 KB item limit) and one of multibyte text come back exactly as received', async () => {
      const { store } = await fixture.fresh();
      const big = rejection({ sequenceNumber: '1', data: Buffer.alloc(1024 * 1024, 7).toString('base64') });
      const odd = rejection({ sequenceNumber: '2', data: `${'é😀中'.repeat(60_000)}` });
      await store.quarantine('telemetry', [big, odd]);
      const got = await store.listQuarantined('telemetry');
      expect(got.map((r) => [r.sequenceNumber, r.data.length, r.data === big.data || r.data === odd.data])).toEqual([
        ['1', big.data.length, true],
        ['2', odd.data.length, true],
      ]);
    });
  });

  describe('anomaly models (one conditional write per closed window)', () => {
    const spec: AnomalySpec = { of: 'errors', detector: 'robust', options: { ...DEFAULT_ANOMALY_OPTIONS, warmup: 2 }, fill: null };
    /** The engine's step for a closed window (anomaly/rule.ts), counting the calls and what each was given. */
    const learning = (start: number, value: number, seen: Array<number | null> = []) => (current: ModelRecord | undefined) => {
      seen.push(current?.last ?? null);
      return learnStep(spec, current, start, value, M);
    };
    const replayed = (series: ReadonlyArray<[number, number]>): ModelRecord | undefined => {
      let r: ModelRecord | undefined;
      for (const [start, v] of series) r = learnStep(spec, r, start, v, M) ?? r;
      return r;
    };

    it('learns a window once; a second attempt (redelivery, retry after a crash) writes nothing and reads back the stored verdict', async () => {
      const { store, another } = await fixture.fresh();
      expect(await store.updateModel('R', 'g', () => null)).toBeUndefined();
      const first = await store.updateModel('R', 'g', learning(T0, 10));
      expect(first).toEqual(replayed([[T0, 10]]));
      const second = await store.updateModel('R', 'g', learning(T0 + M, 12));
      expect(second).toEqual(replayed([[T0, 10], [T0 + M, 12]]));
      // again, from a cold container, with another value (the window was sealed: it cannot change; a bug would show here)
      const seen: Array<number | null> = [];
      const again = await another().updateModel('R', 'g', learning(T0 + M, 99, seen));
      expect(seen).toEqual([T0 + M]);
      expect(again).toEqual(second);
      expect(storedVerdict(again, T0 + M)).toEqual(storedVerdict(second, T0 + M));
      // an older window than the last learned is not learned either
      expect(await store.updateModel('R', 'g', learning(T0, 50))).toEqual(second);
      expect(await another().updateModel('R', 'g', () => null)).toEqual(second);
    });

    it('two containers closing the same window concurrently: one write takes effect, the other reads it back (its step run again)', async () => {
      const { store, another } = await fixture.fresh();
      const b = another();
      await store.updateModel('R', 'g', learning(T0, 10));
      const seenA: Array<number | null> = [];
      const seenB: Array<number | null> = [];
      const [x, y] = await Promise.all([store.updateModel('R', 'g', learning(T0 + M, 12, seenA)), b.updateModel('R', 'g', learning(T0 + M, 12, seenB))]);
      const want = replayed([[T0, 10], [T0 + M, 12]]);
      expect([x, y]).toEqual([want, want]);
      expect(await store.updateModel('R', 'g', () => null)).toEqual(want);
      // one of them decided on the stored record after losing (or, in memory, the second one saw the first's write)
      expect([...seenA, ...seenB].sort()).toEqual([T0, T0, T0 + M].sort());
    });

    it('refuses a step that does not learn a later window (a bug, not a conflict), and keys long groups by their hash', async () => {
      const { store } = await fixture.fresh();
      const first = await store.updateModel('R', 'g', learning(T0, 10));
      await expect(store.updateModel('R', 'g', (cur) => ({ ...cur!, recent: [] }))).rejects.toThrow(/a model write must learn a later window \(R g: .* after .*\)/);
      expect(await store.updateModel('R', 'g', () => null)).toEqual(first);
      const long = JSON.stringify(['é'.repeat(300)]);
      expect(await store.updateModel('R', long, learning(T0, 7))).toEqual(replayed([[T0, 7]]));
      expect(await store.updateModel('R', long, () => null)).toEqual(replayed([[T0, 7]]));
      expect(await store.updateModel('R', 'g', () => null)).toEqual(first);
    });
  });

  describe('DynamoDB key limits, in bytes', () => {
    it('a group key over 512 bytes (multibyte, short in characters) keys aggregates and alerts, and comes back whole', async () => {
      const { store } = await fixture.fresh();
      const group = JSON.stringify(['中'.repeat(170), '中'.repeat(170)]);
      const key = descriptor('R', group, { start: T0, end: T0 + M });
      await store.apply(key, S1, folding([1], T0 + 2 * M));
      await store.updateAlert('R', group, fire('R', group, 'a'), claimAt(T0));
      expect(folded((await store.read(key))?.slots[S1])).toEqual({ n: 1, seqs: [1] });
      expect((await store.dueKeys('R', T0 + 2 * M)).map((d) => d.key)).toEqual([key]);
      expect((await store.activeAlerts('R')).map((a) => a.groupKey)).toEqual([group]);
    });
  });
});

// ------------------------------------------------------------------ both stores, answer by answer

type Op =
  | { op: 'apply'; container: number; key: number; shard: number; records: number[] }
  | { op: 'read'; container: number; key: number }
  | { op: 'seal' | 'finish'; container: number; key: number }
  | { op: 'due'; container: number; watermark: number; release: boolean }
  | { op: 'alert'; container: number; group: number; fires: boolean; now: number }
  | { op: 'confirm' | 'release'; container: number; group: number }
  | { op: 'alerts'; container: number; active: boolean }
  | { op: 'progress'; container: number; shard: number; max: number; activity: number }
  | { op: 'listProgress'; container: number }
  | { op: 'watermark'; container: number; value: number }
  | { op: 'dedupe'; container: number; shard: number; list: Array<{ bucket: number; id: number; seq: number }> };

const KEYS = [windowKey('a'), windowKey('b'), windowKey('a', T0 + M), sessionKey('a')];
const SHARDS = [S1, S2];
const container = fc.integer({ min: 0, max: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('apply' as const), container, key: fc.integer({ min: 0, max: KEYS.length - 1 }), shard: fc.integer({ min: 0, max: 1 }), records: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('read' as const), container, key: fc.integer({ min: 0, max: KEYS.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('seal' as const, 'finish' as const), container, key: fc.integer({ min: 0, max: KEYS.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('due' as const), container, watermark: fc.integer({ min: 0, max: 4 }).map((k) => T0 + k * M), release: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('alert' as const), container, group: fc.integer({ min: 0, max: 2 }), fires: fc.boolean(), now: fc.integer({ min: 0, max: 3 }).map((k) => T0 + k * 20_000) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('confirm' as const, 'release' as const), container, group: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('alerts' as const), container, active: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('progress' as const), container, shard: fc.integer({ min: 0, max: 1 }), max: fc.integer({ min: 0, max: 9 }), activity: fc.integer({ min: 0, max: 9 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('listProgress' as const), container }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('watermark' as const), container, value: fc.integer({ min: 0, max: 9 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('dedupe' as const),
      container,
      shard: fc.integer({ min: 0, max: 1 }),
      list: fc.array(fc.record({ bucket: fc.integer({ min: 0, max: 1 }), id: fc.integer({ min: 0, max: 5 }), seq: fc.integer({ min: 1, max: 30 }) }), { minLength: 1, maxLength: 5 }),
    }),
  },
);

/**
 * The due keys of `rule` not finished: what every store's dueKeys must return. DynamoDB's due buckets
 * may also list keys finished since (until releaseDue) or gone; a closer reads each key and skips them.
 */
async function openDue(s: StateStore, rule: string, watermark: number): Promise<DueKey[]> {
  const out: DueKey[] = [];
  for (const d of await s.dueKeys(rule, watermark)) {
    const state = await s.read(d.key);
    if (state !== undefined && state.closeAt !== null) out.push({ key: d.key, closeAt: d.closeAt });
  }
  return out;
}

/** Runs one operation; its answer without costs (apply's conflicts). Records grow per (key, shard), so redeliveries and overlaps both occur. */
async function run(stores: readonly StateStore[], o: Op): Promise<unknown> {
  const s = stores[o.container]!;
  switch (o.op) {
    case 'apply': {
      const key = KEYS[o.key]!;
      // A fixed window closes at its own time; a session key's close time moves with its sessions.
      const out = await s.apply(key, SHARDS[o.shard]!, folding(o.records, key.windowEnd !== null ? key.windowEnd + M : T0 + M + o.records[0]! * 1000));
      // As a batch does after its key writes (the engine): the windows written are listed for the closer.
      await s.flushDue();
      // `unchanged` answers with what the container last saw (see the header): its status is the answer; the truth follows.
      return out.status === 'applied' ? { status: out.status, state: out.state } : { status: out.status, then: await s.read(key) };
    }
    case 'read':
      return s.read(KEYS[o.key]!);
    case 'seal':
      return s.sealWindow(KEYS[o.key]!);
    case 'finish':
      return s.finishWindow(KEYS[o.key]!);
    case 'due': {
      const open = await openDue(s, 'R', o.watermark);
      // A closer that found nothing open forgets what it was listed as: nothing open may be lost by it.
      if (o.release && open.length === 0) await s.releaseDue('R', await s.dueKeys('R', o.watermark));
      return open;
    }
    case 'alert': {
      const g = `g${o.group}`;
      return s.updateAlert('R', g, o.fires ? fire('R', g, `${g}-${o.now}`) : noChange, claimAt(o.now));
    }
    case 'confirm':
    case 'release': {
      const g = `g${o.group}`;
      const ids = (await s.absenceGroups('R')).find((a) => a.groupKey === g)?.record.outbox.map((e) => e.transition.transitionId) ?? [];
      return o.op === 'confirm' ? s.confirmPublished('R', g, ids) : s.releaseClaims('R', g, ids);
    }
    case 'alerts':
      return o.active ? s.activeAlerts('R') : s.absenceGroups('R');
    case 'progress':
      return s.putShardProgress('telemetry', { shardId: SHARDS[o.shard]!, maxEventTime: o.max, lastActivity: o.activity });
    case 'listProgress':
      return s.listShardProgress('telemetry');
    case 'watermark':
      await s.putStreamWatermark('telemetry', o.value);
      return s.getStreamWatermark('telemetry');
    case 'dedupe':
      return s.dedupe('telemetry', SHARDS[o.shard]!, entries(o.list.map((e) => ({ bucket: T0 + e.bucket * DEDUPE_BUCKET_MS, id: id16(e.id), seq: String(e.seq) }))), T0 + M);
  }
}

/** JSON with object keys sorted (stores need not agree on attribute order). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));
}

describe('StateStore contract: the in-memory and DynamoDB stores give the same answers', () => {
  it('to the same operations from two containers, interleaved at random', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 30 }), async (ops) => {
        const memory = await inMemory.fresh();
        const dynamodb = await onDynamoDB.fresh({ pageSize: 2 });
        const m = [memory.store, memory.another()];
        const d = [dynamodb.store, dynamodb.another()];
        for (const [i, o] of ops.entries()) {
          const settle = (p: Promise<unknown>) => p.then((value) => ({ value }), (err: unknown) => ({ error: String(err) }));
          const [want, got] = [canonical(await settle(run(m, o))), canonical(await settle(run(d, o)))];
          if (got !== want) {
            throw new Error(`operation ${i} ${JSON.stringify(o)}:\n  in memory: ${want}\n  DynamoDB:  ${got}`);
          }
        }
      }),
      { numRuns: 40, seed: 13, endOnFailure: true },
    );
  }, 120_000);
});
