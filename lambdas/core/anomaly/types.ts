/**
 * Anomaly detectors: pure, streaming models of one windowed series (one
 * aggregate of one rule for one group), updated once per closed window.
 * No I/O, no clock: the window start is the only time they see.
 */

/** Which side of the band counts: `up` only rises, `down` only falls. */
export type AnomalyDirection = 'up' | 'down' | 'both';

/** The period of the seasonal detector's profile (UTC hours of the window start). */
export type Season = 'day' | 'week';

/** What a detector says about one closed window, before it learns from it. */
export interface AnomalyVerdict {
  /** In [0, 1]: how unusual the value is (two-sided, or on the chosen side); 0.99 at the band's edge; 0 while warming. */
  readonly score: number;
  /** The value the model expected for this window. */
  readonly expected: number;
  /** The band: values inside [lower, upper] are normal. */
  readonly lower: number;
  readonly upper: number;
  /** True until the model has seen its warm-up windows: its score is then 0. */
  readonly warming: boolean;
}

export interface AnomalyOptions {
  /** Which side alerts. @default 'both' */
  readonly direction: AnomalyDirection;
  /**
   * Half-width of the band in robust standard deviations (the spread, widened
   * for heavy tails). The score is calibrated to it: 0.99 exactly at the band's
   * edge, so `score > 0.99` means outside the band. 4 rather than 3 because
   * the spread is estimated from a few dozen windows and real metrics have
   * heavy tails: at 3 the anomaly-free series of the evaluation corpus alerted
   * about 6 times per 1,000 windows, at 4 about 1 (docs/BENCHMARKS.md).
   * Range (0, 20]. @default 4
   */
  readonly sensitivity: number;
  /** Windows seen before the model scores. Range [2, 1000]. @default 12 */
  readonly warmup: number;
  /**
   * EWMA weight of a new window for the level (the robust detector's deviation
   * learns at alpha / 2 once warm; the seasonal detector's buckets at alpha per
   * visit). Range (0, 1). @default 0.1
   */
  readonly alpha: number;
  /** Consecutive out-of-band windows on one side after which the model re-levels (a new normal). Range [2, 50]. @default 6 */
  readonly shiftAfter: number;
  /** Smallest spread of the band, absolute (e.g. 1 for counts). Range [0, ∞). @default 0 */
  readonly minSpread: number;
  /**
   * Seasonal detector only: `day` learns an hour-of-day profile (24 buckets);
   * `week` an hour-of-week profile (168 buckets) with the hour-of-day one as
   * the fallback of its young buckets. Other detectors ignore it.
   * @default 'week'
   */
  readonly season?: Season;
}

export const DEFAULT_ANOMALY_OPTIONS: AnomalyOptions = {
  direction: 'both',
  sensitivity: 4,
  warmup: 12,
  alpha: 0.1,
  shiftAfter: 6,
  minSpread: 0,
  season: 'week',
};

/** The bound on one model's serialised state (it lives in one DynamoDB item). */
export const MAX_ANOMALY_STATE_BYTES = 8192;
