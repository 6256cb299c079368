import { createHash } from 'node:crypto';
import { eventVariables } from '../expression';
import type { CompiledExpression, EpochMs, JsonObject, JsonValue } from '../types';
import type { BufferedEvent, PartialMatch, SequenceInput, SequenceMatch, SequenceSpec, SequenceState, SequenceStats } from './types';

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
  private readonly absentIndex: number;
  private readonly present: number;

  constructor(
    /** The rule name (part of the match id). */
    readonly name: string,
    readonly spec: SequenceSpec,
  ) {
    const last = spec.steps.length - 1;
    this.absentIndex = spec.steps[last]?.absent === true ? last : -1;
    this.present = this.absentIndex >= 0 ? last : spec.steps.length;
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
    while (k < state.q.length && state.q[k]![0] < watermark) {
      const e = state.q[k]!;
      this.resolveDeadlines(state, e[0], matches, stats);
      this.step(state, e, matches, stats);
      k++;
    }
    if (k > 0) state.q.splice(0, k);
    this.resolveDeadlines(state, watermark, matches, stats);
    state.w = watermark;
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
    const { steps, until } = this.spec;
    let mask = 0;
    // One scope per event, made only when an expression needs it (no closure per event: the bundle's
    // keepNames names each closure it creates, which cost more than the conditions themselves).
    let scope: Record<string, unknown> | null = null;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i]!;
      // A dynamic condition depends on earlier steps: decided when the event is matched.
      if (s.where === undefined || s.dynamic) mask |= 1 << i;
      else {
        if (scope === null && s.where.acceptsPayload !== true) scope = eventVariables(payload);
        if (holds(s.where, payload, scope)) mask |= 1 << i;
      }
    }
    if (until !== undefined) {
      if (scope === null && until.acceptsPayload !== true) scope = eventVariables(payload);
      if (holds(until, payload, scope)) mask |= this.until;
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
    } catch {
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

/** A condition on one event; an evaluation error is false. Most expressions read the payload as it is (CompiledExpression.acceptsPayload), the others `scope`. */
function holds(expr: CompiledExpression, payload: JsonObject, scope: Record<string, unknown> | null): boolean {
  try {
    return (expr.acceptsPayload === true ? expr.evaluate(payload) : expr.evaluate(scope!)) === true;
  } catch {
    return false;
  }
}
