import fc from 'fast-check';
import { compareSequence, padSequence, unpadSequence } from '../../../lambdas/core/sequence';

describe('sequence numbers', () => {
  it('compare as numbers beyond 2^53, via fixed-width strings', () => {
    const a = '49590338271490256608559692538361571095921575989136588898';
    const b = '49590338271490256608559692538361571095921575989136588899';
    expect(compareSequence(a, b)).toBeLessThan(0);
    expect(compareSequence('9', '10')).toBeLessThan(0);
    expect(padSequence('42')).toHaveLength(129);
    expect(unpadSequence(padSequence('42'))).toBe('42');
  });

  it('order agrees with BigInt for random values', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 128n }), fc.bigInt({ min: 0n, max: 10n ** 128n }), (x, y) => {
        const c = compareSequence(x.toString(), y.toString());
        expect(Math.sign(c)).toBe(x < y ? -1 : x > y ? 1 : 0);
      }),
    );
  });

  it('rejects what is not a sequence number', () => {
    expect(() => padSequence('12a')).toThrow(/1 to 129 decimal digits/);
    expect(() => padSequence('1'.repeat(130))).toThrow(RangeError);
  });
});
