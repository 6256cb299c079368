import { InMemoryGroupAdmission, HOUR_MS, type GroupAdmission } from '../../../lambdas/adapters/MetricGroupRegistry';
import { dimensionValue, flushRuleMetrics, RuleMetrics } from '../../../lambdas/adapters/RuleMetrics';
import { Engine, type ClosedWindow } from '../../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import type { AggregateSpec, WindowRule } from '../../../lambdas/core/types';
import { countAgg, fn, pipelineOf, shardRecords, T0, windowRule } from '../../helpers/factories';

const M = 60_000;
const SHARD = 'shardId-000000000000';
const errors: AggregateSpec = { name: 'errors', kind: 'count', condition: fn('status >= 500', (v) => (v['status'] as number) >= 500), source: 'count(status >= 500)' };
const worst: AggregateSpec = { name: 'worst', kind: 'max', value: fn('latencyMs', (v) => v['latencyMs']), source: 'max(latencyMs)' };
const http = (service: string, ts: number, status = 200, latencyMs = 10) => ({ eventId: `${service}-${ts}-${status}`, service, ts: new Date(ts).toISOString(), status, latencyMs });

interface Doc {
  _aws: { Timestamp: number; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
  [k: string]: unknown;
}

function setup(rule: WindowRule, admission: GroupAdmission = new InMemoryGroupAdmission()) {
  const lines: string[] = [];
  const pipeline = pipelineOf([rule]);
  const metrics = new RuleMetrics({ pipeline, namespace: 'test/rules', admission, write: (l) => void lines.push(l), clock: { now: () => T0 + HOUR_MS * 10 } });
  const clock = { t: T0 + 10 * M, now() { return this.t; } };
  const engine = new Engine({ pipeline, stream: 'telemetry', store: new InMemoryStateStore(), clock, publish: async () => undefined, onWindowClosed: metrics.collect });
  const docs = () => lines.map((l) => JSON.parse(l) as Doc);
  return { engine, metrics, docs, lines };
}

const closed = (service: string, end: number, values: Record<string, number | null>): ClosedWindow => ({
  rule: 'R',
  group: { service },
  groupKey: JSON.stringify([service]),
  window: { start: end - M, end },
  values,
  holds: false,
  events: 1,
  watermark: end,
});

describe('RuleMetrics', () => {
  it('publishes each closed window of an emit: early rule once, final values only, timestamped at the window end', async () => {
    // Arrange: an early rule that fires at 3 requests, publishing errors and total
    const rule = windowRule({ aggregates: [countAgg(), errors], emit: 'early', metrics: { aggregates: ['total', 'errors'], maxGroups: 100 } });
    const { engine, metrics, docs } = setup(rule);
    // Act: the minute's events (the early alert fires at once), flushed while the window is open
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('checkout', T0 + 1000, 503), http('checkout', T0 + 2000), http('checkout', T0 + 3000), http('search', T0 + 4000)], 1n));
    expect(await metrics.flush()).toEqual({ published: 0, dropped: { cap: 0, label: 0, unavailable: 0 }, errors: [] });
    // an event of the next minute moves the watermark past the first minute and closes it
    await engine.processBatch(SHARD, shardRecords(SHARD, [http('search', T0 + M + 6000)], 10n));
    const report = await metrics.flush();
    // Assert
    expect(report.published).toBe(2);
    const byService = docs().sort((a, b) => String(a['service']).localeCompare(String(b['service'])));
    expect(byService).toEqual([
      {
        _aws: { Timestamp: T0 + M, CloudWatchMetrics: [{ Namespace: 'test/rules', Dimensions: [['Rule', 'service']], Metrics: [{ Name: 'total', Unit: 'Count' }, { Name: 'errors', Unit: 'Count' }] }] },
        Rule: 'R',
        service: 'checkout',
        total: 3,
        errors: 1,
      },
      {
        _aws: { Timestamp: T0 + M, CloudWatchMetrics: [{ Namespace: 'test/rules', Dimensions: [['Rule', 'service']], Metrics: [{ Name: 'total', Unit: 'Count' }, { Name: 'errors', Unit: 'Count' }] }] },
        Rule: 'R',
        service: 'search',
        total: 1,
        errors: 0,
      },
    ]);
    // a later advance closes nothing new: nothing more is published
    await engine.advance();
    expect((await metrics.flush()).published).toBe(0);
  });

  it('publishes only the aggregates listed, in the rule order, and leaves out a null value', async () => {
    const rule = windowRule({ aggregates: [countAgg(), errors, worst], metrics: { aggregates: ['total', 'worst'], maxGroups: 100 } });
    const { metrics, docs } = setup(rule);
    metrics.collect(closed('a', T0 + M, { total: 2, errors: 1, worst: 12.5 }));
    metrics.collect(closed('b', T0 + M, { total: 0, errors: 0, worst: null }));
    await metrics.flush();
    expect(docs().map((d) => [d['service'], d['total'], d['errors'], d['worst'], d._aws.CloudWatchMetrics[0]!.Metrics.map((m) => `${m.Name}:${m.Unit}`)])).toEqual([
      ['a', 2, undefined, 12.5, ['total:Count', 'worst:None']],
      ['b', 0, undefined, undefined, ['total:Count']],
    ]);
  });

  it('publishes a window closed twice twice, with identical values and timestamp (so Maximum and Average are unchanged)', async () => {
    const rule = windowRule({ metrics: { aggregates: ['total'], maxGroups: 100 } });
    const { metrics, lines } = setup(rule);
    metrics.collect(closed('a', T0 + M, { total: 7 }));
    await metrics.flush();
    metrics.collect(closed('a', T0 + M, { total: 7 }));
    await metrics.flush();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(lines[1]);
  });

  it('admits at most maxGroups groups per rule and hour of event time, counts what it drops, and admits again in the next hour', async () => {
    const rule = windowRule({ metrics: { aggregates: ['total'], maxGroups: 2 } });
    const { metrics, docs } = setup(rule);
    // hour 1: three groups, two minutes each
    for (const end of [T0 + M, T0 + 2 * M]) for (const s of ['a', 'b', 'c']) metrics.collect(closed(s, end, { total: 1 }));
    const first = await metrics.flush();
    // hour 2: c comes first
    for (const s of ['c', 'a', 'b']) metrics.collect(closed(s, T0 + HOUR_MS + M, { total: 1 }));
    const second = await metrics.flush();
    expect(first).toEqual({ published: 4, dropped: { cap: 2, label: 0, unavailable: 0 }, errors: [] });
    expect(second).toEqual({ published: 2, dropped: { cap: 1, label: 0, unavailable: 0 }, errors: [] });
    const values = docs().filter((d) => d['Rule'] === 'R' && 'total' in d);
    expect(values.map((d) => `${d._aws.Timestamp - T0}:${String(d['service'])}`)).toEqual([`${M}:a`, `${M}:b`, `${2 * M}:a`, `${2 * M}:b`, `${HOUR_MS + M}:c`, `${HOUR_MS + M}:a`]);
    const dropped = docs().filter((d) => 'RuleValuesDropped' in d);
    expect(dropped.map((d) => [d['Rule'], d['Reason'], d['RuleValuesDropped'], d._aws.CloudWatchMetrics[0]!.Dimensions])).toEqual([
      ['R', 'cap', 2, [['Rule', 'Reason']]],
      ['R', 'cap', 1, [['Rule', 'Reason']]],
    ]);
  });

  it('drops (and counts) every value when the cap cannot be checked, and reports the error to be logged', async () => {
    const failing: GroupAdmission = { admit: async () => Promise.reject(new Error('ProvisionedThroughputExceededException')) };
    const rule = windowRule({ metrics: { aggregates: ['total'], maxGroups: 2 } });
    const { metrics, docs } = setup(rule, failing);
    metrics.collect(closed('a', T0 + M, { total: 1 }));
    metrics.collect(closed('b', T0 + M, { total: 1 }));
    const logged: Array<[string, Record<string, unknown>]> = [];
    await flushRuleMetrics(metrics, (m, extra) => logged.push([m, extra]));
    expect(docs().map((d) => [d['Reason'], d['RuleValuesDropped']])).toEqual([['unavailable', 2]]);
    expect(logged).toHaveLength(1);
    expect(logged[0]![0]).toMatch(/cardinality cap could not be checked/);
    expect(String(logged[0]![1]['error'])).toMatch(/ProvisionedThroughputExceededException/);
  });

  it('collects nothing while metrics are disabled, and nothing for rules without metrics:', async () => {
    let off = true;
    const pipeline = pipelineOf([windowRule({ metrics: { aggregates: ['total'], maxGroups: 5 } }), windowRule({ name: 'Plain' })]);
    const lines: string[] = [];
    const metrics = new RuleMetrics({ pipeline, admission: new InMemoryGroupAdmission(), write: (l) => void lines.push(l), clock: { now: () => T0 }, disabled: () => off });
    metrics.collect(closed('a', T0 + M, { total: 1 }));
    off = false;
    metrics.collect({ ...closed('a', T0 + M, { total: 1 }), rule: 'Plain' });
    metrics.collect(closed('b', T0 + M, { total: 1 }));
    expect((await metrics.flush()).published).toBe(1);
    expect((JSON.parse(lines[0]!) as Doc)._aws.CloudWatchMetrics[0]!.Namespace).toBe('tidewatch/rules');
    expect(lines.map((l) => (JSON.parse(l) as Doc)['service'])).toEqual(['b']);
  });
});

describe('dimensionValue', () => {
  it('keeps printable ASCII, names a missing or empty label, percent-encodes the rest (and %) so distinct labels stay distinct', () => {
    expect(dimensionValue('checkout')).toBe('checkout');
    expect(dimensionValue(null)).toBe('(none)');
    expect(dimensionValue('')).toBe('(empty)');
    expect(dimensionValue('café')).toBe('caf%C3%A9');
    expect(dimensionValue('50%')).toBe('50%25');
    expect(dimensionValue('a\tb\n')).toBe('a%09b%0A');
    expect(dimensionValue('  ')).toBe('%20%20');
    expect(dimensionValue('<img src=x onerror=alert(1)>')).toBe('<img src=x onerror=alert(1)>');
  });

  it('refuses a value CloudWatch cannot take (over 1024 characters once encoded): that window is dropped as "label"', async () => {
    expect(dimensionValue('x'.repeat(1024))).toBe('x'.repeat(1024));
    expect(dimensionValue('é'.repeat(200))).toBeNull();
    const rule = windowRule({ metrics: { aggregates: ['total'], maxGroups: 5 } });
    const { metrics, docs } = setup(rule);
    metrics.collect(closed('é'.repeat(200), T0 + M, { total: 1 }));
    expect((await metrics.flush()).dropped).toEqual({ cap: 0, label: 1, unavailable: 0 });
    expect(docs().map((d) => [d['Reason'], d['RuleValuesDropped']])).toEqual([['label', 1]]);
  });
});
