import type { Aggregator } from './Aggregator';
import { invalidState, isFiniteNumber } from './partialState';

/** Accumulator of `max(x)`; `-Infinity` while empty. */
export interface MaxAccumulator {
  max: number;
}

/**
 * `max(x)`: the largest finite value (non-finite values are ignored; -0 counts as 0).
 * Serialised as the number, or `null` when empty. Empty -> null.
 */
export const maxAggregator: Aggregator<MaxAccumulator> = {
  kind: 'max',
  create: () => ({ max: -Infinity }),
  add(acc, value) {
    if (isFiniteNumber(value) && value > acc.max) acc.max = value + 0; // + 0: -0 -> 0
  },
  merge(into, other) {
    if (other.max > into.max) into.max = other.max;
  },
  result: (acc) => (acc.max === -Infinity ? null : acc.max),
  serialize: (acc) => (acc.max === -Infinity ? null : acc.max),
  deserialize(state) {
    if (state === null) return { max: -Infinity };
    if (!isFiniteNumber(state)) throw invalidState('max', state, 'a finite number or null');
    return { max: state + 0 };
  },
};
