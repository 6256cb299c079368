/**
 * Seasonal detector: an hour-of-day profile (24 buckets) and, for
 * `season: 'week'` (the default), an hour-of-week profile (168 buckets), each
 * bucket with its own robust level and mean absolute deviation, in UTC hours
 * of the window start.
 *
 * Prediction for a window: the bucket's level, linearly interpolated towards
 * the neighbouring bucket by the window's position in the hour (so a ramp
 * inside the day is not a step at each hour). A young bucket is blended with
 * its fallback: hour-of-week → hour-of-day → a global robust level (an EWMA of
 * every window); a young bucket's deviation with the model's overall
 * prediction error (an EWMA of |value - expected|, at alpha / 2 once warm).
 * A bucket's level is trusted fully after it has seen two visits' worth of
 * windows (two days for hour-of-day, two weeks for hour-of-week); its
 * deviation after max(2 visits, 8) windows. So the profile learns quickly and
 * the band is wide while it cannot yet know better.
 *
 * Warm-up: the score is 0 (warming) for the first `warmup` windows learned,
 * as for the robust detector; after that the model scores, with the blended
 * (young-bucket) prediction until the profile has its two visits.
 *
 * Learning: each window is folded into its buckets at rate
 * max(alpha / k, 1 / count),
 * where k is the number of windows per bucket visit (3,600,000 ms over the
 * smallest gap between two learned windows): a bucket is the plain mean of
 * its first 1 / alpha visits, then an EWMA with weight alpha per visit,
 * whatever the window size. A trusted bucket learns the value clipped to the
 * band (one spike does not move the profile); a young bucket learns the value
 * itself, since it has no band of its own yet (so an anomaly during a bucket's
 * first two visits is partly learned, and fades at weight 1 / visits). A
 * missing window is not learned (a gap is not a zero): the model simply has
 * one window fewer.
 *
 * A new normal: after `shiftAfter` consecutive out-of-band windows on one
 * side, every trusted bucket (and the global level) moves by the median
 * residual of the run, so a level shift that persists stops alerting at every
 * hour, not only at the hours it was seen; their counts drop to the trust
 * threshold, so the profile re-learns its shape at weight about 1/3 per visit
 * instead of alpha (a shift that is not purely additive, e.g. traffic
 * doubling, is corrected within a few seasons).
 *
 * Heavy tails: the spread is widened by the tail calibration of
 * robustStats.tailFactor, learned from the residuals inside the band.
 * Sparse counts (all values non-negative integers, expected under 1) get the
 * spread floor of robustStats.countFloor.
 *
 * Exactly once: `apply` for a window start ≤ the last applied one returns
 * the state unchanged. State: 3 × (24 + 168) numbers plus a run of at most
 * `shiftAfter` residuals, every number rounded to 7 significant digits: at
 * most about 7.6 KB serialised, under MAX_ANOMALY_STATE_BYTES (enforced by
 * `serialise`). A state learned under the other season is reset (keeping
 * `last`, so a replayed window stays a no-op).
 */
import { compact, countFloor, isCount, learnTail, median, MEAN_ABS_DEV_TO_SIGMA, scoreOf, tailFactor, TAIL_Q_GAUSSIAN } from './robustStats';
import { type AnomalyOptions, type AnomalyVerdict, DEFAULT_ANOMALY_OPTIONS, MAX_ANOMALY_STATE_BYTES, type Season } from './types';

const HOUR_MS = 3_600_000;
/** Window counts per bucket saturate here (the rate floor alpha / k takes over long before). */
const COUNT_CAP = 9999;
const MAX_PER_VISIT = 1000;
/** Visits (of k windows) after which a bucket's level is trusted fully. */
const TRUST_VISITS = 2;
/** Fewest deviation samples for a bucket's deviation to be trusted fully. */
const DEV_SAMPLES = 8;

export interface SeasonalState {
  readonly v: 1;
  /** Buckets of the main profile: 24 (`season: day`) or 168 (`season: week`). */
  readonly p: 24 | 168;
  /** Windows learned. */
  readonly n: number;
  /** Start (ms) of the last window applied; -1 before any. */
  readonly last: number;
  /** Smallest gap (ms) between two consecutive learned windows; 0 before the second. */
  readonly step: number;
  /** Global level: EWMA of every window (the fallback of young buckets). */
  readonly gl: number;
  /** EWMA of |value - expected|: the model's prediction error (the fallback deviation). */
  readonly rd: number;
  /** Hour-of-day buckets: level, mean absolute deviation, windows learned. */
  readonly hl: readonly number[];
  readonly hd: readonly number[];
  readonly hn: readonly number[];
  /** Hour-of-week buckets (empty for `season: day`). */
  readonly wl: readonly number[];
  readonly wd: readonly number[];
  readonly wn: readonly number[];
  /** Residuals (value - expected) of the current run of out-of-band windows on one side. */
  readonly run: readonly number[];
  /** Side of the run: 1 above, -1 below, 0 none. */
  readonly side: -1 | 0 | 1;
  /** Tail estimate (robustStats.learnTail). */
  readonly q: number;
  /** True while every learned value is a non-negative integer (robustStats.countFloor). */
  readonly int: boolean;
}

function zeros(n: number): number[] {
  return Array.from({ length: n }, () => 0);
}

export function emptySeasonalState(season: Season = 'week', last = -1): SeasonalState {
  const week = season === 'week';
  return {
    v: 1, p: week ? 168 : 24, n: 0, last, step: 0, gl: 0, rd: 0,
    hl: zeros(24), hd: zeros(24), hn: zeros(24),
    wl: week ? zeros(168) : [], wd: week ? zeros(168) : [], wn: week ? zeros(168) : [],
    run: [], side: 0, q: TAIL_Q_GAUSSIAN, int: true,
  };
}

export const EMPTY_SEASONAL_STATE: SeasonalState = emptySeasonalState('week');

function seasonOf(o: AnomalyOptions): Season {
  return o.season ?? DEFAULT_ANOMALY_OPTIONS.season ?? 'week';
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/**
 * Windows per bucket visit, at most MAX_PER_VISIT (windows under 3.6 s count
 * as 3.6 s, so that TRUST_VISITS visits stay under COUNT_CAP windows).
 */
function perVisit(s: SeasonalState): number {
  return s.step > 0 ? Math.min(MAX_PER_VISIT, Math.max(1, HOUR_MS / s.step)) : 1;
}

interface Prediction {
  readonly expected: number;
  /** Blended mean absolute deviation. */
  readonly dev: number;
}

/**
 * The blended level and deviation of one hour (index since the epoch). The
 * level falls back hour-of-week → hour-of-day → global; the deviation of the
 * main profile's bucket falls back to the model's prediction error (not to
 * the hour-of-day deviation, which a weekly pattern inflates).
 */
function hourPrediction(s: SeasonalState, hour: number, k: number): Prediction {
  let level = s.gl;
  let dev = s.rd;
  const blend = (l: readonly number[], d: readonly number[], c: readonly number[], b: number, main: boolean): void => {
    const count = c[b]!;
    const w = Math.min(1, count / (TRUST_VISITS * k));
    level = w * l[b]! + (1 - w) * level;
    if (!main) return;
    const wd = Math.min(1, Math.max(0, count - 1) / Math.max(TRUST_VISITS * k, DEV_SAMPLES));
    dev = wd * d[b]! + (1 - wd) * s.rd;
  };
  blend(s.hl, s.hd, s.hn, mod(hour, 24), s.p === 24);
  if (s.p === 168) blend(s.wl, s.wd, s.wn, mod(hour, 168), true);
  return { expected: level, dev };
}

function predict(s: SeasonalState, windowStart: number): Prediction {
  const k = perVisit(s);
  const centre = windowStart + Math.min(s.step, HOUR_MS) / 2;
  const hour = Math.floor(centre / HOUR_MS);
  const u = (centre - hour * HOUR_MS) / HOUR_MS;
  const here = hourPrediction(s, hour, k);
  const w = Math.abs(u - 0.5);
  if (w === 0) return here;
  const there = hourPrediction(s, u < 0.5 ? hour - 1 : hour + 1, k);
  return { expected: (1 - w) * here.expected + w * there.expected, dev: (1 - w) * here.dev + w * there.dev };
}

/** The spread before tail calibration. */
function rawSpreadOf(s: SeasonalState, p: Prediction, o: AnomalyOptions): number {
  return Math.max(p.dev * MEAN_ABS_DEV_TO_SIGMA, o.minSpread, 0.01 * Math.abs(p.expected), countFloor(s.int, p.expected), 1e-9);
}

function spreadOf(s: SeasonalState, p: Prediction, o: AnomalyOptions): number {
  return rawSpreadOf(s, p, o) * tailFactor(s.q);
}

/** The state for these options: one learned under the other season starts afresh (keeping `last`). */
function forOptions(s: SeasonalState, o: AnomalyOptions): SeasonalState {
  const season = seasonOf(o);
  return (season === 'week') === (s.p === 168) ? s : emptySeasonalState(season, s.last);
}

export function verdict(state: SeasonalState, windowStart: number, value: number, o: AnomalyOptions): AnomalyVerdict {
  const s = forOptions(state, o);
  const p = predict(s, windowStart);
  const sd = spreadOf(s, p, o);
  const warming = s.n < o.warmup;
  return {
    score: warming ? 0 : scoreOf((value - p.expected) / sd, o.direction, o.sensitivity),
    expected: p.expected,
    // A count cannot go below 0: the band of a count series says so (the score is unchanged).
    lower: s.int ? Math.max(0, p.expected - o.sensitivity * sd) : p.expected - o.sensitivity * sd,
    upper: p.expected + o.sensitivity * sd,
    warming,
  };
}

/** A bucket is trusted once it has seen TRUST_VISITS visits' worth of windows. */
function trusted(count: number, k: number): boolean {
  return count >= TRUST_VISITS * k;
}

/**
 * Folds one window into one bucket: a trusted bucket learns the value clipped
 * to the band, a young one the value itself (it has no band of its own yet).
 */
function learnBucket(l: number[], d: number[], c: number[], b: number, value: number, clipped: number, alpha: number, k: number): void {
  const count = c[b]!;
  const x = trusted(count, k) ? clipped : value;
  if (count === 0) {
    l[b] = compact(x);
  } else {
    const r = Math.max(alpha / k, 1 / (count + 1));
    d[b] = compact(d[b]! + r * (Math.abs(x - l[b]!) - d[b]!));
    l[b] = compact(l[b]! + r * (x - l[b]!));
  }
  c[b] = Math.min(COUNT_CAP, count + 1);
}

/**
 * Moves the trusted buckets (and the global level) to the run's new normal,
 * their counts capped at the trust threshold so that they re-learn quickly;
 * young buckets learn the new values as they come.
 */
function shifted(s: SeasonalState, run: readonly number[], k: number): SeasonalState {
  const delta = median(run);
  const cap = Math.ceil(TRUST_VISITS * k);
  const levels = (l: readonly number[], c: readonly number[]): number[] => l.map((x, b) => (trusted(c[b]!, k) ? compact(x + delta) : x));
  const counts = (c: readonly number[]): number[] => c.map((n) => Math.min(n, cap));
  return {
    ...s,
    gl: compact(s.gl + delta),
    hl: levels(s.hl, s.hn), hn: counts(s.hn),
    wl: levels(s.wl, s.wn), wn: counts(s.wn),
    run: [], side: 0,
  };
}

export function apply(state: SeasonalState, windowStart: number, value: number, o: AnomalyOptions): SeasonalState {
  if (windowStart <= state.last) return state;
  if (!Number.isFinite(value)) throw new Error(`anomaly: window value must be a finite number (given ${value})`);
  let s = forOptions(state, o);
  const step = s.last < 0 ? s.step : s.step === 0 ? windowStart - s.last : Math.min(s.step, windowStart - s.last);
  let x = value;
  let p = predict(s, windowStart);
  let run = s.run;
  let side: -1 | 0 | 1 = 0;
  let q = s.q;
  if (s.n === 0) {
    s = { ...s, gl: compact(value) };
  } else {
    const sd = spreadOf(s, p, o);
    const z = (value - p.expected) / sd;
    q = learnTail(s.q, Math.abs(value - p.expected) / rawSpreadOf(s, p, o), o.sensitivity * tailFactor(s.q));
    const warming = s.n < o.warmup;
    const out = !warming && Math.abs(z) > o.sensitivity;
    side = out ? (z > 0 ? 1 : -1) : 0;
    const continues = out && side === s.side;
    run = out ? [...(continues ? s.run : []), compact(value - p.expected)] : [];
    if (run.length >= o.shiftAfter) {
      s = shifted(s, run, perVisit(s));
      p = predict(s, windowStart);
      run = [];
      side = 0;
    } else if (out) {
      x = p.expected + Math.sign(z) * o.sensitivity * sd;
    }
  }
  const k = perVisit({ ...s, step });
  const hl = [...s.hl], hd = [...s.hd], hn = [...s.hn];
  const wl = [...s.wl], wd = [...s.wd], wn = [...s.wn];
  const hour = Math.floor(windowStart / HOUR_MS);
  learnBucket(hl, hd, hn, mod(hour, 24), value, x, o.alpha, k);
  if (s.p === 168) learnBucket(wl, wd, wn, mod(hour, 168), value, x, o.alpha, k);
  const warming = s.n < o.warmup;
  const alpha = warming ? Math.max(o.alpha, 1 / (s.n + 1)) : o.alpha;
  const gl = s.n === 0 ? s.gl : compact(s.gl + alpha * (x - s.gl));
  // the prediction error is a scale: it learns at half the level's weight once warm, as in RobustBaseline
  const rd = s.n === 0 ? 0 : compact(s.rd + (warming ? alpha : alpha / 2) * (Math.abs(x - p.expected) - s.rd));
  return { v: 1, p: s.p, n: s.n + 1, last: windowStart, step, gl, rd, hl, hd, hn, wl, wd, wn, run, side, q, int: s.int && isCount(value) };
}

export function serialise(s: SeasonalState): string {
  const text = JSON.stringify(s);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_ANOMALY_STATE_BYTES) throw new Error(`anomaly: model state is ${bytes} bytes, over the ${MAX_ANOMALY_STATE_BYTES}-byte bound`);
  return text;
}

function numbers(x: unknown, length: number): boolean {
  return Array.isArray(x) && x.length === length && x.every((v) => typeof v === 'number');
}

export function isSeasonalState(x: unknown): x is SeasonalState {
  const s = x as SeasonalState;
  if (typeof s !== 'object' || s === null || s.v !== 1 || (s.p !== 24 && s.p !== 168)) return false;
  const w = s.p === 168 ? 168 : 0;
  return typeof s.n === 'number' && typeof s.last === 'number' && typeof s.step === 'number'
    && typeof s.gl === 'number' && typeof s.rd === 'number'
    && (s.side === -1 || s.side === 0 || s.side === 1) && typeof s.q === 'number' && typeof s.int === 'boolean'
    && numbers(s.hl, 24) && numbers(s.hd, 24) && numbers(s.hn, 24)
    && numbers(s.wl, w) && numbers(s.wd, w) && numbers(s.wn, w) && numbers(s.run, Array.isArray(s.run) ? s.run.length : -1);
}
