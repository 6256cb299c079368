/**
 * Panes with a store that forgets finished windows (InMemoryStateStore forgetFinishedWindows: tidewatch backtest /
 * replay). A window closed quietly (at rest) is deleted; when a later window of the group leaves rest, the ordered
 * close looks back (closing.ts lookbackAfter) and meets the deleted windows as "missing".
 */
import { Engine, type ClosedWindow } from '../../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import type { WindowRule } from '../../../lambdas/core/types';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../../helpers/factories';

const M = 60_000;
const S = 'shardId-000000000000';
const ev = (offsetMs: number) => ({ service: 'a', ts: T0 + offsetMs, value: 1, status: 200 });

/** An engine of `rule` on a store that forgets finished windows, its closed windows and transitions recorded. */
function forgetting(rule: WindowRule) {
  const closed: ClosedWindow[] = [];
  const published: string[] = [];
  const engine = new Engine({
    pipeline: pipelineOf([rule], streamSpec({ idleTimeoutMs: 3_600_000 })),
    stream: 'telemetry',
    store: new InMemoryStateStore({ forgetFinishedWindows: true }),
    clock: { now: () => T0 + 5 * M },
    publish: async (t) => void published.push(`${t.state} ${(t.window.start - T0) / M}`),
    onWindowClosed: (w) => closed.push(w),
  });
  return { engine, closed, published };
}

describe('panes: a store forgetting finished windows (backtest)', () => {
  it('a hopping window closed quietly and forgotten is not closed again from the panes of newer windows when a later window leaves rest', async () => {
    const rule = windowRule({ name: 'Hop', window: { kind: 'hopping', sizeMs: 3 * M, slideMs: M }, aggregates: [countAgg('n')], when: fn('n >= 3', (v) => (v['n'] as number) >= 3) });
    const { engine, closed } = forgetting(rule);
    // Panes 1m and 2m: window -1m (n 1) closes at the batch's end (watermark 2:05), quietly (fails, at rest).
    await engine.processBatch(S, shardRecords(S, [ev(M + 5_000), ev(2 * M + 5_000)], 1n));
    // Pane 3m: window 0 (n 2) closes quietly.
    await engine.processBatch(S, shardRecords(S, [ev(3 * M + 5_000)], 10n));
    // Pane 4m: window 1m (n 3) holds: the group leaves rest, the ordered close looks back over windows -2m..0.
    await engine.processBatch(S, shardRecords(S, [ev(4 * M + 5_000)], 20n));
    expect(closed.map((w) => [(w.window.start - T0) / M, w.values['n']])).toEqual([
      [-1, 1],
      [0, 2],
      [1, 3],
    ]);
  });

  it('nor judged again on a part of its value (wrong alert: for 2 fires on two forgotten windows re-judged from the panes left)', async () => {
    // n == 1 holds; for 2: two windows in a row. Windows -1m (n 3) and 0 (n 3) fail; window 1m (n 1) holds once: no fire.
    const rule = windowRule({ name: 'Hop', window: { kind: 'hopping', sizeMs: 3 * M, slideMs: M }, aggregates: [countAgg('n')], when: fn('n == 1', (v) => v['n'] === 1), for: 2 });
    const { engine, closed, published } = forgetting(rule);
    // Panes 0 (2 events) and 1m (1): window -2m (n 2) closes quietly at the batch's end.
    await engine.processBatch(S, shardRecords(S, [ev(5_000), ev(10_000), ev(M + 5_000)], 1n));
    // Watermark 4:05: windows -1m and 0 close quietly (forgotten, with pane 0 on window 0's item), window 1m holds.
    await engine.processBatch(S, shardRecords(S, [ev(4 * M + 5_000)], 10n));
    expect(closed.map((w) => [(w.window.start - T0) / M, w.values['n']])).toEqual([
      [-2, 2],
      [-1, 3],
      [0, 3],
      [1, 1],
    ]);
    expect(published).toEqual([]);
  });
});
