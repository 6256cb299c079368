import { learnTail, scoreOf, TAIL_Q_GAUSSIAN, tailFactor, Z99 } from '../../../lambdas/core/anomaly/robustStats';
import { apply, EMPTY_ROBUST_STATE, type RobustState } from '../../../lambdas/core/anomaly/RobustBaseline';
import { DEFAULT_ANOMALY_OPTIONS as O } from '../../../lambdas/core/anomaly/types';
import { prng } from '../../../bench/anomaly/corpus';
import { detectorNamed } from '../../../lambdas/core/anomaly/detectors';

describe('robustStats', () => {
  it('the score is 0.99 at the band edge, whatever the band, and one-sided on request', () => {
    expect(scoreOf(Z99, 'both')).toBeCloseTo(0.99, 6);
    expect(scoreOf(4, 'both', 4)).toBeCloseTo(0.99, 6);
    expect(scoreOf(-4, 'both', 4)).toBeCloseTo(0.99, 6);
    expect(scoreOf(3, 'both', 4)).toBeLessThan(0.99);
    expect(scoreOf(4.01, 'up', 4)).toBeGreaterThan(0.99);
    expect(scoreOf(-8, 'up', 4)).toBe(0);
    expect(scoreOf(8, 'down', 4)).toBe(0);
  });

  it('learnTail: multiplicative quantile steps, residuals beyond the band ignored, bounded', () => {
    expect(learnTail(undefined, 3, 4)).toBe(Number((TAIL_Q_GAUSSIAN * 1.05).toPrecision(7)));
    expect(learnTail(undefined, 1, 4)).toBe(Number((TAIL_Q_GAUSSIAN * (1 - 0.05 * 0.02 / 0.98)).toPrecision(7)));
    expect(learnTail(3, 100, 4)).toBe(3);
    let q = TAIL_Q_GAUSSIAN;
    for (let i = 0; i < 5000; i++) q = learnTail(q, 0, 4);
    expect(q).toBeCloseTo(TAIL_Q_GAUSSIAN / 2, 5);
    expect(tailFactor(q)).toBe(1);
    expect(tailFactor(undefined)).toBe(1);
    expect(tailFactor(TAIL_Q_GAUSSIAN * 10)).toBe(4);
  });

  it('heavy tails widen the robust band; Gaussian noise leaves it about as it was', () => {
    const u = prng(42);
    const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u());
    const laplace = (): number => { const v = u() - 0.5; return -Math.sign(v) * Math.log(1 - 2 * Math.abs(v)); };
    const run = (noise: () => number): RobustState => {
      let s = EMPTY_ROBUST_STATE;
      for (let i = 0; i < 3000; i++) s = apply(s, i * 60_000, 100 + 5 * noise(), O);
      return s;
    };
    expect(tailFactor(run(gauss).q)).toBeLessThan(1.15);
    expect(tailFactor(run(laplace).q)).toBeGreaterThan(1.25);
  });
});

describe.each(['robust', 'seasonal'])('sparse counts (%s)', (name) => {
  it('a single error on a mostly-zero count series does not alert; three at once do; a non-count series gets no floor', () => {
    // GIVEN one error every 20 windows, for 2 days of 1-minute windows
    const d = detectorNamed(name);
    let s = d.empty;
    for (let i = 0; i < 2880; i++) s = d.apply(s, i * 60_000, i % 20 === 0 ? 1 : 0, O);
    // THEN the spread is the count floor 0.5 (× the tail factor): 1 and 2 are inside the band, 3 is outside
    const t = 2880 * 60_000;
    expect(d.verdict(s, t, 1, O).score).toBeLessThan(0.99);
    expect(d.verdict(s, t, 2, O).score).toBeLessThan(0.99);
    expect(d.verdict(s, t, 3, O).score).toBeGreaterThan(0.99);
    // a series with a fraction in it is not a count: no floor, so 1 is far outside
    const f = d.apply(s, t, 0.5, O);
    expect(d.verdict(f, t + 60_000, 1, O).score).toBeGreaterThan(0.99);
  });
});

describe('false alerts on anomaly-free noise (defaults, seeded)', () => {
  // the normal law alone would give 0.3 (|z| > 4); estimating the level and spread from the data costs a little
  it.each([['robust', 1], ['seasonal', 2]])('%s: %d alert(s) in 5,000 windows of Gaussian noise', (name, expected) => {
    const u = prng(7);
    const d = detectorNamed(name);
    let s = d.empty;
    let alerts = 0;
    for (let i = 0; i < 5000; i++) {
      const x = 100 + 5 * Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u());
      if (d.verdict(s, i * 300_000, x, O).score > 0.99) alerts++;
      s = d.apply(s, i * 300_000, x, O);
    }
    expect(alerts).toBe(expected);
  });
});
