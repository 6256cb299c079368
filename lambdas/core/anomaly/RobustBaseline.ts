/**
 * Robust baseline: EWMA of the level and of the absolute deviation (the
 * deviation at half the level's weight once warm), with
 * outliers clipped to the band before they are learned (one spike does not
 * move the baseline), re-levelling after `shiftAfter` consecutive windows on
 * one side (a new normal stops alerting). The spread is widened for
 * heavy-tailed noise (robustStats.tailFactor). Exactly once: `apply` for a window
 * start ≤ the last applied one returns the state unchanged.
 */
import { compact, countFloor, isCount, learnTail, median, MEAN_ABS_DEV_TO_SIGMA, scoreOf, tailFactor } from './robustStats';
import { type AnomalyOptions, type AnomalyVerdict, MAX_ANOMALY_STATE_BYTES } from './types';

export interface RobustState {
  readonly v: 1;
  /** Windows learned. */
  readonly n: number;
  readonly level: number;
  /** EWMA of |x - level|. */
  readonly dev: number;
  /** Start (ms) of the last window applied; -1 before any. */
  readonly last: number;
  /** Values of the current run of out-of-band windows on one side (≤ shiftAfter). */
  readonly run: readonly number[];
  /** Side of the run: 1 above, -1 below, 0 none. */
  readonly side: -1 | 0 | 1;
  /** Tail estimate (robustStats.learnTail); absent in states written before it, read as Gaussian. */
  readonly q?: number;
  /** True while every learned value is a non-negative integer (robustStats.countFloor); absent in older states. */
  readonly int?: boolean;
}

export const EMPTY_ROBUST_STATE: RobustState = { v: 1, n: 0, level: 0, dev: 0, last: -1, run: [], side: 0 };

/** The spread before tail calibration. */
function rawSpread(s: RobustState, o: AnomalyOptions): number {
  return Math.max(s.dev * MEAN_ABS_DEV_TO_SIGMA, o.minSpread, 0.01 * Math.abs(s.level), countFloor(s.int, s.level), 1e-9);
}

function spread(s: RobustState, o: AnomalyOptions): number {
  return rawSpread(s, o) * tailFactor(s.q);
}

export function verdict(s: RobustState, value: number, o: AnomalyOptions): AnomalyVerdict {
  const sd = spread(s, o);
  const warming = s.n < o.warmup;
  const z = (value - s.level) / sd;
  return {
    score: warming ? 0 : scoreOf(z, o.direction, o.sensitivity),
    expected: s.level,
    // A count cannot go below 0: the band of a count series says so (the score is unchanged).
    lower: s.int === true ? Math.max(0, s.level - o.sensitivity * sd) : s.level - o.sensitivity * sd,
    upper: s.level + o.sensitivity * sd,
    warming,
  };
}

export function apply(s: RobustState, windowStart: number, value: number, o: AnomalyOptions): RobustState {
  if (windowStart <= s.last) return s;
  if (!Number.isFinite(value)) throw new Error(`anomaly: window value must be a finite number (given ${value})`);
  if (s.n === 0) return { v: 1, n: 1, level: compact(value), dev: 0, last: windowStart, run: [], side: 0, int: isCount(value) };
  const int = (s.int ?? false) && isCount(value);
  const sd = spread(s, o);
  const q = learnTail(s.q, Math.abs(value - s.level) / rawSpread(s, o), o.sensitivity * tailFactor(s.q));
  const z = (value - s.level) / sd;
  const warming = s.n < o.warmup;
  const alpha = warming ? Math.max(o.alpha, 1 / (s.n + 1)) : o.alpha;
  const out = !warming && Math.abs(z) > o.sensitivity;
  const side: -1 | 0 | 1 = out ? (z > 0 ? 1 : -1) : 0;
  const run = out && side === s.side ? [...s.run, value] : out ? [value] : [];
  if (run.length >= o.shiftAfter) {
    const m = median(run);
    const d = median(run.map((x) => Math.abs(x - m)));
    return { v: 1, n: s.n + 1, level: compact(m), dev: compact(Math.max(d, s.dev)), last: windowStart, run: [], side: 0, q, int };
  }
  const learned = out ? s.level + Math.sign(z) * o.sensitivity * sd : value;
  const level = s.level + alpha * (learned - s.level);
  // the deviation learns at half the level's rate once warm: a scale estimated from ~20 windows is noisy
  // enough (about ±17 % at alpha 0.1) to double the windows outside a band of a few spreads
  const devAlpha = warming ? alpha : alpha / 2;
  const dev = s.dev + devAlpha * (Math.abs(learned - s.level) - s.dev);
  return { v: 1, n: s.n + 1, level: compact(level), dev: compact(dev), last: windowStart, run, side, q, int };
}

export function serialise(s: RobustState): string {
  const text = JSON.stringify(s);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_ANOMALY_STATE_BYTES) throw new Error(`anomaly: model state is ${bytes} bytes, over the ${MAX_ANOMALY_STATE_BYTES}-byte bound`);
  return text;
}
