import { Engine, type ClosedWindow } from '../../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import type { AlertTransition } from '../../../lambdas/core/lifecycle';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../../helpers/factories';

const M = 60_000;

function setup(rules: Parameters<typeof pipelineOf>[0]) {
  const closed: ClosedWindow[] = [];
  const published: AlertTransition[] = [];
  const clock = { t: T0 + 10 * M, now() { return this.t; } };
  const engine = new Engine({
    pipeline: pipelineOf(rules, streamSpec()),
    stream: 'telemetry',
    store: new InMemoryStateStore(),
    clock,
    publish: async (t) => void published.push(t),
    onWindowClosed: (w) => closed.push(w),
  });
  return { engine, closed, published };
}

const http = (service: string, ts: number, status = 200) => ({ eventId: `${service}-${ts}-${status}`, service, ts: new Date(ts).toISOString(), status });

describe('Engine onWindowClosed', () => {
  it('reports each closed fixed window once, with its group, values, verdict and event count', async () => {
    // Arrange: two services in the first minute; checkout has 3 requests (the rule holds at >= 3)
    const errors = { name: 'errors', kind: 'count' as const, condition: fn('status >= 500', (v) => (v['status'] as number) >= 500), source: 'count(status >= 500)' };
    const { engine, closed, published } = setup([windowRule({ aggregates: [countAgg(), errors] })]);
    const first = [http('checkout', T0 + 1000, 503), http('checkout', T0 + 2000), http('checkout', T0 + 3000), http('search', T0 + 4000)];
    // Act: the minute's events, then one event of the next minute that moves the watermark past the first
    await engine.processBatch('shardId-000000000000', shardRecords('shardId-000000000000', first, 1n));
    expect(closed).toEqual([]);
    await engine.processBatch('shardId-000000000000', shardRecords('shardId-000000000000', [http('search', T0 + M + 1000)], 10n));
    // Assert
    const byGroup = (w: ClosedWindow) => String(w.group['service']);
    expect([...closed].sort((a, b) => byGroup(a).localeCompare(byGroup(b)))).toEqual([
      { rule: 'R', group: { service: 'checkout' }, groupKey: '["checkout"]', window: { start: T0, end: T0 + M }, values: { total: 3, errors: 1 }, holds: true, events: 3, watermark: T0 + M + 1000 },
      { rule: 'R', group: { service: 'search' }, groupKey: '["search"]', window: { start: T0, end: T0 + M }, values: { total: 1, errors: 0 }, holds: false, events: 1, watermark: T0 + M + 1000 },
    ]);
    expect(published.map((t) => [t.rule, t.state, t.group['service']])).toEqual([['R', 'firing', 'checkout']]);
    // a later advance does not report them again
    await engine.advance();
    expect(closed).toHaveLength(2);
  });

  it('reports sessions as they close, and not the empty windows that resolve a quiet group', async () => {
    // Arrange: a session rule (gap 30 s) that fires on 2 requests
    const rule = windowRule({ name: 'S', window: { kind: 'session', gapMs: 30_000 }, when: fn('total >= 2', (v) => (v['total'] as number) >= 2) });
    const { engine, closed, published } = setup([rule]);
    // Act: a 2-event session for checkout, then traffic of another service far later
    await engine.processBatch('shardId-000000000000', shardRecords('shardId-000000000000', [http('checkout', T0), http('checkout', T0 + 10_000)], 1n));
    await engine.processBatch('shardId-000000000000', shardRecords('shardId-000000000000', [http('search', T0 + 5 * M)], 10n));
    // Assert: one session reported (checkout); the resolution of checkout comes from an empty next session, not reported as a window
    expect(closed).toEqual([
      { rule: 'S', group: { service: 'checkout' }, groupKey: '["checkout"]', window: { start: T0, end: T0 + 40_000 }, values: { total: 2 }, holds: true, events: 2, watermark: T0 + 5 * M },
    ]);
    expect(published.map((t) => t.state)).toEqual(['firing', 'resolved']);
  });
});
