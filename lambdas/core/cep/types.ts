import type { CompiledExpression, EpochMs, JsonObject, JsonValue } from '../types';

/**
 * Sequence rules (complex event processing), the pure part: types shared by
 * the matcher (matcher.ts), the spec builder (spec.ts), the pipeline compiler
 * and the engine. Semantics are stated once, in matcher.ts and the README
 * ("Sequence rules").
 */

/** One step of a sequence, compiled. */
export interface SequenceStep {
  /** The step's condition (CEL over the event, and `steps[i].field` of earlier steps); absent: every event. */
  readonly where?: CompiledExpression;
  /** True when `where` reads `steps[...]`: it is evaluated when the event is matched, not when it arrives. */
  readonly dynamic: boolean;
  /** Events the step needs, in event-time order (>= 1); 1 for an absent step. */
  readonly count: number;
  /** Fields of the step's first event kept for later steps and the alert (`steps[i].name`). */
  readonly bind: readonly string[];
  /** An absent step ("then no B within `within`"): only the last step may be absent. */
  readonly absent: boolean;
  /** A necessary condition of a static `where` (see {@link Guard}); none when it has no such part. */
  readonly guard?: Guard;
}

/**
 * A field test a condition implies: the condition can only be true when the
 * payload's own field `field` is one of the strings `values` (`kind == "deploy"`,
 * `kind in ["a", "b"]`, as a conjunct of the condition's top-level `&&`). The
 * matcher reads the field once per event and evaluates only the conditions whose
 * guard admits its value: an event no condition can match costs one lookup.
 */
export interface Guard {
  readonly field: string;
  readonly values: readonly string[];
  /**
   * What decides the condition once the guard admits the event: the condition
   * without the guard's own test (same result, value or error), or the whole
   * condition; null: nothing (the guard is the whole condition, it holds).
   */
  readonly rest: CompiledExpression | null;
}

/** What to do when an event matches the first step while the key has partial matches. */
export type OnNewFirst = 'keep' | 'restart';

export interface SequenceSpec {
  readonly steps: readonly SequenceStep[];
  /** Maximum span: every matched event lies within [t0, t0 + withinMs] of the first one; an absent step's deadline. */
  readonly withinMs: number;
  /** An event matching this expires every partial match of its key (and is used by no step). */
  readonly until?: CompiledExpression;
  /** A necessary condition of `until` (see {@link Guard}). */
  readonly untilGuard?: Guard;
  /** `keep` (default): the new event starts a partial match of its own; `restart`: it replaces the key's partial matches. */
  readonly onNew: OnNewFirst;
  /** With `keep`: partial matches kept per key; the oldest is evicted beyond it. */
  readonly maxPartials: number;
  /** Bound on one key's serialised state (UTF-16 code units of its JSON, ~bytes for ASCII). */
  readonly maxStateBytes: number;
  /**
   * Payload fields kept with a buffered event for the dynamic steps (fields
   * they read) and the bindings; `null`: the whole payload (a dynamic step reads `event`).
   */
  readonly keepFields: readonly string[] | null;
}

/** An event handed to the matcher. `id` is stable across deliveries (the producer's id, or sequence number/index). */
export interface SequenceInput {
  readonly id: string;
  readonly time: EpochMs;
  readonly payload: JsonObject;
}

/** A buffered event: time, id, bit mask of the static conditions that hold (bit i: step i, bit 30: until), kept fields. */
export type BufferedEvent = [time: EpochMs, id: string, mask: number, fields: JsonObject];

/** A matched event reference: time, id, step index. */
export type EventRef = [time: EpochMs, id: string, step: number];

/** A partial match: next step, events matched in it so far, start time, matched events, bindings per completed step. */
export interface PartialMatch {
  /** Index of the step the partial waits for. */
  s: number;
  /** Events already matched in step `s` (< its count). */
  n: number;
  /** Event time of the first event (the span is measured from it). */
  t0: EpochMs;
  e: EventRef[];
  /** Bindings of each step started so far (its first event's bound fields). */
  b: JsonObject[];
}

/** The state of one key: plain JSON, stored as it is. */
export interface SequenceState {
  /** Event time through which the key's events were matched (the watermark applied; -Infinity as null). */
  w: EpochMs | null;
  /** Events not yet released (time >= w), in (time, id) order. */
  q: BufferedEvent[];
  /** Partial matches, oldest first. */
  p: PartialMatch[];
}

export interface SequenceMatch {
  /** Deterministic: derived from the rule and the matched events' ids. */
  readonly id: string;
  readonly events: ReadonlyArray<{ readonly id: string; readonly time: EpochMs; readonly step: number }>;
  /** Bound fields, per step (absent step: the empty object). */
  readonly bindings: readonly JsonObject[];
  readonly start: EpochMs;
  /** Event time at which the match became true: its last event, or the absent step's deadline. */
  readonly at: EpochMs;
}

/** What the matcher counted (all zero when nothing happened). */
export interface SequenceStats {
  /** Events older than what the key has already matched through (the watermark): not matched, counted. */
  late: number;
  /** Events that matched no step and no `until` (not buffered). */
  ignored: number;
  /** Partial matches that ran out of `within` without completing. */
  expired: number;
  /** Partial matches dropped by `until`. */
  untilCleared: number;
  /** Partial matches dropped by an event of their absent step. */
  negated: number;
  /** Partial matches dropped by `onNew: restart`. */
  restarted: number;
  /** Partial matches evicted beyond `maxPartials` (oldest first). */
  evicted: number;
  /** Partial matches evicted (oldest first) because the key's state reached `maxStateBytes`. */
  evictedForSize: number;
  /** Buffered events dropped (newest first) because the state was still over the bound without partial matches. */
  droppedForSize: number;
  /** Same event id buffered twice (a redelivery the high-water mark did not catch): kept once. */
  duplicates: number;
  /** Step `where` and `until` conditions that raised an error on an event (judged not to hold). */
  conditionErrors: number;
}

export function emptyStats(): SequenceStats {
  return { late: 0, ignored: 0, expired: 0, untilCleared: 0, negated: 0, restarted: 0, evicted: 0, evictedForSize: 0, droppedForSize: 0, duplicates: 0, conditionErrors: 0 };
}

export type { JsonValue };
