import type { AggregateKind, PartialState } from '../types';

/** The error every `deserialize` throws on a state it cannot read: names the kind and shows the state. */
export function invalidState(kind: AggregateKind, state: PartialState, expected: string): Error {
  let shown = JSON.stringify(state) ?? String(state);
  if (shown.length > 120) shown = `${shown.slice(0, 117)}...`;
  return new Error(`${kind} aggregate: cannot read stored partial state ${shown}: expected ${expected}`);
}

/** A finite number (numeric aggregates ignore NaN and ±Infinity: they cannot be stored as JSON). */
export function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
