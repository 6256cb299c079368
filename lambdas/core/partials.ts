import {
  aggregatorFor,
  avgAggregator,
  countAggregator,
  distinctAggregator,
  maxAggregator,
  minAggregator,
  sketchAdd,
  sumAggregator,
  type AvgAccumulator,
  type CountAccumulator,
  type DistinctAccumulator,
  type MaxAccumulator,
  type MinAccumulator,
  type PercentileAccumulator,
  type SumAccumulator,
} from './aggregates';
import type { Aggregator } from './aggregates/Aggregator';
import { isFiniteNumber } from './aggregates/partialState';
import { mergeSessions, type TimeWindow } from './windows';
import { isMissingField } from './expression';
import type { AggregateKind, CompiledExpression, EpochMs, PartialState, WindowRule } from './types';

/** Accumulators of a fixed window (or of one session): count of events, per-aggregate state, max event time. */
export interface WindowAcc {
  n: number;
  accs: unknown[];
  maxEventTime: EpochMs;
}

/** Serialised form of a fixed window's partial: plain JSON. */
export interface FixedPartialJson {
  readonly n: number;
  readonly a: PartialState[];
  /** Max event time folded in (null in JSON when nothing was). */
  readonly t: EpochMs | null;
}

/** Serialised form of a session key's partial: its sessions, sorted by start. */
export interface SessionPartialJson {
  readonly s: Array<{ readonly start: EpochMs; readonly end: EpochMs } & FixedPartialJson>;
}

export type PartialJson = FixedPartialJson | SessionPartialJson;

/**
 * The aggregate arithmetic of one rule: creating, folding, merging and
 * (de)serialising window accumulators. Built once per rule.
 */
export class RuleAggregates {
  readonly aggregators: ReadonlyArray<Aggregator<unknown>>;
  readonly names: readonly string[];
  /** Per aggregate, its kind as foldValue's code (see KIND_CODES). */
  readonly codes: Uint8Array;
  /** Per aggregate, the expression evaluated per event: the value, or count's condition; undefined for count(). */
  readonly args: ReadonlyArray<CompiledExpression | undefined>;

  constructor(readonly rule: WindowRule) {
    this.aggregators = rule.aggregates.map((spec) => aggregatorFor(spec) as Aggregator<unknown>);
    this.names = rule.aggregates.map((spec) => spec.name);
    this.codes = Uint8Array.from(rule.aggregates, (spec) => (spec.kind === 'count' && spec.condition !== undefined ? COUNT_IF : KIND_CODES[spec.kind]));
    this.args = rule.aggregates.map((spec) => (spec.kind === 'count' ? spec.condition : spec.value));
  }

  /**
   * Folds one event into `acc`; returns how many of its aggregate values
   * could not be taken (a field missing or of the wrong type: that aggregate
   * leaves the event out).
   */
  addEvent(acc: WindowAcc, eventTime: EpochMs, vars: Record<string, unknown>): number {
    acc.n += 1;
    if (eventTime > acc.maxEventTime) acc.maxEventTime = eventTime;
    return this.addValues(acc.accs, vars);
  }

  /** The aggregate values of one event only (the caller counts the event and its time); returns addEvent's error count. */
  addValues(accs: unknown[], vars: Record<string, unknown>): number {
    const { codes, args } = this;
    let errors = 0;
    for (let i = 0; i < codes.length; i++) {
      const arg = args[i];
      let v: unknown;
      try {
        v = arg === undefined ? true : arg.evaluate(vars);
      } catch (e) {
        // A missing field is no value (as in the fold's argument()); another error is counted.
        if (!isMissingField(e)) {
          errors++;
          continue;
        }
        v = null;
      }
      errors += foldValue(codes[i]!, accs[i], v);
    }
    return errors;
  }

  create(): WindowAcc {
    return { n: 0, accs: this.aggregators.map((a) => a.create()), maxEventTime: -Infinity };
  }

  /** Folds `other` into `into`. */
  merge(into: WindowAcc, other: WindowAcc): void {
    into.n += other.n;
    if (other.maxEventTime > into.maxEventTime) into.maxEventTime = other.maxEventTime;
    this.aggregators.forEach((a, i) => a.merge(into.accs[i], other.accs[i]));
  }

  results(acc: WindowAcc): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    this.aggregators.forEach((a, i) => {
      out[this.names[i]!] = a.result(acc.accs[i]);
    });
    return out;
  }

  serialize(acc: WindowAcc): FixedPartialJson {
    return { n: acc.n, a: this.aggregators.map((a, i) => a.serialize(acc.accs[i])), t: Number.isFinite(acc.maxEventTime) ? acc.maxEventTime : null };
  }

  deserialize(p: FixedPartialJson): WindowAcc {
    return { n: p.n, accs: this.aggregators.map((a, i) => a.deserialize(p.a[i] ?? null)), maxEventTime: p.t ?? -Infinity };
  }

  // ------------------------------------------------------------- sessions

  /**
   * Sessions of events given by their times (any order) under the rule's gap:
   * each event opens [t, t + gap); overlapping or touching ones merge. Built
   * in one pass over the events sorted by time; `fold(acc, i)` folds event
   * `i` into its session's accumulator.
   */
  sessionsOf(gapMs: number, items: readonly number[], timeOf: (i: number) => EpochMs, fold: (acc: WindowAcc, i: number) => void): Array<TimeWindow & { value: WindowAcc }> {
    const sorted = [...items].sort((a, b) => timeOf(a) - timeOf(b));
    const out: Array<{ start: EpochMs; end: EpochMs; value: WindowAcc }> = [];
    let current: { start: EpochMs; end: EpochMs; value: WindowAcc } | undefined;
    for (const i of sorted) {
      const t = timeOf(i);
      if (current === undefined || t > current.end) {
        current = { start: t, end: t + gapMs, value: this.create() };
        out.push(current);
      } else if (t + gapMs > current.end) {
        current.end = t + gapMs;
      }
      fold(current.value, i);
    }
    return out;
  }

  mergeSessionLists(lists: ReadonlyArray<ReadonlyArray<TimeWindow & { value: WindowAcc }>>): Array<TimeWindow & { value: WindowAcc }> {
    return mergeSessions(lists.flat(), (a, b) => {
      const c = this.create();
      this.merge(c, a);
      this.merge(c, b);
      return c;
    });
  }

  serializeSessions(sessions: ReadonlyArray<TimeWindow & { value: WindowAcc }>): SessionPartialJson {
    return { s: sessions.map((s) => ({ start: s.start, end: s.end, ...this.serialize(s.value) })) };
  }

  deserializeSessions(p: SessionPartialJson): Array<TimeWindow & { value: WindowAcc }> {
    return p.s.map((s) => ({ start: s.start, end: s.end, value: this.deserialize(s) }));
  }
}

/** foldValue's code of each aggregate kind (count(cond) is COUNT_IF). */
const KIND_CODES: Readonly<Record<AggregateKind, number>> = { count: 0, distinct: 2, sum: 3, min: 4, max: 5, avg: 6, percentile: 7 };
const COUNT = 0;
const COUNT_IF = 1;
const DISTINCT = 2;
const SUM = 3;
const MIN = 4;
const MAX = 5;
const AVG = 6;
const PERCENTILE = 7;

/**
 * Folds one event's argument value `v` of an aggregate (its value, or
 * count's condition; anything for count()) into the accumulator `acc` of
 * kind `code`; returns 1 when the value could not be taken (for a numeric
 * kind, anything but a finite number or null, which is "no value"), else 0.
 * The value is passed in rather than evaluated here so that the fold
 * evaluates an expression that several aggregates share once per event.
 * Each kind calls its own aggregator, so every call site here sees one
 * function and V8 inlines it.
 */
export function foldValue(code: number, acc: unknown, v: unknown): number {
  switch (code) {
    case COUNT:
      countAggregator.add(acc as CountAccumulator, true);
      return 0;
    case COUNT_IF:
      if (v === true) countAggregator.add(acc as CountAccumulator, true);
      return 0;
    case DISTINCT:
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') distinctAggregator.add(acc as DistinctAccumulator, v);
      return 0;
    // Numeric kinds: null is "no value" (not an error); anything else that is not a finite number is.
    case SUM:
      if (!isFiniteNumber(v)) return v === null ? 0 : 1;
      sumAggregator.add(acc as SumAccumulator, v);
      return 0;
    case MIN:
      if (!isFiniteNumber(v)) return v === null ? 0 : 1;
      minAggregator.add(acc as MinAccumulator, v);
      return 0;
    case MAX:
      if (!isFiniteNumber(v)) return v === null ? 0 : 1;
      maxAggregator.add(acc as MaxAccumulator, v);
      return 0;
    case AVG:
      if (!isFiniteNumber(v)) return v === null ? 0 : 1;
      avgAggregator.add(acc as AvgAccumulator, v);
      return 0;
    case PERCENTILE:
      if (!isFiniteNumber(v)) return v === null ? 0 : 1;
      sketchAdd(acc as PercentileAccumulator, v);
      return 0;
    default:
      throw new Error(`foldValue: unknown aggregate code ${code}`);
  }
}
