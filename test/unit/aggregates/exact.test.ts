import fc from 'fast-check';
import {
  avgAggregator,
  countAggregator,
  maxAggregator,
  minAggregator,
  sumAggregator,
} from '../../../lambdas/core/aggregates';
import type { JsonValue } from '../../../lambdas/core/types';
import { accumulate, assertAggregatorLaws, mergeAll, roundTrip } from './laws';

/** Integers small enough that every sum below is exact. */
const int = fc.integer({ min: -1_000_000, max: 1_000_000 });

describe('count', () => {
  it('counts every add, whatever the value', () => {
    // Arrange
    const values = [1, 'a', null, undefined, { x: 1 }, -5];
    // Act
    const acc = accumulate(countAggregator, values);
    // Assert
    expect(countAggregator.result(acc)).toBe(6);
    expect(countAggregator.serialize(acc)).toBe(6);
  });

  it('is 0 when empty', () => {
    expect(countAggregator.result(countAggregator.create())).toBe(0);
    expect(countAggregator.serialize(countAggregator.create())).toBe(0);
  });

  it('merges by adding', () => {
    const into = accumulate(countAggregator, [1, 2, 3]);
    countAggregator.merge(into, accumulate(countAggregator, [4, 5]));
    expect(countAggregator.result(into)).toBe(5);
  });

  it('rejects a stored state that is not a non-negative integer', () => {
    for (const bad of [-1, 1.5, '3', null, { count: 3 }]) {
      expect(() => countAggregator.deserialize(bad)).toThrow(/count aggregate: cannot read stored partial state/);
    }
  });

  it('obeys the aggregator laws', () => {
    assertAggregatorLaws(countAggregator, fc.anything());
  });
});

describe('sum', () => {
  it('sums the numbers', () => {
    const acc = accumulate(sumAggregator, [1, 2.5, -4, 10]);
    expect(sumAggregator.result(acc)).toBe(9.5);
    expect(sumAggregator.serialize(acc)).toBe(9.5);
  });

  it('is 0 when empty', () => {
    expect(sumAggregator.result(sumAggregator.create())).toBe(0);
  });

  it('ignores NaN and infinities (they cannot be stored as JSON)', () => {
    const acc = accumulate(sumAggregator, [1, NaN, Infinity, -Infinity, 2]);
    expect(sumAggregator.result(acc)).toBe(3);
  });

  it('rejects a stored state that is not a finite number', () => {
    for (const bad of [null, '3', { sum: 3 }]) {
      expect(() => sumAggregator.deserialize(bad)).toThrow(/sum aggregate/);
    }
  });

  it('obeys the aggregator laws (integers: exact)', () => {
    assertAggregatorLaws(sumAggregator, int);
  });

  it('merges to the sum of all values up to float rounding (doubles)', () => {
    const double = fc.double({ min: -1e6, max: 1e6, noNaN: true });
    fc.assert(
      fc.property(fc.array(double), fc.array(double), (xs, ys) => {
        const merged = sumAggregator.result(mergeAll(sumAggregator, accumulate(sumAggregator, xs), accumulate(sumAggregator, ys)));
        const all = sumAggregator.result(accumulate(sumAggregator, [...xs, ...ys]));
        const scale = [...xs, ...ys].reduce((s, x) => s + Math.abs(x), 0);
        expect(Math.abs((merged as number) - (all as number))).toBeLessThanOrEqual(1e-9 * scale);
      }),
    );
  });
});

describe('min', () => {
  it('keeps the smallest value', () => {
    const acc = accumulate(minAggregator, [3, -2.5, 7, -2]);
    expect(minAggregator.result(acc)).toBe(-2.5);
    expect(minAggregator.serialize(acc)).toBe(-2.5);
  });

  it('is null when empty, and stores null', () => {
    const empty = minAggregator.create();
    expect(minAggregator.result(empty)).toBeNull();
    expect(minAggregator.serialize(empty)).toBeNull();
    expect(minAggregator.result(roundTrip(minAggregator, empty))).toBeNull();
  });

  it('treats -0 as 0 whatever the order', () => {
    expect(minAggregator.result(accumulate(minAggregator, [0, -0]))).toBe(0);
    expect(minAggregator.result(accumulate(minAggregator, [-0, 0]))).toBe(0);
  });

  it('ignores NaN and infinities', () => {
    expect(minAggregator.result(accumulate(minAggregator, [NaN, -Infinity, 4]))).toBe(4);
  });

  it('merges with an empty accumulator either way', () => {
    const a = accumulate(minAggregator, [5]);
    expect(minAggregator.result(mergeAll(minAggregator, a, minAggregator.create()))).toBe(5);
    expect(minAggregator.result(mergeAll(minAggregator, minAggregator.create(), a))).toBe(5);
  });

  it('rejects a stored state that is not a number or null', () => {
    expect(() => minAggregator.deserialize('1')).toThrow(/min aggregate/);
  });

  it('obeys the aggregator laws', () => {
    assertAggregatorLaws(minAggregator, fc.double({ noNaN: true, noDefaultInfinity: true }));
  });
});

describe('max', () => {
  it('keeps the largest value', () => {
    const acc = accumulate(maxAggregator, [3, -2.5, 7, 6.9]);
    expect(maxAggregator.result(acc)).toBe(7);
    expect(maxAggregator.serialize(acc)).toBe(7);
  });

  it('is null when empty, and stores null', () => {
    const empty = maxAggregator.create();
    expect(maxAggregator.result(empty)).toBeNull();
    expect(maxAggregator.serialize(empty)).toBeNull();
    expect(maxAggregator.result(roundTrip(maxAggregator, empty))).toBeNull();
  });

  it('treats -0 as 0 whatever the order', () => {
    expect(maxAggregator.result(accumulate(maxAggregator, [0, -0]))).toBe(0);
    expect(maxAggregator.result(accumulate(maxAggregator, [-0, 0]))).toBe(0);
  });

  it('ignores NaN and infinities', () => {
    expect(maxAggregator.result(accumulate(maxAggregator, [NaN, Infinity, -4]))).toBe(-4);
  });

  it('rejects a stored state that is not a number or null', () => {
    expect(() => maxAggregator.deserialize({ max: 1 })).toThrow(/max aggregate/);
  });

  it('obeys the aggregator laws', () => {
    assertAggregatorLaws(maxAggregator, fc.double({ noNaN: true, noDefaultInfinity: true }));
  });
});

describe('avg', () => {
  it('is sum / count', () => {
    const acc = accumulate(avgAggregator, [1, 2, 3, 4]);
    expect(avgAggregator.result(acc)).toBe(2.5);
    expect(avgAggregator.serialize(acc)).toEqual({ sum: 10, count: 4 });
  });

  it('is null when empty', () => {
    expect(avgAggregator.result(avgAggregator.create())).toBeNull();
    expect(avgAggregator.serialize(avgAggregator.create())).toEqual({ sum: 0, count: 0 });
  });

  it('ignores NaN and infinities (they do not count)', () => {
    expect(avgAggregator.result(accumulate(avgAggregator, [2, NaN, Infinity, 4]))).toBe(3);
  });

  it('merges sums and counts, not averages', () => {
    // avg(1) = 1 and avg(2, 3, 4) = 3, but avg(1, 2, 3, 4) = 2.5
    const merged = mergeAll(avgAggregator, accumulate(avgAggregator, [1]), accumulate(avgAggregator, [2, 3, 4]));
    expect(avgAggregator.result(merged)).toBe(2.5);
  });

  it('rejects a malformed stored state', () => {
    for (const bad of <JsonValue[]>[null, 3, { sum: 1 }, { sum: 1, count: -1 }, { sum: 1, count: 1.5 }, { sum: null, count: 1 }]) {
      expect(() => avgAggregator.deserialize(bad)).toThrow(/avg aggregate/);
    }
  });

  it('obeys the aggregator laws (integers: exact)', () => {
    assertAggregatorLaws(avgAggregator, int);
  });

  it('merges to the average of all values up to float rounding (doubles)', () => {
    const double = fc.double({ min: -1e6, max: 1e6, noNaN: true });
    fc.assert(
      fc.property(fc.array(double, { minLength: 1 }), fc.array(double), (xs, ys) => {
        const merged = avgAggregator.result(mergeAll(avgAggregator, accumulate(avgAggregator, xs), accumulate(avgAggregator, ys)));
        const all = avgAggregator.result(accumulate(avgAggregator, [...xs, ...ys]));
        const scale = [...xs, ...ys].reduce((s, x) => s + Math.abs(x), 0) / (xs.length + ys.length);
        expect(Math.abs((merged as number) - (all as number))).toBeLessThanOrEqual(1e-9 * scale);
      }),
    );
  });
});

describe('the law checker', () => {
  it('catches an aggregator whose merge is not the aggregate of all values', () => {
    // "last value wins": merge order matters, so it is neither commutative nor split-invariant
    const broken = {
      ...maxAggregator,
      add(acc: { max: number }, value: unknown) {
        acc.max = value as number;
      },
      merge(into: { max: number }, other: { max: number }) {
        if (other.max !== -Infinity) into.max = other.max;
      },
    };
    expect(() => assertAggregatorLaws(broken, int, 50)).toThrow();
  });
});
