import { hashValue } from './aggregates/murmur3';

/**
 * Producer-duplicate ids. Event ids are hashed (128-bit MurmurHash3, 96 bits
 * kept) so that a bucket item holds many ids in little space whatever the
 * producer's id format; the 96 bits are written as 16 base64url characters,
 * built from char codes. Number#toString(36), used before, cost about 1 µs per
 * event, as much as decoding the record.
 */

/** Event ids are filed in buckets of this much event time (one state item per shard and bucket). */
export const DEDUPE_BUCKET_MS = 1000;

/** base64url character codes by 6-bit value. */
const CODE = new Uint16Array(64);
for (let v = 0; v < 64; v++) CODE[v] = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(v);

const words = new Uint32Array(4);

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

/** The stored form of an event id: 16 base64url characters (96 bits) of its hash. */
export function dedupeId(eventId: string): string {
  hashValue(eventId, words);
  return base64url(words, 16);
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
