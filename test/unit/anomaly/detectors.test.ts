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
