import { Engine, type ClosedWindow } from '../../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import type { AlertTransition } from '../../../lambdas/core/lifecycle';
import type { StateStorage } from '../../../lambdas/core/state/StateStorage';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../../helpers/factories';

const M = 60_000;
const SHARD = 'shardId-000000000000';
const http = (service: string, ts: number, status = 200) => ({ eventId: `${service}-${ts}-${status}`, service, ts: new Date(ts).toISOString(), status });
const errors = { name: 'errors', kind: 'count' as const, condition: fn('status >= 500', (v) => (v['status'] as number) >= 500), source: 'count(status >= 500)' };

function setup(emit: 'final' | 'early') {
  const store = new InMemoryStateStore();
  const closed: ClosedWindow[] = [];
  const published: AlertTransition[] = [];
  const clock = { t: T0 + 10 * M, now() { return this.t; } };
  const rule = windowRule({ aggregates: [countAgg(), errors], when: fn('errors >= 1', (v) => (v['errors'] as number) >= 1), emit });
  const engine = new Engine({ pipeline: pipelineOf([rule], streamSpec()), stream: 'telemetry', store, clock, publish: async (t) => void published.push(t), onWindowClosed: (w) => closed.push(w) });
  const calls = { seal: jest.spyOn(store, 'sealWindow'), finish: jest.spyOn(store, 'finishWindow'), closeAt: jest.spyOn(store, 'closeWindowAt') };
  return { engine, store, closed, published, calls };
}

describe('closing a window without a write per quiet group (emit: final)', () => {
  it('a group whose window does not hold and whose alert is at rest: one write (seal and finish), no alert record', async () => {
    const { engine, store, closed, published, calls } = setup('final');
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('quiet', T0 + 1000), http('loud', T0 + 2000, 503)], 1n));
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('quiet', T0 + M + 1000)], 10n));
    // quiet: closed in one write; loud: sealed, its firing recorded, finished.
    expect([calls.closeAt.mock.calls.map((c) => c[0].groupKey), calls.seal.mock.calls.map((c) => c[0].groupKey), calls.finish.mock.calls.map((c) => c[0].groupKey)]).toEqual([['["quiet"]'], ['["loud"]'], ['["loud"]']]);
    expect((await store.absenceGroups('R')).map((a) => [a.groupKey, a.record.state.status])).toEqual([['["loud"]', 'firing']]);
    expect(published.map((t) => [t.state, t.group['service']])).toEqual([['firing', 'loud']]);
    expect(closed.map((w) => [w.groupKey, w.holds, w.events]).sort()).toEqual([
      ['["loud"]', true, 1],
      ['["quiet"]', false, 1],
    ]);
    // The first minute's windows are no longer due (the second minute's quiet window is open).
    expect((await store.dueKeys('R', Number.MAX_SAFE_INTEGER)).map((d) => [d.key.groupKey, d.key.windowStart])).toEqual([['["quiet"]', T0 + M]]);
    // The next window: loud is quiet now, but its alert is firing, so it resolves the usual way; quiet closes in one write again.
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('loud', T0 + M + 2000), http('quiet', T0 + 2 * M + 1000)], 20n));
    expect(published.map((t) => [t.state, t.group['service']])).toEqual([
      ['firing', 'loud'],
      ['resolved', 'loud'],
    ]);
    expect(calls.closeAt.mock.calls.map((c) => c[0].groupKey)).toEqual(['["quiet"]', '["quiet"]']);
    expect((await store.absenceGroups('R')).map((a) => [a.groupKey, a.record.state.status])).toEqual([['["loud"]', 'inactive']]);
  });

  it('a group not at rest: its window is closed the ordered way at once, one key read, one alert read and one alert step (no quiet probe first)', async () => {
    const { engine, store, published, calls } = setup('final');
    // Alert reads as the storage sees them (the group's read by closeGroup, and any read by a lifecycle step or a confirmation).
    const storage = (store as unknown as { storage: StateStorage }).storage;
    const spies = { alertReads: jest.spyOn(storage.alerts, 'read'), step: jest.spyOn(store, 'updateAlert'), read: jest.spyOn(store, 'read') };
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('loud', T0 + 1000, 503)], 1n));
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('loud', T0 + M + 1000, 503)], 10n)); // closes W0: loud fires
    expect(published.map((t) => [t.state, (t.window.start - T0) / M])).toEqual([['firing', 0]]);
    const count = () => [spies.alertReads.mock.calls.length, spies.read.mock.calls.length, spies.step.mock.calls.length, calls.seal.mock.calls.length, calls.finish.mock.calls.length, calls.closeAt.mock.calls.length];
    const before = count();
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('loud', T0 + 2 * M + 1000, 503)], 20n)); // closes W1: loud is firing and holds again
    // Per closed window of a firing group: one alert read (closeGroup's; the step writes on the version it read), one key read,
    // one alert step (its write), the seal and the finish. (Before issue 21's follow-up, closeKey probed the alert record
    // first, and each step read the record again: 3 alert reads, 2 key reads and 2 alert steps.)
    expect(count().map((n, i) => n - before[i]!)).toEqual([1, 1, 1, 1, 1, 0]);
    expect((await store.absenceGroups('R')).map((a) => [a.record.state.status, a.record.state.consecutive, (a.record.state.evaluatedThrough! - T0) / M])).toEqual([['firing', 2, 1]]);
  });

  it('a group back at rest within one close: the windows after the resolve close in one write each again', async () => {
    const { engine, published, calls } = setup('final');
    const starts = (spy: jest.SpyInstance) => spy.mock.calls.map((c) => ((c[0] as { windowStart: number }).windowStart - T0) / M);
    // One batch: loud fails in W0 only; its watermark closes W0, W1 and W2 at once.
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('loud', T0 + 1000, 503), http('loud', T0 + M + 1000), http('loud', T0 + 2 * M + 1000), http('loud', T0 + 3 * M + 1000)], 1n));
    expect(published.map((t) => [t.state, (t.window.start - T0) / M])).toEqual([
      ['firing', 0],
      ['resolved', 1],
    ]);
    // W0 (fires) and W1 (resolves) the ordered way; W2 finds the group at rest again: one write.
    expect([starts(calls.seal), starts(calls.finish), starts(calls.closeAt)]).toEqual([[0, 1], [0, 1], [2]]);
  });

  it('emit: early rules close quietly too (one write, no alert record); a redelivered batch after the close does not fire', async () => {
    const { engine, store, calls, published } = setup('early');
    const first = shardRecords(SHARD, [http('quiet', T0 + 1000)], 1n);
    await engine.processBatch(SHARD, first);
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('quiet', T0 + M + 1000)], 10n));
    expect([calls.closeAt.mock.calls.length, calls.seal.mock.calls.length, calls.finish.mock.calls.length]).toEqual([1, 0, 0]);
    expect(await store.absenceGroups('R')).toEqual([]);
    // Redelivered (the fold finds its window closed by the watermark: late, no verdict).
    const again = await engine.processBatch(SHARD, first);
    expect([again.keysWritten, again.late, again.published]).toEqual([0, 1, []]);
    expect(published).toEqual([]);
  });

  it('emit: early, a group that fires early from rest after quiet closes: its window resolves on its own verdict, no gap resolve, no re-close of the quiet windows', async () => {
    const { engine, store, calls, published } = setup('early');
    const alertWrite = jest.spyOn(store, 'updateAlert');
    // Windows 0..3 hold no error (0..2 close quietly). Window 4: an error fires early; it holds when it closes (still firing); 5 has none: resolves.
    for (let i = 0; i < 4; i++) await engine.processBatch(SHARD, shardRecords(SHARD, [http('g', T0 + i * M + 1000)], BigInt(1 + i * 10)));
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('g', T0 + 4 * M + 1000, 503)], 100n));
    expect(published.map((t) => [t.state, (t.window.start - T0) / M])).toEqual([['firing', 4]]);
    expect(calls.closeAt.mock.calls.map((c) => (c[0].windowStart! - T0) / M)).toEqual([0, 1, 2]);
    const writesBefore = alertWrite.mock.calls.length;
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('g', T0 + 5 * M + 1000)], 110n)); // closes 4: holds, firing
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('g', T0 + 6 * M + 1000)], 120n)); // closes 5: fails, resolves
    expect(published.map((t) => [t.state, (t.window.start - T0) / M])).toEqual([
      ['firing', 4],
      ['resolved', 5],
    ]);
    // Window 3, closed by the batch that fired (after its early step), is below the window fired in: sealed and
    // finished, its step a no-op (no alert write); then 4 and 5 in order. The quiet windows 0..2 are not closed again.
    expect(calls.closeAt.mock.calls.map((c) => (c[0].windowStart! - T0) / M)).toEqual([0, 1, 2]);
    expect(calls.seal.mock.calls.map((c) => (c[0].windowStart! - T0) / M)).toEqual([3, 4, 5]);
    // Window 4's step and window 5's, one write each.
    expect(alertWrite.mock.calls.length - writesBefore).toBe(2);
    expect((await store.absenceGroups('R')).map((a) => [a.record.state.status, (a.record.state.evaluatedThrough! - T0) / M])).toEqual([['inactive', 5]]);
  });
});
