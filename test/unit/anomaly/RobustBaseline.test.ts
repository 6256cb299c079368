import { apply, EMPTY_ROBUST_STATE, serialise, verdict, type RobustState } from '../../../lambdas/core/anomaly/RobustBaseline';
import { DEFAULT_ANOMALY_OPTIONS as O } from '../../../lambdas/core/anomaly/types';

const W = 60_000;
function feed(values: number[], s: RobustState = EMPTY_ROBUST_STATE, from = 0): RobustState {
  values.forEach((x, i) => { s = apply(s, (from + i) * W, x, O); });
  return s;
}
const normal = Array.from({ length: 40 }, (_, i) => 100 + ((i * 7) % 5) - 2);

describe('RobustBaseline', () => {
  it('warms for `warmup` windows with score 0, then scores a spike near 1 and a normal value low', () => {
    const early = feed(normal.slice(0, 5));
    expect(verdict(early, 1000, O)).toMatchObject({ warming: true, score: 0 });
    const s = feed(normal);
    const spike = verdict(s, 200, O);
    expect(spike.warming).toBe(false);
    expect(spike.score).toBeGreaterThan(0.999);
    expect(spike.expected).toBeGreaterThan(98);
    expect(spike.expected).toBeLessThan(102);
    expect(verdict(s, 100, O).score).toBeLessThan(0.9);
  });
  it('one-sided: direction up ignores a dip', () => {
    const s = feed(normal);
    expect(verdict(s, 0, { ...O, direction: 'up' }).score).toBe(0);
    expect(verdict(s, 0, { ...O, direction: 'down' }).score).toBeGreaterThan(0.999);
  });
  it('a spike barely moves the baseline (clipped before learning)', () => {
    const s = feed(normal);
    const after = apply(s, 40 * W, 10_000, O);
    expect(Math.abs(after.level - s.level)).toBeLessThan(2);
  });
  it('re-levels after shiftAfter windows of a new normal, which then stops alerting', () => {
    let s = feed(normal);
    s = feed(Array(O.shiftAfter).fill(300), s, 40);
    expect(s.level).toBe(300);
    expect(verdict(s, 300, O).score).toBeLessThan(0.5);
  });
  it('applies each window once: a replayed or older window is a no-op', () => {
    const s = feed(normal);
    expect(apply(s, 39 * W, 5000, O)).toBe(s);
    expect(apply(s, 0, 5000, O)).toBe(s);
  });
  it('rejects a non-finite value and serialises well under 8 KB', () => {
    expect(() => apply(feed(normal), 41 * W, Number.NaN, O)).toThrow('finite');
    expect(Buffer.byteLength(serialise(feed(normal)))).toBeLessThan(8192);
    const oversized: RobustState = { ...feed(normal), run: Array(1000).fill(123456.7) };
    expect(() => serialise(oversized)).toThrow('over the 8192-byte bound');
  });
});
