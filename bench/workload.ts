/**
 * The workloads the benchmarks share, and the exact answers they must produce.
 *
 * - The core batch (`bench:core` and part 1 of `npm run bench`): 10,000 records
 *   of demo telemetry, the sample rules, the in-memory store.
 * - The state workload (parts 2 and 3): telemetry of 200 groups (service
 *   `svc-NNN` runs on host `host-NNN`) at 1,000 events/s of event time, with
 *   heartbeats, Kinesis-shaped, partitioned by host over a few shards; its
 *   expected aggregate totals and the floor of the write cost, computed from
 *   the events alone (plain arithmetic, not the engine's code).
 */
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { Engine } from '../lambdas/core/Engine';
import { eventVariables } from '../lambdas/core/expression';
import { groupOf } from '../lambdas/core/group';
import { InMemoryStateStore } from '../lambdas/core/InMemoryStateStore';
import { deaggregate } from '../lambdas/core/kpl';
import { loadPipeline } from '../lambdas/core/pipeline';
import type { Clock, JsonObject, KinesisLikeRecord, Pipeline, SequenceRule, WindowRule } from '../lambdas/core/types';
import { assignWindows } from '../lambdas/core/windows';
import { Random } from '../local/demo/random';
import { defaultIncident, generateTelemetry } from '../local/demo/telemetry';
import { lambdaContext } from '../local/esm/lambdaShapes';
import { kplAggregate } from '../local/producer/encode';
import { SequenceCounter, shardIdOf, shardIndexOf, toKinesisRecords } from '../local/records';

export const SAMPLE_PIPELINE = 'pipelines/sample.yaml';

// ------------------------------------------------------------------ core batch

export interface CoreBench {
  readonly records: KinesisLikeRecord[];
  readonly pipeline: Pipeline;
  readonly stream: string;
  readonly clock: Clock;
}

/** One shard's batch of `n` demo events at 1,000 events/s of event time, incident included (as `bench:core` always had). */
export function buildCoreBatch(n: number, pipelineFile = SAMPLE_PIPELINE): CoreBench {
  const pipeline = loadPipeline(pipelineFile);
  const stream = [...pipeline.streams.keys()][0]!;
  const start = Date.UTC(2026, 10, 27, 10, 0, 0);
  const generated = generateTelemetry({ seed: 7, start, durationMs: Math.ceil(n / 1000) * 1000 + 60_000, ratePerSec: 1000, incident: defaultIncident(start - 120_000) }).slice(0, n);
  const records = toKinesisRecords(
    generated.map((g) => g.event as unknown as Record<string, unknown>),
    { shardCount: 1, partitionKeyField: 'host', sequences: new SequenceCounter(), arrivalOf: (_p, i) => generated[i]!.arrival },
  );
  return { records, pipeline, stream, clock: { now: () => start + 10 * 60_000 } };
}

/** The floor: base64 + JSON.parse of every record. Returns the events decoded. */
export function decodeOnly(batch: readonly KinesisLikeRecord[]): number {
  let n = 0;
  for (const r of batch) {
    const o = JSON.parse(Buffer.from(r.data, 'base64').toString('utf8')) as Record<string, unknown>;
    if (o['ts'] !== undefined) n++;
  }
  return n;
}

/** Events per KPL aggregated record in the KPL batch (a KPL producer fills records up to ~1 MiB; the demo events are ~200 bytes). */
export const KPL_EVENTS_PER_RECORD = 100;

/**
 * The core batch's events as a KPL producer would send them: aggregated
 * (aws-kinesis-agg, the reference encoder) KPL_EVENTS_PER_RECORD to a record,
 * in order, one shard. The same events, so the same aggregates and alerts.
 */
export async function buildKplBatch(bench: CoreBench): Promise<KinesisLikeRecord[]> {
  const out: KinesisLikeRecord[] = [];
  const sequences = new SequenceCounter();
  for (let i = 0; i < bench.records.length; i += KPL_EVENTS_PER_RECORD) {
    const group = bench.records.slice(i, i + KPL_EVENTS_PER_RECORD);
    const aggs = await kplAggregate(group.map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(r.data, 'base64') })));
    for (const a of aggs) {
      out.push({ data: a.data.toString('base64'), partitionKey: a.partitionKey, sequenceNumber: sequences.take(group[0]!.shardId), approximateArrivalTimestamp: group[0]!.approximateArrivalTimestamp, shardId: group[0]!.shardId });
    }
  }
  return out;
}

/** The KPL floor: base64, de-aggregation (MD5 checked; the core's reader, the faster of the two measured) and JSON.parse of every user record. */
export function kplDecodeOnly(batch: readonly KinesisLikeRecord[]): number {
  let n = 0;
  for (const r of batch) {
    const agg = deaggregate(Buffer.from(r.data, 'base64'), true);
    if (!agg.ok) throw new Error(agg.message);
    for (const u of agg.records) {
      const o = JSON.parse(utf8.decode(u.data)) as Record<string, unknown>;
      if (o['ts'] !== undefined) n++;
    }
  }
  return n;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The whole core (fresh in-memory store per batch); returns the events decoded. */
export function coreRunner(bench: CoreBench): (batch: readonly KinesisLikeRecord[]) => Promise<number> {
  return async (batch) => {
    const engine = new Engine({ pipeline: bench.pipeline, stream: bench.stream, store: new InMemoryStateStore(), clock: bench.clock, publish: async () => undefined });
    const report = await engine.processBatch(batch[0]!.shardId, batch);
    if (report.retryFrom !== null) throw new Error(`core failed: ${String(report.error)}`);
    return report.decoded;
  };
}

type BatchFn = (b: readonly KinesisLikeRecord[]) => number | Promise<number>;

/** Events/s of one function over the passes of measureInterleaved. */
export interface PassRates {
  /** The best pass: the speed of the code when the machine was not slowed by other load. */
  readonly best: number;
  /** The median pass. */
  readonly median: number;
  readonly passes: number;
}

/**
 * Runs each of `fns` over `records` in turn, pass after pass, for about `ms`
 * in all after a warm-up; returns the best and median events/s of each.
 * Alternating makes other load on the machine (this is a shared VM) fall on
 * all of them alike, so their ratio compares like with like. The best pass is
 * the figure that measures the code: on the development VM the speed of
 * everything swings by up to half in spells of about 0.5-3 s (bench/spells.ts
 * shows them), so a budget of a few seconds can fall entirely in a slow spell.
 */
export async function measureInterleaved(fns: readonly BatchFn[], records: readonly KinesisLikeRecord[], ms: number): Promise<PassRates[]> {
  for (let i = 0; i < 3; i++) for (const fn of fns) await fn(records);
  const rates: number[][] = fns.map(() => []);
  const until = performance.now() + ms;
  while (performance.now() < until) {
    for (let k = 0; k < fns.length; k++) {
      const t = performance.now();
      const n = await fns[k]!(records);
      rates[k]!.push(n / ((performance.now() - t) / 1000));
    }
  }
  return rates.map((r) => {
    const sorted = [...r].sort((a, b) => a - b);
    return { best: sorted[sorted.length - 1]!, median: sorted[Math.floor(sorted.length / 2)]!, passes: sorted.length };
  });
}

// ------------------------------------------------------------------ pipelines

/**
 * The sample pipeline, or a copy of it whose stream says `dedupe: off`
 * (compiled by the real loader, schema and all).
 */
export function samplePipeline(dedupe: boolean, file = SAMPLE_PIPELINE): Pipeline {
  if (dedupe) return loadPipeline(file);
  const pipeline = loadPipeline(file, (p) => {
    const text = readFileSync(p, 'utf8');
    if (p !== file) return text;
    const copy = text.replace(/^(\s+)id: eventId\s*$/m, '$1id: eventId\n$1dedupe: off');
    if (copy === text) throw new Error(`${file}: no "id: eventId" line to add "dedupe: off" after`);
    return copy;
  });
  for (const s of pipeline.streams.values()) if (s.dedupeHorizonMs) throw new Error(`dedupe is still on for stream ${s.name}`);
  return pipeline;
}

/**
 * The sample stream with one sequence rule only, over the bench's events: a
 * 5xx of a service, then one of its requests slower than 200 ms within a
 * minute. Its writes per event are the cost of a sequence rule on this workload.
 */
export function sequencePipeline(file = SAMPLE_PIPELINE): Pipeline {
  return loadPipeline(file, (p) => {
    const text = readFileSync(p, 'utf8');
    if (p !== file) return text;
    const at = text.indexOf('\nrules:');
    if (at < 0) throw new Error(`${file}: no rules: section`);
    return `${text.slice(0, at)}
rules:
  - alert: ErrorThenSlow
    stream: telemetry
    sequence:
      by: [service]
      within: 1m
      steps:
        - where: 'kind == "http" && status >= 500'
        - where: 'kind == "http" && latencyMs > 200.0'
`;
  });
}

// ------------------------------------------------------------------ state workload

export interface StateWorkloadOptions {
  readonly events: number;
  readonly ratePerSec: number;
  readonly groups: number;
  readonly shards: number;
  readonly seed: number;
  /** Event time of the first event. */
  readonly start: number;
  /** Maximum delay between event time and arrival (ms): event time is out of order by up to this. */
  readonly jitterMs: number;
}

export const STATE_WORKLOAD: StateWorkloadOptions = {
  events: 100_000,
  ratePerSec: 1000,
  groups: 200,
  shards: 2,
  seed: 42,
  // 20 s past the minute: tumbling windows are crossed and one closes during the run.
  start: Date.UTC(2026, 10, 27, 10, 0, 20),
  jitterMs: 2000,
};

export interface WorkloadEvent {
  readonly payload: JsonObject;
  readonly eventTime: number;
  readonly arrival: number;
}

export interface StateWorkload {
  readonly options: StateWorkloadOptions;
  /** Per shard, records in sequence (arrival) order. */
  readonly shards: ReadonlyArray<{ readonly shardId: string; readonly records: KinesisLikeRecord[]; readonly events: WorkloadEvent[] }>;
  readonly events: number;
}

/** Groups whose error rate is raised (to 8%) from the second minute: HighErrorRate fires for them. */
const ERRORING_GROUPS = 10;
/** One event in this many is a heartbeat; host h sends one every `HEARTBEAT_EVERY × groups` events (10 s at the defaults). */
const HEARTBEAT_EVERY = 50;

const pad = (g: number) => String(g).padStart(3, '0');

/**
 * Deterministic telemetry: event i has event time start + i/rate (plus up to
 * `jitterMs` of arrival delay, so records arrive slightly out of event-time
 * order, within the stream's outOfOrderness); one in 50 is a heartbeat of the
 * next host in turn, the rest HTTP requests of a random group.
 */
export function buildStateWorkload(opts: StateWorkloadOptions = STATE_WORKLOAD): StateWorkload {
  const rnd = new Random(opts.seed);
  const all: WorkloadEvent[] = [];
  let heartbeats = 0;
  for (let i = 0; i < opts.events; i++) {
    const eventTime = opts.start + Math.floor((i * 1000) / opts.ratePerSec);
    let payload: JsonObject;
    if (i % HEARTBEAT_EVERY === 0) {
      const g = heartbeats++ % opts.groups;
      payload = { eventId: `e-${opts.seed}-${i}`, ts: new Date(eventTime).toISOString(), kind: 'heartbeat', host: `host-${pad(g)}` };
    } else {
      const g = rnd.int(opts.groups);
      const erroring = g < ERRORING_GROUPS && eventTime >= opts.start + 60_000;
      const status = rnd.chance(erroring ? 0.08 : 0.001) ? rnd.pick([500, 502, 503, 504]) : rnd.chance(0.03) ? 404 : 200;
      payload = {
        eventId: `e-${opts.seed}-${i}`,
        ts: new Date(eventTime).toISOString(),
        kind: 'http',
        service: `svc-${pad(g)}`,
        host: `host-${pad(g)}`,
        status,
        latencyMs: Math.round(60 * Math.exp(0.5 * rnd.normal()) * 10) / 10,
        userId: `u-${rnd.int(400)}`,
        bytes: 200 + rnd.int(20_000),
      };
    }
    all.push({ payload, eventTime, arrival: eventTime + rnd.int(opts.jitterMs + 1) });
  }
  // Kinesis orders a shard by arrival; partition key = host.
  const byShard = new Map<string, WorkloadEvent[]>();
  for (const e of [...all].sort((a, b) => a.arrival - b.arrival)) {
    const id = shardIdOf(shardIndexOf(String(e.payload['host']), opts.shards));
    const list = byShard.get(id) ?? [];
    list.push(e);
    byShard.set(id, list);
  }
  const sequences = new SequenceCounter();
  const shards = [...byShard.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([shardId, events]) => ({
      shardId,
      events,
      records: events.map(
        (e): KinesisLikeRecord => ({
          data: Buffer.from(JSON.stringify(e.payload), 'utf8').toString('base64'),
          partitionKey: String(e.payload['host']),
          sequenceNumber: sequences.take(shardId),
          approximateArrivalTimestamp: e.arrival / 1000,
          shardId,
        }),
      ),
    }));
  return { options: opts, shards, events: all.length };
}

/** The first `events` events of the workload (by arrival), shard by shard: a prefix for the slow peers. */
export function prefixOf(w: StateWorkload, events: number): StateWorkload {
  if (events >= w.events) return w;
  const cut = [...w.shards.flatMap((s) => s.events)].sort((a, b) => a.arrival - b.arrival)[events - 1]!.arrival;
  let left = events;
  const shards = w.shards.map((s) => {
    let n = 0;
    while (n < s.events.length && s.events[n]!.arrival <= cut && left > 0) {
      n++;
      left--;
    }
    return { shardId: s.shardId, events: s.events.slice(0, n), records: s.records.slice(0, n) };
  });
  return { options: w.options, shards, events: events - left };
}

export interface Batch {
  readonly shardId: string;
  readonly records: KinesisLikeRecord[];
  readonly events: WorkloadEvent[];
  /** Round of invocations (the batches of one round run concurrently, one per shard). */
  readonly round: number;
  /** Index in delivery order over all shards. */
  readonly index: number;
}

/** Batches of up to `batchSize` records per shard, in rounds (one batch per shard per round). */
export function batchesOf(w: StateWorkload, batchSize: number): Batch[][] {
  const rounds: Batch[][] = [];
  let index = 0;
  for (let round = 0; ; round++) {
    const batches: Batch[] = [];
    for (const s of w.shards) {
      const from = round * batchSize;
      if (from >= s.records.length) continue;
      batches.push({ shardId: s.shardId, records: s.records.slice(from, from + batchSize), events: s.events.slice(from, from + batchSize), round, index: index++ });
    }
    if (batches.length === 0) return rounds;
    rounds.push(batches);
  }
}

export function benchContext(functionName: string): Context {
  return lambdaContext({ functionName, functionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`, timeoutMs: 300_000 });
}

// ------------------------------------------------------------------ expected answers

const MINUTE = 60_000;
const SESSION_GAP = 30_000;

/** Expected totals, keyed `rule|groupValue|windowStart` (sessions: `rule|host|S<start>`). */
export type Totals = Map<string, Record<string, number>>;

const isHttp = (p: JsonObject) => p['kind'] === 'http';

function bump(t: Totals, key: string, values: Record<string, number>): void {
  const cur = t.get(key) ?? {};
  for (const [k, v] of Object.entries(values)) cur[k] = (cur[k] ?? 0) + v;
  t.set(key, cur);
}

/**
 * What the sample rules must hold after the workload, by plain arithmetic:
 * HighErrorRate and ErrorSpike (the anomaly rule) {errors, total} per
 * (service, 1-minute window); SlowResponses
 * {total} per (service, 5-minute window starting every minute); SessionBurst
 * {requests, volume} per (host, session with a 30 s gap).
 */
export function expectedTotals(events: readonly WorkloadEvent[]): Totals {
  const t: Totals = new Map();
  const byHost = new Map<string, WorkloadEvent[]>();
  for (const e of events) {
    if (!isHttp(e.payload)) continue;
    const service = String(e.payload['service']);
    const minute = Math.floor(e.eventTime / MINUTE) * MINUTE;
    bump(t, `HighErrorRate|${service}|${minute}`, { errors: Number(e.payload['status']) >= 500 ? 1 : 0, total: 1 });
    bump(t, `ErrorSpike|${service}|${minute}`, { errors: Number(e.payload['status']) >= 500 ? 1 : 0, total: 1 });
    for (let k = 0; k < 5; k++) bump(t, `SlowResponses|${service}|${minute - k * MINUTE}`, { total: 1 });
    const host = String(e.payload['host']);
    const list = byHost.get(host) ?? [];
    list.push(e);
    byHost.set(host, list);
  }
  for (const [host, list] of byHost) {
    list.sort((a, b) => a.eventTime - b.eventTime);
    let start = -Infinity;
    let end = -Infinity;
    for (const e of list) {
      if (e.eventTime > end) start = e.eventTime;
      end = Math.max(end, e.eventTime + SESSION_GAP);
      bump(t, `SessionBurst|${host}|S${start}`, { requests: 1, volume: Number(e.payload['bytes']) });
    }
  }
  return t;
}

/** Only the totals the peers can keep with `UpdateItem ADD`: HighErrorRate {errors, total}, SlowResponses {total}. */
export function peerTotals(all: Totals): Totals {
  return new Map([...all].filter(([k]) => k.startsWith('HighErrorRate|') || k.startsWith('SlowResponses|')));
}

export interface Comparison {
  readonly ok: boolean;
  readonly keys: number;
  readonly mismatches: number;
  /** Sum over all keys and fields of (stored - expected), by field. */
  readonly drift: Record<string, number>;
  readonly expectedSum: Record<string, number>;
  readonly examples: string[];
}

/** Compares stored totals with expected ones, field by field (missing and unexpected keys included). */
export function compareTotals(expected: Totals, stored: Totals): Comparison {
  let mismatches = 0;
  const drift: Record<string, number> = {};
  const expectedSum: Record<string, number> = {};
  const examples: string[] = [];
  const keys = new Set([...expected.keys(), ...stored.keys()]);
  for (const key of keys) {
    const e = expected.get(key) ?? {};
    const s = stored.get(key) ?? {};
    let bad = false;
    for (const field of new Set([...Object.keys(e), ...Object.keys(s)])) {
      const ev = e[field] ?? 0;
      const sv = s[field] ?? 0;
      expectedSum[field] = (expectedSum[field] ?? 0) + ev;
      drift[field] = (drift[field] ?? 0) + (sv - ev);
      if (sv !== ev) bad = true;
    }
    if (bad) {
      mismatches++;
      if (examples.length < 3) examples.push(`${key}: expected ${JSON.stringify(e)}, stored ${JSON.stringify(s)}`);
    }
  }
  return { ok: mismatches === 0, keys: keys.size, mismatches, drift, expectedSum, examples };
}

// ------------------------------------------------------------------ the floor

/** A filter's verdict; an evaluation error counts as not matching (as in the engine). */
function matches(where: { evaluate(v: Record<string, unknown>): unknown }, vars: Record<string, unknown>): boolean {
  try {
    return where.evaluate(vars) === true;
  } catch {
    return false;
  }
}

export interface Floor {
  /** Distinct (rule, group, window) aggregates touched, summed over batches. */
  readonly aggregates: number;
  /** Distinct (absence rule, group) last-seen states touched, summed over batches. */
  readonly absence: number;
  readonly records: number;
  readonly batches: number;
  /** Per rule, aggregates touched summed over batches. */
  readonly byRule: Record<string, number>;
  /**
   * The same with panes as the stored unit of hopping windows (lambdas/core/panes.ts): per batch, one
   * write per distinct (rule, group, pane) of a hopping rule instead of one per window; other rules
   * as above.
   */
  readonly paneAggregates: number;
  readonly paneByRule: Record<string, number>;
}

/**
 * The write floor of any exactly-once design that keeps per-aggregate state:
 * per batch, one write per distinct (rule, group, window) it touches (a
 * session rule's key is its group), plus one per (absence rule, group) seen,
 * whose last-seen time must be recorded. Computed from the events with the
 * rules' filters, groupings and window assignment.
 */
export function floorOf(pipeline: Pipeline, rounds: readonly Batch[][]): Floor {
  const windowRules = pipeline.rules.filter((r): r is WindowRule => r.type === 'window');
  const absenceRules = pipeline.rules.filter((r) => r.type === 'absence');
  const sequenceRules = pipeline.rules.filter((r): r is SequenceRule => r.type === 'sequence');
  let aggregates = 0;
  let absence = 0;
  let records = 0;
  let batches = 0;
  const byRule: Record<string, number> = {};
  let paneAggregates = 0;
  const paneByRule: Record<string, number> = {};
  for (const batch of rounds.flat()) {
    batches++;
    records += batch.records.length;
    const touched = new Set<string>();
    const panes = new Set<string>();
    for (const e of batch.events) {
      const vars = eventVariables({ ...e.payload });
      for (const rule of [...windowRules, ...absenceRules]) {
        if (rule.where && !matches(rule.where, vars)) continue;
        const group = groupOf(rule.groupBy, e.payload).key;
        if (rule.type === 'absence') touched.add(`A|${rule.name}|${group}`);
        else if (rule.window.kind === 'session') touched.add(`W|${rule.name}|${group}|S`);
        else for (const w of assignWindows(rule.window, e.eventTime)) touched.add(`W|${rule.name}|${group}|${w.start}`);
        if (rule.type === 'window' && rule.window.kind === 'hopping' && rule.window.slideMs < rule.window.sizeMs && rule.window.sizeMs % rule.window.slideMs === 0) {
          panes.add(`W|${rule.name}|${group}|P${Math.floor(e.eventTime / rule.window.slideMs) * rule.window.slideMs}`);
        }
      }
      // A sequence key is written once per batch when one of its events may matter to a step (its state item).
      for (const rule of sequenceRules) {
        if (rule.where && !matches(rule.where, vars)) continue;
        if (!rule.groupBy.every((g) => e.payload[g] !== undefined)) continue;
        if (!rule.sequence.steps.some((s) => s.where === undefined || s.dynamic || matches(s.where, vars))) continue;
        touched.add(`Q|${rule.name}|${groupOf(rule.groupBy, e.payload).key}`);
      }
    }
    const paned = new Set([...panes].map((k) => k.split('|')[1]!));
    for (const k of touched) {
      const rule = k.split('|')[1]!;
      byRule[rule] = (byRule[rule] ?? 0) + 1;
      if (k.startsWith('A|')) absence++;
      else aggregates++;
      if (!k.startsWith('A|') && !paned.has(rule)) {
        paneByRule[rule] = (paneByRule[rule] ?? 0) + 1;
        paneAggregates++;
      }
    }
    for (const k of panes) {
      const rule = k.split('|')[1]!;
      paneByRule[rule] = (paneByRule[rule] ?? 0) + 1;
      paneAggregates++;
    }
  }
  return { aggregates, absence, records, batches, byRule, paneAggregates, paneByRule };
}
