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

/** Score in [0, 1] of a standardised residual z on the chosen side. */
export function scoreOf(z: number, direction: 'up' | 'down' | 'both'): number {
  if (direction === 'up' && z <= 0) return 0;
  if (direction === 'down' && z >= 0) return 0;
  return Math.min(1, Math.max(0, erf(Math.abs(z) / Math.SQRT2)));
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of an empty list');
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Rounds to 7 significant digits so that the serialised state stays small. */
export function compact(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  return Number(x.toPrecision(7));
}
