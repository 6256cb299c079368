/**
 * A labelled corpus of synthetic windowed series for the anomaly detectors,
 * deterministic from a seed (`generateCorpus(seed)`): the same seed gives the
 * same values and labels on every machine (a 32-bit PRNG, no Math.random).
 *
 * Each series is what one anomaly rule sees for one group: one value per
 * closed window (null = a missing window, nothing arrived), with its window
 * size and start time, and its anomalies as labelled intervals of window
 * indices (inclusive). Classes: spikes, dips, level shifts, trend changes,
 * variance changes, contextual anomalies in daily and weekly seasonality
 * (a value normal for the day but not for the hour, e.g. peak traffic at
 * 03:00 or a weekday level on a Sunday), plus anomaly-free series. Noise:
 * Gaussian, Laplace, Student-t (3 degrees of freedom, heavy-tailed), AR(1),
 * log-normal (multiplicative, latency-like), Poisson counts (from λ 0.5 to
 * 200). Missing data: gaps of 1–60 windows and scattered single drops.
 *
 * Anomalies are placed after the first 25 % of a series (and after two
 * weeks in weekly series), so every detector has had its warm-up; their
 * sizes are set in multiples of the series' own noise scale (spikes 6–12 σ,
 * level shifts 4–8 σ), so they are anomalies a person would call out, not
 * ones only a model can see.
 */

export type AnomalyKind = 'spike' | 'dip' | 'level-shift' | 'trend-change' | 'variance-change' | 'contextual';

export const ANOMALY_KINDS: readonly AnomalyKind[] = ['spike', 'dip', 'level-shift', 'trend-change', 'variance-change', 'contextual'];

/** Window indices, inclusive. */
export interface LabelledInterval {
  readonly start: number;
  readonly end: number;
  readonly kind: AnomalyKind;
}

export interface LabelledSeries {
  readonly name: string;
  /** One line: base shape, noise, missing data. */
  readonly description: string;
  readonly stepMs: number;
  /** Start (ms, UTC) of window 0. */
  readonly startMs: number;
  /** One value per window; null is a missing window. */
  readonly values: readonly (number | null)[];
  /** Empty for an anomaly-free series. */
  readonly anomalies: readonly LabelledInterval[];
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Monday 2026-11-02 00:00 UTC. */
const START = Date.UTC(2026, 10, 2);

/** mulberry32: small, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rand {
  private spare: number | null = null;
  constructor(readonly u: () => number) {}
  uniform(a: number, b: number): number {
    return a + (b - a) * this.u();
  }
  int(a: number, b: number): number {
    return Math.floor(this.uniform(a, b + 1));
  }
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u1 = Math.max(this.u(), 1e-12);
    const u2 = this.u();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
  laplace(): number {
    const u = this.u() - 0.5;
    return -Math.sign(u) * Math.log(1 - 2 * Math.abs(u)) / Math.SQRT2; // unit variance
  }
  /** Student-t with 3 degrees of freedom, scaled to unit variance. */
  studentT3(): number {
    const chi2 = this.normal() ** 2 + this.normal() ** 2 + this.normal() ** 2;
    return (this.normal() / Math.sqrt(chi2 / 3)) / Math.sqrt(3);
  }
  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda > 40) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
    const l = Math.exp(-lambda);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.u();
    } while (p > l);
    return k - 1;
  }
}

type Noise = 'gaussian' | 'laplace' | 'student-t' | 'ar1' | 'lognormal' | 'poisson';

/** A shape: the noise-free expected value of window i at time t. */
type Shape = (i: number, t: number) => number;

const flat = (level: number): Shape => () => level;

/** Daily: low at night, a working-day hump peaking mid-afternoon UTC. */
const daily = (base: number, amplitude: number): Shape => (_i, t) => {
  const h = ((t % DAY) + DAY) % DAY / HOUR;
  return base + amplitude * (0.5 - 0.5 * Math.cos((2 * Math.PI * (h - 3)) / 24)) ** 2;
};

/** Weekly: the daily shape on weekdays, a third of its amplitude at the weekend. */
const weekly = (base: number, amplitude: number): Shape => {
  const d = daily(0, amplitude);
  return (i, t) => {
    const dow = Math.floor((t - START) / DAY) % 7; // 0 = Monday
    return base + d(i, t) * (dow >= 5 ? 0.3 : 1);
  };
};

interface Spec {
  readonly name: string;
  readonly description: string;
  readonly stepMs: number;
  readonly windows: number;
  readonly shape: Shape;
  readonly noise: Noise;
  /** Noise scale: sd for additive noise, sigma of log for lognormal; ignored for Poisson. */
  readonly sigma: number;
  /** Anomaly events to place, in order. */
  readonly events: readonly AnomalyKind[];
  /** Missing data: scattered single drops (fraction) and a number of gaps. */
  readonly drop?: number;
  readonly gaps?: number;
  /** First window where an anomaly may start (default 25 % of the series). */
  readonly earliest?: number;
}

/** What an event does to the series: a multiplier on the noise and an additive offset, per window. */
interface Effect {
  readonly offset: Float64Array;
  readonly noiseScale: Float64Array;
  /** Contextual events: the value is replaced by the shape at another time (then noise is added). */
  readonly shapeAt: Float64Array;
}

function generate(spec: Spec, r: Rand): LabelledSeries {
  const n = spec.windows;
  const times = Array.from({ length: n }, (_, i) => START + i * spec.stepMs);
  const base = times.map((t, i) => spec.shape(i, t));
  const meanBase = base.reduce((a, b) => a + b, 0) / n;
  // the noise scale in value units, for sizing the anomalies
  const scale = spec.noise === 'poisson' ? Math.sqrt(Math.max(meanBase, 1))
    : spec.noise === 'lognormal' ? meanBase * spec.sigma : spec.sigma;
  const effect: Effect = { offset: new Float64Array(n), noiseScale: new Float64Array(n).fill(1), shapeAt: new Float64Array(n).fill(Number.NaN) };
  const anomalies: LabelledInterval[] = [];
  const earliest = spec.earliest ?? Math.floor(n * 0.25);
  const slot = Math.floor((n - earliest) / Math.max(1, spec.events.length));
  spec.events.forEach((kind, k) => {
    const from = earliest + k * slot + Math.floor(slot * 0.15);
    const at = from + r.int(0, Math.floor(slot * 0.4));
    const sign = kind === 'dip' ? -1 : kind === 'spike' ? 1 : r.u() < 0.5 ? -1 : 1;
    if (kind === 'spike' || kind === 'dip') {
      const len = r.u() < 0.7 ? 1 : r.int(2, 3);
      const size = r.uniform(6, 12) * scale;
      for (let i = at; i < at + len; i++) effect.offset[i]! += sign * size;
      anomalies.push({ start: at, end: at + len - 1, kind });
    } else if (kind === 'level-shift') {
      const size = sign * r.uniform(4, 8) * scale;
      for (let i = at; i < n; i++) effect.offset[i]! += size;
      anomalies.push({ start: at, end: at + 9, kind });
    } else if (kind === 'trend-change') {
      // the slope reaches 3 σ after 12 windows; it lasts 36 windows, then holds (a new level)
      const slope = (sign * 3 * scale) / 12;
      for (let i = at; i < n; i++) effect.offset[i]! += slope * Math.min(i - at + 1, 36);
      anomalies.push({ start: at, end: at + 35, kind });
    } else if (kind === 'variance-change') {
      const len = 48;
      const factor = r.uniform(4, 6);
      for (let i = at; i < at + len; i++) effect.noiseScale[i] = factor;
      anomalies.push({ start: at, end: at + len - 1, kind });
    } else {
      // contextual: the level of 12 hours away, for 3 windows (a night at peak level, or a peak at night level)
      // (moved forward to where that level differs from this one by at least 8 σ)
      const len = 3;
      const far = (i: number): boolean => Math.abs(spec.shape(i, times[i]! + 12 * HOUR) - base[i]!) >= 8 * scale;
      let s = at;
      while (s + len < n && !(far(s) && far(s + len - 1))) s++;
      for (let i = s; i < s + len; i++) effect.shapeAt[i] = times[i]! + 12 * HOUR;
      anomalies.push({ start: s, end: s + len - 1, kind });
    }
  });
  let ar = 0;
  const values: (number | null)[] = times.map((_t, i) => {
    const mean = (Number.isNaN(effect.shapeAt[i]!) ? base[i]! : spec.shape(i, effect.shapeAt[i]!)) + effect.offset[i]!;
    const f = effect.noiseScale[i]!;
    switch (spec.noise) {
      case 'gaussian': return mean + f * spec.sigma * r.normal();
      case 'laplace': return mean + f * spec.sigma * r.laplace();
      case 'student-t': return mean + f * spec.sigma * r.studentT3();
      case 'ar1': {
        ar = 0.8 * ar + Math.sqrt(1 - 0.64) * r.normal();
        return mean + f * spec.sigma * ar;
      }
      case 'lognormal': return mean * Math.exp(f * spec.sigma * r.normal() - (f * spec.sigma) ** 2 / 2);
      case 'poisson': {
        const lambda = Math.max(0, mean);
        return f === 1 ? r.poisson(lambda) : Math.max(0, Math.round(lambda + f * Math.sqrt(Math.max(lambda, 1)) * r.normal()));
      }
    }
    throw new Error(`unknown noise ${String(spec.noise)}`);
  });
  // missing data: never inside a labelled interval (a label must have windows to detect)
  const labelled = (i: number): boolean => anomalies.some((a) => i >= a.start && i <= a.end);
  for (let g = 0; g < (spec.gaps ?? 0); g++) {
    const len = r.int(1, 60);
    const at = r.int(Math.floor(n * 0.1), n - len - 1);
    for (let i = at; i < at + len; i++) if (!labelled(i)) values[i] = null;
  }
  if (spec.drop) for (let i = 0; i < n; i++) if (r.u() < spec.drop && !labelled(i)) values[i] = null;
  return { name: spec.name, description: spec.description, stepMs: spec.stepMs, startMs: START, values: values.map((v) => (v === null ? null : Number(v.toPrecision(8)))), anomalies };
}

const M5 = 5 * MIN;
const M15 = 15 * MIN;

/** The series specifications: 26 with anomalies, 12 without. */
export const SPECS: readonly Spec[] = [
  // anomaly-free
  { name: 'clean-gaussian', description: 'flat 100, Gaussian σ 5', stepMs: M5, windows: 2016, shape: flat(100), noise: 'gaussian', sigma: 5, events: [] },
  { name: 'clean-laplace', description: 'flat 50, Laplace σ 3', stepMs: M5, windows: 2016, shape: flat(50), noise: 'laplace', sigma: 3, events: [] },
  { name: 'clean-student-t', description: 'flat 200, Student-t(3) σ 10 (heavy tails)', stepMs: M5, windows: 2016, shape: flat(200), noise: 'student-t', sigma: 10, events: [] },
  { name: 'clean-ar1', description: 'flat 70, AR(1) φ 0.8, σ 4', stepMs: MIN, windows: 2880, shape: flat(70), noise: 'ar1', sigma: 4, events: [] },
  { name: 'clean-poisson-3', description: 'counts, Poisson λ 3', stepMs: MIN, windows: 2880, shape: flat(3), noise: 'poisson', sigma: 0, events: [] },
  { name: 'clean-sparse-counts', description: 'sparse counts, Poisson λ 0.05 (an error now and then)', stepMs: MIN, windows: 2880, shape: flat(0.05), noise: 'poisson', sigma: 0, events: [] },
  { name: 'clean-poisson-200', description: 'counts, Poisson λ 200', stepMs: MIN, windows: 2880, shape: flat(200), noise: 'poisson', sigma: 0, events: [] },
  { name: 'clean-lognormal', description: 'latency-like, 120 × log-normal σ 0.25', stepMs: MIN, windows: 2880, shape: flat(120), noise: 'lognormal', sigma: 0.25, events: [] },
  { name: 'clean-daily', description: 'daily 40..240, Gaussian σ 6', stepMs: M5, windows: 14 * 288, shape: daily(40, 200), noise: 'gaussian', sigma: 6, events: [] },
  { name: 'clean-weekly-poisson', description: 'weekly counts 20..420 (weekend ⅓), Poisson', stepMs: M15, windows: 5 * 7 * 96, shape: weekly(20, 400), noise: 'poisson', sigma: 0, events: [] },
  { name: 'clean-missing', description: 'flat 100, Gaussian σ 5, 8 gaps + 5 % drops', stepMs: M5, windows: 2016, shape: flat(100), noise: 'gaussian', sigma: 5, events: [], gaps: 8, drop: 0.05 },
  { name: 'clean-drift', description: 'slow drift 100→160 over the series, Gaussian σ 5', stepMs: M5, windows: 2016, shape: (i) => 100 + (60 * i) / 2016, noise: 'gaussian', sigma: 5, events: [] },
  // spikes and dips
  { name: 'spikes-gaussian', description: 'flat 100, Gaussian σ 5, spikes', stepMs: M5, windows: 2016, shape: flat(100), noise: 'gaussian', sigma: 5, events: ['spike', 'spike', 'spike', 'spike', 'spike'] },
  { name: 'spikes-laplace', description: 'flat 50, Laplace σ 3, spikes', stepMs: M5, windows: 2016, shape: flat(50), noise: 'laplace', sigma: 3, events: ['spike', 'spike', 'spike', 'spike'] },
  { name: 'spikes-student-t', description: 'flat 200, Student-t(3) σ 10, spikes', stepMs: M5, windows: 2016, shape: flat(200), noise: 'student-t', sigma: 10, events: ['spike', 'spike', 'spike', 'spike'] },
  { name: 'spikes-poisson-5', description: 'counts λ 5, bursts', stepMs: MIN, windows: 2880, shape: flat(5), noise: 'poisson', sigma: 0, events: ['spike', 'spike', 'spike', 'spike'] },
  { name: 'spikes-lognormal', description: 'latency-like 120 × log-normal σ 0.2, spikes', stepMs: MIN, windows: 2880, shape: flat(120), noise: 'lognormal', sigma: 0.2, events: ['spike', 'spike', 'spike', 'spike'] },
  { name: 'spikes-ar1', description: 'flat 70, AR(1) σ 4, spikes', stepMs: MIN, windows: 2880, shape: flat(70), noise: 'ar1', sigma: 4, events: ['spike', 'spike', 'spike', 'spike'] },
  { name: 'dips-gaussian', description: 'flat 100, Gaussian σ 5, dips', stepMs: M5, windows: 2016, shape: flat(100), noise: 'gaussian', sigma: 5, events: ['dip', 'dip', 'dip', 'dip'] },
  { name: 'dips-poisson-50', description: 'counts λ 50, drops', stepMs: MIN, windows: 2880, shape: flat(50), noise: 'poisson', sigma: 0, events: ['dip', 'dip', 'dip', 'dip'] },
  { name: 'near-zero-counts', description: 'counts λ 0.5 (mostly 0), bursts', stepMs: MIN, windows: 2880, shape: flat(0.5), noise: 'poisson', sigma: 0, events: ['spike', 'spike', 'spike'] },
  // level shifts, trends, variance
  { name: 'shift-gaussian', description: 'flat 100, Gaussian σ 5, level shifts', stepMs: M5, windows: 2016, shape: flat(100), noise: 'gaussian', sigma: 5, events: ['level-shift', 'level-shift'] },
  { name: 'shift-laplace', description: 'flat 50, Laplace σ 3, level shifts', stepMs: M5, windows: 2016, shape: flat(50), noise: 'laplace', sigma: 3, events: ['level-shift', 'level-shift'] },
  { name: 'shift-poisson-20', description: 'counts λ 20, level shifts', stepMs: MIN, windows: 2880, shape: flat(20), noise: 'poisson', sigma: 0, events: ['level-shift', 'level-shift'] },
  { name: 'trend-gaussian', description: 'flat 100, Gaussian σ 5, trend changes', stepMs: M5, windows: 2016, shape: flat(100), noise: 'gaussian', sigma: 5, events: ['trend-change', 'trend-change'] },
  { name: 'variance-gaussian', description: 'flat 100, Gaussian σ 5, variance ×4–6', stepMs: M5, windows: 2016, shape: flat(100), noise: 'gaussian', sigma: 5, events: ['variance-change', 'variance-change'] },
  { name: 'variance-ar1', description: 'flat 70, AR(1) σ 4, variance ×4–6', stepMs: MIN, windows: 2880, shape: flat(70), noise: 'ar1', sigma: 4, events: ['variance-change', 'variance-change'] },
  // seasonality
  { name: 'daily-spikes', description: 'daily 40..240, Gaussian σ 6, spikes and dips', stepMs: M5, windows: 14 * 288, shape: daily(40, 200), noise: 'gaussian', sigma: 6, events: ['spike', 'dip', 'spike', 'dip', 'spike'], earliest: 3 * 288 },
  { name: 'daily-contextual', description: 'daily 40..240, Gaussian σ 6, peak-level nights and night-level peaks', stepMs: M5, windows: 14 * 288, shape: daily(40, 200), noise: 'gaussian', sigma: 6, events: ['contextual', 'contextual', 'contextual', 'contextual'], earliest: 3 * 288 },
  { name: 'daily-shift', description: 'daily 40..240, Gaussian σ 6, level shifts', stepMs: M5, windows: 14 * 288, shape: daily(40, 200), noise: 'gaussian', sigma: 6, events: ['level-shift', 'level-shift'], earliest: 3 * 288 },
  { name: 'daily-trend', description: 'daily 40..240, Gaussian σ 6, trend changes', stepMs: M5, windows: 14 * 288, shape: daily(40, 200), noise: 'gaussian', sigma: 6, events: ['trend-change', 'trend-change'], earliest: 3 * 288 },
  { name: 'daily-variance', description: 'daily 40..240, Gaussian σ 6, variance ×4–6', stepMs: M5, windows: 14 * 288, shape: daily(40, 200), noise: 'gaussian', sigma: 6, events: ['variance-change', 'variance-change'], earliest: 3 * 288 },
  { name: 'daily-heavy', description: 'daily 40..240, Student-t(3) σ 6, spikes and dips', stepMs: M5, windows: 14 * 288, shape: daily(40, 200), noise: 'student-t', sigma: 6, events: ['spike', 'dip', 'spike', 'dip'], earliest: 3 * 288 },
  { name: 'weekly-spikes', description: 'weekly counts 20..420, Poisson, bursts and drops', stepMs: M15, windows: 5 * 7 * 96, shape: weekly(20, 400), noise: 'poisson', sigma: 0, events: ['spike', 'dip', 'spike', 'dip'], earliest: 14 * 96 },
  { name: 'weekly-contextual', description: 'weekly counts 20..420, Poisson, contextual (peak at night, night at peak)', stepMs: M15, windows: 5 * 7 * 96, shape: weekly(20, 400), noise: 'poisson', sigma: 0, events: ['contextual', 'contextual', 'contextual', 'contextual'], earliest: 14 * 96 },
  { name: 'weekly-shift', description: 'weekly 50..250, Gaussian σ 8, hourly windows, level shifts', stepMs: HOUR, windows: 6 * 168, shape: weekly(50, 200), noise: 'gaussian', sigma: 8, events: ['level-shift', 'level-shift'], earliest: 14 * 24 },
  // missing data
  { name: 'missing-spikes', description: 'flat 100, Gaussian σ 5, 8 gaps + 5 % drops, spikes', stepMs: M5, windows: 2016, shape: flat(100), noise: 'gaussian', sigma: 5, events: ['spike', 'spike', 'spike', 'spike'], gaps: 8, drop: 0.05 },
  { name: 'missing-daily-shift', description: 'daily 40..240, Gaussian σ 6, 10 gaps, spikes and a level shift', stepMs: M5, windows: 14 * 288, shape: daily(40, 200), noise: 'gaussian', sigma: 6, events: ['spike', 'spike', 'level-shift'], gaps: 10, earliest: 3 * 288 },
];

/** Series i of the corpus uses PRNG seed `seed * 7919 + i`, so one series can be regenerated alone. */
export function generateCorpus(seed = 1): LabelledSeries[] {
  return SPECS.map((spec, i) => generate(spec, new Rand(prng(seed * 7919 + i))));
}
