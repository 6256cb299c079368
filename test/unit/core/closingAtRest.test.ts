/**
 * Closing windows of groups at rest (closing.ts: issue 19's in-order closing
 * reconciled with issue 21's quiet close). At rest, a failing step records
 * nothing, so order does not matter and a window closes in one write with no
 * base-table query and no seal; a step that leaves rest looks back a bounded
 * range of the base table for windows the due index may hide.
 */
import type { KeyDescriptor } from '../../../lambdas/core/StateStore';
import { fn, T0, windowRule } from '../../helpers/factories';
import { A, B, LAG, laggingEngine, M } from '../../helpers/laggingIndex';

function setup(forWindows: number) {
  const lagging = laggingEngine(windowRule({ when: fn('total >= 2', (v) => (v['total'] as number) >= 2), for: forWindows }));
  const { store } = lagging;
  const calls = {
    closeAt: jest.spyOn(store, 'closeWindowAt'),
    query: jest.spyOn(store, 'groupWindows'),
    sealEmpty: jest.spyOn(store, 'sealEmptyWindow'),
    seal: jest.spyOn(store, 'sealWindow'),
    finish: jest.spyOn(store, 'finishWindow'),
    alertWrite: jest.spyOn(store, 'updateAlert'),
  };
  const starts = (spy: jest.SpyInstance) => spy.mock.calls.map((c) => ((c[0] as KeyDescriptor).windowStart! - T0) / M);
  return { ...lagging, calls, starts };
}

describe('closing windows of a group at rest (closing.ts)', () => {
  it('a sparse group at rest with many empty windows: one write per closed window, no base-table query, no seal, no alert write', async () => {
    const { clock, store, batch, calls, starts, summary } = setup(1);
    // One event every 5 minutes for an hour: 12 windows with an event, 55 empty windows between them.
    for (let k = 0; k < 12; k++) {
      clock.t = T0 + k * 5 * M + 10_000;
      await batch(A, [['sparse', T0 + k * 5 * M + 1_000]]);
    }
    expect(summary()).toEqual([]);
    // Each batch closes the window of the one before (the last one stays open).
    expect(starts(calls.closeAt)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
    expect([calls.query.mock.calls.length, calls.sealEmpty.mock.calls.length, calls.seal.mock.calls.length, calls.finish.mock.calls.length, calls.alertWrite.mock.calls.length]).toEqual([0, 0, 0, 0, 0]);
    expect(await store.absenceGroups('R')).toEqual([]);
    clock.t += LAG;
    expect((await store.dueKeys('R', Number.MAX_SAFE_INTEGER)).map((d) => (d.key.windowStart! - T0) / M)).toEqual([55]);
  });

  it('a group back at rest after an episode (its record\'s evaluatedThrough goes stale): still one write per window, no query', async () => {
    const { clock, store, batch, calls, starts, summary } = setup(1);
    clock.t = T0 + 10_000;
    await batch(A, [
      ['api', T0 + 1_000],
      ['api', T0 + 2_000],
    ]);
    clock.t = T0 + 5 * M + 10_000;
    await batch(A, [['api', T0 + 5 * M + 1_000]]); // W0 fires; W1 is judged empty (sealed), the alert resolves
    expect(summary()).toEqual(['firing api 0 {"total":2}', 'resolved api 1 {"total":0}']);
    // Leaving rest at W0 looks back (closing.ts lookbackAfter): the window before W0 in the lookback is sealed as judged.
    expect(starts(calls.sealEmpty)).toEqual([-1, 1]);
    expect((await store.absenceGroups('R')).map((a) => [a.groupKey, a.record.state.status, (a.record.state.evaluatedThrough! - T0) / M])).toEqual([['["api"]', 'inactive', 1]]);
    expect(calls.query.mock.calls.length).toBe(1);
    const before = { alert: calls.alertWrite.mock.calls.length, seal: calls.seal.mock.calls.length, finish: calls.finish.mock.calls.length };
    for (let k = 2; k < 8; k++) {
      clock.t = T0 + k * 5 * M + 10_000;
      await batch(A, [['api', T0 + k * 5 * M + 1_000]]);
    }
    expect(summary()).toEqual(['firing api 0 {"total":2}', 'resolved api 1 {"total":0}']);
    expect(starts(calls.closeAt)).toEqual([5, 10, 15, 20, 25, 30]);
    expect([calls.query.mock.calls.length - 1, calls.sealEmpty.mock.calls.length - 2, calls.alertWrite.mock.calls.length - before.alert, calls.seal.mock.calls.length - before.seal, calls.finish.mock.calls.length - before.finish]).toEqual([0, 0, 0, 0, 0]);
    // evaluatedThrough did not move at rest: a window that shows late, out of order, is still evaluated.
    expect((await store.absenceGroups('R')).map((a) => (a.record.state.evaluatedThrough! - T0) / M)).toEqual([1]);
  });

  it('W1 hidden by index lag, W1 and W2 both hold, for: 2 windows, from rest: fires at W2 (bounded lookback, not the whole partition)', async () => {
    const { clock, store, batch, calls, starts, summary } = setup(2);
    await batch(B, [['other', T0]]);
    // Shard A is ahead: api's W2 holds (two events), A's progress is at T0+5m.
    await batch(A, [
      ['api', T0 + M + 5_000],
      ['api', T0 + M + 6_000],
      ['other', T0 + 5 * M],
    ]);
    clock.t += 10_000; // A's items are in the due index by now
    // Shard B (lagging) sends api's W1 (holds) and moves the watermark to T0+5m in the same invocation: W1 is hidden.
    await batch(B, [
      ['api', T0 + 10_000],
      ['api', T0 + 20_000],
      ['other', T0 + 5 * M],
    ]);
    expect(store.hidden).toBeGreaterThan(0);
    // Without the lookback, W2 would make api pending alone and W1 would be ignored when it shows: no firing.
    expect(summary()).toEqual(['firing api 1 {"total":2}', 'resolved api 2 {"total":0}']);
    // One query of api's partition, from the lookback bound: min(W2 start, watermark before the batch = T0) - size - lateness - 60 s, on the grid.
    expect(calls.query.mock.calls.map((c) => [c[1], ((c[2] as number) - T0) / M, ((c[3] as number) - T0) / M])).toEqual([['["api"]', -2, 1]]);
    // Sealed as empty: the window before api's first one inside the lookback (judged by the step at W2), and W3 (judged empty by the firing alert).
    expect(starts(calls.sealEmpty)).toEqual([-1, 2]);
  });
});
