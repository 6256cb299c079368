import fc from 'fast-check';
import {
  distinctAggregator as hll,
  HLL_MAX_RANK,
  HLL_REGISTERS,
  type DistinctAccumulator,
} from '../../../lambdas/core/aggregates';
import type { JsonValue } from '../../../lambdas/core/types';
import { accumulate, assertAggregatorLaws, mergeAll, roundTrip } from './laws';

/** Standard error of a 4096-register HyperLogLog. */
const STANDARD_ERROR = 1.04 / Math.sqrt(HLL_REGISTERS);

function ids(from: number, to: number, prefix = 'user-'): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(`${prefix}${i}`);
  return out;
}

function registers(acc: DistinctAccumulator): number[] {
  return Array.from(acc.registers);
}

function storedSize(acc: DistinctAccumulator): number {
  return Buffer.byteLength(JSON.stringify(hll.serialize(acc)));
}

describe('distinct (HyperLogLog, p = 12)', () => {
  it.each([0, 1, 2, 10, 50])('counts %i distinct values exactly (linear counting)', (n) => {
    // Arrange
    const values = ids(0, n);
    // Act
    const acc = accumulate(hll, values);
    // Assert
    expect(hll.result(acc)).toBe(n);
  });

  it.each([1000, 10_000, 100_000])('estimates %i distinct values within 3 standard errors', (n) => {
    const acc = accumulate(hll, ids(0, n));
    const estimate = hll.result(acc) as number;
    expect(Math.abs(estimate - n) / n).toBeLessThan(3 * STANDARD_ERROR);
  });

  it('estimates within 3 standard errors for mixed value types', () => {
    const values: unknown[] = [];
    for (let i = 0; i < 20_000; i++) values.push(i, `${i}`, i + 0.5, i % 2 === 0);
    // distinct: 20000 integers, 20000 strings, 20000 halves, true, false
    const n = 60_002;
    const estimate = hll.result(accumulate(hll, values)) as number;
    expect(Math.abs(estimate - n) / n).toBeLessThan(3 * STANDARD_ERROR);
  });

  it('is 0 when empty', () => {
    expect(hll.result(hll.create())).toBe(0);
    expect(hll.serialize(hll.create())).toEqual({ p: 12, z: '' });
  });

  it('does not change with duplicates (same registers)', () => {
    const once = accumulate(hll, ids(0, 5000));
    const thrice = accumulate(hll, [...ids(0, 5000), ...ids(0, 5000).reverse(), ...ids(2000, 5000)]);
    expect(registers(thrice)).toEqual(registers(once));
    expect(hll.result(thrice)).toBe(hll.result(once));
  });

  it('ignores null and undefined', () => {
    expect(hll.result(accumulate(hll, [null, undefined, 'a', null]))).toBe(1);
  });

  it('merges two overlapping sets into exactly the HLL of their union', () => {
    // Arrange
    const a = accumulate(hll, ids(0, 60_000));
    const b = accumulate(hll, ids(40_000, 100_000));
    const union = accumulate(hll, ids(0, 100_000));
    // Act
    const merged = mergeAll(hll, a, b);
    // Assert
    expect(registers(merged)).toEqual(registers(union));
    expect(hll.result(merged)).toBe(hll.result(union));
    expect(Math.abs((hll.result(merged) as number) - 100_000) / 100_000).toBeLessThan(3 * STANDARD_ERROR);
  });

  it('stores few values sparsely as base64url digits: the gap since the previous register (1, 2 or 3 digits), then the rank', () => {
    const acc = hll.create();
    // Gaps 0, 47 (one digit), 48, 943 (two), 944, and the last register (three); ranks 1 and the largest.
    const at: Array<[number, number]> = [[0, 1], [48, 2], [97, 3], [1041, 4], [1986, 5], [4095, HLL_MAX_RANK]];
    for (const [i, r] of at) acc.registers[i] = r;
    const B = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const d = (v: number) => B.charAt(v);
    expect(hll.serialize(acc)).toEqual({
      p: 12,
      z: [d(0), d(1), d(47), d(2), d(48), d(0), d(3), d(48 + 13), d(63), d(4), d(62), d(944 >> 6), d(944 & 63), d(5), d(62), d(2108 >> 6), d(2108 & 63), d(HLL_MAX_RANK)].join(''),
    });
    expect(registers(roundTrip(hll, acc))).toEqual(registers(acc));
    // A handful of values: two or three digits a register.
    const few = accumulate(hll, ['a', 'b', 'c']);
    const state = hll.serialize(few) as { p: number; z: string };
    expect(state.z.length).toBeGreaterThanOrEqual(6);
    expect(state.z.length).toBeLessThanOrEqual(12);
    expect(registers(roundTrip(hll, few))).toEqual(registers(few));
  });

  it('reads the sparse form written before packed digits (`s`: [index, rank, ...] JSON numbers) to the same registers', () => {
    const acc = accumulate(hll, ids(0, 300));
    const old = { p: 12, s: registers(acc).flatMap((r, i) => (r === 0 ? [] : [i, r])) };
    expect(registers(hll.deserialize(old))).toEqual(registers(acc));
    // What the packed form saves on a window's worth of users (a state item is billed by the KB).
    expect(storedSize(acc)).toBeLessThan(JSON.stringify(old).length / 2.5);
  });

  it('round-trips any registers through the packed sparse form', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.integer({ min: 0, max: HLL_REGISTERS - 1 }).map(String), fc.integer({ min: 1, max: HLL_MAX_RANK }), { maxKeys: 400 }), (set) => {
        const acc = hll.create();
        for (const [i, r] of Object.entries(set)) acc.registers[Number(i)] = r;
        const state = hll.serialize(acc) as { z?: string };
        expect(typeof state.z).toBe('string');
        expect(registers(hll.deserialize(state as JsonValue))).toEqual(registers(acc));
      }),
      { numRuns: 200 },
    );
  });

  it('stores many values densely as one base64url digit per register', () => {
    const acc = accumulate(hll, ids(0, 100_000));
    const state = hll.serialize(acc) as { p: number; d: string };
    expect(state.d).toHaveLength(HLL_REGISTERS);
    expect(state.d).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(state.d.charAt(0)).toBe('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charAt(acc.registers[0]));
  });

  it.each([0, 10, 300, 500, 700, 1000, 5000, 100_000, 1_000_000])(
    'keeps the stored form of %i values under 6 KB, choosing the smaller encoding',
    (n) => {
      const acc = accumulate(hll, ids(0, n));
      const size = storedSize(acc);
      expect(size).toBeLessThan(6 * 1024);
      // The packed sparse form's length, counted from the registers: per non-zero one, its gap's digits and its rank's.
      let digits = 0;
      let previous = -1;
      registers(acc).forEach((r, i) => {
        if (r === 0) return;
        const gap = i - previous - 1;
        previous = i;
        digits += (gap < 48 ? 1 : gap < 944 ? 2 : 3) + 1;
      });
      const sparse = JSON.stringify({ p: 12, z: 'x'.repeat(digits) }).length;
      const dense = JSON.stringify({ p: 12, d: 'x'.repeat(HLL_REGISTERS) }).length;
      expect(size).toBe(Math.min(sparse, dense));
      expect(registers(roundTrip(hll, acc))).toEqual(registers(acc));
    },
  );

  it('round-trips both encodings to the same registers', () => {
    for (const n of [5, 100_000]) {
      const acc = accumulate(hll, ids(0, n));
      expect(registers(roundTrip(hll, acc))).toEqual(registers(acc));
    }
  });

  it('rejects malformed stored states with a message naming the aggregate', () => {
    const bad: JsonValue[] = [
      null,
      'x',
      { s: [1, 2] },
      { p: 14, s: [] },
      { p: 12, s: [1] },
      { p: 12, s: [4096, 1] },
      { p: 12, s: [1, HLL_MAX_RANK + 1] },
      { p: 12, s: [1.5, 1] },
      { p: 12, d: 'AAAA' },
      { p: 12, d: '!'.repeat(HLL_REGISTERS) },
      { p: 12, d: '_'.repeat(HLL_REGISTERS) }, // 63 > max rank
      { p: 12, z: 'A' }, // a gap without its rank
      { p: 12, z: 'AA' }, // rank 0
      { p: 12, z: 'A2' }, // rank 54 > max rank
      { p: 12, z: '_B' }, // 63: no gap starts with it
      { p: 12, z: 'w' }, // a two-digit gap cut short
      { p: 12, z: '-AB' }, // a three-digit gap cut short (then no rank)
      { p: 12, z: 'AB-__B' }, // gap 4095 after register 0: index 4096 (from the start, '-__B' is register 4095: fine)
      { p: 12, z: 'A!' },
      { p: 12, z: 'AéB' },
    ];
    for (const state of bad) {
      expect(() => hll.deserialize(state)).toThrow(/distinct aggregate: cannot read stored partial state/);
    }
    expect(hll.deserialize({ p: 12, z: '-__B' }).registers[HLL_REGISTERS - 1]).toBe(1);
  });

  it('obeys the aggregator laws (registers and estimate)', () => {
    const value = fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: -50, max: 50 }), fc.double(), fc.boolean());
    assertAggregatorLaws(hll, value, 100);
  });

  it('keeps register-wise max through the round trip with many values (dense)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50_000 }), fc.integer({ min: 1, max: 20_000 }), (start, length) => {
        const a = accumulate(hll, ids(start, start + length, 'k'));
        const b = accumulate(hll, ids(0, 30_000, 'k'));
        const viaStore = roundTrip(hll, a);
        hll.merge(viaStore, roundTrip(hll, b));
        expect(registers(viaStore)).toEqual(registers(mergeAll(hll, a, b)));
      }),
      { numRuns: 10 },
    );
  });
});
