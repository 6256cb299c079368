/**
 * A rule expression that raises an error on an event or a window is judged
 * false (a `where` or step condition: no match; an aggregate argument: no
 * value; a `when`: does not hold), and counted: the batch and advance reports
 * carry the counts per rule (RuleBatchStats, AdvanceReport.conditionErrors),
 * which the handlers publish as RuleExpressionErrors and log. Never swallowed.
 */
import { Engine } from '../../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import { parsePipeline } from '../../../lambdas/core/pipeline';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../../helpers/factories';

const M = 60_000;
const SHARD = 'shardId-000000000000';

const TEXT =
  [
    'streams:',
    '  telemetry:',
    '    timestamp: ts',
    '    outOfOrderness: 5s',
    'rules:',
    '  - alert: Slow',
    '    stream: telemetry',
    "    where: 'code > 100'",
    '    groupBy: [service]',
    '    window: { tumbling: 1m }',
    '    aggregate:',
    "      mean: 'avg(latency)'",
    "      total: 'count()'",
    "    when: 'mean > 150.0'",
    '  - alert: Deploys',
    '    stream: telemetry',
    '    sequence:',
    '      by: [service]',
    '      within: 1m',
    '      steps:',
    "        - where: 'kind == \"deploy\" && code > 100'",
    "        - where: 'kind == \"error\" && latency > steps[0].latency'",
  ].join('\n') + '\n';
const PIPELINE = parsePipeline(TEXT, 'p.yaml');

const BODIES = [
  // Slow: `code` a string (where raises: 3 events, with the last one), latency a string (avg's argument
  // raises: 2 events, with the last one) or missing (no value, not an error), so service b's window holds
  // no latency: its mean is null, and its `when` raises at close. c has no `code` at all: no match, no error.
  { ts: T0 + 1000, service: 'a', code: 'x', latency: 10, kind: 'deploy' },
  { ts: T0 + 2000, service: 'a', code: 'y', latency: 10 },
  { ts: T0 + 3000, service: 'a', code: 200, latency: 'slow' },
  { ts: T0 + 4000, service: 'a', code: 200, latency: 300 },
  { ts: T0 + 5000, service: 'b', code: 200 },
  // Deploys: the first step's `code > 100` raises on a deploy with a string code (the first event above too);
  // b's deploy with code 200 starts a partial match, whose latency is a string (a value error for Slow).
  { ts: T0 + 6000, service: 'b', code: 'z', kind: 'deploy' },
  { ts: T0 + 6500, service: 'c', kind: 'deploy', latency: 5 },
  { ts: T0 + 7000, service: 'b', code: 200, kind: 'deploy', latency: 'fast' },
];
/**
 * b's error within the minute (its step compares 1 with the deploy's 'fast': raises; code 50: not Slow's, so
 * b's window keeps no latency), and c's event that moves the watermark on.
 */
const LATER = [
  { ts: T0 + 50_000, service: 'b', code: 50, latency: 1, kind: 'error' },
  { ts: T0 + 3 * M, service: 'c', code: 200, latency: 1 },
];

function engineOn(pipeline: typeof PIPELINE) {
  const clock = { t: T0 + 30_000 };
  const engine = new Engine({ pipeline, stream: 'telemetry', store: new InMemoryStateStore(), clock: { now: () => clock.t }, publish: async () => {} });
  return { engine, clock };
}

describe('expression errors', () => {
  it('are counted per rule and kind in the batch report: where, aggregate arguments, when (at the close the batch made), sequence steps', async () => {
    const { engine, clock } = engineOn(PIPELINE);
    const batch = await engine.processBatch(SHARD, shardRecords(SHARD, BODIES, 1n, clock.t));
    expect(batch.retryFrom).toBeNull();
    const slow = batch.perRule['Slow']!;
    expect([slow.filterErrors, slow.valueErrors, slow.conditionErrors, slow.matched]).toEqual([3, 2, 0, 4]);
    const deploys = batch.perRule['Deploys']!;
    expect([deploys.filterErrors, deploys.valueErrors, deploys.conditionErrors]).toEqual([0, 0, 0]);
    // A step's condition on the event alone is judged as the event comes (the two string codes); one that reads
    // the steps before it, when the watermark releases the event (not yet).
    expect(deploys.sequence?.conditionErrors).toBe(2);

    // A later event moves the watermark past the first minute: this batch closes its windows, a (mean 300:
    // holds, no error) and b (mean null: its `when` raises), and releases the buffered events to the steps.
    clock.t += 5 * M;
    const next = await engine.processBatch(SHARD, shardRecords(SHARD, LATER, 100n, clock.t));
    expect(next.retryFrom).toBeNull();
    expect(next.perRule['Slow']!.conditionErrors).toBe(1);
    expect(next.perRule['Deploys']!.sequence?.conditionErrors).toBe(1);
    // Taken once: the ticker's report that follows has none of them.
    const adv = await engine.advance({ full: true });
    expect([adv.conditionErrors, adv.stepErrors]).toEqual([{}, {}]);
  });

  it('are counted in the advance report when the ticker closes the windows and releases the events', async () => {
    // An idle shard's watermark follows the wall clock: the ticker alone closes and releases.
    const idle = parsePipeline(TEXT.replace('    outOfOrderness: 5s', '    outOfOrderness: 5s\n    idleTimeout: 1m'), 'p.yaml');
    const { engine, clock } = engineOn(idle);
    const batch = await engine.processBatch(SHARD, shardRecords(SHARD, BODIES, 1n, clock.t));
    expect([batch.perRule['Slow']!.conditionErrors, batch.perRule['Deploys']!.sequence?.conditionErrors]).toEqual([0, 2]);
    // b's error, ahead of the watermark: buffered.
    const later = await engine.processBatch(SHARD, shardRecords(SHARD, LATER.slice(0, 1), 100n, clock.t));
    expect([later.perRule['Slow']!.conditionErrors, later.perRule['Deploys']!.sequence?.conditionErrors]).toEqual([0, 0]);
    clock.t += 10 * M;
    const adv = await engine.advance({ full: true });
    expect(adv.windowsClosed).toBe(2);
    expect(adv.conditionErrors).toEqual({ Slow: 1 });
    expect(adv.stepErrors).toEqual({ Deploys: 1 });
    const again = await engine.advance({ full: true });
    expect([again.conditionErrors, again.stepErrors]).toEqual([{}, {}]);
  });

  it('an early verdict counts its `when` error once per evaluation it acts on: a redelivery (which first probes its believed state) counts it once more, not twice', async () => {
    const rule = windowRule({ name: 'E', emit: 'early', aggregates: [countAgg('n')], when: fn('boom', () => { throw new Error('boom'); }) });
    const engine = new Engine({ pipeline: pipelineOf([rule], streamSpec({ outOfOrdernessMs: 10_000, idleTimeoutMs: M })), stream: 'telemetry', store: new InMemoryStateStore(), clock: { now: () => T0 + 5_000 }, publish: async () => {} });
    const batch = shardRecords(SHARD, [{ eventId: 'e1', service: 'a', ts: new Date(T0 + 1000).toISOString(), status: 200 }], 1n);
    const first = await engine.processBatch(SHARD, batch);
    const again = await engine.processBatch(SHARD, batch);
    expect([first.perRule['E']!.conditionErrors, again.perRule['E']!.conditionErrors, again.keysWritten]).toEqual([1, 1, 0]);
  });
});
