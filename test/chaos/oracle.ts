/**
 * The brute-force oracle of a chaos seed: from the records the producer wrote
 * (per shard, in sequence order) it computes which records are quarantined,
 * which are late, and every window's exact aggregates and the alert
 * transitions the rules must produce; then it compares them with the final
 * DynamoDB state and the SNS publishes.
 *
 * Lateness follows the engine's rule, per shard: a record is late for a window
 * when the window closes (end + lateness) at or before the shard's watermark
 * just before the record (the largest event time of the shard's earlier
 * decodable records minus the allowed out-of-orderness). The workload is built
 * so that no other lateness can occur (see runChaos.ts: all shards known
 * before the run, idle timeout longer than the run, out-of-orderness +
 * lateness larger than twice the clock skew plus the producers' delay).
 */
import { aggregateLayout, alertLayout, ATTR, kindOf, modelLayout, type NativeItem } from '../../lambdas/adapters/dynamodb/tableLayout';
import type { AlertMessage } from '../../lambdas/adapters/SnsAlertPublisher';
import { distinctAggregator } from '../../lambdas/core/aggregates/distinct';
import { percentileAggregator } from '../../lambdas/core/aggregates/percentile';
import { detectorNamed } from '../../lambdas/core/anomaly/detectors';
import { modelInAlertRecord, RECENT_VERDICTS } from '../../lambdas/core/anomaly/rule';
import { DEFAULT_ANOMALY_OPTIONS, type AnomalyOptions, type AnomalyVerdict } from '../../lambdas/core/anomaly/types';
import { alertIdOf } from '../../lambdas/core/lifecycle';
import { RuleAggregates, type FixedPartialJson } from '../../lambdas/core/partials';
import type { Pipeline, RejectReason, StreamSpec, WindowRule } from '../../lambdas/core/types';
import type { EventMeta, ProducedEvent, SimRecord } from './kinesis';
import { CHAOS_SEQUENCE_RULES } from './sequenceOracle';
import type { Delivery, FaultOp } from './world';

const MINUTE = 60_000;

/** The oracle folds events exactly as the producer sent them (those with a service: the rules group by it). */
export type OracleEvent = ProducedEvent & { readonly service: string };

/** A rule of the chaos pipeline as the oracle sees it: its windows and its condition, written independently of the engine. */
export interface OracleRule {
  readonly name: string;
  readonly sizeMs: number;
  readonly stepMs: number;
  readonly latenessMs: number;
  /** `anomaly` is the window's verdict for an anomaly rule (null: none), undefined for the others. */
  readonly holds: (w: WindowValues, anomaly?: AnomalyVerdict | null) => boolean;
  /** Anomaly rules: the detector, its options and the aggregate it models, as the pipeline says (written out again here). */
  readonly anomaly?: { readonly detector: string; readonly options: AnomalyOptions; readonly value: (w: WindowValues) => number };
  /** `emit: early` (its condition grows with the window's events: a partial state that holds means the final one holds). */
  readonly early?: true;
}

export interface WindowValues {
  n: number;
  errs: number;
  total: number;
  lo: number | null;
  hi: number | null;
}

export const ORACLE_RULES: readonly OracleRule[] = [
  { name: 'Stats', sizeMs: MINUTE, stepMs: MINUTE, latenessMs: MINUTE, holds: (w) => w.n > 0 && w.errs >= 2 },
  { name: 'Load', sizeMs: 2 * MINUTE, stepMs: MINUTE, latenessMs: MINUTE, holds: (w) => w.n > 0 && w.n >= 8 },
  {
    name: 'Surge',
    sizeMs: 20_000,
    stepMs: 20_000,
    latenessMs: MINUTE,
    holds: (w, a) => w.n > 0 && a !== undefined && a !== null && a.score > 0.9 && w.n >= 2,
    anomaly: { detector: 'robust', options: { ...DEFAULT_ANOMALY_OPTIONS, direction: 'both', warmup: 2, sensitivity: 2, shiftAfter: 3 }, value: (w) => w.n },
  },
  {
    name: 'ErrSurge',
    sizeMs: 30_000,
    stepMs: 30_000,
    latenessMs: MINUTE,
    holds: (w, a) => w.n > 0 && a !== undefined && a !== null && a.score > 0.9,
    anomaly: { detector: 'seasonal', options: { ...DEFAULT_ANOMALY_OPTIONS, direction: 'up', warmup: 2, sensitivity: 2, season: 'day' }, value: (w) => w.errs },
  },
  { name: 'Burst', sizeMs: MINUTE, stepMs: MINUTE, latenessMs: MINUTE, holds: (w) => w.n > 0 && w.errs >= 2, early: true },
];

/**
 * The chaos stream as JSON records (plain, gzip, KPL aggregates mixed), or as
 * CloudWatch Logs subscription payloads of logfmt lines (the same events, the
 * event time and id read from the log event through field paths).
 */
export type ChaosShape = 'json' | 'cloudwatch-logs';

export function chaosPipeline(shape: ChaosShape): string {
  if (shape === 'json') return CHAOS_PIPELINE;
  return CHAOS_PIPELINE.replace(
    '    timestamp: ts\n    id: eventId\n',
    '    framing: cloudwatch-logs\n    parse: logfmt\n    timestamp: cloudwatch.timestamp\n    id: cloudwatch.id\n',
  );
}

export const CHAOS_PIPELINE = `
streams:
  telemetry:
    timestamp: ts
    id: eventId
    outOfOrderness: 10s
    maxFuture: 1m
    idleTimeout: 1h
rules:
  - alert: Stats
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    lateness: 1m
    aggregate:
      n: 'count()'
      errs: 'count(status >= 500)'
      total: 'sum(latencyMs)'
      lo: 'min(latencyMs)'
      hi: 'max(latencyMs)'
      mean: 'avg(latencyMs)'
      users: 'distinct(user)'
      p90: 'percentile(latencyMs, 90)'
    when: 'errs >= 2.0'
    emit: final
    for: 1
    severity: critical
  - alert: Load
    stream: telemetry
    groupBy: [service]
    window: { hopping: 2m, every: 1m }
    lateness: 1m
    aggregate:
      n: 'count()'
      total: 'sum(latencyMs)'
      hi: 'max(latencyMs)'
    when: 'n >= 8.0'
    emit: final
    severity: warning
  - alert: Surge
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 20s }
    lateness: 1m
    aggregate:
      n: 'count()'
      errs: 'count(status >= 500)'
    anomaly: { of: n, warmup: 2, sensitivity: 2, shiftAfter: 3 }
    when: 'anomaly.score > 0.9 && n >= 2.0'
    annotations:
      summary: '{{service}}: {{n}} events, expected {{anomaly.lower}} to {{anomaly.upper}}'
  - alert: ErrSurge
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 30s }
    lateness: 1m
    aggregate:
      n: 'count()'
      errs: 'count(status >= 500)'
    anomaly: { of: errs, detector: seasonal, season: day, direction: up, warmup: 2, sensitivity: 2 }
    when: 'anomaly.score > 0.9'
  - alert: Burst
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    lateness: 1m
    aggregate:
      n: 'count()'
      errs: 'count(status >= 500)'
    when: 'errs >= 2.0'
    emit: early
    for: 1
${CHAOS_SEQUENCE_RULES}`;

/** Window starts of an event at `t` (oldest first). */
function windowStarts(rule: OracleRule, t: number): number[] {
  const out: number[] = [];
  const last = Math.floor(t / rule.stepMs) * rule.stepMs;
  for (let s = last - rule.sizeMs + rule.stepMs; s <= last; s += rule.stepMs) if (t >= s && t < s + rule.sizeMs) out.push(s);
  return out;
}

export interface Expected {
  /** rule -> group key -> window start -> accepted events. */
  readonly windows: Map<string, Map<string, Map<number, OracleEvent[]>>>;
  /**
   * What must be quarantined, with its reason: a record as shard/seq, a
   * sub-event of a record (KPL user record, log event) as shard/seq#e<index>.
   */
  readonly quarantined: Map<string, RejectReason>;
  /** Kinesis records written. */
  readonly records: number;
  /** The unit of account: user events plus quarantined items (a record rejected whole is one). */
  readonly items: number;
  /** CloudWatch Logs CONTROL_MESSAGE records (acknowledged: neither events nor quarantined). */
  readonly controls: number;
  /** Events without a groupBy field (service): skipped by every rule, counted, never grouped. */
  readonly missingGroup: number;
  /** Distinct events (event ids) among the decodable records. */
  readonly events: number;
  /** Records that repeat an event id already seen on the shard (producer duplicates). */
  readonly duplicates: number;
  /** Events late for every window of the rule, by rule. */
  readonly late: Map<string, number>;
  /** Accepted events (not late for at least one window) by rule. */
  readonly accepted: Map<string, number>;
}

export function expect(shards: ReadonlyArray<readonly SimRecord[]>, stream: StreamSpec): Expected {
  const windows = new Map<string, Map<string, Map<number, OracleEvent[]>>>();
  const quarantined = new Map<string, RejectReason>();
  const late = new Map<string, number>();
  const accepted = new Map<string, number>();
  let records = 0;
  let items = 0;
  let controls = 0;
  let missingGroup = 0;
  let events = 0;
  let duplicates = 0;
  for (const rule of ORACLE_RULES) windows.set(rule.name, new Map());
  for (const records_ of shards) {
    // The shard's largest event time so far: the engine's watermark moves per event, within a record too.
    let prior = -Infinity;
    const seen = new Set<string>();
    const fold = (m: EventMeta, id: string): void => {
      items += 1;
      if (m.kind === 'bad') {
        quarantined.set(id, m.reason);
        return;
      }
      const watermark = prior - stream.outOfOrdernessMs;
      prior = Math.max(prior, m.t);
      if (seen.has(m.eventId)) {
        duplicates += 1;
        return;
      }
      seen.add(m.eventId);
      events += 1;
      if (m.service === null) {
        missingGroup += 1;
        return;
      }
      const ev: OracleEvent = { eventId: m.eventId, t: m.t, service: m.service, status: m.status, latencyMs: m.latencyMs, user: m.user };
      const group = JSON.stringify([m.service]);
      for (const rule of ORACLE_RULES) {
        let placed = 0;
        for (const start of windowStarts(rule, m.t)) {
          if (start + rule.sizeMs + rule.latenessMs <= watermark) continue;
          const byGroup = windows.get(rule.name)!;
          const byStart = byGroup.get(group) ?? new Map<number, OracleEvent[]>();
          byGroup.set(group, byStart);
          const list = byStart.get(start) ?? [];
          list.push(ev);
          byStart.set(start, list);
          placed += 1;
        }
        if (placed === 0) late.set(rule.name, (late.get(rule.name) ?? 0) + 1);
        else accepted.set(rule.name, (accepted.get(rule.name) ?? 0) + 1);
      }
    };
    for (const r of records_) {
      records += 1;
      const m = r.meta;
      const id = `${r.shardId}/${r.sequenceNumber}`;
      if (m.kind === 'control') controls += 1;
      else if (m.kind === 'multi') m.events.forEach((e, i) => fold(e, `${id}#e${i}`));
      else fold(m, id);
    }
  }
  return { windows, quarantined, records, items, controls, missingGroup, events, duplicates, late, accepted };
}

function valuesOf(events: readonly OracleEvent[]): WindowValues {
  let errs = 0;
  let total = 0;
  let lo: number | null = null;
  let hi: number | null = null;
  for (const e of events) {
    if (e.status >= 500) errs += 1;
    total += e.latencyMs;
    lo = lo === null ? e.latencyMs : Math.min(lo, e.latencyMs);
    hi = hi === null ? e.latencyMs : Math.max(hi, e.latencyMs);
  }
  return { n: events.length, errs, total, lo, hi };
}

/** The rank-based quantile the sketch approximates: the sorted value at floor(q (n - 1)). */
function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

/** HyperLogLog relative standard error with 4096 registers. */
const HLL_SE = 1.04 / Math.sqrt(4096);

export interface Comparison {
  readonly violations: string[];
  /** Events missing from a window (summed over windows). */
  readonly lost: number;
  /** Events counted more than once in a window (summed over windows). */
  readonly doubled: number;
  /** Events counted in the state of the Stats rule (all windows). */
  readonly counted: number;
  readonly windows: number;
}

/** Compares every window of every rule with the aggregate items of the table. */
export function compareState(expected: Expected, items: readonly NativeItem[], pipeline: Pipeline): Comparison {
  const violations: string[] = [];
  let lost = 0;
  let doubled = 0;
  let counted = 0;
  let windowCount = 0;
  const state = new Map<string, Record<string, number | null>>();
  const rules = new Map(pipeline.rules.filter((r): r is WindowRule => r.type === 'window').map((r) => [r.name, new RuleAggregates(r)]));
  for (const item of items) {
    const pk = String(item[ATTR.pk]);
    if (kindOf(pk) !== 'aggregate') continue;
    const a = aggregateLayout.decode(item);
    const aggs = rules.get(a.rule);
    if (!aggs) {
      violations.push(`state item of an unknown rule: ${pk}`);
      continue;
    }
    const acc = aggs.create();
    for (const slot of Object.values(a.state.slots)) aggs.merge(acc, aggs.deserialize(slot.partial as FixedPartialJson));
    if (a.due) violations.push(`window never closed: ${a.rule} ${a.groupKey} ${a.windowStart}`);
    state.set(`${a.rule}|${a.groupKey}|${a.windowStart}`, aggs.results(acc));
  }
  const seen = new Set<string>();
  for (const rule of ORACLE_RULES) {
    for (const [group, byStart] of expected.windows.get(rule.name)!) {
      for (const [start, events] of byStart) {
        windowCount += 1;
        const id = `${rule.name}|${group}|${start}`;
        seen.add(id);
        const want = valuesOf(events);
        const got = state.get(id);
        const where = `${rule.name} ${group} window ${new Date(start).toISOString()}`;
        if (!got) {
          lost += want.n;
          violations.push(`${where}: no state, expected ${want.n} events`);
          continue;
        }
        const n = got['n'] ?? 0;
        if (rule.name === 'Stats') counted += n;
        if (n < want.n) lost += want.n - n;
        if (n > want.n) doubled += n - want.n;
        const exact: Array<[string, number | null]> =
          rule.name === 'Stats'
            ? [
                ['n', want.n],
                ['errs', want.errs],
                ['total', want.total],
                ['lo', want.lo],
                ['hi', want.hi],
                ['mean', want.total / want.n],
              ]
            : rule.name === 'Load'
              ? [
                  ['n', want.n],
                  ['total', want.total],
                  ['hi', want.hi],
                ]
              : [
                  ['n', want.n],
                  ['errs', want.errs],
                ];
        const wrong = exact.filter(([name, v]) => got[name] !== v).map(([name, v]) => `${name} ${got[name]} (expected ${v})`);
        if (rule.name === 'Stats') {
          // distinct: exactly the HyperLogLog of the accepted values (register-wise max merges losslessly), and within its error bound.
          const users = new Set(events.map((e) => e.user));
          const hll = distinctAggregator.create();
          for (const u of users) distinctAggregator.add(hll, u);
          const hllEstimate = distinctAggregator.result(hll);
          if (got['users'] !== hllEstimate) wrong.push(`users ${got['users']} (the HLL of the accepted values says ${hllEstimate})`);
          if (Math.abs((got['users'] ?? 0) - users.size) > 3 * HLL_SE * users.size + 2) wrong.push(`users ${got['users']} (exact ${users.size}: beyond 3 standard errors + 2)`);
          // percentile: exactly the sketch of the accepted values (bin counts add up), and within 1% of the exact quantile.
          const p90 = percentileAggregator(0.9);
          const sketch = p90.create();
          for (const e of events) p90.add(sketch, e.latencyMs);
          const sketchEstimate = p90.result(sketch);
          const exactP90 = exactQuantile(
            events.map((e) => e.latencyMs),
            0.9,
          );
          if (got['p90'] !== sketchEstimate) wrong.push(`p90 ${got['p90']} (the sketch of the accepted values says ${sketchEstimate})`);
          if (Math.abs((got['p90'] ?? NaN) - exactP90) > 0.01 * Math.abs(exactP90) + 1e-9) wrong.push(`p90 ${got['p90']} (exact ${exactP90}: beyond 1%)`);
        }
        if (wrong.length > 0) violations.push(`${where}: ${wrong.join(', ')}`);
      }
    }
  }
  for (const [id, got] of state) {
    if (seen.has(id)) continue;
    const n = got['n'] ?? 0;
    if (n === 0) continue;
    doubled += n;
    if (id.startsWith('Stats|')) counted += n;
    violations.push(`window ${id.replace(/\|/g, ' ')} holds ${n} events; the oracle expects none there (late events counted?)`);
  }
  return { violations, lost, doubled, counted, windows: windowCount };
}

export interface ExpectedTransition {
  readonly transitionId: string;
  readonly rule: string;
  readonly group: string;
  readonly state: 'firing' | 'resolved';
  readonly window: { readonly start: number; readonly end: number };
  readonly values: WindowValues;
  /** Anomaly rules: the verdict of the window, from the replay. */
  readonly anomaly?: AnomalyVerdict;
  /** Sequence rules (sequenceOracle.ts): the matched events' ids, in match order (the values are not checked). */
  readonly sequence?: { readonly eventIds: readonly string[] };
  /** `emit: early` firing: decided on a partial state of the window (`values` are the final ones, a bound: see compareAlerts). */
  readonly early?: true;
}

/**
 * The transitions of `for: 1`, `emit: final` rules once every window closed:
 * per group, walk every window from the group's first to one past its last
 * (empty windows do not hold); fire when the condition starts holding, resolve
 * when it stops.
 *
 * `emit: early` rules (`for: 1`, a condition that grows with the window's events, so a partial
 * state that holds means the final one holds): which windows fire depends on the interleaving
 * (`published`, the transition ids delivered, says). A fire is in a window whose final verdict
 * holds and is resolved at the first failing window after it; a run of holding windows with no
 * fire is allowed only when a later window fired (early, before the run's windows closed: they
 * then close as bookkeeping, lifecycle.ts), else its first window's firing is expected.
 */
export function expectedTransitions(expected: Expected, published: ReadonlySet<string> = new Set()): ExpectedTransition[] {
  const out: ExpectedTransition[] = [];
  for (const rule of ORACLE_RULES) {
    if (rule.early) {
      out.push(...earlyTransitions(rule, expected, published));
      continue;
    }
    for (const [group, byStart] of expected.windows.get(rule.name)!) {
      const starts = [...byStart.keys()].sort((a, b) => a - b);
      if (starts.length === 0) continue;
      let firing: number | null = null;
      const verdicts = rule.anomaly ? replayModel(rule, byStart).verdicts : null;
      for (let s = starts[0]!; s <= starts[starts.length - 1]! + rule.stepMs; s += rule.stepMs) {
        const values = valuesOf(byStart.get(s) ?? []);
        const window = { start: s, end: s + rule.sizeMs };
        const anomaly = verdicts === null ? undefined : (verdicts.get(s) ?? null);
        const extra = anomaly ? { anomaly } : {};
        if (rule.holds(values, anomaly)) {
          if (firing === null) {
            firing = s;
            out.push({ transitionId: `${alertIdOf(rule.name, group, s)}:firing`, rule: rule.name, group, state: 'firing', window, values, ...extra });
          }
        } else if (firing !== null) {
          out.push({ transitionId: `${alertIdOf(rule.name, group, firing)}:resolved`, rule: rule.name, group, state: 'resolved', window, values, ...extra });
          firing = null;
        }
      }
    }
  }
  return out;
}

function earlyTransitions(rule: OracleRule, expected: Expected, published: ReadonlySet<string>): ExpectedTransition[] {
  const out: ExpectedTransition[] = [];
  for (const [group, byStart] of expected.windows.get(rule.name)!) {
    const starts = [...byStart.keys()].sort((a, b) => a - b);
    if (starts.length === 0) continue;
    const holds = (s: number) => rule.holds(valuesOf(byStart.get(s) ?? []));
    const windows: number[] = [];
    for (let s = starts[0]!; s <= starts[starts.length - 1]! + rule.stepMs; s += rule.stepMs) windows.push(s);
    const firedIn = (s: number) => published.has(`${alertIdOf(rule.name, group, s)}:firing`);
    // The windows fired in, each resolved at the first failing window after it.
    let resolvedAt = -Infinity;
    let run: number[] = [];
    for (const s of windows) {
      if (holds(s)) {
        if (firedIn(s)) {
          const end = windows.find((w) => w > s && !holds(w))!;
          const id = alertIdOf(rule.name, group, s);
          out.push({ transitionId: `${id}:firing`, rule: rule.name, group, state: 'firing', window: { start: s, end: s + rule.sizeMs }, values: valuesOf(byStart.get(s) ?? []), early: true });
          out.push({ transitionId: `${id}:resolved`, rule: rule.name, group, state: 'resolved', window: { start: end, end: end + rule.sizeMs }, values: valuesOf(byStart.get(end) ?? []) });
          // A run before this fire and after the last resolve was swallowed: its windows closed after the fire (bookkeeping).
          run = [];
          resolvedAt = end;
        } else if (s > resolvedAt) run.push(s);
        continue;
      }
      if (s <= resolvedAt || run.length === 0) continue;
      // A run that ended without a fire: swallowed only if a later window fired before its windows closed (looked for below).
      const later = windows.some((w) => w > s && holds(w) && firedIn(w));
      if (!later) out.push({ transitionId: `${alertIdOf(rule.name, group, run[0]!)}:firing`, rule: rule.name, group, state: 'firing', window: { start: run[0]!, end: run[0]! + rule.sizeMs }, values: valuesOf(byStart.get(run[0]!) ?? []), early: true });
      run = [];
    }
  }
  return out;
}

/**
 * The model of an anomaly rule's group, replayed: its windows with events,
 * in order of their start, each scored on the model before it learns it,
 * through the detector of the registry (gaps are not learned).
 */
export function replayModel(rule: OracleRule, byStart: ReadonlyMap<number, readonly OracleEvent[]>): { verdicts: Map<number, AnomalyVerdict>; state: string; last: number; recent: Array<{ start: number; value: number; verdict: AnomalyVerdict }> } {
  const a = rule.anomaly!;
  const d = detectorNamed(a.detector);
  let state = d.empty;
  const verdicts = new Map<number, AnomalyVerdict>();
  const recent: Array<{ start: number; value: number; verdict: AnomalyVerdict }> = [];
  let last = -1;
  for (const start of [...byStart.keys()].sort((x, y) => x - y)) {
    const events = byStart.get(start)!;
    if (events.length === 0) continue;
    const value = a.value(valuesOf(events));
    const verdict = d.verdict(state, start, value, a.options);
    verdicts.set(start, verdict);
    recent.push({ start, value, verdict });
    state = d.apply(state, start, value, a.options);
    last = start;
  }
  return { verdicts, state: d.serialise(state), last, recent: recent.slice(-RECENT_VERDICTS) };
}

/**
 * The anomaly models in the table against the replay of each (rule, group):
 * one model per group with windows, holding exactly the replayed state,
 * last window and recent verdicts (a window learned twice, out of order, or
 * not at all shows here), and no other model. A model is kept where its rule's
 * detector keeps it (anomaly/rule.ts, modelInAlertRecord): in the group's alert
 * item (robust), or in a model item (seasonal); one found in the other place is
 * a violation too.
 */
export function compareModels(expected: Expected, items: readonly NativeItem[]): { violations: string[]; models: number } {
  const violations: string[] = [];
  const stored = new Map<string, ReturnType<typeof modelLayout.decode>['record']>();
  const inAlert = new Map(ORACLE_RULES.filter((r) => r.anomaly).map((r) => [r.name, modelInAlertRecord(r.anomaly!)]));
  for (const item of items) {
    const kind = kindOf(String(item[ATTR.pk]));
    if (kind === 'model') {
      const m = modelLayout.decode(item);
      if (inAlert.get(m.rule) !== false) violations.push(`anomaly model ${m.rule} ${m.groupKey}: a model item, where the model is kept in the alert item`);
      stored.set(`${m.rule}|${m.groupKey}`, m.record);
    } else if (kind === 'alert') {
      const a = alertLayout.decode(item);
      if (a.record.model === undefined) continue;
      if (inAlert.get(a.rule) !== true) violations.push(`anomaly model ${a.rule} ${a.groupKey}: in the alert item, where the model is kept in a model item`);
      stored.set(`${a.rule}|${a.groupKey}`, a.record.model);
    }
  }
  let models = 0;
  const seen = new Set<string>();
  for (const rule of ORACLE_RULES) {
    if (!rule.anomaly) continue;
    for (const [group, byStart] of expected.windows.get(rule.name)!) {
      const want = replayModel(rule, byStart);
      if (want.last < 0) continue;
      models += 1;
      const id = `${rule.name}|${group}`;
      seen.add(id);
      const got = stored.get(id);
      if (!got) {
        violations.push(`anomaly model ${rule.name} ${group}: no item, expected one that learned ${byStart.size} windows`);
        continue;
      }
      if (got.last !== want.last) violations.push(`anomaly model ${rule.name} ${group}: last window ${got.last}, the replay says ${want.last}`);
      if (got.state !== want.state) violations.push(`anomaly model ${rule.name} ${group}: state ${got.state}, the replay says ${want.state}`);
      if (JSON.stringify(got.recent) !== JSON.stringify(want.recent)) violations.push(`anomaly model ${rule.name} ${group}: recent verdicts ${JSON.stringify(got.recent)}, the replay says ${JSON.stringify(want.recent)}`);
    }
  }
  for (const id of stored.keys()) if (!seen.has(id)) violations.push(`anomaly model ${id.replace('|', ' ')}: the oracle expects none`);
  return { violations, models };
}

export interface AlertCheck {
  readonly violations: string[];
  readonly expected: number;
  readonly published: number;
  /** Deliveries beyond the first of a transition (allowed only after an ambiguous publish). */
  readonly duplicates: number;
}

/**
 * The alert invariants: every expected transition published at least once and
 * recorded exactly once; no other transition published or recorded; a
 * transition delivered again only when an earlier delivery of it was followed,
 * in the same invocation, by a crash or by a fault on the same alert item (so
 * its confirmation may be missing); the
 * firing values are the window's exact values.
 */
export function compareAlerts(
  transitions: readonly ExpectedTransition[],
  deliveries: readonly Delivery[],
  faultOps: ReadonlyMap<string, readonly FaultOp[]>,
  alertVersions: ReadonlyMap<string, ReadonlyMap<number, readonly string[]>>,
): AlertCheck {
  const violations: string[] = [];
  const want = new Map(transitions.map((t) => [t.transitionId, t]));
  // The alert item (pk|sk) each transition was recorded in.
  const itemOf = new Map<string, string>();
  for (const [item, versions] of alertVersions) for (const ids of versions.values()) for (const id of ids) itemOf.set(id, item);
  // A delivery may be repeated when, later in its invocation, the container crashed, or a request on the same
  // alert item failed (the confirmation), or a publish of the same alert item failed (its claims were released).
  const mayRepeat = (d: Delivery) =>
    (faultOps.get(d.invocation) ?? []).some(
      (f) =>
        f.op >= d.op &&
        (f.kind === 'crash' || (f.kind === 'ddb' && f.item === itemOf.get(d.transitionId)) || (f.kind === 'sns' && itemOf.get(f.transitionId ?? '') === itemOf.get(d.transitionId))),
    );
  const byId = new Map<string, Delivery[]>();
  for (const d of deliveries) byId.set(d.transitionId, [...(byId.get(d.transitionId) ?? []), d]);
  let duplicates = 0;
  // Every publish of one transition id carries the same bytes (issue 19): body, subject, attributes, topic, FIFO ids.
  const bytes = (d: Delivery) => JSON.stringify([d.message.TopicArn, d.message.Subject, d.message.Message, d.message.MessageAttributes, d.message.MessageGroupId, d.message.MessageDeduplicationId]);
  for (const [id, list] of byId) {
    const differing = list.filter((d) => bytes(d) !== bytes(list[0]!));
    if (differing.length > 0) violations.push(`transition ${id} published ${list.length} times, ${differing.length} of them with other bytes than the first: ${bytes(differing[0]!).slice(0, 300)} vs ${bytes(list[0]!).slice(0, 300)}`);
  }
  for (const [id, list] of byId) {
    const t = want.get(id);
    const body = JSON.parse(list[0]!.message.Message ?? '{}') as AlertMessage;
    if (!t) {
      violations.push(`unexpected transition published: ${body.rule} ${JSON.stringify(body.group)} ${body.state} window ${body.window?.start} (${id})`);
      continue;
    }
    const justified = list.filter(mayRepeat).length;
    duplicates += list.length - 1;
    if (list.length - 1 > justified) {
      violations.push(`${t.rule} ${t.group} ${t.state} (window ${new Date(t.window.start).toISOString()}) published ${list.length} times; only ${justified} of its deliveries were followed by a fault`);
    }
    if (body.window.start !== new Date(t.window.start).toISOString() || body.window.end !== new Date(t.window.end).toISOString()) {
      violations.push(`${t.rule} ${t.group} ${t.state}: window ${body.window.start}..${body.window.end}, expected ${new Date(t.window.start).toISOString()}`);
    }
    if (t.sequence !== undefined) {
      const ids = (body.sequence?.events ?? []).map((e) => e.id);
      if (JSON.stringify(ids) !== JSON.stringify(t.sequence.eventIds)) violations.push(`${t.rule} ${t.group} match ${id}: events ${ids.join(',')}, expected ${t.sequence.eventIds.join(',')}`);
    } else if (t.state === 'firing' && t.early) {
      // An early fire carries the values of the partial state it held on: the condition holds there, within the window's final values.
      const v = body.values;
      const [n, errs] = [v['n'] ?? 0, v['errs'] ?? 0];
      if (!(errs >= 2 && n >= errs && n <= t.values.n && errs <= t.values.errs)) {
        violations.push(`${t.rule} ${t.group} early firing in ${new Date(t.window.start).toISOString()}: n ${n}, errs ${errs} (the window's final values n ${t.values.n}, errs ${t.values.errs})`);
      }
    } else if (t.state === 'firing') {
      const v = body.values;
      const exact: Array<[string, number | null]> =
        t.rule === 'Stats'
          ? [
              ['n', t.values.n],
              ['errs', t.values.errs],
              ['total', t.values.total],
              ['lo', t.values.lo],
              ['hi', t.values.hi],
            ]
          : t.rule === 'Load'
            ? [
                ['n', t.values.n],
                ['total', t.values.total],
                ['hi', t.values.hi],
              ]
            : [
                ['n', t.values.n],
                ['errs', t.values.errs],
              ];
      const wrong = exact.filter(([name, x]) => v[name] !== x).map(([name, x]) => `${name} ${v[name]} (expected ${x})`);
      if (t.anomaly !== undefined && JSON.stringify(body.anomaly) !== JSON.stringify(t.anomaly)) wrong.push(`anomaly ${JSON.stringify(body.anomaly)} (the replay says ${JSON.stringify(t.anomaly)})`);
      if (wrong.length > 0) violations.push(`${t.rule} ${t.group} firing in ${new Date(t.window.start).toISOString()}: ${wrong.join(', ')}`);
    }
  }
  for (const t of transitions) {
    if (!byId.has(t.transitionId)) violations.push(`${t.rule} ${t.group} ${t.state} (window ${new Date(t.window.start).toISOString()}) never published`);
  }
  // Recorded: a transition appears in an alert item's outbox in a version where the previous version did not hold it.
  const recorded = new Map<string, number>();
  for (const [item, versions] of alertVersions) {
    const numbers = [...versions.keys()].sort((a, b) => a - b);
    let previous = new Set<string>();
    let expectedVersion = 1;
    for (const v of numbers) {
      if (v !== expectedVersion) violations.push(`alert item ${item}: version ${expectedVersion} was never observed (saw ${v})`);
      expectedVersion = v + 1;
      const ids = versions.get(v)!;
      for (const id of ids) if (!previous.has(id)) recorded.set(id, (recorded.get(id) ?? 0) + 1);
      previous = new Set(ids);
    }
  }
  for (const [id, n] of recorded) {
    const t = want.get(id);
    if (n > 1) violations.push(`transition ${t ? `${t.rule} ${t.group} ${t.state}` : id} recorded ${n} times`);
    if (!t) violations.push(`unexpected transition recorded: ${id}`);
  }
  for (const t of transitions) if (!recorded.has(t.transitionId)) violations.push(`${t.rule} ${t.group} ${t.state} never recorded in an outbox`);
  return { violations, expected: transitions.length, published: byId.size, duplicates };
}

/**
 * Windows are evaluated in order (issue 19): the alert state of a group moves its `evaluatedThrough`
 * past a window that holds accepted events only by evaluating that window. A jump over such a window
 * (the gap rule took it for empty), or a first evaluated window after one (the group's first windows
 * never judged), is what a lagging due index does to a closer that trusts it. `evaluated`: alert item
 * (`pk|sk`) -> version -> evaluatedThrough, from every successful write.
 */
export function compareEvaluationOrder(
  expected: Expected,
  evaluated: ReadonlyMap<string, ReadonlyMap<number, number | null>>,
  /** item -> version -> state at rest; a failing window skipped while the state was at rest is no violation (quiet close, closing.ts). */
  restAt: ReadonlyMap<string, ReadonlyMap<number, boolean>> = new Map(),
  /**
   * item -> version -> the state's firedInWindow: for an `emit: early` rule a window below the one an
   * alert fired in early is bookkeeping only (closing.ts caughtUp): skipping it is no violation.
   */
  firedIn: ReadonlyMap<string, ReadonlyMap<number, number | null>> = new Map(),
): string[] {
  const violations: string[] = [];
  for (const rule of ORACLE_RULES) {
    for (const [group, byStart] of expected.windows.get(rule.name)!) {
      const k = alertLayout.key(rule.name, group);
      const versions = evaluated.get(`${k.pk}|${k.sk}`);
      if (!versions) continue;
      const rest = restAt.get(`${k.pk}|${k.sk}`);
      const fired = firedIn.get(`${k.pk}|${k.sk}`);
      const sorted = [...versions.entries()].sort((a, b) => a[0] - b[0]);
      const starts = [...byStart.keys()];
      let previous = -Infinity;
      // The state before the first write is the initial one, at rest.
      let restBefore = true;
      let firedBefore: number | null = null;
      for (const [version, e] of sorted) {
        if (e !== null) {
          for (const s of starts) {
            if (!(s > previous && s < e)) continue;
            // At rest a failing verdict records nothing: closed quietly, not skipped (its alert outcome is checked by compareAlerts).
            if (restBefore && !rule.holds(valuesOf(byStart.get(s)!))) continue;
            if (rule.early && firedBefore !== null && s < firedBefore) continue;
            violations.push(`${rule.name} ${group}: window ${new Date(s).toISOString()} (${byStart.get(s)!.length} events) was skipped: evaluatedThrough moved from ${Number.isFinite(previous) ? new Date(previous).toISOString() : 'none'} to ${new Date(e).toISOString()}`);
          }
          previous = Math.max(previous, e);
        }
        restBefore = rest?.get(version) ?? false;
        firedBefore = fired?.get(version) ?? null;
      }
    }
  }
  return violations;
}

/**
 * Ambiguous alert writes (issue 19): a transition recorded by a write whose response was lost is
 * published in the same invocation, unless another fault hit that invocation afterwards (a crash, a
 * failed read-back or publish): it is not left to the outbox lease.
 */
export function compareAmbiguousRecords(
  records: ReadonlyArray<{ readonly invocation: string; readonly op: number; readonly ids: readonly string[] }>,
  deliveries: readonly Delivery[],
  faultOps: ReadonlyMap<string, readonly FaultOp[]>,
): string[] {
  const violations: string[] = [];
  for (const r of records) {
    if ((faultOps.get(r.invocation) ?? []).some((f) => f.op > r.op)) continue;
    for (const id of r.ids) {
      if (!deliveries.some((d) => d.transitionId === id && d.invocation === r.invocation && d.op > r.op)) {
        violations.push(`transition ${id} recorded by an alert write whose response was lost (op ${r.op}, ${r.invocation}) was not published in that invocation`);
      }
    }
  }
  return violations;
}
