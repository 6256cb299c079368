/**
 * Rules that fold alike (same filter, groupBy, window, lateness and
 * aggregates) share one fold per batch (fold.ts, foldTwins): the state, the
 * counts, the alerts and the order of everything must be exactly what folding
 * each on its own gives. The reference run makes the same rules unshareable
 * by writing one filter differently (same function, another source).
 */
import { Engine } from '../../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import type { AlertTransition } from '../../../lambdas/core/lifecycle';
import type { AggregateSpec, Rule, WindowRule } from '../../../lambdas/core/types';
import { absenceRule, countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../../helpers/factories';

const M = 60_000;
const http = (source: string) => fn(source, (v) => v['kind'] === 'http');
const errorsAgg: AggregateSpec = { name: 'errors', kind: 'count', condition: fn('status >= 500', (v) => (v['status'] as number) >= 500), source: 'count(status >= 500)' };
const worst: AggregateSpec = { name: 'worst', kind: 'max', value: fn('latency', (v) => v['latency'] as number), source: 'max(latency)' };
const aggregates = [errorsAgg, countAgg('total'), worst];

/** Threshold + "anomaly-like" twin (tumbling), a hopping pair, a session pair, an absence rule; `twinWhere` is the twins' filter. */
function rules(twinWhere: string): Rule[] {
  const base = { where: http('kind == "http"'), aggregates, latenessMs: 10_000 };
  const twin = { where: http(twinWhere), aggregates, latenessMs: 10_000 };
  const hot = fn('errors >= 3', (v) => (v['errors'] as number) >= 3);
  const busy = fn('total >= 4', (v) => (v['total'] as number) >= 4);
  const list: WindowRule[] = [
    windowRule({ ...base, name: 'Errors', when: hot, emit: 'early' }),
    windowRule({ ...base, name: 'Hopping', window: { kind: 'hopping', sizeMs: 3 * M, slideMs: M }, when: busy }),
    windowRule({ ...twin, name: 'ErrorsTwin', when: busy, emit: 'final' }),
    windowRule({ ...base, name: 'Sessions', groupBy: ['host'], window: { kind: 'session', gapMs: 20_000 }, when: busy }),
    windowRule({ ...twin, name: 'HoppingTwin', window: { kind: 'hopping', sizeMs: 3 * M, slideMs: M }, when: hot }),
    windowRule({ ...twin, name: 'SessionsTwin', groupBy: ['host'], window: { kind: 'session', gapMs: 20_000 }, when: hot }),
  ];
  return [...list, absenceRule({ name: 'Quiet', groupBy: ['host'] })];
}

/** Deterministic events over 6 minutes, out of order, some late, some without a group field. */
function bodies(): unknown[][] {
  let x = 12345;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return Math.floor((x / 2147483648) * n);
  };
  const batches: unknown[][] = [];
  let id = 0;
  for (let b = 0; b < 6; b++) {
    const batch: unknown[] = [];
    for (let k = 0; k < 60; k++) {
      const ts = T0 + b * M + rnd(M) - (rnd(10) === 0 ? 2 * M : 0);
      const service = rnd(12) === 0 ? undefined : `svc-${rnd(3)}`;
      batch.push({ eventId: `e${id++}`, ts, kind: rnd(8) === 0 ? 'heartbeat' : 'http', host: `h${rnd(2)}`, ...(service ? { service } : {}), status: rnd(4) === 0 ? 503 : 200, latency: rnd(900) });
    }
    // A producer duplicate.
    batch.push({ ...(batch[3] as object) });
    batches.push(batch);
  }
  return batches;
}

async function run(twinWhere: string) {
  const store = new InMemoryStateStore();
  let now = T0 + 90_000;
  const published: AlertTransition[] = [];
  const engine = new Engine({
    pipeline: pipelineOf(rules(twinWhere), streamSpec({ outOfOrdernessMs: 5_000, dedupeHorizonMs: 10 * M })),
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
    const records = shardRecords('shardId-000000000000', batch, seq, now);
    seq += BigInt(batch.length);
    const r = await engine.processBatch('shardId-000000000000', records);
    reports.push({ ...r, error: String(r.error) });
    now += M;
  }
  // Redelivery of the last batch (the HWMs skip it), then the ticker closes everything.
  const again = await engine.processBatch('shardId-000000000000', shardRecords('shardId-000000000000', bodies()[5]!, seq - BigInt(bodies()[5]!.length), now - M));
  now += 10 * M;
  const advanced = await engine.advance({ full: true });
  const dump = store.dump().sort((a, b) => (a.key.id < b.key.id ? -1 : a.key.id > b.key.id ? 1 : 0));
  return { reports, again: { ...again, error: String(again.error) }, advanced, dump, published };
}

describe('rules that fold alike share one fold', () => {
  it('gives exactly the state, counts, alerts and order of folding each rule on its own', async () => {
    const shared = await run('kind == "http"');
    const alone = await run('"http" == kind');
    expect(shared.reports).toEqual(alone.reports);
    expect(shared.again).toEqual(alone.again);
    expect(shared.advanced).toEqual(alone.advanced);
    expect(shared.dump).toEqual(alone.dump);
    expect(shared.published).toEqual(alone.published);
    // The run exercises what it claims: keys of every twin, late records, missing groups, duplicates and alerts.
    const names = new Set(shared.dump.map((d) => d.key.rule));
    for (const n of ['Errors', 'ErrorsTwin', 'Hopping', 'HoppingTwin', 'Sessions', 'SessionsTwin']) expect(names.has(n)).toBe(true);
    const stats = shared.reports.map((r) => r.perRule);
    expect(stats.reduce((n, s) => n + s['ErrorsTwin']!.late, 0)).toBeGreaterThan(0);
    expect(stats.reduce((n, s) => n + s['ErrorsTwin']!.missingGroup, 0)).toBeGreaterThan(0);
    expect(shared.reports.reduce((n, r) => n + r.duplicates, 0)).toBe(6);
    expect(shared.published.some((t) => t.rule === 'ErrorsTwin')).toBe(true);
    expect(shared.published.some((t) => t.rule === 'HoppingTwin')).toBe(true);
  });
});
