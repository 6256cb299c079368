/** Small numeric helpers shared by the detectors. */

/** sigma ≈ 1.2533 × mean absolute deviation, for a normal distribution. */
export const MEAN_ABS_DEV_TO_SIGMA = Math.sqrt(Math.PI / 2);

/** Abramowitz–Stegun 7.1.26 (max error 1.5e-7). */
export function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return sign * y;
}

/** The two-sided 99 % point of the standard normal: |Z| > Z99 with probability 0.01. */
export const Z99 = 2.5758293035489;

/**
 * Score in [0, 1] of a standardised residual z on the chosen side, calibrated
 * to the band: 0.99 exactly at |z| = band (the band's edge), so that
 * `score > 0.99` means "outside the band" whatever the sensitivity. It is the
 * two-sided normal probability of z × Z99 / band (for band = Z99, of z itself).
 */
export function scoreOf(z: number, direction: 'up' | 'down' | 'both', band = Z99): number {
  if (direction === 'up' && z <= 0) return 0;
  if (direction === 'down' && z >= 0) return 0;
  return Math.min(1, Math.max(0, erf((Math.abs(z) * Z99) / band / Math.SQRT2)));
}

/**
 * Tail calibration. A detector's spread (mean absolute deviation × 1.2533)
 * is the standard deviation only for Gaussian noise; for heavy-tailed noise
 * (Laplace, Student-t, log-normal, bursty counts) far more windows fall
 * outside k spreads than the normal law says, and each is a false alert. So
 * each model tracks TAIL_QUANTILE_LEVEL's quantile q of |residual| / spread
 * online (a stochastic-approximation quantile, multiplicative steps) and
 * widens its spread by max(1, q / TAIL_Q_GAUSSIAN), capped at TAIL_MAX_FACTOR.
 * Residuals beyond the band are not counted (they are the anomalies; counting
 * them would let a spike or a level shift desensitise the model). For Gaussian
 * noise the factor stays about 1.
 */
export const TAIL_QUANTILE_LEVEL = 0.98;
/** The 98 % two-sided point of the standard normal: where q settles for Gaussian noise. */
export const TAIL_Q_GAUSSIAN = 2.3263479;
const TAIL_STEP = 0.05;
const TAIL_MAX_FACTOR = 4;

/** The spread multiplier for a tail estimate q (undefined: Gaussian). */
export function tailFactor(q: number | undefined): number {
  return Math.min(TAIL_MAX_FACTOR, Math.max(1, (q ?? TAIL_Q_GAUSSIAN) / TAIL_Q_GAUSSIAN));
}

/** The next tail estimate after a residual of r raw spreads, with the band's edge at `edge` raw spreads. */
export function learnTail(q: number | undefined, r: number, edge: number): number {
  const cur = q ?? TAIL_Q_GAUSSIAN;
  if (!Number.isFinite(r) || r > edge) return cur;
  const p = 1 - TAIL_QUANTILE_LEVEL;
  const next = r > cur ? cur * (1 + TAIL_STEP) : cur * (1 - (TAIL_STEP * p) / (1 - p));
  return compact(Math.min(TAIL_Q_GAUSSIAN * TAIL_MAX_FACTOR, Math.max(TAIL_Q_GAUSSIAN / 2, next)));
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of an empty list');
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Sparse counts: a series whose every learned value is a non-negative
 * integer (a count) with an expected value under 1 (mostly zeros, e.g. errors
 * per minute) gets a spread of at least COUNT_FLOOR. Without it, the learned
 * spread of a mostly-zero series is about its level (0.05 for one error in 20
 * windows), so every single error alerts: with it, at the default sensitivity
 * 4 it takes 3 at once (Poisson probability about 2e-5 at λ 0.05). Series
 * at or above 1 keep their learned spread (a gauge that is 1 and drops to 0
 * still alerts).
 */
export const COUNT_FLOOR = 0.5;

export function isCount(x: number): boolean {
  return x >= 0 && Number.isInteger(x);
}

export function countFloor(integral: boolean | undefined, expected: number): number {
  return integral && Math.abs(expected) < 1 ? COUNT_FLOOR : 0;
}

/** Rounds to 7 significant digits so that the serialised state stays small. */
export function compact(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  return Number(x.toPrecision(7));
}
