import fc from 'fast-check';
import { hashValue, murmur3x86_128 } from '../../../lambdas/core/aggregates';
import { SequenceHasher } from '../../../lambdas/core/aggregates/murmur3';

function hex(words: Uint32Array): string {
  // the reference vectors print h1..h4 with %x, without zero padding
  return `0x${Array.from(words, (w) => w.toString(16)).join('')}`;
}

function hashBytes(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(4);
  murmur3x86_128(bytes, 0, out);
  return out;
}

function hashOf(value: unknown): Uint32Array {
  const out = new Uint32Array(4);
  hashValue(value, out);
  return out;
}

function utf16le(s: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) bytes.push(s.charCodeAt(i) & 0xff, s.charCodeAt(i) >>> 8);
  return bytes;
}

function float64le(x: number): number[] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x, true);
  return Array.from(new Uint8Array(view.buffer));
}

describe('murmur3x86_128', () => {
  // Reference vectors of MurmurHash3_x86_128, seed 0, over the UTF-8 bytes
  // (tail lengths 0..15 and several blocks are covered).
  it.each([
    ['', '0x0000'],
    ['H', '0xf69feb5df45637a0f45637a0f45637a0'],
    ['Hello', '0x2360ae465e6336c6ad45b3f4ad45b3f4'],
    ['Hello World', '0x92cafa6a59653c6540fffff0b3beb9c'],
    ['Hello World!', '0x6bee9883eb1be4f59dfb7172ae3fbea9'],
    ['Hello World! Hel', '0x82475db0161f88d8850474822a76794a'],
    ['Hello World! Hello World! Hello World!', '0x97c20b59c7de4e21bf270576dcfc2f'],
    ['メロス', '0xdcfa2df52a3c5ab9d74d6d304e537d23'],
  ])('hashes %j to the reference value', (input, expected) => {
    expect(hex(hashBytes(new TextEncoder().encode(input)))).toBe(expected);
  });
});

describe('hashValue', () => {
  it('hashes a string as the UTF-16LE bytes of "s:" + string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => {
        expect(hashOf(s)).toEqual(hashBytes(Uint8Array.from(utf16le(`s:${s}`))));
      }),
      { numRuns: 500 },
    );
  });

  it('hashes a number as UTF-16LE "n:" followed by its float64 little-endian bytes', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (x) => {
        const canonical = Object.is(x, -0) ? 0 : x;
        expect(hashOf(x)).toEqual(hashBytes(Uint8Array.from([...utf16le('n:'), ...float64le(canonical)])));
      }),
      { numRuns: 500 },
    );
  });

  it('hashes booleans as "b:true" / "b:false"', () => {
    expect(hashOf(true)).toEqual(hashBytes(Uint8Array.from(utf16le('b:true'))));
    expect(hashOf(false)).toEqual(hashBytes(Uint8Array.from(utf16le('b:false'))));
  });

  it('keeps types apart: 12, "12", true, "true" all differ', () => {
    const hashes = [12, '12', true, 'true', 'b:true', '', 0].map((v) => hex(hashOf(v)));
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  it('hashes equal values alike: -0 and 0, every NaN, an exact bigint and its number, objects whatever the key order', () => {
    expect(hashOf(-0)).toEqual(hashOf(0));
    expect(hashOf(NaN)).toEqual(hashOf(Number('not a number')));
    expect(hashOf(12n)).toEqual(hashOf(12));
    expect(hashOf(2n ** 80n + 1n)).not.toEqual(hashOf(2 ** 80));
    expect(hashOf({ a: 1, b: [true, 'x'] })).toEqual(hashOf({ b: [true, 'x'], a: 1 }));
    expect(hashOf({ a: 1 })).not.toEqual(hashOf({ a: '1' }));
  });

  it('does not depend on what was hashed before (the scratch buffer is reused)', () => {
    const first = hashOf('short');
    hashOf('a much longer string that needs more words than the short one '.repeat(20));
    hashOf(42);
    expect(hashOf('short')).toEqual(first);
  });

  describe('distribution', () => {
    const N = 1 << 17; // 131072 keys

    function chiSquare(counts: Int32Array, expected: number): number {
      let chi = 0;
      for (const c of counts) chi += ((c - expected) * (c - expected)) / expected;
      return chi;
    }

    it.each([
      ['sequential ids', (i: number): unknown => `user-${i}`],
      ['sequential integers', (i: number): unknown => i],
      ['small floats', (i: number): unknown => i / 1000],
    ])('spreads %s evenly over 4096 buckets (top 12 bits) and sets every bit half the time', (_label, key) => {
      // Arrange
      const buckets = new Int32Array(4096);
      const bitCounts = new Int32Array(64);
      // Act
      for (let i = 0; i < N; i++) {
        const [h1, h2] = hashOf(key(i));
        buckets[h1 >>> 20]++;
        for (let b = 0; b < 32; b++) {
          bitCounts[b] += (h1 >>> b) & 1;
          bitCounts[32 + b] += (h2 >>> b) & 1;
        }
      }
      // Assert: chi-square with 4095 degrees of freedom: mean 4095, sd ≈ 90.5; allow 5 sd
      expect(chiSquare(buckets, N / 4096)).toBeLessThan(4095 + 5 * 90.5);
      expect(chiSquare(buckets, N / 4096)).toBeGreaterThan(4095 - 5 * 90.5);
      // each bit is a Binomial(N, 1/2): sd = sqrt(N)/2 ≈ 181; allow 5 sd
      for (const count of bitCounts) expect(Math.abs(count - N / 2)).toBeLessThan(5 * 181);
    });

    it('flips about half the output bits when one input bit flips (avalanche)', () => {
      let flipped = 0;
      let trials = 0;
      for (let i = 0; i < 2000; i++) {
        const base = `key-${i}`;
        const [a1, a2] = hashOf(base);
        const changed = base.slice(0, -1) + String.fromCharCode(base.charCodeAt(base.length - 1) ^ (1 << (i % 7)));
        const [b1, b2] = hashOf(changed);
        flipped += popcount(a1 ^ b1) + popcount(a2 ^ b2);
        trials += 64;
      }
      expect(flipped / trials).toBeGreaterThan(0.49);
      expect(flipped / trials).toBeLessThan(0.51);
    });
  });
});

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v &= v - 1) n++;
  return n;
}

describe('strings are hashed from the string itself (no word array)', () => {
  it('gives the reference hash of "s:" + string for every length 0..80 and for Kinesis sequence numbers', () => {
    const strings = Array.from({ length: 81 }, (_, n) => Array.from({ length: n }, (_, i) => String.fromCharCode(48 + ((i * 7 + n) % 75))).join(''));
    strings.push('49590338271490256608559692538361571095921575989136588898', '49590338271490256608559692538361571095921575989136588898/3');
    for (const s of strings) expect(hashOf(s)).toEqual(hashBytes(Uint8Array.from(utf16le(`s:${s}`))));
  });
});

describe('SequenceHasher', () => {
  const hasher = new SequenceHasher();
  const out = new Uint32Array(4);
  const hashed = (s: string, index: number): number[] => {
    hasher.hash(s, index, out);
    return [...out];
  };

  it('gives hashValue(`${s}/${index}`) for every length of s 0..80 and indexes of 1 to 10 digits, the same s in a row or not', () => {
    const indexes = [0, 1, 9, 10, 99, 100, 12345, 2 ** 31 - 1];
    for (let n = 0; n <= 80; n++) {
      const s = Array.from({ length: n }, (_, i) => String.fromCharCode(48 + ((i * 7 + n) % 75))).join('');
      // a record's sub-events one after another (the lanes of s are reused) ...
      for (const index of indexes) expect([n, index, hashed(s, index)]).toEqual([n, index, [...hashOf(`${s}/${index}`)]]);
      // ... and alternating with another record (they are not)
      for (const index of indexes) {
        expect(hashed(`${s}x`, index)).toEqual([...hashOf(`${s}x/${index}`)]);
        expect(hashed(s, index)).toEqual([...hashOf(`${s}/${index}`)]);
      }
    }
  });

  it('hashes a whole record (index -1) as hashValue(s), and agrees on Kinesis sequence numbers and random strings', () => {
    const seq = '49590338271490256608559692538361571095921575989136588898';
    expect(hashed(seq, -1)).toEqual([...hashOf(seq)]);
    expect(hashed(seq, 3)).toEqual([...hashOf(`${seq}/3`)]);
    expect(hashed(seq, -1)).toEqual([...hashOf(seq)]);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 70, unit: 'binary' }), fc.integer({ min: -1, max: 2 ** 31 - 4 }), fc.nat(3)), { minLength: 1, maxLength: 10 }), (calls) =>
        calls.every(([s, index, repeat]) => Array.from({ length: repeat + 1 }, (_, r) => index + r).every((i) => hashed(s, i).join() === [...hashOf(i < 0 ? s : `${s}/${i}`)].join())),
      ),
    );
  });

  it('refuses an index that is not an integer from 0 to 2^31 - 1', () => {
    for (const bad of [1.5, 2 ** 31, Number.NaN, Infinity]) expect(() => hasher.hash('12', bad, out)).toThrow(RangeError);
  });
});
