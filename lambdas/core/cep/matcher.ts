import { createHash } from 'node:crypto';
import { eventVariables, isMissingField } from '../expression';
import type { CompiledExpression, EpochMs, JsonObject, JsonValue } from '../types';
import type { BufferedEvent, Guard, PartialMatch, SequenceInput, SequenceMatch, SequenceSpec, SequenceState, SequenceStats } from './types';

/**
 * The sequence matcher of one rule: pure, no I/O, no clock. State is per key
 * (the rule's `by` values) and plain JSON ({@link SequenceState}), so the
 * engine stores it as it is; the matcher only changes the state it is given.
 *
 * Semantics (the README's "Sequence rules" states the same):
 *
 * 1. **Event time.** `ingest` buffers a key's events; `advance(state, W)`
 *    releases, in (event time, event id) order, the buffered events with
 *    time < W (the watermark), and only those: the order of arrival never
 *    matters. An event with time < the watermark the key was already
 *    advanced to is late: counted, not matched. A match is reported once,
 *    by the `advance` that makes it true, and is final.
 * 2. **Span.** A partial match starts at its first event (t0); every event
 *    of it has time <= t0 + within. A partial match whose deadline
 *    t0 + within is passed (by a released event's time or by W) without
 *    completing expires; one waiting only for its absent last step fires
 *    then (at = the deadline).
 * 3. **One released event e**, in this order:
 *    a. partial matches whose deadline < e.time are resolved (2.);
 *    b. if e matches `until`, every partial match of the key is dropped and
 *       e is used no further;
 *    c. every partial match waiting for the absent step that e matches is
 *       dropped (the "no B" was a B);
 *    d. e advances the oldest partial match whose next present step it
 *       matches (`where`, with `steps[i]` the bound fields of step i's first
 *       event); a step with `count: n` needs n such events; a partial match
 *       whose last present step completes and that has no absent step is a
 *       match (at = e.time);
 *    e. otherwise, if e matches the first step, it starts a new partial
 *       match: with `onNew: keep` (the default) alongside the others, the
 *       oldest evicted beyond `maxPartials`; with `restart` in place of them.
 *    So an event is used by at most one match.
 * 4. **Bound.** After each call the key's serialised state is at most
 *    `maxStateBytes`: the oldest partial matches are evicted first, then the
 *    newest buffered events are dropped; both are counted.
 */
export class SequenceMatcher {
  private readonly until = 1 << 30;
  /**
   * Step and `until` conditions that raised an error (judged "does not hold"), ever. `advance` adds those of
   * the steps it judges to its stats; the conditions judged per event (relevant, and again in ingest) are
   * counted by the caller's one pass over the batch (SequenceRules.processBatch), once per event.
   */
  errors = 0;
  private readonly absentIndex: number;
  private readonly present: number;
  /** Mask bits set without evaluating anything: steps without `where`, dynamic steps. */
  private readonly always: number;
  /** Mask bits of the conditions evaluated per event: static steps' `where`, `until`. */
  private readonly evaluated: number;
  /** The field most of the evaluated conditions are guarded on (Guard), or null. */
  private readonly guardField: string | null;
  /** Values of guardField some guard admits; per value, the bits then to check and the bits that then hold. */
  private readonly guardValues: string[] = [];
  private readonly guardCheck: number[] = [];
  private readonly guardHold: number[] = [];
  /** Bits of the evaluated conditions without a guard on guardField (checked for every event). */
  private readonly unguarded: number;
  /** Per step, and `until`: what decides its bit once checked (a guarded condition's rest, else its `where`). */
  private readonly checks: Array<CompiledExpression | undefined>;
  private readonly untilCheck: CompiledExpression | undefined;
  /** The same with every condition whole (for the payloads on which a guard's test need not be true, see maskOf). */
  private readonly wholes: Array<CompiledExpression | undefined>;
  private readonly untilWhole: CompiledExpression | undefined;

  constructor(
    /** The rule name (part of the match id). */
    readonly name: string,
    readonly spec: SequenceSpec,
  ) {
    const last = spec.steps.length - 1;
    this.absentIndex = spec.steps[last]?.absent === true ? last : -1;
    this.present = this.absentIndex >= 0 ? last : spec.steps.length;
    let always = 0;
    const conditions: Array<{ bit: number; expr: CompiledExpression; guard: Guard | undefined }> = [];
    spec.steps.forEach((s, i) => {
      if (s.where === undefined || s.dynamic) always |= 1 << i;
      else conditions.push({ bit: 1 << i, expr: s.where, guard: s.guard });
    });
    if (spec.until !== undefined) conditions.push({ bit: this.until, expr: spec.until, guard: spec.untilGuard });
    this.always = always;
    this.evaluated = conditions.reduce((m, c) => m | c.bit, 0);
    const perField = new Map<string, number>();
    for (const c of conditions) if (c.guard !== undefined) perField.set(c.guard.field, (perField.get(c.guard.field) ?? 0) + 1);
    let field: string | null = null;
    for (const [f, n] of perField) if (field === null || n > perField.get(field)!) field = f;
    this.guardField = field;
    let unguarded = 0;
    const checks = new Map<number, CompiledExpression>();
    for (const c of conditions) {
      if (c.guard === undefined || c.guard.field !== field) {
        unguarded |= c.bit;
        checks.set(c.bit, c.expr);
        continue;
      }
      const rest = c.guard.rest;
      if (rest !== null) checks.set(c.bit, rest);
      for (const v of c.guard.values) {
        let j = this.guardValues.indexOf(v);
        if (j < 0) {
          j = this.guardValues.push(interned(v)) - 1;
          this.guardCheck.push(0);
          this.guardHold.push(0);
        }
        if (rest === null) this.guardHold[j]! |= c.bit;
        else this.guardCheck[j]! |= c.bit;
      }
    }
    this.unguarded = unguarded;
    this.checks = spec.steps.map((_s, i) => checks.get(1 << i));
    this.untilCheck = checks.get(this.until);
    this.wholes = spec.steps.map((s) => (s.where === undefined || s.dynamic ? undefined : s.where));
    this.untilWhole = spec.until;
  }

  static empty(): SequenceState {
    return { w: null, q: [], p: [] };
  }

  /** Buffers events (in any order). Events that match no step and no `until` are not kept. */
  ingest(state: SequenceState, events: readonly SequenceInput[], stats: SequenceStats): void {
    const through = state.w ?? -Infinity;
    for (const e of events) {
      if (e.time < through) {
        stats.late += 1;
        continue;
      }
      const mask = this.maskOf(e.payload);
      if (mask === 0) {
        stats.ignored += 1;
        continue;
      }
      if (!insertSorted(state.q, [e.time, e.id, mask, this.kept(e.payload)])) stats.duplicates += 1;
    }
  }

  /** Releases what the watermark passed, in event-time order; returns the matches that became true. */
  advance(state: SequenceState, watermark: EpochMs, stats: SequenceStats): SequenceMatch[] {
    const matches: SequenceMatch[] = [];
    if (!Number.isFinite(watermark) || (state.w !== null && watermark <= state.w)) return matches;
    let k = 0;
    const errorsBefore = this.errors;
    while (k < state.q.length && state.q[k]![0] < watermark) {
      const e = state.q[k]!;
      this.resolveDeadlines(state, e[0], matches, stats);
      this.step(state, e, matches, stats);
      k++;
    }
    if (k > 0) state.q.splice(0, k);
    this.resolveDeadlines(state, watermark, matches, stats);
    state.w = watermark;
    stats.conditionErrors += this.errors - errorsBefore;
    return matches;
  }

  /**
   * The key is due for `advance` once the watermark is past this time (its
   * oldest buffered event, or its nearest deadline); null: nothing to do.
   */
  dueAt(state: SequenceState): EpochMs | null {
    let due = state.q.length > 0 ? state.q[0]![0] : Infinity;
    // Partial matches are in start order, so the first has the nearest deadline.
    if (state.p.length > 0) due = Math.min(due, state.p[0]!.t0 + this.spec.withinMs);
    return Number.isFinite(due) ? due : null;
  }

  /** Keeps the serialised state within maxStateBytes (oldest partial matches first, then the newest buffered events). Returns its size. */
  enforceBound(state: SequenceState, stats: SequenceStats): number {
    let size = JSON.stringify(state).length;
    while (size > this.spec.maxStateBytes && state.p.length > 0) {
      size -= JSON.stringify(state.p.shift()).length + (state.p.length > 0 ? 1 : 0);
      stats.evictedForSize += 1;
    }
    while (size > this.spec.maxStateBytes && state.q.length > 0) {
      size -= JSON.stringify(state.q.pop()).length + (state.q.length > 0 ? 1 : 0);
      stats.droppedForSize += 1;
    }
    return size;
  }

  /** True when the key holds nothing (its item can be deleted). */
  isEmpty(state: SequenceState): boolean {
    return state.q.length === 0 && state.p.length === 0;
  }

  /**
   * False when the event can never matter to this rule: it matches no step's
   * condition and not `until` (a dynamic step counts as matching). Such an
   * event is not buffered, so the engine need not write its key for it.
   */
  relevant(payload: JsonObject): boolean {
    return this.maskOf(payload) !== 0;
  }

  // ------------------------------------------------------------------ internals

  private maskOf(payload: JsonObject): number {
    // A dynamic condition depends on earlier steps: decided when the event is matched.
    let mask = this.always;
    // Only the conditions whose guard admits the event's value of the guard field can hold (one lookup
    // decides an event no condition can match), and of those only what the guard leaves is checked.
    // A missing field reads as no string (or an inherited non-string): no guard admits it.
    let check = this.evaluated;
    let checks = this.wholes;
    let until = this.untilWhole;
    if (this.guardField !== null) {
      const v = payload[this.guardField];
      check = this.unguarded;
      if (typeof v === 'string') {
        const values = this.guardValues;
        for (let j = 0; j < values.length; j++) {
          if (values[j] !== v) continue;
          // The guard's test is then true, so only its rest is left to check; but on a payload with
          // an own `constructor` field the expressions do not read fields as they are (the value may
          // then be an error): such a payload gets the admitted conditions checked whole.
          if (payload.constructor === Object) {
            check |= this.guardCheck[j]!;
            mask |= this.guardHold[j]!;
            checks = this.checks;
            until = this.untilCheck;
          } else check |= this.guardCheck[j]! | this.guardHold[j]!;
          break;
        }
      }
    }
    if (check === 0) return mask;
    // One scope per event, made only when an expression needs it (no closure per event: the bundle's
    // keepNames names each closure it creates, which cost more than the conditions themselves).
    let scope: Record<string, unknown> | null = null;
    for (let i = 0; i < checks.length; i++) {
      if ((check & (1 << i)) === 0) continue;
      const expr = checks[i]!;
      if (scope === null && expr.acceptsPayload !== true) scope = eventVariables(payload);
      if (this.holds(expr, payload, scope)) mask |= 1 << i;
    }
    if ((check & this.until) !== 0) {
      const expr = until!;
      if (scope === null && expr.acceptsPayload !== true) scope = eventVariables(payload);
      if (this.holds(expr, payload, scope)) mask |= this.until;
    }
    return mask;
  }

  private kept(payload: JsonObject): JsonObject {
    const fields = this.spec.keepFields;
    if (fields === null) return payload;
    const out: JsonObject = {};
    for (const f of fields) {
      const v = payload[f];
      if (v !== undefined) out[f] = v;
    }
    return out;
  }

  private resolveDeadlines(state: SequenceState, before: EpochMs, matches: SequenceMatch[], stats: SequenceStats): void {
    const within = this.spec.withinMs;
    let k = 0;
    while (k < state.p.length && state.p[k]!.t0 + within < before) {
      const p = state.p[k]!;
      if (p.s === this.absentIndex) matches.push(this.matchOf(p, p.t0 + within));
      else stats.expired += 1;
      k++;
    }
    if (k > 0) state.p.splice(0, k);
  }

  private matches(e: BufferedEvent, stepIndex: number, p: PartialMatch | null): boolean {
    if ((e[2] & (1 << stepIndex)) === 0) return false;
    const s = this.spec.steps[stepIndex]!;
    if (!s.dynamic || s.where === undefined) return true;
    const scope: Record<string, unknown> = { ...e[3], steps: p === null ? [] : p.b.slice(0, stepIndex) };
    try {
      return s.where.evaluate(eventVariables(scope)) === true;
    } catch (e) {
      if (!isMissingField(e)) this.errors += 1;
      return false;
    }
  }

  /** A condition on one event; an evaluation error is false, and counted unless a field is missing (isMissingField). Most expressions read the payload as it is (CompiledExpression.acceptsPayload), the others `scope`. */
  private holds(expr: CompiledExpression, payload: JsonObject, scope: Record<string, unknown> | null): boolean {
    try {
      return (expr.acceptsPayload === true ? expr.evaluate(payload) : expr.evaluate(scope!)) === true;
    } catch (e) {
      if (!isMissingField(e)) this.errors += 1;
      return false;
    }
  }

  private step(state: SequenceState, e: BufferedEvent, matches: SequenceMatch[], stats: SequenceStats): void {
    if ((e[2] & this.until) !== 0) {
      stats.untilCleared += state.p.length;
      state.p = [];
      return;
    }
    if (this.absentIndex >= 0) {
      const before = state.p.length;
      state.p = state.p.filter((p) => !(p.s === this.absentIndex && this.matches(e, this.absentIndex, p)));
      stats.negated += before - state.p.length;
    }
    for (let k = 0; k < state.p.length; k++) {
      const p = state.p[k]!;
      if (p.s >= this.present || !this.matches(e, p.s, p)) continue;
      if (this.consume(p, e)) {
        state.p.splice(k, 1);
        matches.push(this.matchOf(p, e[0]));
      }
      return;
    }
    if (!this.matches(e, 0, null)) return;
    if (this.spec.onNew === 'restart' && state.p.length > 0) {
      stats.restarted += state.p.length;
      state.p = [];
    }
    const p: PartialMatch = { s: 0, n: 0, t0: e[0], e: [], b: [] };
    // Steps have at least two entries, so one event never completes a match.
    this.consume(p, e);
    state.p.push(p);
    if (state.p.length > this.spec.maxPartials) {
      state.p.shift();
      stats.evicted += 1;
    }
  }

  /** Adds e to p's current step; true when p is then a complete match (no absent step left). */
  private consume(p: PartialMatch, e: BufferedEvent): boolean {
    const s = this.spec.steps[p.s]!;
    p.e.push([e[0], e[1], p.s]);
    if (p.n === 0) p.b[p.s] = this.bind(e[3], s.bind);
    p.n += 1;
    if (p.n < s.count) return false;
    p.s += 1;
    p.n = 0;
    return p.s === this.spec.steps.length;
  }

  private bind(fields: JsonObject, names: readonly string[]): JsonObject {
    const out: JsonObject = {};
    for (const n of names) out[n] = (fields[n] ?? null) as JsonValue;
    return out;
  }

  private matchOf(p: PartialMatch, at: EpochMs): SequenceMatch {
    const bindings: JsonObject[] = [];
    for (let i = 0; i < this.spec.steps.length; i++) bindings.push(p.b[i] ?? {});
    return {
      id: sequenceMatchId(this.name, p.e.map((r) => r[1])),
      events: p.e.map(([time, id, step]) => ({ id, time, step })),
      bindings,
      start: p.t0,
      at,
    };
  }
}

/** The match id: the rule and the matched events' ids, in match order. */
export function sequenceMatchId(rule: string, eventIds: readonly string[]): string {
  return createHash('sha256').update(`${rule}\n${eventIds.join('\n')}`).digest('hex').slice(0, 32);
}

/**
 * The same string, as V8 keeps property names (and short JSON.parse string
 * values, which is what the guard values meet): comparing two such strings is
 * one pointer comparison, where a string of the pipeline's source would be
 * compared character by character. Only speed depends on it.
 */
function interned(s: string): string {
  return Object.keys({ [s]: 0 })[0]!;
}

/** (time, id) order. */
function before(a: BufferedEvent, t: EpochMs, id: string): boolean {
  return a[0] < t || (a[0] === t && a[1] < id);
}

/** Inserts keeping (time, id) order; false when an event with the same time and id is there already. */
function insertSorted(q: BufferedEvent[], e: BufferedEvent): boolean {
  let lo = 0;
  let hi = q.length;
  // Events mostly arrive in order: check the end first.
  if (hi === 0 || before(q[hi - 1]!, e[0], e[1])) {
    q.push(e);
    return true;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(q[mid]!, e[0], e[1])) lo = mid + 1;
    else hi = mid;
  }
  if (lo < q.length && q[lo]![0] === e[0] && q[lo]![1] === e[1]) return false;
  q.splice(lo, 0, e);
  return true;
}


