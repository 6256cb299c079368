import type { Aggregator } from './Aggregator';
import { invalidState, isFiniteNumber, isRecord } from './partialState';

/** Accumulator of `avg(x)`: running sum and count. */
export interface AvgAccumulator {
  sum: number;
  count: number;
}

/**
 * `avg(x)`: sum / count over the finite values (non-finite values are ignored).
 * Serialised as `{ "sum": number, "count": integer }`. Empty -> null.
 */
export const avgAggregator: Aggregator<AvgAccumulator> = {
  kind: 'avg',
  create: () => ({ sum: 0, count: 0 }),
  add(acc, value) {
    if (isFiniteNumber(value)) {
      acc.sum += value;
      acc.count += 1;
    }
  },
  merge(into, other) {
    into.sum += other.sum;
    into.count += other.count;
  },
  result: (acc) => (acc.count === 0 ? null : acc.sum / acc.count),
  serialize: (acc) => ({ sum: acc.sum, count: acc.count }),
  deserialize(state) {
    if (
      !isRecord(state) ||
      !isFiniteNumber(state.sum) ||
      typeof state.count !== 'number' ||
      !Number.isSafeInteger(state.count) ||
      state.count < 0
    ) {
      throw invalidState('avg', state, '{ "sum": finite number, "count": non-negative integer }');
    }
    return { sum: state.sum, count: state.count };
  },
};
