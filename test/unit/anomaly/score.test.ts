import { medianOf, scoreRuns, type SeriesRun } from '../../../bench/anomaly/score';

describe('anomaly bench scoring', () => {
  // GIVEN two labelled series and one anomaly-free series
  const runs: SeriesRun[] = [
    // a spike at 10 (found at 10, delay 0); a level shift 20..29 (found at 31: 2 after its end, within the tolerance of 3, delay 11)
    { anomalies: [{ start: 10, end: 10, kind: 'spike' }, { start: 20, end: 29, kind: 'level-shift' }], alerts: [5, 10, 31, 33], scored: 90 },
    // a spike at 50, missed (the alert at 54 is 4 after it: outside the tolerance)
    { anomalies: [{ start: 50, end: 50, kind: 'spike' }], alerts: [54], scored: 80 },
    // anomaly-free: 2 alerts in 500 scored windows
    { anomalies: [], alerts: [100, 300], scored: 500 },
  ];

  it('counts true and false positive alerts, detected intervals and delays exactly', () => {
    // WHEN
    const s = scoreRuns(runs);
    // THEN alerts 5, 33, 54, 100, 300 are false positives; 10 and 31 true
    expect(s).toEqual({
      alerts: 7,
      truePositives: 2,
      falsePositives: 5,
      precision: 2 / 7,
      intervals: 3,
      detected: 2,
      recall: 2 / 3,
      medianDelay: 5.5,
      cleanWindows: 500,
      cleanAlerts: 2,
      falsePositivesPer1000: 4,
      byKind: {
        'level-shift': { intervals: 1, detected: 1, recall: 1, medianDelay: 11 },
        spike: { intervals: 2, detected: 1, recall: 0.5, medianDelay: 0 },
      },
    });
  });

  it('a wider tolerance finds the late alert; no alerts means no precision', () => {
    expect(scoreRuns(runs, 4)).toMatchObject({ truePositives: 4, detected: 3, recall: 1, medianDelay: 4 });
    expect(scoreRuns([{ anomalies: [{ start: 1, end: 1, kind: 'dip' }], alerts: [], scored: 10 }]))
      .toMatchObject({ precision: null, recall: 0, medianDelay: null, falsePositivesPer1000: null });
  });

  it('medianOf: odd, even, empty', () => {
    expect(medianOf([3, 1, 2])).toBe(2);
    expect(medianOf([4, 1, 3, 2])).toBe(2.5);
    expect(medianOf([])).toBeNull();
  });
});
