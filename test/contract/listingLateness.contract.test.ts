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
  /** Fresh stores, and engines on them (the rule at a lateness, a wall clock) recording closed windows and transitions. */
  async function setUp() {
    const { store, another } = await fixture.fresh();
    const closed: ClosedWindow[] = [];
    const published: AlertTransition[] = [];
    const engineOn = (s: StateStore, latenessMs: number, now: () => number) =>
      new Engine({ pipeline: pipelineOf([ruleWith(latenessMs)], streamSpec({ idleTimeoutMs: M })), stream: 'telemetry', store: s, clock: { now }, publish: async (t) => void published.push(t), onWindowClosed: (w) => closed.push(w) });
    return { store, another, closed, published, engineOn };
  }

  it('the window listed at the close time before is still closed (not dropped as "due later")', async () => {
    const { store, another, closed, published, engineOn } = await setUp();
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
  it('a close that sealed a listed window under the raised lateness and failed before its alert step is completed by the next close (not dropped as "due later")', async () => {
    const { store, another, closed, published, engineOn } = await setUp();
    await engineOn(store, 0, () => T0 + 2 * M + 10_000).processBatch(S, shardRecords(S, [ev(M + 5_000, 1), ev(2 * M + 5_000, 1)], 1n));
    // Lateness 2m: the watermark moves to 3:05 (window 0's listing, 3m, is due); the close seals window 0 with a put
    // (no item: its close time the rule's now, 5m) and fails before its alert step.
    let now = T0 + 3 * M + 10_000;
    let sealed = false;
    let failed = false;
    const crashing = new Proxy(another(), {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        return async (...args: unknown[]) => {
          if (prop === 'sealWindowAt') sealed = true;
          if (prop === 'updateAlert' && sealed && !failed) {
            failed = true;
            throw new Error('injected: the closer dies after the seal, before the alert step');
          }
          return (await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
        };
      },
    }) as StateStore;
    const r = await engineOn(crashing, 2 * M, () => now).processBatch(S, shardRecords(S, [ev(3 * M + 5_000, 9)], 10n));
    expect(failed).toBe(true);
    expect(r.retryFrom).not.toBeNull();
    expect(published).toEqual([]);
    // The ticker, still before 5m: window 0 is sealed and not finished, its listing due: it is evaluated now.
    now = T0 + 3 * M + 20_000;
    await engineOn(another(), 2 * M, () => now).advance();
    expect(closed.filter((w) => w.window.start === T0).map((w) => [w.values['n'], w.holds])).toEqual([[2, true]]);
    expect(published.map((t) => [t.state, (t.window.start - T0) / M])[0]).toEqual(['firing', 0]);
  });
});
