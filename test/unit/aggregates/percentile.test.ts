import fc from 'fast-check';
import {
  PERCENTILE_RELATIVE_ACCURACY as ALPHA,
  percentileAggregator,
  sketchQuantile,
  type PercentileAccumulator,
} from '../../../lambdas/core/aggregates';
import { accumulate, assertAggregatorLaws, mergeAll, roundTrip } from './laws';

const p50 = percentileAggregator(0.5);
const QUANTILES = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

/** mulberry32: a small seeded PRNG, so the distributions are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal by Box-Muller. */
function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const N = 20_000;
const DISTRIBUTIONS: Record<string, (random: () => number) => number> = {
  'uniform [0, 1000)': (r) => r() * 1000,
  'lognormal latencies (ms)': (r) => Math.exp(3 + 1.5 * normal(r)),
  'integer latencies with zeros': (r) => Math.round(Math.exp(1 + 2 * normal(r)) - 1),
  'mixed: 15% zeros, 35% negative, 50% positive': (r) => {
    const u = r();
    if (u < 0.15) return 0;
    const magnitude = Math.exp(2 * normal(r));
    return u < 0.5 ? -magnitude : magnitude;
  },
  'negative only': (r) => -Math.exp(5 + normal(r)),
  'wide: ±10^(-6..9)': (r) => (r() < 0.5 ? -1 : 1) * 10 ** (-6 + 15 * r()),
};

function sample(name: string, seed: number, n = N): number[] {
  const random = prng(seed);
  const draw = DISTRIBUTIONS[name];
  return Array.from({ length: n }, () => draw(random));
}

/** The exact quantile the way DDSketch ranks: the sorted value at index floor(q * (n - 1)). */
function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))];
}

function assertWithinAccuracy(estimate: number | null, exact: number): void {
  expect(estimate).not.toBeNull();
  expect(Math.abs((estimate as number) - exact)).toBeLessThanOrEqual(ALPHA * Math.abs(exact) * (1 + 1e-9));
}

function quantiles(sketch: PercentileAccumulator): (number | null)[] {
  return QUANTILES.map((q) => sketchQuantile(sketch, q));
}

describe('percentile (DDSketch, relative accuracy 1%)', () => {
  describe.each(Object.keys(DISTRIBUTIONS))('%s', (name) => {
    const values = sample(name, 42);
    const sorted = [...values].sort((a, b) => a - b);

    it.each([0.5, 0.9, 0.99])('estimates the %s quantile within 1%% of the exact one', (q) => {
      // Arrange
      const aggregator = percentileAggregator(q);
      // Act
      const estimate = aggregator.result(accumulate(aggregator, values));
      // Assert
      assertWithinAccuracy(estimate, exactQuantile(sorted, q));
    });

    it('estimates every quantile within 1%, and min/max exactly', () => {
      const sketch = accumulate(p50, values);
      for (const q of QUANTILES) assertWithinAccuracy(sketchQuantile(sketch, q), exactQuantile(sorted, q));
      expect(sketchQuantile(sketch, 0)).toBe(sorted[0] + 0);
      expect(sketchQuantile(sketch, 1)).toBe(sorted[sorted.length - 1] + 0);
    });

    it('merges partial sketches into exactly the sketch of all values', () => {
      // Arrange: four uneven parts
      const cuts = [0, 1000, 1001, 12_000, N];
      const parts = cuts.slice(1).map((end, i) => accumulate(p50, values.slice(cuts[i], end)));
      const all = accumulate(p50, values);
      // Act
      const forward = mergeAll(p50, ...parts);
      const backward = mergeAll(p50, ...[...parts].reverse());
      // Assert
      for (const merged of [forward, backward]) {
        expect(quantiles(merged)).toEqual(quantiles(all));
        expect(p50.serialize(merged)).toEqual(p50.serialize(all));
      }
    });

    it('round-trips through JSON with identical quantiles and behaviour', () => {
      const original = accumulate(p50, values.slice(0, N / 2));
      const restored = roundTrip(p50, original);
      expect(quantiles(restored)).toEqual(quantiles(original));
      for (const v of values.slice(N / 2)) {
        p50.add(original, v);
        p50.add(restored, v);
      }
      expect(quantiles(restored)).toEqual(quantiles(original));
      expect(p50.serialize(restored)).toEqual(p50.serialize(original));
    });
  });

  it('estimates any quantile of any array of doubles within 1% (property)', () => {
    const magnitude = fc.double({ min: 1e-200, max: 1e200, noNaN: true });
    const value = fc.oneof(magnitude, magnitude.map((x) => -x), fc.constant(0));
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), (xs, q) => {
        const sorted = [...xs].sort((a, b) => a - b);
        assertWithinAccuracy(sketchQuantile(accumulate(p50, xs), q), exactQuantile(sorted, q));
      }),
      { numRuns: 300 },
    );
  });

  it('is null when empty', () => {
    expect(p50.result(p50.create())).toBeNull();
    expect(p50.result(roundTrip(p50, p50.create()))).toBeNull();
    expect(p50.serialize(p50.create())).toEqual({ alpha: 0.01, zeros: 0, min: null, max: null, pos: null, neg: null });
  });

  it('returns a single value exactly (clamped to min/max)', () => {
    expect(percentileAggregator(0.99).result(accumulate(p50, [250]))).toBe(250);
    expect(percentileAggregator(0.01).result(accumulate(p50, [-3.7]))).toBe(-3.7);
  });

  it('returns 0 for zeros, and treats -0 as 0', () => {
    expect(p50.result(accumulate(p50, [0, -0, 0]))).toBe(0);
    expect(Object.is(p50.result(accumulate(p50, [-0])), 0)).toBe(true);
  });

  it('returns the exact maximum for quantile 1', () => {
    expect(percentileAggregator(1).result(accumulate(p50, [1, 5, 1234.5678, 7]))).toBe(1234.5678);
  });

  it('ignores NaN and infinities', () => {
    expect(percentileAggregator(1).result(accumulate(p50, [NaN, Infinity, -Infinity, 10]))).toBe(10);
  });

  it('keeps negative values when merging (the library merge drops them)', () => {
    const positives = accumulate(p50, [1, 2, 3]);
    const negatives = accumulate(p50, [-5, -6, -7]);
    const merged = mergeAll(p50, positives, negatives);
    assertWithinAccuracy(sketchQuantile(merged, 0), -7);
    assertWithinAccuracy(sketchQuantile(merged, 0.5), -5);
    expect(p50.serialize(merged)).toEqual(p50.serialize(accumulate(p50, [1, 2, 3, -5, -6, -7])));
  });

  it('merges a sketch whose highest bin is key 0 (values just below 1) into one far below', () => {
    // the library's range extension treats a highest key of 0 as absent
    const low = accumulate(p50, [1e-6]);
    const nearOne = accumulate(p50, [0.985, 0.99, 1]);
    const merged = mergeAll(p50, low, nearOne);
    expect(p50.serialize(merged)).toEqual(p50.serialize(accumulate(p50, [1e-6, 0.985, 0.99, 1])));
    expect(sketchQuantile(merged, 1)).toBe(1);
  });

  it('stores bins run-length encoded: a sketch over many orders of magnitude stays small', () => {
    const sketch = accumulate(p50, [1e-300, 1e-6, 1, 1e6, 1e300, -1e200, -1e-200, 0]);
    const json = JSON.stringify(p50.serialize(sketch));
    expect(json.length).toBeLessThan(300);
    expect(quantiles(roundTrip(p50, sketch))).toEqual(quantiles(sketch));
  });

  it('stores 20 000 lognormal latencies in a few KB', () => {
    const size = JSON.stringify(p50.serialize(accumulate(p50, sample('lognormal latencies (ms)', 7)))).length;
    expect(size).toBeLessThan(4 * 1024);
  });

  it('describes its stored form', () => {
    // Arrange: 1 and 1.5 are a few bins apart; 0; and -2
    const sketch = accumulate(p50, [1, 1, 1.5, 0, -2]);
    // Act
    const state = p50.serialize(sketch);
    // Assert
    expect(state).toEqual({
      alpha: 0.01,
      zeros: 1,
      min: -2,
      max: 1.5,
      pos: { from: 0, counts: [2, -20, 1] }, // key 0 (1) twice, 20 empty bins, key 21 (1.5) once
      neg: { from: 35, counts: [1] }, // |−2| is key 35
    });
  });

  it('rejects malformed stored states with a message naming the aggregate', () => {
    const valid = { alpha: 0.01, zeros: 0, min: 1, max: 1, pos: { from: 0, counts: [1] }, neg: null };
    const bad = [
      null,
      [],
      { ...valid, alpha: 0.02 },
      { ...valid, zeros: -1 },
      { ...valid, pos: { from: 0, counts: [0] } },
      { ...valid, pos: { from: 0, counts: [1.5] } },
      { ...valid, pos: { from: 'x', counts: [1] } },
      { ...valid, pos: { from: 0, counts: [-3] } },
      { ...valid, min: null },
      { ...valid, min: 2, max: 1 },
      { ...valid, pos: null, neg: null }, // empty but with min/max
    ];
    for (const state of bad) {
      expect(() => p50.deserialize(state)).toThrow(/percentile aggregate: cannot read stored partial state/);
    }
  });

  it.each([0, -0.5, 1.01, NaN, Infinity])('rejects the quantile %s', (q) => {
    expect(() => percentileAggregator(q)).toThrow(RangeError);
  });

  it('obeys the aggregator laws over all doubles (incl. NaN, infinities, extremes)', () => {
    assertAggregatorLaws(p50, fc.double(), 25);
  });

  it('obeys the aggregator laws over latencies', () => {
    assertAggregatorLaws(percentileAggregator(0.99), fc.integer({ min: -10, max: 100_000 }), 150);
  });
});
