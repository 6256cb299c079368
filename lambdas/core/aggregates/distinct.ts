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
 *   sparse: `{ "p": 12, "z": "<base64url digits>" }` — the non-zero registers,
 *           ascending index, each as the gap since the previous one (the
 *           number of zero registers between them) then its rank: a gap
 *           below 48 is one digit (its value), one below 944 two (48 +
 *           (gap - 48) / 64, then (gap - 48) % 64), a larger one three (62,
 *           then the gap's 12 bits); the rank is one digit. About 2 digits a
 *           register at the cardinalities a window holds, where the form
 *           before (`"s": [index, rank, ...]`, JSON numbers) took about 7: a
 *           state item is billed by the KB (issue 21).
 *   dense:  `{ "p": 12, "d": "<4096 chars>" }` — one base64url digit per
 *           register (A = 0, B = 1, ..., ranks are at most 53 < 64).
 * The sparse form before (`"s"`) is still read: items written before keep it.
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
export type DistinctState = { p: number; z: string } | { p: number; d: string } | { p: number; s: number[] };

/** Packed sparse form: gaps below this take one digit. */
const GAP_ONE = 48;
/** First digit of a two-digit gap: GAP_ONE .. GAP_THREE - 1. */
const GAP_THREE = 62;
/** Gaps below this take two digits; from it, three (GAP_THREE, then 12 bits). */
const GAP_TWO_LIMIT = GAP_ONE + (GAP_THREE - GAP_ONE) * 64;

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

/** Digits of the packed sparse form (reused). */
const packed = new Uint16Array(4 * M);

function serialize(acc: DistinctAccumulator): DistinctState {
  const { registers } = acc;
  let n = 0;
  let previous = -1;
  for (let i = 0; i < M && n < M; i++) {
    const r = registers[i];
    if (r === 0) continue;
    const gap = i - previous - 1;
    previous = i;
    if (gap < GAP_ONE) packed[n++] = BASE64URL_CODE[gap];
    else if (gap < GAP_TWO_LIMIT) {
      packed[n++] = BASE64URL_CODE[GAP_ONE + ((gap - GAP_ONE) >> 6)];
      packed[n++] = BASE64URL_CODE[(gap - GAP_ONE) & 63];
    } else {
      packed[n++] = BASE64URL_CODE[GAP_THREE];
      packed[n++] = BASE64URL_CODE[gap >> 6];
      packed[n++] = BASE64URL_CODE[gap & 63];
    }
    packed[n++] = BASE64URL_CODE[r];
  }
  // The shorter of the two (both are one JSON string); the sparse form stops counting at M digits.
  if (n < M) return { p: HLL_PRECISION, z: fromCodes(packed, n) };
  const codes = new Uint16Array(M);
  for (let i = 0; i < M; i++) codes[i] = BASE64URL_CODE[registers[i]];
  return { p: HLL_PRECISION, d: fromCodes(codes, M) };
}

/** A string of the first `n` char codes (in pieces: spreading thousands of arguments into one call is what engines cap). */
function fromCodes(codes: Uint16Array, n: number): string {
  let out = '';
  for (let i = 0; i < n; i += 1024) out += String.fromCharCode(...codes.subarray(i, Math.min(n, i + 1024)));
  return out;
}

/** The packed sparse form's registers (see the header), into `registers`; false when it is malformed. */
function readPacked(z: string, registers: Uint8Array): boolean {
  let previous = -1;
  let j = 0;
  const digit = (): number => {
    if (j >= z.length) return -1;
    const c = z.charCodeAt(j++);
    return c < 128 ? BASE64URL_VALUE[c] : -1;
  };
  while (j < z.length) {
    const first = digit();
    let gap: number;
    if (first < 0 || first > GAP_THREE) return false;
    if (first < GAP_ONE) gap = first;
    else if (first < GAP_THREE) {
      const low = digit();
      if (low < 0) return false;
      gap = GAP_ONE + ((first - GAP_ONE) << 6) + low;
    } else {
      const high = digit();
      const low = digit();
      if (high < 0 || low < 0) return false;
      gap = (high << 6) | low;
    }
    const rank = digit();
    const index = previous + gap + 1;
    if (rank < 1 || rank > HLL_MAX_RANK || index >= M) return false;
    registers[index] = rank;
    previous = index;
  }
  return true;
}

const EXPECTED =
  `{ "p": ${HLL_PRECISION}, "z": "<base64url digits: gap, rank, ...>" }, { "p": ${HLL_PRECISION}, "d": "<${M} base64url digits>" } or { "p": ${HLL_PRECISION}, "s": [index, rank, ...] } ` +
  `with index < ${M} and rank <= ${HLL_MAX_RANK}`;

function deserialize(state: PartialState): DistinctAccumulator {
  const fail = (): Error => invalidState('distinct', state, EXPECTED);
  if (!isRecord(state) || state.p !== HLL_PRECISION) throw fail();
  const registers = new Uint8Array(M);
  if (typeof state.z === 'string') {
    if (!readPacked(state.z, registers)) throw fail();
  } else if (Array.isArray(state.s)) {
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
