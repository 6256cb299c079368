import type { AggregateKind, PartialState } from '../types';

/**
 * One aggregate function. The in-memory accumulator `A` is whatever is fastest
 * to fold into; `serialize`/`deserialize` turn it into plain JSON (stored in
 * DynamoDB) and back. Laws (tested for every aggregator):
 *   - result(merge(acc(xs), acc(ys))) == result(acc(xs ++ ys))   (exact kinds)
 *   - merge is commutative and associative
 *   - deserialize(serialize(a)) behaves exactly like a
 */
export interface Aggregator<A = unknown> {
  readonly kind: AggregateKind;
  /** A fresh, empty accumulator. */
  create(): A;
  /**
   * Folds one event's value in. For `count` the value is ignored (the caller
   * already applied the count's condition). Non-numeric values for numeric
   * kinds are ignored by the caller, never passed here.
   */
  add(acc: A, value: unknown): void;
  /** Folds `other` into `into` (mutates `into`, never `other`). */
  merge(into: A, other: A): void;
  /** The aggregate's value; null when it has no value (min/max/avg/percentile of nothing). */
  result(acc: A): number | null;
  serialize(acc: A): PartialState;
  deserialize(state: PartialState): A;
}
