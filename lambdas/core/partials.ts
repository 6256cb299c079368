import { aggregatorFor } from './aggregates';
import type { Aggregator } from './aggregates/Aggregator';
import { isFiniteNumber } from './aggregates/partialState';
import { mergeSessions, type TimeWindow } from './windows';
import type { AggregateSpec, EpochMs, PartialState, WindowRule } from './types';

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
  /**
   * Per aggregate, folds one event's value into its accumulator; returns
   * false when the value could not be taken (an evaluation error, or not a
   * number for a numeric kind). Specialised per kind once, so the per-event
   * loop does no dispatch on the spec.
   */
  readonly adders: ReadonlyArray<(accs: unknown[], vars: Record<string, unknown>) => boolean>;

  constructor(readonly rule: WindowRule) {
    this.aggregators = rule.aggregates.map((spec) => aggregatorFor(spec) as Aggregator<unknown>);
    this.names = rule.aggregates.map((spec) => spec.name);
    this.adders = rule.aggregates.map((spec, i) => adderOf(spec, this.aggregators[i]!, i));
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
    const adders = this.adders;
    let errors = 0;
    for (let i = 0; i < adders.length; i++) {
      try {
        if (!adders[i]!(accs, vars)) errors++;
      } catch {
        errors++;
      }
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

/**
 * The adder of one aggregate: evaluates its value (or condition) and folds it
 * in. Each kind has a function literal of its own, so that the aggregator call
 * inside sees one aggregator only and V8 inlines it (a shared literal, or a
 * bound `add`, made every call an indirect, megamorphic one).
 */
function adderOf(spec: AggregateSpec, agg: Aggregator<unknown>, i: number): (accs: unknown[], vars: Record<string, unknown>) => boolean {
  const value = spec.value;
  switch (spec.kind) {
    case 'count': {
      const condition = spec.condition;
      if (condition === undefined) {
        return (accs) => {
          agg.add(accs[i], true);
          return true;
        };
      }
      return (accs, vars) => {
        if (condition.evaluate(vars) === true) agg.add(accs[i], true);
        return true;
      };
    }
    case 'distinct':
      return (accs, vars) => {
        const v = value!.evaluate(vars);
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') agg.add(accs[i], v);
        return true;
      };
    // Numeric kinds: null is "no value" (not an error); anything else that is not a finite number is.
    case 'sum':
      return (accs, vars) => {
        const v = value!.evaluate(vars);
        return isFiniteNumber(v) ? (agg.add(accs[i], v), true) : v === null;
      };
    case 'min':
      return (accs, vars) => {
        const v = value!.evaluate(vars);
        return isFiniteNumber(v) ? (agg.add(accs[i], v), true) : v === null;
      };
    case 'max':
      return (accs, vars) => {
        const v = value!.evaluate(vars);
        return isFiniteNumber(v) ? (agg.add(accs[i], v), true) : v === null;
      };
    case 'avg':
      return (accs, vars) => {
        const v = value!.evaluate(vars);
        return isFiniteNumber(v) ? (agg.add(accs[i], v), true) : v === null;
      };
    case 'percentile':
      return (accs, vars) => {
        const v = value!.evaluate(vars);
        return isFiniteNumber(v) ? (agg.add(accs[i], v), true) : v === null;
      };
  }
}
