/**
 * The fold evaluates an aggregate argument (a value, or count's condition)
 * once per event, however many aggregates of however many rules take the same
 * expression (fold.ts, FoldPlan.args). The state, the counts (value errors
 * per aggregate included), the alerts and their order must be exactly what
 * evaluating it for each aggregate gives. The reference run gives each
 * aggregate a source of its own (same function), so that nothing is shared.
 */
import { Engine } from '../../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import type { AlertTransition } from '../../../lambdas/core/lifecycle';
import type { AggregateSpec, CompiledExpression, Rule } from '../../../lambdas/core/types';
import { countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../../helpers/factories';

const M = 60_000;

/** `latency`: throws when the field is missing (an evaluation error), else the field as it is (null, a number, or a string). */
function latencyOf(v: Record<string, unknown>): unknown {
  if (!('latency' in v)) throw new Error('no such key: latency');
  return v['latency'];
}

function run(shared: boolean) {
  let calls = 0;
  const sources = new Map<string, CompiledExpression>();
  // One expression object per source, as the pipeline compiles them (one per aggregate).
  const expr = (source: string, f: (v: Record<string, unknown>) => unknown): CompiledExpression => {
    const e = fn(source, (v) => {
      calls++;
      return f(v);
    });
    sources.set(source, e);
    return e;
  };
  // Shared: every aggregate's argument is `latency`; alone: `latency` with a suffix of its own.
  const src = (k: number) => (shared ? 'latency' : `latency /* ${k} */`);
  const agg = (name: string, kind: AggregateSpec['kind'], k: number, quantile?: number): AggregateSpec => ({
    name,
    kind,
    value: expr(src(k), latencyOf),
    source: `${kind}(${src(k)})`,
    ...(quantile === undefined ? {} : { quantile }),
  });
  const slow: AggregateSpec = {
    name: 'slow',
    kind: 'count',
    condition: expr(shared ? 'latency > 100' : 'latency > 100 /* 6 */', (v) => (latencyOf(v) as number) > 100),
    source: 'count(latency > 100)',
  };
  const slowToo: AggregateSpec = { ...slow, name: 'slowToo', condition: expr(shared ? 'latency > 100' : 'latency > 100 /* 7 */', (v) => (latencyOf(v) as number) > 100) };
  const when = fn('total >= 3', (v) => (v['total'] as number) >= 3);
  const rules: Rule[] = [
    windowRule({ name: 'Stats', aggregates: [agg('worst', 'max', 0), agg('mean', 'avg', 1), agg('p50', 'percentile', 2, 0.5), agg('kinds', 'distinct', 3), slow, countAgg('total')], when, emit: 'early' }),
    windowRule({
      name: 'Sessions',
      groupBy: ['host'],
      window: { kind: 'session', gapMs: 20_000 },
      aggregates: [agg('sum', 'sum', 4), agg('least', 'min', 5), slowToo, countAgg('total')],
      when,
    }),
  ];
  return { rules, calls: () => calls };
}

/** Events over 3 minutes: numbers, missing latency (an error), null (no value), strings (an error for numeric kinds, a value for distinct). */
function bodies(): unknown[][] {
  const batches: unknown[][] = [];
  let id = 0;
  for (let b = 0; b < 3; b++) {
    const batch: unknown[] = [];
    for (let k = 0; k < 40; k++) {
      const latency = k % 10 === 3 ? undefined : k % 10 === 5 ? null : k % 10 === 7 ? 'slow' : (k * 37 + b * 11) % 300;
      batch.push({ eventId: `e${id++}`, ts: T0 + b * M + k * 1000, service: `svc-${k % 2}`, host: `h${k % 3}`, ...(latency === undefined ? {} : { latency }) });
    }
    batches.push(batch);
  }
  return batches;
}

async function outcome(shared: boolean) {
  const { rules, calls } = run(shared);
  const store = new InMemoryStateStore();
  let now = T0 + 30_000;
  const published: AlertTransition[] = [];
  const engine = new Engine({
    pipeline: pipelineOf(rules, streamSpec({ outOfOrdernessMs: 5_000 })),
    stream: 'telemetry',
    store,
    clock: { now: () => now },
    publish: async (t) => {
      published.push(t);
    },
  });
  const reports = [];
  let seq = 1n;
  for (const batch of bodies()) {
    const r = await engine.processBatch('shardId-000000000000', shardRecords('shardId-000000000000', batch, seq, now));
    seq += BigInt(batch.length);
    reports.push({ ...r, error: String(r.error) });
    now += M;
  }
  const folded = calls();
  now += 10 * M;
  const advanced = await engine.advance({ full: true });
  const dump = store.dump().sort((a, b) => (a.key.id < b.key.id ? -1 : a.key.id > b.key.id ? 1 : 0));
  return { reports, advanced, dump, published, folded };
}

describe('aggregates that take the same argument', () => {
  it('evaluate it once per event, with exactly the state, counts and alerts of evaluating it per aggregate', async () => {
    const shared = await outcome(true);
    const alone = await outcome(false);
    expect(shared.reports).toEqual(alone.reports);
    expect(shared.advanced).toEqual(alone.advanced);
    expect(shared.dump).toEqual(alone.dump);
    expect(shared.published).toEqual(alone.published);
    // 120 events: `latency` once and `latency > 100` once each when shared; 6 + 2 evaluations each when not.
    expect(shared.folded).toBe(120 * 2);
    expect(alone.folded).toBe(120 * 8);
    // Value errors per aggregate: a missing latency (12 events) fails all 8; a string (12 events) fails the 5 numeric
    // kinds (distinct takes it, and `'slow' > 100` is false here, not an error).
    const errors = (rule: string) => shared.reports.reduce((n, r) => n + r.perRule[rule]!.valueErrors, 0);
    expect(errors('Stats')).toBe(12 * 5 + 12 * 3);
    expect(errors('Sessions')).toBe(12 * 3 + 12 * 2);
    expect(shared.published.length).toBeGreaterThan(0);
  });
});
