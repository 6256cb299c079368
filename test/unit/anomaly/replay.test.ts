import fc from 'fast-check';
import { DETECTORS, detectorNamed } from '../../../lambdas/core/anomaly/detectors';
import { DEFAULT_ANOMALY_OPTIONS as O } from '../../../lambdas/core/anomaly/types';

/**
 * What the chaos oracle relies on: a model is a function of the closed windows
 * applied in order. Redelivering any window already applied (a retry, a bisect,
 * two tickers closing the same window) leaves it unchanged, and a model that
 * went through serialise/parse between any two windows is the same model.
 */
describe.each(Object.keys(DETECTORS))('detector %s: replay is a no-op (property)', (name) => {
  const d = detectorNamed(name);
  const windows = fc.record({
    step: fc.constantFrom(60_000, 300_000, 3_600_000, 86_400_000),
    start: fc.integer({ min: 0, max: 2_000_000_000 }).map((x) => x * 1000),
    values: fc.array(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { minLength: 1, maxLength: 120 }),
    gaps: fc.array(fc.boolean(), { minLength: 120, maxLength: 120 }),
    retries: fc.array(fc.nat(), { minLength: 120, maxLength: 120 }),
  });

  it('in-order windows with retries of already applied ones, and a store round trip at every step, give the in-order model', () => {
    fc.assert(fc.property(windows, ({ step, start, values, gaps, retries }) => {
      const starts = values.map((_, i) => start + i * step).filter((_, i) => !gaps[i]);
      let clean = d.empty;
      let noisy = d.empty;
      starts.forEach((t, k) => {
        const x = values[k]!;
        clean = d.apply(clean, t, x, O);
        noisy = d.parse(d.serialise(d.apply(noisy, t, x, O)));
        // a retry of some window already applied, with whatever value it carries this time
        const j = retries[k]! % (k + 1);
        noisy = d.apply(noisy, starts[j]!, values[(j + 1) % values.length]!, O);
      });
      expect(d.serialise(noisy)).toBe(d.serialise(clean));
      expect(d.lastApplied(clean)).toBe(starts.length ? starts[starts.length - 1] : -1);
    }), { numRuns: 60 });
  });
});
