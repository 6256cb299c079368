import { DDSketch } from '@datadog/sketches-js';
import type { PartialState } from '../types';
import type { Aggregator } from './Aggregator';
import { invalidState, isFiniteNumber, isRecord } from './partialState';

/**
 * `percentile(x, p)`: a DDSketch (Masson et al. 2019, `@datadog/sketches-js`)
 * with relative accuracy 1 %: the value returned for quantile q is within 1 %
 * of the exact rank-based quantile, the sorted value at index floor(q * (n - 1)).
 * Negative values and zeros are supported (negative store, zero bucket). The
 * exact min and max are kept: the first and last ranks return them exactly
 * (so p100 is the true maximum and a sketch of one value returns that value),
 * and other estimates are clamped to [min, max].
 *
 * The library is used for the index mapping, `accept` and
 * `getValueAtQuantile` only. Its `merge` is not used: in 2.1.1 it merges the
 * positive store only (negative values are lost) and its range extension
 * mishandles a store whose highest key is 0 (values in (0.98, 1]). Its
 * protobuf serialisation needs protobufjs. Merge and (de)serialisation are
 * therefore done here on the stores' bins (plain integer counts per key).
 *
 * Serialised form (plain JSON):
 *   {
 *     "alpha": 0.01,          // relative accuracy (sketches only merge with equal alpha)
 *     "zeros": 3,             // count of values in the zero bucket
 *     "min": -12.5, "max": 250,   // exact extremes, null when empty
 *     "pos": { "from": 312, "counts": [4, 1, -3, 7] } | null,
 *     "neg": { ... } | null
 *   }
 * `pos`/`neg` hold the bins of positive values / of the magnitudes of negative
 * values: `counts[i]` is the count of key `from + i`, except that a negative
 * entry -k stands for k empty bins (run-length, so that sparse sketches stay
 * small). The sum of values is not kept (quantiles do not need it).
 */

export const PERCENTILE_RELATIVE_ACCURACY = 0.01;

/** Accumulator of `percentile(x, p)`. */
export type PercentileAccumulator = DDSketch;
type Store = DDSketch['store'];

/** Bins of one store: counts from key `from` on, negative entries are runs of empty bins. */
export type SketchBinsState = {
  from: number;
  counts: number[];
};

/** Serialised form of a `percentile` accumulator (see above). */
export type SketchState = {
  alpha: number;
  zeros: number;
  min: number | null;
  max: number | null;
  pos: SketchBinsState | null;
  neg: SketchBinsState | null;
};

function createSketch(): DDSketch {
  return new DDSketch({ relativeAccuracy: PERCENTILE_RELATIVE_ACCURACY });
}

/** Adds the non-empty bins of `other` to `into`: the two extreme keys first, so `into` grows at most twice. */
function mergeStore(into: Store, other: Store): void {
  const bins = other.bins;
  let first = -1;
  let last = -1;
  for (let i = 0; i < bins.length; i++) {
    if (bins[i] !== 0) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) return;
  const offset = other.offset;
  into.add(first + offset, bins[first]);
  if (last !== first) into.add(last + offset, bins[last]);
  for (let i = first + 1; i < last; i++) if (bins[i] !== 0) into.add(i + offset, bins[i]);
}

function mergeSketch(into: DDSketch, other: DDSketch): void {
  if (other.count === 0) return;
  mergeStore(into.store, other.store);
  mergeStore(into.negativeStore, other.negativeStore);
  into.zeroCount += other.zeroCount;
  into.count += other.count;
  into.sum += other.sum;
  if (other.min < into.min) into.min = other.min;
  if (other.max > into.max) into.max = other.max;
}

/**
 * The value at quantile q (in [0, 1]): the estimate of the sorted value at
 * index floor(q * (n - 1)), exact min / max at the first / last index and
 * clamped to [min, max] in between; null when empty.
 */
export function sketchQuantile(sketch: DDSketch, quantile: number): number | null {
  const n = sketch.count;
  if (n === 0) return null;
  const rank = Math.floor(quantile * (n - 1));
  if (rank <= 0) return sketch.min + 0;
  if (rank >= n - 1) return sketch.max + 0;
  const estimate = sketch.getValueAtQuantile(quantile);
  return Math.min(sketch.max, Math.max(sketch.min, estimate)) + 0;
}

function serializeStore(store: Store): SketchBinsState | null {
  const bins = store.bins;
  const counts: number[] = [];
  let from = 0;
  let started = false;
  let emptyRun = 0;
  for (let i = 0; i < bins.length; i++) {
    const c = bins[i];
    if (c === 0) {
      if (started) emptyRun++;
      continue;
    }
    if (!started) {
      started = true;
      from = i + store.offset;
    } else if (emptyRun > 0) {
      counts.push(-emptyRun);
    }
    emptyRun = 0;
    counts.push(c);
  }
  return started ? { from, counts } : null;
}

function serializeSketch(sketch: DDSketch): SketchState {
  const empty = sketch.count === 0;
  return {
    alpha: PERCENTILE_RELATIVE_ACCURACY,
    zeros: sketch.zeroCount,
    min: empty ? null : sketch.min + 0,
    max: empty ? null : sketch.max + 0,
    pos: serializeStore(sketch.store),
    neg: serializeStore(sketch.negativeStore),
  };
}

const EXPECTED =
  `{ "alpha": ${PERCENTILE_RELATIVE_ACCURACY}, "zeros": integer, "min": number|null, "max": number|null, ` +
  `"pos": { "from": integer, "counts": integer[] } | null, "neg": same }`;

/** Rebuilds one store; returns false when the bins are malformed. */
function deserializeStore(store: Store, bins: unknown): boolean {
  if (bins === null) return true;
  if (!isRecord(bins) || !Number.isSafeInteger(bins.from) || !Array.isArray(bins.counts)) return false;
  const keys: number[] = [];
  const counts: number[] = [];
  let key = bins.from as number;
  for (const c of bins.counts as unknown[]) {
    if (typeof c !== 'number' || !Number.isSafeInteger(c) || c === 0) return false;
    if (c < 0) {
      key -= c;
    } else {
      keys.push(key);
      counts.push(c);
      key++;
    }
  }
  const n = keys.length;
  if (n === 0) return false;
  store.add(keys[0], counts[0]);
  if (n > 1) store.add(keys[n - 1], counts[n - 1]);
  for (let i = 1; i < n - 1; i++) store.add(keys[i], counts[i]);
  return true;
}

function deserializeSketch(state: PartialState): DDSketch {
  const fail = (): Error => invalidState('percentile', state, EXPECTED);
  if (
    !isRecord(state) ||
    state.alpha !== PERCENTILE_RELATIVE_ACCURACY ||
    typeof state.zeros !== 'number' ||
    !Number.isSafeInteger(state.zeros) ||
    state.zeros < 0
  ) {
    throw fail();
  }
  const sketch = createSketch();
  if (!deserializeStore(sketch.store, state.pos ?? null) || !deserializeStore(sketch.negativeStore, state.neg ?? null)) {
    throw fail();
  }
  sketch.zeroCount = state.zeros;
  sketch.count = sketch.zeroCount + sketch.store.count + sketch.negativeStore.count;
  if (sketch.count > 0) {
    if (!isFiniteNumber(state.min) || !isFiniteNumber(state.max) || state.min > state.max) throw fail();
    sketch.min = state.min;
    sketch.max = state.max;
  } else if (state.min !== null || state.max !== null) {
    throw fail();
  }
  // The sum is not stored; nothing here reads it.
  sketch.sum = NaN;
  return sketch;
}

/** Adds a finite value to a sketch (the percentile aggregators' `add`). */
export function sketchAdd(sketch: DDSketch, value: number): void {
  sketch.accept(value + 0); // + 0: -0 -> 0
}

/**
 * The `percentile` aggregator for one quantile in (0, 1], e.g. 0.99 for
 * `percentile(x, 99)`. Non-finite values are ignored.
 */
export function percentileAggregator(quantile: number): Aggregator<PercentileAccumulator> {
  if (!(typeof quantile === 'number' && quantile > 0 && quantile <= 1)) {
    throw new RangeError(`percentile: quantile must be a number in (0, 1], got ${String(quantile)}`);
  }
  return {
    kind: 'percentile',
    create: createSketch,
    add(acc, value) {
      if (isFiniteNumber(value)) sketchAdd(acc, value);
    },
    merge: mergeSketch,
    result: (acc) => sketchQuantile(acc, quantile),
    serialize: serializeSketch,
    deserialize: deserializeSketch,
  };
}
