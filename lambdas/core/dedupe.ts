import { hashValue, SequenceHasher } from './aggregates/murmur3';

/**
 * Producer-duplicate ids. Event ids are hashed (128-bit MurmurHash3, 64 bits
 * kept) so that a bucket item holds many ids in little space whatever the
 * producer's id format. Per event, the engine and the stores handle the 64
 * bits as two 32-bit words and the sequence number's 32-bit fingerprint as
 * a number (DedupeIds), never as text: a string per event and Maps keyed by
 * them cost more than the hashing (bench:core's ratio on the sample pipeline
 * rose from 0.47 to 0.53 without them). Stored, they are the same bits as
 * binary, 12 bytes an id (tableLayout.ts, DEDUPE_ENTRY_BYTES).
 *
 * Before, an id kept 96 bits of its hash and 48 of its sequence number's (18
 * bytes stored; dedupeId and dedupeSeq are those bits as text, as the layout
 * before chunks and the tests write them). Those are the same hashes: the 64
 * bits kept now are the first 64 of the 96, and the 32-bit fingerprint is the
 * first 32 of the 48 (legacyFingerprint), so an id recorded before reads as
 * exactly the entry it would be recorded as now, and compares as one.
 *
 * What the fingerprint decides, per id already in the event's bucket:
 * - the same fingerprint: a redelivery of the record it was recorded from
 *   (Kinesis retries a batch, a container replays a shard): not a duplicate,
 *   the high-water marks deal with it. A sequence number always hashes to the
 *   same fingerprint, old entries reduced included, so a redelivery is never
 *   taken for a duplicate of itself.
 * - another fingerprint: the producer sent the id again, in another record
 *   (a new sequence number): a duplicate, dropped.
 * Errors, with n ids in one bucket (a shard and 5 seconds of event time: the
 * only ids an event is compared with):
 * - a real event dropped as a "duplicate": its id's 64 bits equal another id's
 *   in its bucket, about n^2 / 2^65 per bucket: 2.7e-12 for 10,000 ids in a
 *   bucket, 6.8e-13 for 5,000 (a shard's most, 1,000 records/s: about one
 *   event lost per 230,000 shard-years of full buckets), 4.4e-10 for a
 *   bucket at its cap (128,000 ids). With 96 bits it was n^2 / 2^97.
 * - a producer duplicate kept (taken for a redelivery): its new sequence
 *   number's fingerprint equals the recorded one, 2^-32 = 2.3e-10 per
 *   duplicate (was 2^-48 = 3.6e-15): an extra event counted, never one lost.
 */

/**
 * Event ids are filed in buckets of this much event time (per shard and bucket, a chunk item per
 * batch that adds ids to it). Five seconds, not one as before: a batch's event times spread over a
 * few seconds (out of order, late), and each bucket it touches costs a write (the benchmark at batch
 * 1,000: 485 dedupe writes per 100,000 events with one-second buckets, 175 with five; issue 21).
 * Items of one-second buckets are still read (tableLayout.ts, dedupeLayout).
 */
export const DEDUPE_BUCKET_MS = 5000;

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

/**
 * An event id's hash as text: 16 base64url characters (96 bits), the form of
 * the layout before chunks (its JSON keys) and of the tests; an id is kept as
 * its first 64 bits (the words dedupeIdInto writes, parseDedupeId reads).
 */
export function dedupeId(eventId: string): string {
  hashValue(eventId, words);
  return base64url(words, 16);
}

/**
 * The first 64 bits of dedupeId(eventId) as two 32-bit words, written to
 * out[2k..2k+1] (words[0] first): the form the engine hands to the stores, so
 * that no string is built per event.
 */
export function dedupeIdInto(eventId: string, out: Uint32Array, k: number): void {
  hashValue(eventId, words);
  const o = 2 * k;
  out[o] = words[0]!;
  out[o + 1] = words[1]!;
}

/**
 * The form a sequence number took in a bucket before 12-byte entries: 8
 * base64url characters (48 bits) of its hash, 6 bytes in an 18-byte entry.
 * A bucket only asks "is this id's sequence number the one it was recorded
 * with?" (a redelivery) or not (a producer duplicate), so a fingerprint
 * answers as well as the number (see the errors above), at a few bytes
 * instead of up to 129 digits. Now the first 32 of these bits are kept
 * (dedupeSeqFingerprint).
 */
export function dedupeSeq(sequenceNumber: string): string {
  hashValue(sequenceNumber, words);
  return base64url(words, 8);
}

/**
 * The sequence number's fingerprint (0 <= f < 2^32): the first word of its
 * hash, the first 32 bits of dedupeSeq's 48. What a bucket holds per id
 * (DedupeIds); the stored bytes are its 4 bytes big-endian. With an index >=
 * 0, of a record's sub-event: of `${sequenceNumber}/${index}`, without
 * building that string, and for less work when a record's sub-events come
 * one after another (SequenceHasher).
 */
export function dedupeSeqFingerprint(sequenceNumber: string, index = -1): number {
  sequences.hash(sequenceNumber, index, words);
  return words[0]!;
}

/**
 * The fingerprint of an 18-byte entry (48 bits, 0 <= f48 < 2^48: dedupeSeq's
 * bits as a number) as a 12-byte entry's: its first 32 bits, floor(f48 /
 * 2^16), which is dedupeSeqFingerprint of the same sequence number. So an old
 * entry and a new look-up agree exactly when the first 32 bits of the two 48
 * do: the same sequence number always does (a redelivery stays one), and
 * another one does with chance 2^-32 (a duplicate kept, as for new entries).
 */
export function legacyFingerprint(f48: number): number {
  return Math.floor(f48 / 0x10000);
}

/** 6-bit values by base64url character code (-1: not a base64url character). */
const VALUE = new Int8Array(128).fill(-1);
for (let v = 0; v < 64; v++) VALUE[CODE[v]!] = v;

/**
 * The first 64 bits of a 16-character base64url id (dedupeId's form, 96
 * bits) as two words, into out[2k..2k+1]; false (out untouched) when `id` is
 * not one. Two ids that differ only in their last 32 bits are one id here,
 * as they are in every bucket now (see the errors above).
 */
export function parseDedupeId(id: string, out: Uint32Array, k: number): boolean {
  if (id.length !== 16) return false;
  let w0 = 0;
  let w1 = 0;
  for (let i = 0; i < 16; i++) {
    const c = id.charCodeAt(i);
    const v = c < 128 ? VALUE[c]! : -1;
    // Every character is checked, those of the last 32 bits too (which are not kept).
    if (v < 0) return false;
    // Bit position of this character's 6 bits in the 96 (from the top).
    const bit = 6 * i;
    const word = bit >>> 5;
    if (word >= 2) continue;
    const shift = 26 - (bit & 31); // bits left of the character's lowest bit in its first word
    if (shift >= 0) {
      if (word === 0) w0 |= v << shift;
      else w1 |= v << shift;
    } else if (word === 0) {
      // Straddles two words: the top bits end this word, the rest start the next one.
      w0 |= v >>> -shift;
      w1 |= (v << (32 + shift)) | 0;
    } else {
      w1 |= v >>> -shift; // (the rest starts the third word, not kept)
    }
  }
  const o = 2 * k;
  out[o] = w0;
  out[o + 1] = w1;
  return true;
}

/**
 * The two words at ids[2k..2k+1] as text: 11 base64url characters, the 64
 * bits then two zero bits (tests; the first 10 characters are those of the
 * dedupeId the words were parsed from, the 11th holds 4 of its bits).
 */
export function formatDedupeId(ids: Uint32Array, k: number): string {
  const w = new Uint32Array(3);
  w[0] = ids[2 * k]!;
  w[1] = ids[2 * k + 1]!;
  return base64url(w, 16).slice(0, 11);
}

/**
 * The ids of one bucket: id (two words of its hash) -> the fingerprint of
 * the sequence number it was first recorded with (dedupeSeqFingerprint).
 * Entries are kept densely in the order they were added (2 words and one
 * fingerprint each), found through an open-addressing table of entry
 * numbers indexed by the id's first word (a MurmurHash3 output, uniform), so
 * a look-up or an addition allocates nothing, where a Map keyed by id strings
 * cost a string per event and a string hash and compare per look-up.
 */
export class DedupeIds {
  /** Entry e's id words at 2e..2e+1. */
  private keys: Uint32Array;
  private fingerprints: Uint32Array;
  /** Slot -> entry number + 1 (0: free); at most half full. */
  private slots: Int32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 8) {
    let cap = 16;
    while (cap < 2 * expected) cap *= 2;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    this.keys = new Uint32Array(2 * (cap >>> 1));
    this.fingerprints = new Uint32Array(cap >>> 1);
  }

  get size(): number {
    return this.count;
  }

  /** The fingerprint recorded for the id at ids[2k..2k+1], or -1 when the id is not here. */
  get(ids: Uint32Array, k: number): number {
    const o = 2 * k;
    const e = this.slots[this.slotOf(ids[o]!, ids[o + 1]!)]! - 1;
    return e < 0 ? -1 : this.fingerprints[e]!;
  }

  /**
   * Records the id at ids[2k..2k+1] with `fingerprint` unless it is here
   * already (the first recorded is kept): -1 when added, else the fingerprint
   * it holds (one probe for both). A fingerprint is a 32-bit unsigned integer
   * (an 18-byte entry's goes through legacyFingerprint first); anything else
   * throws, where the typed array would keep its low 32 bits, which is not
   * the reduction an old entry takes.
   */
  add(ids: Uint32Array, k: number, fingerprint: number): number {
    if (fingerprint >>> 0 !== fingerprint) throw new RangeError(`dedupe: sequence fingerprint ${fingerprint} is not a 32-bit unsigned integer (see dedupe.ts)`);
    if (2 * (this.count + 1) > this.slots.length) this.grow();
    const o = 2 * k;
    const a = ids[o]!;
    const b = ids[o + 1]!;
    const s = this.slotOf(a, b);
    const found = this.slots[s]! - 1;
    if (found >= 0) return this.fingerprints[found]!;
    const e = this.count++;
    this.keys[2 * e] = a;
    this.keys[2 * e + 1] = b;
    this.fingerprints[e] = fingerprint;
    this.slots[s] = e + 1;
    return -1;
  }

  /** The slot of id (a, b): the one holding its entry, else the free slot where it goes (the table is never full). */
  private slotOf(a: number, b: number): number {
    const keys = this.keys;
    const slots = this.slots;
    const mask = this.mask;
    for (let s = a & mask; ; s = (s + 1) & mask) {
      const e = slots[s]! - 1;
      if (e < 0) return s;
      if (keys[2 * e] === a && keys[2 * e + 1] === b) return s;
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

  /** Entry e (0 <= e < size, in the order added): its id words are idWords()[2e..2e+1]. */
  idWords(): Uint32Array {
    return this.keys;
  }

  fingerprintAt(e: number): number {
    return this.fingerprints[e]!;
  }

  private grow(): void {
    const cap = this.slots.length * 2;
    const keys = new Uint32Array(2 * (cap >>> 1));
    keys.set(this.keys.subarray(0, 2 * this.count));
    const fingerprints = new Uint32Array(cap >>> 1);
    fingerprints.set(this.fingerprints.subarray(0, this.count));
    const slots = new Int32Array(cap);
    const mask = cap - 1;
    for (let e = 0; e < this.count; e++) {
      let s = keys[2 * e]! & mask;
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
 * Bytes one id takes in a bucket as stored: 8 bytes of its hash (the first
 * 64 bits of dedupeId's 96) and 4 of its sequence number's (the first 32 of
 * dedupeSeq's 48), binary. Before, an id took 18 bytes (all 96 and 48 bits:
 * LEGACY_DEDUPE_ENTRY_BYTES; still read), and before chunks `"id":"seq",` in
 * a JSON attribute (16 + up to 129 + 6 bytes, 78 for a 56-digit Kinesis
 * sequence number).
 */
export const DEDUPE_ENTRY_BYTES = 12;

/** Bytes of an entry of the 18-byte chunks written before (96 bits of id hash, 48 of fingerprint), which are still read. */
export const LEGACY_DEDUPE_ENTRY_BYTES = 18;

/**
 * Bytes of ids one bucket (a shard and 5 seconds) may hold, over all its
 * chunks: 128,000 ids of 12 bytes, 25,600 a second as when buckets were one
 * second (a shard takes at most 1,000 records/s; more ids a second means
 * records of many events). It bounds what a cold container reads per bucket
 * (one paged Query); a batch adding more than a chunk holds puts several
 * (DynamoDB's 400 KB item limit). An 18-byte entry read from a chunk written
 * before counts its 18 bytes. Past it, ids are not recorded (so not
 * deduplicated); every store applies it.
 */
export const DEDUPE_MAX_BUCKET_BYTES = 5 * 300 * 1024;
