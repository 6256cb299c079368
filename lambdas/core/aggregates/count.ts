import type { Aggregator } from './Aggregator';
import { invalidState } from './partialState';

/** Accumulator of `count(...)`: the number of events folded in. */
export interface CountAccumulator {
  count: number;
}

/**
 * `count()` / `count(cond)`: the caller applies the condition, every `add` counts one.
 * Serialised as a plain non-negative integer, e.g. `42`. Empty -> 0.
 */
export const countAggregator: Aggregator<CountAccumulator> = {
  kind: 'count',
  create: () => ({ count: 0 }),
  add(acc) {
    acc.count += 1;
  },
  merge(into, other) {
    into.count += other.count;
  },
  result: (acc) => acc.count,
  serialize: (acc) => acc.count,
  deserialize(state) {
    if (typeof state !== 'number' || !Number.isSafeInteger(state) || state < 0) {
      throw invalidState('count', state, 'a non-negative integer');
    }
    return { count: state };
  },
};
