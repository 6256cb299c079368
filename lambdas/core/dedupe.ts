import { hashValue, SequenceHasher } from './aggregates/murmur3';

/**
 * Producer-duplicate ids. Event ids are hashed (128-bit MurmurHash3, 96 bits
 * kept) so that a bucket item holds many ids in little space whatever the
 * producer's id format. Per event, the engine and the stores handle the 96
 * bits as three 32-bit words and the sequence number's 48-bit fingerprint as
 * a number (DedupeIds), never as text: a 16- and an 8-character string per
 * event and Maps keyed by them cost more than the hashing (bench:core's ratio
 * on the sample pipeline rose from 0.47 to 0.53 without them). Stored,
 * they are the same bits as binary (tableLayout.ts); dedupeId and dedupeSeq
 * are their text forms (tests, the layout before chunks).
 */

/** Event ids are filed in buckets of this much event time (one state item per shard and bucket). */
export const DEDUPE_BUCKET_MS = 1000;

/** base64url character codes by 6-bit value. */
const CODE = new Uint16Array(64);
for (let v = 0; v < 64; v++) CODE[v] = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(v);

const words = new Uint32Array(4);
const sequences = new SequenceHasher();

/**
 * The first `chars` (8 or 16) base64url characters of the 96 bits in
 * words[0..2] (big-endian within each word, words[0] first), built from char
 * codes as one flat string (a chain of concatenations would build an
 * intermediate string per character).
 */
function base64url(w: Uint32Array, chars: 8 | 16): string {
  const a = w[0]!;
  const b = w[1]!;
  const c0 = CODE[a >>> 26]!;
  const c1 = CODE[(a >>> 20) & 63]!;
  const c2 = CODE[(a >>> 14) & 63]!;
  const c3 = CODE[(a >>> 8) & 63]!;
  const c4 = CODE[(a >>> 2) & 63]!;
  const c5 = CODE[((a & 3) << 4) | (b >>> 28)]!;
  const c6 = CODE[(b >>> 22) & 63]!;
  const c7 = CODE[(b >>> 16) & 63]!;
  if (chars === 8) return String.fromCharCode(c0, c1, c2, c3, c4, c5, c6, c7);
  const c = w[2]!;
  return String.fromCharCode(
    c0,
    c1,
    c2,
    c3,
    c4,
    c5,
    c6,
    c7,
    CODE[(b >>> 10) & 63]!,
    CODE[(b >>> 4) & 63]!,
    CODE[((b & 15) << 2) | (c >>> 30)]!,
    CODE[(c >>> 24) & 63]!,
    CODE[(c >>> 18) & 63]!,
    CODE[(c >>> 12) & 63]!,
    CODE[(c >>> 6) & 63]!,
    CODE[c & 63]!,
  );
}

/** The stored form of an event id: 16 base64url characters (96 bits) of its hash (the words dedupeIdInto writes). */
export function dedupeId(eventId: string): string {
  hashValue(eventId, words);
  return base64url(words, 16);
}

/**
 * The 96 bits of dedupeId(eventId) as three 32-bit words, written to
 * out[3k..3k+2] (words[0] first): the form the engine hands to the stores, so
 * that no string is built per event. dedupeId is the same bits as text.
 */
export function dedupeIdInto(eventId: string, out: Uint32Array, k: number): void {
  hashValue(eventId, words);
  const o = 3 * k;
  out[o] = words[0]!;
  out[o + 1] = words[1]!;
  out[o + 2] = words[2]!;
}

/**
 * The stored form of a sequence number in a bucket: 8 base64url characters
 * (48 bits) of its hash. A bucket only asks "is this id's sequence number the
 * one it was recorded with?" (a redelivery) or not (a producer duplicate), so
 * a fingerprint answers as well as the number (a duplicate taken for a
 * redelivery needs a 48-bit collision, about 4e-15 per duplicate), at 6 bytes
 * instead of up to 129 digits.
 */
export function dedupeSeq(sequenceNumber: string): string {
  hashValue(sequenceNumber, words);
  return base64url(words, 8);
}

/**
 * dedupeSeq's 48 bits as a number (0 <= f < 2^48, exact in a double): the
 * first hash word, then the top 16 bits of the second. What a bucket holds
 * per id (DedupeIds); the stored bytes are its 6 bytes big-endian. With an
 * index >= 0, of a record's sub-event: dedupeSeq(`${sequenceNumber}/${index}`),
 * without building that string, and for less work when a record's sub-events
 * come one after another (SequenceHasher).
 */
export function dedupeSeqFingerprint(sequenceNumber: string, index = -1): number {
  sequences.hash(sequenceNumber, index, words);
  return words[0]! * 0x10000 + (words[1]! >>> 16);
}

/** 6-bit values by base64url character code (-1: not a base64url character). */
const VALUE = new Int8Array(128).fill(-1);
for (let v = 0; v < 64; v++) VALUE[CODE[v]!] = v;

/**
 * The three words of a 16-character base64url id (dedupeId's form) into
 * out[3k..3k+2]; false (out untouched) when `id` is not one. 16 characters
 * are exactly 96 bits, so equal strings and equal words are the same thing.
 */
export function parseDedupeId(id: string, out: Uint32Array, k: number): boolean {
  if (id.length !== 16) return false;
  let w0 = 0;
  let w1 = 0;
  let w2 = 0;
  for (let i = 0; i < 16; i++) {
    const c = id.charCodeAt(i);
    const v = c < 128 ? VALUE[c]! : -1;
    if (v < 0) return false;
    // Bit position of this character's 6 bits in the 96 (from the top).
    const bit = 6 * i;
    const word = bit >>> 5;
    const shift = 26 - (bit & 31); // bits left of the character's lowest bit in its first word
    if (shift >= 0) {
      const part = v << shift;
      if (word === 0) w0 |= part;
      else if (word === 1) w1 |= part;
      else w2 |= part;
    } else {
      // Straddles two words: the top bits end this word, the rest start the next one.
      const hi = v >>> -shift;
      const lo = (v << (32 + shift)) | 0;
      if (word === 0) {
        w0 |= hi;
        w1 |= lo;
      } else {
        w1 |= hi;
        w2 |= lo;
      }
    }
  }
  const o = 3 * k;
  out[o] = w0;
  out[o + 1] = w1;
  out[o + 2] = w2;
  return true;
}

/** The three words of a 16-character base64url id as text (the inverse of parseDedupeId, dedupeId's form). */
export function formatDedupeId(ids: Uint32Array, k: number): string {
  const w = new Uint32Array(3);
  w[0] = ids[3 * k]!;
  w[1] = ids[3 * k + 1]!;
  w[2] = ids[3 * k + 2]!;
  return base64url(w, 16);
}

/**
 * The ids of one bucket: id (three words of its hash) -> the fingerprint of
 * the sequence number it was first recorded with (dedupeSeqFingerprint).
 * Entries are kept densely in the order they were added (3 words and one
 * fingerprint each), found through an open-addressing table of entry
 * numbers indexed by the id's first word (a MurmurHash3 output, uniform), so
 * a look-up or an addition allocates nothing, where a Map keyed by id strings
 * cost a string per event and a string hash and compare per look-up.
 */
export class DedupeIds {
  /** Entry e's id words at 3e..3e+2. */
  private keys: Uint32Array;
  private fingerprints: Float64Array;
  /** Slot -> entry number + 1 (0: free); at most half full. */
  private slots: Int32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 8) {
    let cap = 16;
    while (cap < 2 * expected) cap *= 2;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    this.keys = new Uint32Array(3 * (cap >>> 1));
    this.fingerprints = new Float64Array(cap >>> 1);
  }

  get size(): number {
    return this.count;
  }

  /** The fingerprint recorded for the id at ids[3k..3k+2], or -1 when the id is not here. */
  get(ids: Uint32Array, k: number): number {
    const o = 3 * k;
    const e = this.slots[this.slotOf(ids[o]!, ids[o + 1]!, ids[o + 2]!)]! - 1;
    return e < 0 ? -1 : this.fingerprints[e]!;
  }

  /**
   * Records the id at ids[3k..3k+2] with `fingerprint` unless it is here
   * already (the first recorded is kept): -1 when added, else the fingerprint
   * it holds (one probe for both).
   */
  add(ids: Uint32Array, k: number, fingerprint: number): number {
    if (2 * (this.count + 1) > this.slots.length) this.grow();
    const o = 3 * k;
    const a = ids[o]!;
    const b = ids[o + 1]!;
    const c = ids[o + 2]!;
    const s = this.slotOf(a, b, c);
    const found = this.slots[s]! - 1;
    if (found >= 0) return this.fingerprints[found]!;
    const e = this.count++;
    const keys = this.keys;
    keys[3 * e] = a;
    keys[3 * e + 1] = b;
    keys[3 * e + 2] = c;
    this.fingerprints[e] = fingerprint;
    this.slots[s] = e + 1;
    return -1;
  }

  /** The slot of id (a, b, c): the one holding its entry, else the free slot where it goes (the table is never full). */
  private slotOf(a: number, b: number, c: number): number {
    const keys = this.keys;
    const slots = this.slots;
    const mask = this.mask;
    for (let s = a & mask; ; s = (s + 1) & mask) {
      const e = slots[s]! - 1;
      if (e < 0) return s;
      const p = 3 * e;
      if (keys[p] === a && keys[p + 1] === b && keys[p + 2] === c) return s;
    }
  }

  /** Adds every entry of `other` not here yet, in its order. */
  addAll(other: DedupeIds): void {
    for (let e = 0; e < other.count; e++) this.add(other.keys, e, other.fingerprints[e]!);
  }

  /** A copy (typed arrays copied whole: no work per entry). */
  copy(): DedupeIds {
    const c = new DedupeIds(0);
    c.keys = this.keys.slice();
    c.fingerprints = this.fingerprints.slice();
    c.slots = this.slots.slice();
    c.mask = this.mask;
    c.count = this.count;
    return c;
  }

  /** Entry e (0 <= e < size, in the order added): its id words are ids()[3e..3e+2]. */
  idWords(): Uint32Array {
    return this.keys;
  }

  fingerprintAt(e: number): number {
    return this.fingerprints[e]!;
  }

  private grow(): void {
    const cap = this.slots.length * 2;
    const keys = new Uint32Array(3 * (cap >>> 1));
    keys.set(this.keys.subarray(0, 3 * this.count));
    const fingerprints = new Float64Array(cap >>> 1);
    fingerprints.set(this.fingerprints.subarray(0, this.count));
    const slots = new Int32Array(cap);
    const mask = cap - 1;
    for (let e = 0; e < this.count; e++) {
      let s = keys[3 * e]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = e + 1;
    }
    this.keys = keys;
    this.fingerprints = fingerprints;
    this.slots = slots;
    this.mask = mask;
  }
}

/**
 * Bytes one id takes in a bucket as stored: 12 bytes of its hash (dedupeId)
 * and 6 of its sequence number's (dedupeSeq), binary. Before, an id took
 * `"id":"seq",` in a JSON attribute (16 + up to 129 + 6 bytes, 78 for a
 * 56-digit Kinesis sequence number): 4.3 times as many write units.
 */
export const DEDUPE_ENTRY_BYTES = 18;

/**
 * Bytes of ids one shard-second bucket may hold, over all its chunks (about
 * 17,000 ids; a shard takes at most 1,000 records/s, so a full bucket means
 * ids far beyond that). It bounds what a cold container reads per bucket and
 * keeps any one chunk well under DynamoDB's 400 KB item limit. Past it, ids
 * are not recorded (so not deduplicated); every store applies it.
 */
export const DEDUPE_MAX_BUCKET_BYTES = 300 * 1024;
