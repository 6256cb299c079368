/**
 * Hopping windows listed, not registered (issue 21, cost), when the rule's lateness changes while windows are
 * open (a new pipeline deployed): a window listed with no item at the close time of the lateness before.
 */
import { Engine, type ClosedWindow } from '../../lambdas/core/Engine';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../helpers/factories';
import { storeFixtures } from '../helpers/storeFixtures';
import type { StateStore } from '../../lambdas/core/StateStore';

const M = 60_000;
const S = 'shardId-000000000001';
const { inMemory, onDynamoDB } = storeFixtures();

/** 3-minute windows every minute; holds on two events, all small (only window 0 below). */
const ruleWith = (latenessMs: number) =>
  windowRule({
    name: 'Hop',
    window: { kind: 'hopping', sizeMs: 3 * M, slideMs: M },
    latenessMs,
    aggregates: [countAgg('n'), { name: 'hi', kind: 'max', value: fn('value', (v) => v['value']), source: 'max(value)' }],
    when: fn('n >= 2 && hi < 5', (v) => (v['n'] as number) >= 2 && (v['hi'] as number) < 5),
  });
const ev = (offsetMs: number, value: number) => ({ service: 'a', ts: T0 + offsetMs, value });

describe.each([inMemory, onDynamoDB])('a lateness raised while a listed window is open: $name', (fixture) => {
  it('the window listed at the close time before is still closed (not dropped as "due later")', async () => {
    const { store, another } = await fixture.fresh();
    const closed: ClosedWindow[] = [];
    const published: AlertTransition[] = [];
    const engineOn = (s: StateStore, latenessMs: number, now: () => number) =>
      new Engine({ pipeline: pipelineOf([ruleWith(latenessMs)], streamSpec({ idleTimeoutMs: M })), stream: 'telemetry', store: s, clock: { now }, publish: async (t) => void published.push(t), onWindowClosed: (w) => closed.push(w) });
    // Lateness 0: panes 1m and 2m (one small event each). Window 0 (n 2, hi 1: holds) has no item: listed, due at 3m.
    await engineOn(store, 0, () => T0 + 2 * M + 10_000).processBatch(S, shardRecords(S, [ev(M + 5_000, 1), ev(2 * M + 5_000, 1)], 1n));
    // Lateness 2m (deployed): pane 3m (a big event). The watermark (3:05) passes window 0's listing (3m), not its close now (5m).
    let now = T0 + 3 * M + 10_000;
    const next = engineOn(another(), 2 * M, () => now);
    await next.processBatch(S, shardRecords(S, [ev(3 * M + 5_000, 9)], 10n));
    // Much later: every window closed.
    now = T0 + 30 * M;
    await next.advance();
    expect(closed.filter((w) => w.window.start === T0).map((w) => [w.values['n'], w.holds])).toEqual([[2, true]]);
    expect(published.map((t) => [t.state, (t.window.start - T0) / M])[0]).toEqual(['firing', 0]);
  });
});
