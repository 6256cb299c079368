import {
  aggregatorFor,
  avgAggregator,
  countAggregator,
  distinctAggregator,
  maxAggregator,
  minAggregator,
  sumAggregator,
} from '../../../lambdas/core/aggregates';
import type { AggregateKind, AggregateSpec } from '../../../lambdas/core/types';
import { accumulate } from './laws';

function spec(kind: AggregateKind, extra: Partial<AggregateSpec> = {}): AggregateSpec {
  return { name: 'agg', kind, source: `${kind}(x)`, ...extra };
}

describe('aggregatorFor', () => {
  it.each([
    ['count', countAggregator],
    ['sum', sumAggregator],
    ['min', minAggregator],
    ['max', maxAggregator],
    ['avg', avgAggregator],
    ['distinct', distinctAggregator],
  ] as const)('chooses the %s aggregator', (kind, expected) => {
    expect(aggregatorFor(spec(kind))).toBe(expected);
  });

  it('builds a percentile aggregator for the spec quantile', () => {
    // Arrange
    const values = Array.from({ length: 101 }, (_, i) => i * 10); // 0, 10, ..., 1000
    // Act
    const p90 = aggregatorFor(spec('percentile', { quantile: 0.9, source: 'percentile(latencyMs, 90)' }));
    const result = p90.result(accumulate(p90, values));
    // Assert: exact p90 is 900
    expect(p90.kind).toBe('percentile');
    expect(Math.abs((result as number) - 900)).toBeLessThanOrEqual(9);
  });

  it('names the aggregate when a percentile has no quantile', () => {
    expect(() => aggregatorFor({ name: 'p99', kind: 'percentile', source: 'percentile(latencyMs)' })).toThrow(
      'aggregate "p99" (percentile(latencyMs)): percentile needs a quantile in (0, 1] (e.g. 0.99 for percentile(x, 99)), got none',
    );
  });

  it.each([0, 99, -0.5, NaN])('names the aggregate when the quantile is %s', (quantile) => {
    expect(() => aggregatorFor({ name: 'p99', kind: 'percentile', source: 'percentile(latencyMs, 99)', quantile })).toThrow(
      new RegExp(`^aggregate "p99" \\(percentile\\(latencyMs, 99\\)\\): percentile needs a quantile in \\(0, 1\\].*got ${String(quantile)}$`),
    );
  });

  it('names the aggregate when the kind is unknown', () => {
    const bad = { name: 'x', kind: 'median', source: 'median(y)' } as unknown as AggregateSpec;
    expect(() => aggregatorFor(bad)).toThrow('aggregate "x" (median(y)): unknown aggregate kind "median"');
  });
});
