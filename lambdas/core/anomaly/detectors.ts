/**
 * The detector registry: every anomaly detector behind one interface, so the
 * pipeline compiler, the engine, backtest and the evaluation bench treat them
 * alike. A detector's state is opaque JSON-serialisable data, bounded by
 * MAX_ANOMALY_STATE_BYTES, and `apply` is keyed by the window start: applying
 * a window start ≤ the last applied one returns the state unchanged (exactly
 * once by construction, whatever the caller retries).
 */
import * as robust from './RobustBaseline';
import * as seasonal from './Seasonal';
import { type AnomalyOptions, type AnomalyVerdict, MAX_ANOMALY_STATE_BYTES } from './types';

export interface Detector<S = unknown> {
  /** The name used in the pipeline file (`anomaly: { detector: robust }`). */
  readonly name: string;
  /** One line for errors and docs. */
  readonly summary: string;
  readonly empty: S;
  /** Start (ms) of the last window the state has learned; -1 before any. */
  lastApplied(state: S): number;
  /** Scores `value` for the window starting at `windowStart`, before learning it. */
  verdict(state: S, windowStart: number, value: number, options: AnomalyOptions): AnomalyVerdict;
  /** Learns the window; a no-op for windowStart ≤ lastApplied(state). */
  apply(state: S, windowStart: number, value: number, options: AnomalyOptions): S;
  /** JSON text of the state; throws past MAX_ANOMALY_STATE_BYTES. */
  serialise(state: S): string;
  /** Parses serialise's output; throws with a clear message on anything else. */
  parse(text: string): S;
  /** The most bytes serialise can return (≤ MAX_ANOMALY_STATE_BYTES): where the model is kept (rule.ts, modelInAlertRecord). */
  readonly maxStateBytes: number;
}

function parseJson<S>(name: string, text: string, isState: (x: unknown) => x is S): S {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`anomaly: the stored ${name} model is not JSON (${(e as Error).message})`, { cause: e });
  }
  if (!isState(value)) throw new Error(`anomaly: the stored ${name} model has an unknown shape: ${text.slice(0, 120)}`);
  return value;
}

function isRobustState(x: unknown): x is robust.RobustState {
  const s = x as robust.RobustState;
  return typeof s === 'object' && s !== null && s.v === 1 && typeof s.n === 'number' && typeof s.level === 'number'
    && typeof s.dev === 'number' && typeof s.last === 'number' && Array.isArray(s.run)
    && (s.q === undefined || typeof s.q === 'number') && (s.int === undefined || typeof s.int === 'boolean');
}

export const robustDetector: Detector<robust.RobustState> = {
  name: 'robust',
  summary: 'EWMA of level and absolute deviation, outliers clipped, re-levels after a persistent shift',
  empty: robust.EMPTY_ROBUST_STATE,
  lastApplied: (s) => s.last,
  verdict: (s, _start, value, o) => robust.verdict(s, value, o),
  apply: robust.apply,
  serialise: robust.serialise,
  parse: (text) => parseJson('robust', text, isRobustState),
  // Eight numbers and the run of out-of-band values (fewer than shiftAfter ≤ 50, each at most 24
  // characters): at most about 1.35 KB, typically 110 bytes.
  maxStateBytes: 1536,
};

export const seasonalDetector: Detector<seasonal.SeasonalState> = {
  name: 'seasonal',
  summary: 'hour-of-week (or hour-of-day) profile of robust levels and deviations, young buckets blended with a global baseline',
  empty: seasonal.EMPTY_SEASONAL_STATE,
  lastApplied: (s) => s.last,
  verdict: seasonal.verdict,
  apply: seasonal.apply,
  serialise: seasonal.serialise,
  parse: (text) => parseJson('seasonal', text, seasonal.isSeasonalState),
  // 168 + 24 buckets: about 4.1 KB once a week profile has filled, bounded by serialise.
  maxStateBytes: MAX_ANOMALY_STATE_BYTES,
};

/** Every detector, by its pipeline-file name. Add new detectors here. */
export const DETECTORS: Readonly<Record<string, Detector<never>>> = {
  robust: robustDetector as unknown as Detector<never>,
  seasonal: seasonalDetector as unknown as Detector<never>,
};

export function detectorNamed(name: string): Detector<unknown> {
  const d = DETECTORS[name];
  if (!d) throw new Error(`anomaly: unknown detector "${name}"; allowed: ${Object.keys(DETECTORS).join(', ')}`);
  return d as unknown as Detector<unknown>;
}

export { MAX_ANOMALY_STATE_BYTES };
