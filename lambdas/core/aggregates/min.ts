import type { Aggregator } from './Aggregator';
import { invalidState, isFiniteNumber } from './partialState';

/** Accumulator of `min(x)`; `+Infinity` while empty. */
export interface MinAccumulator {
  min: number;
}

/**
 * `min(x)`: the smallest finite value (non-finite values are ignored; -0 counts as 0).
 * Serialised as the number, or `null` when empty. Empty -> null.
 */
export const minAggregator: Aggregator<MinAccumulator> = {
  kind: 'min',
  create: () => ({ min: Infinity }),
  add(acc, value) {
    if (isFiniteNumber(value) && value < acc.min) acc.min = value + 0; // + 0: -0 -> 0
  },
  merge(into, other) {
    if (other.min < into.min) into.min = other.min;
  },
  result: (acc) => (acc.min === Infinity ? null : acc.min),
  serialize: (acc) => (acc.min === Infinity ? null : acc.min),
  deserialize(state) {
    if (state === null) return { min: Infinity };
    if (!isFiniteNumber(state)) throw invalidState('min', state, 'a finite number or null');
    return { min: state + 0 };
  },
};
