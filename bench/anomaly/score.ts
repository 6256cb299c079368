/**
 * Scoring of detector alerts against labelled anomaly intervals (pure, no I/O).
 *
 * * An alert is a window whose verdict has score > ALERT_SCORE (0.99); a
 *   warming model scores 0, so it never alerts.
 * * An interval [start, end] is detected if an alert falls in
 *   [start, end + TOLERANCE] (TOLERANCE = 3 windows after its end); its
 *   detection delay is the first such alert's index minus `start`.
 * * An alert window is a true positive if it falls in some interval's
 *   [start, end + TOLERANCE], a false positive otherwise.
 * * precision = true-positive alerts / alerts (null when there is no alert);
 *   recall = detected intervals / intervals; the median delay is over the
 *   detected intervals (null when none).
 * * False positives per 1,000 windows: alerts on the anomaly-free series per
 *   1,000 of their scored windows (windows with a value, after warm-up).
 */

export const ALERT_SCORE = 0.99;
export const TOLERANCE = 3;

export interface Interval {
  readonly start: number;
  readonly end: number;
  readonly kind: string;
}

/** What a detector did on one series. */
export interface SeriesRun {
  readonly anomalies: readonly Interval[];
  /** Window indices that alerted, ascending. */
  readonly alerts: readonly number[];
  /** Windows with a value after the detector's warm-up. */
  readonly scored: number;
}

export interface KindScore {
  readonly intervals: number;
  readonly detected: number;
  readonly recall: number | null;
  readonly medianDelay: number | null;
}

export interface Score {
  readonly alerts: number;
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly precision: number | null;
  readonly intervals: number;
  readonly detected: number;
  readonly recall: number | null;
  readonly medianDelay: number | null;
  /** Over the anomaly-free series only. */
  readonly cleanWindows: number;
  readonly cleanAlerts: number;
  readonly falsePositivesPer1000: number | null;
  readonly byKind: Readonly<Record<string, KindScore>>;
}

export function medianOf(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const inside = (i: number, a: Interval, tolerance: number): boolean => i >= a.start && i <= a.end + tolerance;

export function scoreRuns(runs: readonly SeriesRun[], tolerance = TOLERANCE): Score {
  let alerts = 0;
  let tp = 0;
  let cleanWindows = 0;
  let cleanAlerts = 0;
  const delays: number[] = [];
  const kinds = new Map<string, { intervals: number; delays: number[] }>();
  let intervals = 0;
  for (const run of runs) {
    alerts += run.alerts.length;
    tp += run.alerts.filter((i) => run.anomalies.some((a) => inside(i, a, tolerance))).length;
    if (run.anomalies.length === 0) {
      cleanWindows += run.scored;
      cleanAlerts += run.alerts.length;
    }
    for (const a of run.anomalies) {
      intervals++;
      const k = kinds.get(a.kind) ?? { intervals: 0, delays: [] };
      k.intervals++;
      const first = run.alerts.find((i) => inside(i, a, tolerance));
      if (first !== undefined) {
        delays.push(first - a.start);
        k.delays.push(first - a.start);
      }
      kinds.set(a.kind, k);
    }
  }
  const byKind: Record<string, KindScore> = {};
  for (const [kind, k] of [...kinds].sort(([a], [b]) => a.localeCompare(b))) {
    byKind[kind] = { intervals: k.intervals, detected: k.delays.length, recall: k.intervals ? k.delays.length / k.intervals : null, medianDelay: medianOf(k.delays) };
  }
  return {
    alerts,
    truePositives: tp,
    falsePositives: alerts - tp,
    precision: alerts ? tp / alerts : null,
    intervals,
    detected: delays.length,
    recall: intervals ? delays.length / intervals : null,
    medianDelay: medianOf(delays),
    cleanWindows,
    cleanAlerts,
    falsePositivesPer1000: cleanWindows ? (1000 * cleanAlerts) / cleanWindows : null,
    byKind,
  };
}
