import fc from 'fast-check';
import { Engine } from '../../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import { windowsFromPanes } from '../../../lambdas/core/panes';
import type { AlertTransition } from '../../../lambdas/core/lifecycle';
import { RuleAggregates, type FixedPartialJson, type SessionPartialJson } from '../../../lambdas/core/partials';
import type { AggregateSpec, KinesisLikeRecord, WindowRule } from '../../../lambdas/core/types';
import { absenceRule, countAgg, fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../../helpers/factories';

const M = 60_000;
const valueOf = fn('value', (v) => v['value']);
const aggs: AggregateSpec[] = [
  countAgg('total'),
  { name: 'errors', kind: 'count', condition: fn('status >= 500', (v) => (v['status'] as number) >= 500), source: 'count(status >= 500)' },
  { name: 'sum', kind: 'sum', value: valueOf, source: 'sum(value)' },
  { name: 'max', kind: 'max', value: valueOf, source: 'max(value)' },
  { name: 'min', kind: 'min', value: valueOf, source: 'min(value)' },
];

class Clock {
  constructor(public t: number) {}
  now() {
    return this.t;
  }
}

function setup(rules: WindowRule[] | Parameters<typeof pipelineOf>[0], streamOverrides = {}) {
  const store = new InMemoryStateStore();
  const clock = new Clock(T0 + 10 * M);
  const published: AlertTransition[] = [];
  const engine = new Engine({
    pipeline: pipelineOf(rules, streamSpec(streamOverrides)),
    stream: 'telemetry',
    store,
    clock,
    publish: async (t) => {
      published.push(t);
    },
  });
  return { store, clock, engine, published };
}

interface Ev {
  service: string;
  ts: number;
  value: number;
  status: number;
}

/** Brute-force reference: every (rule, group, window) aggregate from the whole event list. */
function reference(rule: WindowRule, events: Ev[]) {
  const out = new Map<string, { total: number; errors: number; sum: number; max: number; min: number }>();
  const add = (key: string, e: Ev) => {
    const r = out.get(key) ?? { total: 0, errors: 0, sum: 0, max: -Infinity, min: Infinity };
    r.total += 1;
    r.errors += e.status >= 500 ? 1 : 0;
    r.sum += e.value;
    r.max = Math.max(r.max, e.value);
    r.min = Math.min(r.min, e.value);
    out.set(key, r);
  };
  const w = rule.window;
  for (const e of events) {
    if (w.kind === 'tumbling') add(`${e.service}|${Math.floor(e.ts / w.sizeMs) * w.sizeMs}`, e);
    if (w.kind === 'hopping') {
      for (let s = Math.floor(e.ts / w.slideMs) * w.slideMs - w.sizeMs + w.slideMs; s <= e.ts; s += w.slideMs) if (e.ts < s + w.sizeMs) add(`${e.service}|${s}`, e);
    }
  }
  if (w.kind === 'session') {
    const byService = new Map<string, Ev[]>();
    for (const e of events) byService.set(e.service, [...(byService.get(e.service) ?? []), e]);
    for (const [service, evs] of byService) {
      evs.sort((a, b) => a.ts - b.ts);
      let start = evs[0]!.ts;
      let end = start + w.gapMs;
      let members: Ev[] = [];
      const flush = () => members.forEach((m) => add(`${service}|${start}-${end}`, m));
      for (const e of evs) {
        if (e.ts <= end && members.length > 0) {
          end = Math.max(end, e.ts + w.gapMs);
        } else if (members.length > 0) {
          flush();
          members = [];
          start = e.ts;
          end = e.ts + w.gapMs;
        }
        members.push(e);
      }
      flush();
    }
  }
  return out;
}

/** What the store holds, merged over shards, in the same shape as the reference. */
function stored(store: InMemoryStateStore, rule: WindowRule) {
  const ra = new RuleAggregates(rule);
  const out = new Map<string, { total: number; errors: number; sum: number; max: number; min: number }>();
  const shape = (r: Record<string, number | null>) => ({ total: r['total']!, errors: r['errors']!, sum: r['sum']!, max: r['max']!, min: r['min']! });
  const dump = store.dump().filter((d) => d.key.rule === rule.name);
  // Hopping rules keep an open window's value in its panes (panes.ts): windows are merged from them.
  if (rule.window.kind === 'hopping') {
    const panes = dump.filter((d) => d.key.pane !== undefined).map((d) => ({ groupKey: d.key.groupKey, start: d.key.windowStart!, state: d.state }));
    for (const [groupKey, windows] of windowsFromPanes(ra, rule.window.sizeMs, rule.window.slideMs, panes)) {
      const service = (JSON.parse(groupKey) as string[])[0]!;
      for (const [start, acc] of windows) out.set(`${service}|${start}`, shape(ra.results(acc)));
    }
    return out;
  }
  for (const { key, state } of dump) {
    const service = (JSON.parse(key.groupKey) as string[])[0]!;
    const slots = Object.values(state.slots);
    if (key.windowStart !== null) {
      const acc = ra.create();
      for (const s of slots) ra.merge(acc, ra.deserialize(s.partial as FixedPartialJson));
      out.set(`${service}|${key.windowStart}`, shape(ra.results(acc)));
    } else {
      for (const s of ra.mergeSessionLists(slots.map((sl) => ra.deserializeSessions(sl.partial as SessionPartialJson)))) {
        out.set(`${service}|${s.start}-${s.end}`, shape(ra.results(s.value)));
      }
    }
  }
  return out;
}

const eventArb = fc.record({
  service: fc.constantFrom('a', 'b', 'c'),
  ts: fc.integer({ min: T0, max: T0 + 8 * M }),
  value: fc.integer({ min: -1000, max: 1000 }),
  status: fc.constantFrom(200, 200, 404, 500, 503),
});

/** How each batch is delivered: once, twice, bisected then retried whole, or retried from its middle. */
const deliveryArb = fc.constantFrom('once', 'twice', 'bisect', 'retry-middle');

describe('Engine: windowed aggregates equal a brute-force reference', () => {
  const rules: WindowRule[] = [
    windowRule({ name: 'Tumbling', window: { kind: 'tumbling', sizeMs: M }, aggregates: aggs }),
    windowRule({ name: 'Hopping', window: { kind: 'hopping', sizeMs: 3 * M, slideMs: M }, aggregates: aggs }),
    windowRule({ name: 'Session', window: { kind: 'session', gapMs: 20_000 }, aggregates: aggs }),
  ];

  it('for random out-of-order streams over several shards, split into random batches and redelivered', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventArb, { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 10 }),
        fc.array(deliveryArb, { minLength: 1, maxLength: 10 }),
        async (events, shardCount, sizes, deliveries) => {
          // Out-of-orderness covers the whole stream: nothing is late, so every event must count exactly once.
          const { store, engine } = setup(rules, { outOfOrdernessMs: 20 * M });
          const perShard: KinesisLikeRecord[][] = Array.from({ length: shardCount }, () => []);
          events.forEach((e, i) => perShard[i % shardCount]!.push(...shardRecords(`shardId-00000000000${i % shardCount}`, [e], BigInt(i + 1))));
          let b = 0;
          for (const records of perShard) {
            let i = 0;
            while (i < records.length) {
              const size = sizes[b % sizes.length]!;
              const batch = records.slice(i, i + size);
              const how = deliveries[b % deliveries.length]!;
              b += 1;
              const half = batch.slice(0, Math.ceil(batch.length / 2));
              if (how === 'bisect') await engine.processBatch(batch[0]!.shardId, half);
              if (how === 'retry-middle') {
                await engine.processBatch(batch[0]!.shardId, batch);
                await engine.processBatch(batch[0]!.shardId, batch.slice(Math.floor(batch.length / 2)));
              }
              const r = await engine.processBatch(batch[0]!.shardId, batch);
              expect(r.retryFrom).toBeNull();
              expect(r.late).toBe(0);
              if (how === 'twice') await engine.processBatch(batch[0]!.shardId, batch);
              i += size;
            }
          }
          for (const rule of rules) {
            expect(stored(store, rule)).toEqual(reference(rule, events));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('Engine: alerts', () => {
  const ev = (service: string, ts: number, status = 200) => ({ service, ts, status, value: 1 });

  it('final mode: fires when the window closes holding, resolves on the next window, exactly once each', async () => {
    const rule = windowRule({ name: 'Busy', aggregates: [countAgg('total')], emit: 'final' });
    const { engine, published } = setup([rule]);
    const s = 'shardId-000000000000';
    const batch1 = shardRecords(s, [ev('api', T0 + 1000), ev('api', T0 + 2000), ev('api', T0 + 3000), ev('web', T0 + 4000)], 1n);
    await engine.processBatch(s, batch1);
    await engine.processBatch(s, batch1); // redelivered: nothing changes
    expect(published).toEqual([]);
    const batch2 = shardRecords(s, [ev('api', T0 + M + 1000), ev('api', T0 + M + 2000)], 10n);
    await engine.processBatch(s, batch2);
    expect(published.map((t) => [t.state, t.group, t.values])).toEqual([['firing', { service: 'api' }, { total: 3 }]]);
    await engine.processBatch(s, shardRecords(s, [ev('api', T0 + 3 * M)], 20n));
    expect(published.map((t) => [t.state, t.window.start - T0])).toEqual([
      ['firing', 0],
      ['resolved', M],
    ]);
    expect(published[1]!.alertId).toBe(published[0]!.alertId);
  });

  it('early mode: fires within the batch that crosses the threshold, once', async () => {
    const rule = windowRule({ name: 'Errors', emit: 'early', aggregates: aggs, when: fn('errors >= 2', (v) => (v['errors'] as number) >= 2) });
    const { engine, published } = setup([rule]);
    const s = 'shardId-000000000000';
    await engine.processBatch(s, shardRecords(s, [ev('api', T0 + 1000, 500)], 1n));
    expect(published).toEqual([]);
    const b2 = shardRecords(s, [ev('api', T0 + 2000, 503), ev('api', T0 + 3000, 500)], 2n);
    await engine.processBatch(s, b2);
    await engine.processBatch(s, b2);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ rule: 'Errors', state: 'firing', values: { errors: 3, total: 3 } });
  });

  it('a failed publish leaves the transition in the outbox and the retry publishes the same alert id', async () => {
    const rule = windowRule({ name: 'Errors', emit: 'early', aggregates: aggs, when: fn('errors >= 1', (v) => (v['errors'] as number) >= 1) });
    const store = new InMemoryStateStore();
    const published: AlertTransition[] = [];
    let failNext = true;
    const engine = new Engine({
      pipeline: pipelineOf([rule], streamSpec()),
      stream: 'telemetry',
      store,
      clock: new Clock(T0 + 10 * M),
      publish: async (t) => {
        if (failNext) {
          failNext = false;
          throw new Error('SNS unavailable');
        }
        published.push(t);
      },
    });
    const s = 'shardId-000000000000';
    const batch = shardRecords(s, [ev('api', T0 + 1000, 500)], 1n);
    const first = await engine.processBatch(s, batch);
    expect(first.retryFrom).toBe(batch[0]!.sequenceNumber);
    expect(published).toEqual([]);
    const retry = await engine.processBatch(s, batch);
    expect(retry.retryFrom).toBeNull();
    expect(published).toHaveLength(1);
    expect((await store.activeAlerts('Errors'))[0]!.record.outbox).toEqual([]);
    // and the count was not doubled by the retry
    expect(store.dump()[0]!.state.slots[s]!.partial).toMatchObject({ n: 1 });
  });

  it('absence: an idle stream still fires when a host goes silent', async () => {
    const { engine, clock, published } = setup([absenceRule({ absentMs: 2 * M })], { idleTimeoutMs: M });
    const s = 'shardId-000000000000';
    clock.t = T0 + 1000;
    await engine.processBatch(s, shardRecords(s, [{ host: 'web-1', ts: T0 }, { host: 'web-2', ts: T0 }], 1n));
    clock.t = T0 + 2 * M;
    await engine.advance();
    expect(published).toEqual([]);
    clock.t = T0 + 3 * M + 1000; // idle: the watermark follows the wall clock minus the idle timeout
    await engine.advance();
    expect(published.map((t) => [t.rule, t.state, t.group])).toEqual([
      ['Silent', 'firing', { host: 'web-1' }],
      ['Silent', 'firing', { host: 'web-2' }],
    ]);
    await engine.advance();
    expect(published).toHaveLength(2);
  });

  it('absence with resolveAfter: heartbeats behind a watermark that ran ahead give one FIRING, not a storm', async () => {
    // GIVEN web-1 sends heartbeats every 10 s; then the stream is idle long enough for the watermark to follow the
    // clock, and the heartbeats that come next are stamped minutes behind it (a producer that fell behind).
    const run = async (resolveAfterMs: number) => {
      const { engine, clock, published } = setup([absenceRule({ absentMs: 2 * M, resolveAfterMs })], { idleTimeoutMs: M });
      const s = 'shardId-000000000000';
      let seq = 1n;
      const beat = async (ts: number) => engine.processBatch(s, shardRecords(s, [{ host: 'web-1', ts }], seq++));
      clock.t = T0;
      await beat(T0);
      clock.t = T0 + 4 * M; // idle: watermark = 4m - 1m - 5s
      await engine.advance();
      for (let k = 1; k <= 12; k++) {
        clock.t += 1000;
        await beat(T0 + k * 10_000); // heartbeats of 0m10s..2m: behind the watermark
        await engine.advance();
      }
      return published.map((t) => t.state);
    };
    // THEN without hysteresis every heartbeat resolves and the next check fires again
    const flapping = await run(0);
    expect(flapping.length).toBeGreaterThan(10);
    expect(flapping.slice(0, 4)).toEqual(['firing', 'resolved', 'firing', 'resolved']);
    // and with resolveAfter the alert fires once and stays firing
    expect(await run(M)).toEqual(['firing']);
  });

  it('absence with resolveAfter resolves once the host has been back that long, exactly once under redelivery', async () => {
    const { engine, clock, published } = setup([absenceRule({ absentMs: 2 * M, resolveAfterMs: M })]);
    const s = 'shardId-000000000000';
    clock.t = T0;
    await engine.processBatch(s, shardRecords(s, [{ host: 'web-1', ts: T0 }, { host: 'web-2', ts: T0 }], 1n));
    // web-2 keeps sending, web-1 is silent from T0 to T0 + 3m, then sends every 10 s
    const batches: Array<{ t: number; records: KinesisLikeRecord[] }> = [];
    let seq = 2n;
    for (let t = T0 + 10_000; t <= T0 + 5 * M; t += 10_000) {
      const events = [{ host: 'web-2', ts: t }, ...(t >= T0 + 3 * M ? [{ host: 'web-1', ts: t }] : [])];
      batches.push({ t, records: shardRecords(s, events, seq) });
      seq += BigInt(events.length);
    }
    for (const { t, records: b } of batches) {
      clock.t = t + 1000;
      await engine.processBatch(s, b);
      await engine.processBatch(s, b); // redelivered
      await engine.advance();
    }
    expect(published.map((t) => [t.state, t.group, t.at])).toEqual([
      ['firing', { host: 'web-1' }, T0 + 2 * M],
      ['resolved', { host: 'web-1' }, T0 + 4 * M],
    ]);
    expect(published[1]!.values).toEqual({ silenceMs: 3 * M });
  });

  it('a late record reports its event time and the watermark it was judged against', async () => {
    const { engine } = setup([windowRule({ name: 'Busy' })]);
    const s = 'shardId-000000000000';
    await engine.processBatch(s, shardRecords(s, [ev('api', T0 + 5 * M)], 1n));
    const r = await engine.processBatch(s, shardRecords(s, [ev('api', T0 + 1000), ev('api', T0 + 2000)], 2n));
    expect(r.perRule['Busy']).toMatchObject({ late: 2, firstLate: { eventTime: T0 + 1000, watermark: T0 + 5 * M } });
  });

  it('late records are classified, never silently dropped', async () => {
    const { engine } = setup([windowRule({ name: 'Busy' })]);
    const s = 'shardId-000000000000';
    await engine.processBatch(s, shardRecords(s, [ev('api', T0 + 5 * M)], 1n));
    const r = await engine.processBatch(s, shardRecords(s, [ev('api', T0 + 1000)], 2n));
    expect(r.late).toBe(1);
    expect(r.perRule['Busy']!.late).toBe(1);
  });

  it('rejected records are quarantined with their payload and the batch goes on', async () => {
    const { engine, store } = setup([windowRule({ name: 'Busy' })]);
    const s = 'shardId-000000000000';
    const records = shardRecords(s, [ev('api', T0 + 1000), { service: 'api' }, ev('api', T0 + 2000)], 1n);
    const r = await engine.processBatch(s, records);
    expect(r.rejected.map((x) => x.reason)).toEqual(['no-timestamp']);
    expect(store.quarantined).toEqual([expect.objectContaining({ reason: 'no-timestamp', data: records[1]!.data, sequenceNumber: records[1]!.sequenceNumber })]);
    expect(store.dump()[0]!.state.slots[s]!.partial).toMatchObject({ n: 2 });
  });
});

describe('Engine: producer duplicates', () => {
  const ev = (id: string, ts: number) => ({ service: 'api', ts, status: 200, value: 1, eventId: id });

  it('a resent event (same id, new sequence number) counts once; a redelivered record is not a duplicate', async () => {
    const { engine, store } = setup([windowRule({ name: 'Busy' })], { dedupeHorizonMs: 10 * M });
    const s = 'shardId-000000000000';
    const first = shardRecords(s, [ev('a', T0 + 1000), ev('b', T0 + 2000)], 1n);
    await engine.processBatch(s, first);
    // the producer retried 'b' (new sequence number), and Lambda redelivered the first batch
    const r = await engine.processBatch(s, shardRecords(s, [ev('b', T0 + 2000), ev('c', T0 + 3000)], 10n));
    await engine.processBatch(s, first);
    expect(r.duplicates).toBe(1);
    expect(store.dump()[0]!.state.slots[s]!.partial).toMatchObject({ n: 3 });
  });

  it('within one batch, the second copy is dropped', async () => {
    const { engine, store } = setup([windowRule({ name: 'Busy' })], { dedupeHorizonMs: 10 * M });
    const s = 'shardId-000000000000';
    const r = await engine.processBatch(s, shardRecords(s, [ev('a', T0 + 1000), ev('a', T0 + 1000), ev('b', T0 + 1500)], 1n));
    expect(r.duplicates).toBe(1);
    expect(store.dump()[0]!.state.slots[s]!.partial).toMatchObject({ n: 2 });
  });

  it('is off without a horizon: both copies count', async () => {
    const { engine, store } = setup([windowRule({ name: 'Busy' })], { dedupeHorizonMs: null });
    const s = 'shardId-000000000000';
    const r = await engine.processBatch(s, shardRecords(s, [ev('a', T0 + 1000), ev('a', T0 + 1000)], 1n));
    expect(r.duplicates).toBe(0);
    expect(store.dump()[0]!.state.slots[s]!.partial).toMatchObject({ n: 2 });
  });
});
