import fc from 'fast-check';
import type { Aggregator } from '../../../lambdas/core/aggregates';

/** Folds `values` into a fresh accumulator. */
export function accumulate<A>(agg: Aggregator<A>, values: readonly unknown[]): A {
  const acc = agg.create();
  for (const v of values) agg.add(acc, v);
  return acc;
}

/** Merges the accumulators, in order, into a fresh one. */
export function mergeAll<A>(agg: Aggregator<A>, ...accs: A[]): A {
  const into = agg.create();
  for (const acc of accs) agg.merge(into, acc);
  return into;
}

/** serialize -> JSON text -> parse -> deserialize, as a store would. */
export function roundTrip<A>(agg: Aggregator<A>, acc: A): A {
  return agg.deserialize(JSON.parse(JSON.stringify(agg.serialize(acc))));
}

/** What two accumulators must agree on: the result and the stored form. */
export function observe<A>(agg: Aggregator<A>, acc: A): { result: number | null; state: unknown } {
  return { result: agg.result(acc), state: JSON.parse(JSON.stringify(agg.serialize(acc))) };
}

/** Cuts `values` at the given points (taken modulo length + 1, sorted). */
export function splitAt<T>(values: readonly T[], points: readonly number[]): T[][] {
  const cuts = points.map((p) => p % (values.length + 1)).sort((a, b) => a - b);
  const parts: T[][] = [];
  let from = 0;
  for (const cut of cuts) {
    parts.push(values.slice(from, cut));
    from = cut;
  }
  parts.push(values.slice(from));
  return parts;
}

/**
 * The laws of Aggregator.ts, checked with fast-check over `value`:
 * merge of parts == all at once (for random split points), merge commutative
 * and associative, merge leaves `other` alone, and a JSON round trip keeps
 * the result, the stored form and the behaviour under further adds/merges.
 */
export function assertAggregatorLaws<A>(agg: Aggregator<A>, value: fc.Arbitrary<unknown>, numRuns = 200): void {
  const values = fc.array(value, { maxLength: 60 });
  const points = fc.array(fc.nat(), { maxLength: 5 });

  // merge of the parts equals aggregating everything at once
  fc.assert(
    fc.property(values, points, (xs, cuts) => {
      const parts = splitAt(xs, cuts).map((part) => accumulate(agg, part));
      expect(observe(agg, mergeAll(agg, ...parts))).toEqual(observe(agg, accumulate(agg, xs)));
    }),
    { numRuns },
  );

  // commutative, associative, `other` untouched
  fc.assert(
    fc.property(values, values, values, (xs, ys, zs) => {
      const [a, b, c] = [accumulate(agg, xs), accumulate(agg, ys), accumulate(agg, zs)];
      const bBefore = observe(agg, b);
      expect(observe(agg, mergeAll(agg, a, b))).toEqual(observe(agg, mergeAll(agg, b, a)));
      const left = mergeAll(agg, a, b);
      agg.merge(left, c);
      const bc = mergeAll(agg, b, c);
      const right = mergeAll(agg, a);
      agg.merge(right, bc);
      expect(observe(agg, left)).toEqual(observe(agg, right));
      expect(observe(agg, b)).toEqual(bBefore);
    }),
    { numRuns },
  );

  // deserialize(serialize(a)) behaves exactly like a
  fc.assert(
    fc.property(values, values, values, (xs, ys, zs) => {
      const original = accumulate(agg, xs);
      const restored = roundTrip(agg, original);
      expect(observe(agg, restored)).toEqual(observe(agg, original));
      for (const y of ys) {
        agg.add(original, y);
        agg.add(restored, y);
      }
      expect(observe(agg, restored)).toEqual(observe(agg, original));
      const other = accumulate(agg, zs);
      agg.merge(original, other);
      agg.merge(restored, roundTrip(agg, other));
      expect(observe(agg, restored)).toEqual(observe(agg, original));
      expect(observe(agg, restored)).toEqual(observe(agg, accumulate(agg, [...xs, ...ys, ...zs])));
    }),
    { numRuns },
  );
}
