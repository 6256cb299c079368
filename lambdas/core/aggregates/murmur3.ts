/**
 * MurmurHash3 x86_128 (Austin Appleby, public domain), written for the values
 * `distinct` counts. Pure 32-bit integer arithmetic, no allocation per call.
 *
 * The values are hashed through a canonical key, so equal values always hash
 * alike and values of different types never collide by construction:
 *
 *   string s   -> UTF-16LE("s:" + s)
 *   number x   -> UTF-16LE("n:") ++ float64 little-endian bytes of x
 *                 (-0 is hashed as 0, every NaN as the canonical NaN)
 *   boolean    -> UTF-16LE("b:true") / UTF-16LE("b:false")
 *   bigint     -> as the number when it converts exactly, else UTF-16LE("i:" + decimal)
 *   other      -> UTF-16LE("j:" + JSON with object keys sorted)
 *
 * UTF-16LE (the code units of the JS string) is used rather than UTF-8 so that
 * no encoder runs per value and lone surrogates stay distinct.
 * The hash is the 128-bit MurmurHash3_x86_128 of those bytes with seed 0;
 * callers read the four 32-bit words from `out` (h1 first).
 */

// Local binding: a global lookup per call is slow in sandboxed contexts (jest's vm).
const imul = Math.imul;

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

const TAG_STRING = 0x73; // 's'
const TAG_NUMBER = 0x6e; // 'n'
const TAG_BOOLEAN = 0x62; // 'b'
const TAG_BIGINT = 0x69; // 'i'
const TAG_JSON = 0x6a; // 'j'
const COLON = 0x3a;

/** Little-endian 32-bit words of a number's key (strings are read in place, see hashTagged). */
const words = new Int32Array(4);
const f64 = new DataView(new ArrayBuffer(8));

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** MurmurHash3_x86_128's finalisation of the four lanes after the tail, into `out` (h1..h4). */
function finalize(h1: number, h2: number, h3: number, h4: number, byteLength: number, out: Uint32Array): void {
  h1 ^= byteLength;
  h2 ^= byteLength;
  h3 ^= byteLength;
  h4 ^= byteLength;

  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;

  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h3 = fmix32(h3);
  h4 = fmix32(h4);

  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;

  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
}

/**
 * The MurmurHash3_x86_128 rounds over `byteLength` bytes held as little-endian
 * 32-bit words in `w` (the bytes past `byteLength` in the last word must be 0).
 */
function hashWords(w: Int32Array, byteLength: number, seed: number, out: Uint32Array): void {
  const h = seed | 0;
  hashWordsFrom(w, byteLength, 0, h, h, h, h, true, out);
}

/**
 * hashWords over a key whose first `first` blocks are done already (h1..h4:
 * the lanes after them), `w` holding the words from block `first` on. With
 * finish false, the lanes after the key's whole blocks go to `out` instead
 * (no tail, no finalisation: the state to resume from).
 */
function hashWordsFrom(w: Int32Array, byteLength: number, first: number, h1: number, h2: number, h3: number, h4: number, finish: boolean, out: Uint32Array): void {
  const blocks = byteLength >>> 4;
  let i = 0;
  for (let b = first; b < blocks; b++, i += 4) {
    let k1 = w[i];
    let k2 = w[i + 1];
    let k3 = w[i + 2];
    let k4 = w[i + 3];

    k1 = imul(rotl(imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (imul((rotl(h1, 19) + h2) | 0, 5) + 0x561ccd1b) | 0;

    k2 = imul(rotl(imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (imul((rotl(h2, 17) + h3) | 0, 5) + 0x0bcaa747) | 0;

    k3 = imul(rotl(imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (imul((rotl(h3, 15) + h4) | 0, 5) + 0x96cd1c35) | 0;

    k4 = imul(rotl(imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (imul((rotl(h4, 13) + h1) | 0, 5) + 0x32ac3b17) | 0;
  }
  if (!finish) {
    out[0] = h1;
    out[1] = h2;
    out[2] = h3;
    out[3] = h4;
    return;
  }

  const tail = byteLength & 15;
  if (tail > 12) h4 ^= imul(rotl(imul(w[i + 3], C4), 18), C1);
  if (tail > 8) h3 ^= imul(rotl(imul(w[i + 2], C3), 17), C4);
  if (tail > 4) h2 ^= imul(rotl(imul(w[i + 1], C2), 16), C3);
  if (tail > 0) h1 ^= imul(rotl(imul(w[i], C1), 15), C2);

  finalize(h1, h2, h3, h4, byteLength, out);
}

/** MurmurHash3_x86_128 of arbitrary bytes (the reference form; slow path). `out` gets h1..h4. */
export function murmur3x86_128(bytes: Uint8Array, seed: number, out: Uint32Array): void {
  const n = bytes.length;
  const w = new Int32Array((n + 3) >>> 2);
  for (let i = 0; i < n; i++) w[i >>> 2] |= bytes[i] << ((i & 3) * 8);
  hashWords(w, n, seed, out);
}

/**
 * Hash of UTF-16LE(tag + ':' + s): the tag and colon fill the first word, then
 * two code units of `s` per word. hashWords' rounds, reading the words straight
 * from the string (no copy into a word array first): this runs for every
 * event id and sequence number the dedupe checks, and for every distinct value.
 */
function hashTagged(tag: number, s: string, out: Uint32Array): void {
  const n = s.length;
  const byteLength = 4 + 2 * n;
  let h1 = 0;
  let h2 = 0;
  let h3 = 0;
  let h4 = 0;
  const blocks = byteLength >>> 4;
  // Word j >= 1 holds code units 2j - 2 and 2j - 1; c is the first code unit of the block's second word.
  let c = 0;
  for (let b = 0; b < blocks; b++, c += 8) {
    let k1 = b === 0 ? tag | (COLON << 16) : s.charCodeAt(c - 2) | (s.charCodeAt(c - 1) << 16);
    let k2 = s.charCodeAt(c) | (s.charCodeAt(c + 1) << 16);
    let k3 = s.charCodeAt(c + 2) | (s.charCodeAt(c + 3) << 16);
    let k4 = s.charCodeAt(c + 4) | (s.charCodeAt(c + 5) << 16);

    k1 = imul(rotl(imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = (imul((rotl(h1, 19) + h2) | 0, 5) + 0x561ccd1b) | 0;

    k2 = imul(rotl(imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = (imul((rotl(h2, 17) + h3) | 0, 5) + 0x0bcaa747) | 0;

    k3 = imul(rotl(imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = (imul((rotl(h3, 15) + h4) | 0, 5) + 0x96cd1c35) | 0;

    k4 = imul(rotl(imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = (imul((rotl(h4, 13) + h1) | 0, 5) + 0x32ac3b17) | 0;
  }

  // The tail (up to 14 bytes, whole code units), zero-padded: code units past the end read as 0
  // (never charCodeAt out of range, which would deoptimise this function).
  const tail = byteLength & 15;
  if (tail > 12) h4 ^= imul(rotl(imul(unitPair(s, c + 4, n), C4), 18), C1);
  if (tail > 8) h3 ^= imul(rotl(imul(unitPair(s, c + 2, n), C3), 17), C4);
  if (tail > 4) h2 ^= imul(rotl(imul(unitPair(s, c, n), C2), 16), C3);
  if (tail > 0) h1 ^= imul(rotl(imul(blocks === 0 ? tag | (COLON << 16) : unitPair(s, c - 2, n), C1), 15), C2);

  finalize(h1, h2, h3, h4, byteLength, out);
}

/**
 * hashValue of a record's sequence number `s` (index < 0), or of a
 * sub-event's `${s}/${index}` without building that string. The lanes after
 * the blocks lying wholly inside UTF-16LE("s:" + s) are kept, so the next
 * sub-event of the same record (the same `s`) hashes only its last block or
 * two: a KPL record holds up to hundreds of sub-events, a CloudWatch Logs
 * record dozens. The same hashes as hashValue; an instance is state, so each
 * kind of caller has its own.
 */
export class SequenceHasher {
  private last: string | undefined;
  /** The lanes after the blocks wholly inside UTF-16LE("s:" + last). */
  private readonly saved = new Uint32Array(4);
  /** The words of a sub-event's key from the first block not wholly in s on (the rest of s, "/", the index's digits, zero-padded). */
  private readonly rest = new Int32Array(16);
  private readonly suffix = new Uint16Array(11);
  private prefix = new Int32Array(64);

  hash(s: string, index: number, out: Uint32Array): void {
    if (index < 0) {
      hashTagged(TAG_STRING, s, out);
      return;
    }
    if (!Number.isSafeInteger(index) || index > 0x7fffffff) throw new RangeError(`a sub-event index is an integer from 0 to 2^31 - 1, not ${index}`);
    const n = s.length;
    // Block b holds code units 8b - 2 .. 8b + 5 of s (block 0: the tag, then 0..5): wholly in s when 8b + 5 < n.
    const inS = (n + 2) >>> 3;
    if (s !== this.last) {
      let w = this.prefix;
      if (w.length < 4 * inS) w = this.prefix = new Int32Array(8 * inS);
      for (let j = 0; j < 4 * inS; j++) w[j] = j === 0 ? TAG_STRING | (COLON << 16) : s.charCodeAt(2 * j - 2) | (s.charCodeAt(2 * j - 1) << 16);
      hashWordsFrom(w, 16 * inS, 0, 0, 0, 0, 0, false, this.saved);
      this.last = s;
    }
    // "/" and the index's digits, as code units.
    const suffix = this.suffix;
    let digits = 1;
    for (let v = index; v >= 10; v = Math.floor(v / 10)) digits++;
    suffix[0] = 0x2f; // '/'
    for (let i = digits, v = index; i >= 1; i--, v = Math.floor(v / 10)) suffix[i] = 0x30 + (v % 10);
    const total = n + 1 + digits;
    const byteLength = 4 + 2 * total;
    // The words from block inS on: code units from 8 * inS - 2 (block 0 starts with the tag word).
    const rest = this.rest;
    const words = ((byteLength + 3) >>> 2) - 4 * inS;
    for (let k = 0; k < words; k++) {
      if (inS === 0 && k === 0) {
        rest[0] = TAG_STRING | (COLON << 16);
        continue;
      }
      const u = 8 * inS - 2 + 2 * k;
      rest[k] = unitAt(s, n, suffix, total, u) | (unitAt(s, n, suffix, total, u + 1) << 16);
    }
    const h = this.saved;
    hashWordsFrom(rest, byteLength, inS, h[0]! | 0, h[1]! | 0, h[2]! | 0, h[3]! | 0, true, out);
  }
}

/** Code unit u of s (n units) + suffix (`total` units in all), 0 at or past the end. */
function unitAt(s: string, n: number, suffix: Uint16Array, total: number, u: number): number {
  return u < n ? s.charCodeAt(u) : u < total ? suffix[u - n]! : 0;
}

/** Code units i and i + 1 of `s` as one little-endian word, 0 for those at or past `n` (its length). */
function unitPair(s: string, i: number, n: number): number {
  return i + 1 < n ? s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16) : i < n ? s.charCodeAt(i) : 0;
}

function hashNumber(x: number, out: Uint32Array): void {
  const w = words;
  w[0] = TAG_NUMBER | (COLON << 16);
  if (x !== x) {
    // canonical quiet NaN 0x7ff8000000000000
    w[1] = 0;
    w[2] = 0x7ff80000;
  } else {
    f64.setFloat64(0, x + 0, true); // x + 0 turns -0 into 0
    w[1] = f64.getInt32(0, true);
    w[2] = f64.getInt32(4, true);
  }
  hashWords(w, 12, 0, out);
}

/** JSON with object keys sorted, so that equal objects hash alike whatever their key order. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return value.toString();
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * Hashes `value` through its canonical key (see the top of this file) into
 * `out` (four 32-bit words). No allocation for strings, numbers and booleans.
 */
export function hashValue(value: unknown, out: Uint32Array): void {
  switch (typeof value) {
    case 'string':
      hashTagged(TAG_STRING, value, out);
      return;
    case 'number':
      hashNumber(value, out);
      return;
    case 'boolean':
      hashTagged(TAG_BOOLEAN, value ? 'true' : 'false', out);
      return;
    case 'bigint': {
      const asNumber = Number(value);
      if (Number.isFinite(asNumber) && BigInt(asNumber) === value) hashNumber(asNumber, out);
      else hashTagged(TAG_BIGINT, value.toString(), out);
      return;
    }
    default:
      hashTagged(TAG_JSON, canonicalJson(value), out);
  }
}
