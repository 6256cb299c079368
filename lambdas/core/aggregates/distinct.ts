import type { PartialState } from '../types';
import type { Aggregator } from './Aggregator';
import { hashValue } from './murmur3';
import { invalidState, isRecord } from './partialState';

/**
 * `distinct(x)`: approximate count of distinct values with a HyperLogLog
 * (Flajolet et al. 2007) of 2^12 = 4096 one-byte registers: standard error
 * 1.04 / sqrt(4096) ≈ 1.6 %, with linear counting for small cardinalities
 * (exact or off by one up to a few dozen values) and Ertl's improved
 * estimator above (see `estimateDistinct`).
 *
 * Each value is hashed to 64 bits (MurmurHash3_x86_128 of its canonical key,
 * see murmur3.ts): the top 12 bits choose the register, the position of the
 * first 1-bit in the other 52 bits (1..53) is the rank the register keeps the
 * maximum of. With 64 hash bits no large-range correction is needed.
 *
 * Merge is register-wise max, so merging partial HLLs gives exactly the HLL of
 * all the values at once.
 *
 * Serialised form (plain JSON, at most ~4.1 KB), whichever is shorter:
 *   sparse: `{ "p": 12, "s": [index, rank, index, rank, ...] }` — the non-zero
 *           registers, ascending index;
 *   dense:  `{ "p": 12, "d": "<4096 chars>" }` — one base64url digit per
 *           register (A = 0, B = 1, ..., ranks are at most 53 < 64).
 */

export const HLL_PRECISION = 12;
export const HLL_REGISTERS = 1 << HLL_PRECISION;
/** Largest rank a register can hold: 52 remaining hash bits + 1. */
export const HLL_MAX_RANK = 64 - HLL_PRECISION + 1;

/** Accumulator of `distinct(x)`: the 4096 registers. */
export interface DistinctAccumulator {
  readonly registers: Uint8Array;
}

/** Serialised form of a `distinct` accumulator (see above). */
export type DistinctState = { p: number; s: number[] } | { p: number; d: string };

const M = HLL_REGISTERS;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const BASE64URL_VALUE = new Int8Array(128).fill(-1);
const BASE64URL_CODE = new Uint16Array(64);
for (let i = 0; i < 64; i++) {
  BASE64URL_CODE[i] = BASE64URL.charCodeAt(i);
  BASE64URL_VALUE[BASE64URL_CODE[i]] = i;
}

const clz32 = Math.clz32;

/** The hash of the value being added (h1..h4); reused, so `add` allocates nothing. */
const hash = new Uint32Array(4);

function addValue(registers: Uint8Array, value: unknown): void {
  if (value === null || value === undefined) return;
  hashValue(value, hash);
  const h1 = hash[0];
  const index = h1 >>> (32 - HLL_PRECISION);
  const rest = h1 & ((1 << (32 - HLL_PRECISION)) - 1); // the 20 low bits of h1, then h2
  let rank: number;
  if (rest !== 0) rank = clz32(rest) - HLL_PRECISION + 1;
  else if (hash[1] !== 0) rank = 32 - HLL_PRECISION + clz32(hash[1]) + 1;
  else rank = HLL_MAX_RANK;
  if (rank > registers[index]) registers[index] = rank;
}

/** σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k-1) (Ertl 2017), for the share of empty registers. */
function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let previous: number;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (z !== previous);
  return z;
}

/** τ(x) = (1 - x - Σ_{k≥1} (1 - x^(2^-k))² 2^-k) / 3 (Ertl 2017), for the share of saturated registers. */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let previous: number;
  do {
    x = Math.sqrt(x);
    previous = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z !== previous);
  return z / 3;
}

/** Register histogram scratch: histogram[r] = number of registers holding rank r. */
const histogram = new Int32Array(HLL_MAX_RANK + 1);

/**
 * The distinct-count estimate, rounded to an integer: linear counting
 * m ln(m / empty registers) while that is at most m (small-range correction:
 * exact or off by one for a few dozen values), else Ertl's improved raw
 * estimator ("New cardinality estimation algorithms for HyperLogLog
 * sketches", 2017), which has no bias bump around 2.5 m unlike the classic
 * estimator with its switch to linear counting there.
 */
export function estimateDistinct(registers: Uint8Array): number {
  histogram.fill(0);
  for (let i = 0; i < M; i++) histogram[registers[i]]++;
  const empty = histogram[0];
  if (empty > 0) {
    const linear = M * Math.log(M / empty);
    if (linear <= M) return Math.round(linear);
  }
  const q = HLL_MAX_RANK - 1;
  let z = M * tau(1 - histogram[q + 1] / M);
  for (let k = q; k >= 1; k--) z = (z + histogram[k]) * 0.5;
  z += M * sigma(empty / M);
  return Math.round((M * M) / (2 * Math.LN2) / z);
}

function digits(n: number): number {
  return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : 4;
}

function serialize(acc: DistinctAccumulator): DistinctState {
  const { registers } = acc;
  let sparseChars = 0;
  let nonZero = 0;
  for (let i = 0; i < M; i++) {
    const r = registers[i];
    if (r !== 0) {
      nonZero++;
      sparseChars += digits(i) + digits(r) + 2; // two separators per pair
    }
  }
  // "[i,r,...]" vs ""<M digits>"": 2k - 1 commas + 2 brackets vs 2 quotes
  if (sparseChars + 1 < M + 2) {
    const s = new Array<number>(2 * nonZero);
    let j = 0;
    for (let i = 0; i < M; i++) {
      if (registers[i] !== 0) {
        s[j++] = i;
        s[j++] = registers[i];
      }
    }
    return { p: HLL_PRECISION, s };
  }
  const codes = new Uint16Array(M);
  for (let i = 0; i < M; i++) codes[i] = BASE64URL_CODE[registers[i]];
  return { p: HLL_PRECISION, d: String.fromCharCode(...codes) };
}

const EXPECTED =
  `{ "p": ${HLL_PRECISION}, "s": [index, rank, ...] } or { "p": ${HLL_PRECISION}, "d": "<${M} base64url digits>" } ` +
  `with index < ${M} and rank <= ${HLL_MAX_RANK}`;

function deserialize(state: PartialState): DistinctAccumulator {
  const fail = (): Error => invalidState('distinct', state, EXPECTED);
  if (!isRecord(state) || state.p !== HLL_PRECISION) throw fail();
  const registers = new Uint8Array(M);
  if (Array.isArray(state.s)) {
    const s: unknown[] = state.s;
    if (s.length % 2 !== 0) throw fail();
    for (let j = 0; j < s.length; j += 2) {
      const index = s[j];
      const rank = s[j + 1];
      if (!Number.isInteger(index) || !Number.isInteger(rank)) throw fail();
      const i = index as number;
      const r = rank as number;
      if (i < 0 || i >= M || r < 0 || r > HLL_MAX_RANK) throw fail();
      if (r > registers[i]) registers[i] = r;
    }
  } else if (typeof state.d === 'string') {
    const d = state.d;
    if (d.length !== M) throw fail();
    for (let i = 0; i < M; i++) {
      const c = d.charCodeAt(i);
      const r = c < 128 ? BASE64URL_VALUE[c] : -1;
      if (r < 0 || r > HLL_MAX_RANK) throw fail();
      registers[i] = r;
    }
  } else {
    throw fail();
  }
  return { registers };
}

export const distinctAggregator: Aggregator<DistinctAccumulator> = {
  kind: 'distinct',
  create: () => ({ registers: new Uint8Array(M) }),
  add(acc, value) {
    addValue(acc.registers, value);
  },
  merge(into, other) {
    const a = into.registers;
    const b = other.registers;
    for (let i = 0; i < M; i++) if (b[i] > a[i]) a[i] = b[i];
  },
  result: (acc) => estimateDistinct(acc.registers),
  serialize,
  deserialize,
};
