import { DETECTORS, detectorNamed } from '../../../lambdas/core/anomaly/detectors';
import { DEFAULT_ANOMALY_OPTIONS as O } from '../../../lambdas/core/anomaly/types';

describe.each(Object.keys(DETECTORS))('detector %s (registry contract)', (name) => {
  const d = detectorNamed(name);
  it('round-trips its state through serialise/parse and applies each window once', () => {
    let s = d.empty;
    for (let i = 0; i < 30; i++) s = d.apply(s, i * 60_000, 100 + (i % 3), O);
    expect(d.lastApplied(s)).toBe(29 * 60_000);
    const again = d.apply(s, 29 * 60_000, 1e6, O);
    expect(d.serialise(again)).toBe(d.serialise(s));
    expect(d.serialise(d.parse(d.serialise(s)))).toBe(d.serialise(s));
  });
  it('rejects stored text that is not its state, naming the detector', () => {
    expect(() => d.parse('{"x":1}')).toThrow(new RegExp(`stored ${name} model has an unknown shape`));
    expect(() => d.parse('nope')).toThrow(/is not JSON/);
  });
});

it('an unknown detector name lists the allowed ones', () => {
  expect(() => detectorNamed('rcf')).toThrow('anomaly: unknown detector "rcf"; allowed: robust, seasonal');
});

describe.each(Object.keys(DETECTORS))('detector %s on a count series', (name) => {
  it('never puts the lower band edge below 0 (a count cannot be negative), and still scores a burst', () => {
    const d = detectorNamed(name);
    let s = d.empty;
    const counts = [0, 1, 0, 2, 1, 0, 0, 1, 3, 0, 1, 0, 0, 2, 1, 0, 1, 0, 0, 1];
    counts.forEach((x, i) => { s = d.apply(s, i * 60_000, x, O); });
    const v = d.verdict(s, counts.length * 60_000, 1, O);
    expect(v.warming).toBe(false);
    expect(v.lower).toBe(0);
    expect(v.upper).toBeGreaterThan(v.expected);
    expect(d.verdict(s, counts.length * 60_000, 40, O).score).toBeGreaterThan(0.99);
  });
  it('a series with a negative or fractional value keeps its unclamped band', () => {
    const d = detectorNamed(name);
    let s = d.empty;
    for (let i = 0; i < 20; i++) s = d.apply(s, i * 60_000, (i % 3) - 1.5, O);
    expect(d.verdict(s, 20 * 60_000, 0, O).lower).toBeLessThan(0);
  });
});
