import type { AggregateSpec } from '../types';
import type { Aggregator } from './Aggregator';
import { avgAggregator } from './avg';
import { countAggregator } from './count';
import { distinctAggregator } from './distinct';
import { maxAggregator } from './max';
import { minAggregator } from './min';
import { percentileAggregator } from './percentile';
import { sumAggregator } from './sum';

export type { Aggregator } from './Aggregator';
export { countAggregator, type CountAccumulator } from './count';
export { sumAggregator, type SumAccumulator } from './sum';
export { minAggregator, type MinAccumulator } from './min';
export { maxAggregator, type MaxAccumulator } from './max';
export { avgAggregator, type AvgAccumulator } from './avg';
export {
  distinctAggregator,
  estimateDistinct,
  HLL_MAX_RANK,
  HLL_PRECISION,
  HLL_REGISTERS,
  type DistinctAccumulator,
  type DistinctState,
} from './distinct';
export {
  percentileAggregator,
  sketchAdd,
  sketchQuantile,
  PERCENTILE_RELATIVE_ACCURACY,
  type PercentileAccumulator,
  type SketchBinsState,
  type SketchState,
} from './percentile';
export { hashValue, murmur3x86_128 } from './murmur3';

/**
 * The aggregator for one aggregate of a rule. Throws an Error naming the
 * aggregate when a percentile has no quantile in (0, 1] or the kind is unknown.
 */
export function aggregatorFor(spec: AggregateSpec): Aggregator {
  switch (spec.kind) {
    case 'count':
      return countAggregator;
    case 'sum':
      return sumAggregator;
    case 'min':
      return minAggregator;
    case 'max':
      return maxAggregator;
    case 'avg':
      return avgAggregator;
    case 'distinct':
      return distinctAggregator;
    case 'percentile': {
      const q = spec.quantile;
      if (typeof q !== 'number' || !(q > 0 && q <= 1)) {
        throw new Error(
          `aggregate "${spec.name}" (${spec.source}): percentile needs a quantile in (0, 1] ` +
            `(e.g. 0.99 for percentile(x, 99)), got ${q === undefined ? 'none' : String(q)}`,
        );
      }
      return percentileAggregator(q);
    }
    default: {
      const kind: never = spec.kind;
      throw new Error(`aggregate "${spec.name}" (${spec.source}): unknown aggregate kind ${JSON.stringify(kind)}`);
    }
  }
}
