import type { Aggregator } from './Aggregator';
import { invalidState, isFiniteNumber } from './partialState';

/** Accumulator of `sum(x)`. */
export interface SumAccumulator {
  sum: number;
}

/**
 * `sum(x)`: plain floating-point sum (exact for integers up to 2^53; otherwise
 * merge order only changes the last bits). Non-finite values are ignored.
 * Serialised as a plain number, e.g. `12.5`. Empty -> 0.
 */
export const sumAggregator: Aggregator<SumAccumulator> = {
  kind: 'sum',
  create: () => ({ sum: 0 }),
  add(acc, value) {
    if (isFiniteNumber(value)) acc.sum += value;
  },
  merge(into, other) {
    into.sum += other.sum;
  },
  result: (acc) => acc.sum,
  serialize: (acc) => acc.sum,
  deserialize(state) {
    if (!isFiniteNumber(state)) throw invalidState('sum', state, 'a finite number');
    return { sum: state };
  },
};
