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

/** The stored form of an event id: 16 base64url characters of its hash. */
export function dedupeId(eventId: string): string {
  hashValue(eventId, words);
  const a = words[0]!;
  const b = words[1]!;
  const c = words[2]!;
  // One flat string from 16 codes (a chain of concatenations would build 15 intermediate strings).
  return String.fromCharCode(
    CODE[a >>> 26]!,
    CODE[(a >>> 20) & 63]!,
    CODE[(a >>> 14) & 63]!,
    CODE[(a >>> 8) & 63]!,
    CODE[(a >>> 2) & 63]!,
    CODE[((a & 3) << 4) | (b >>> 28)]!,
    CODE[(b >>> 22) & 63]!,
    CODE[(b >>> 16) & 63]!,
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
 * Bytes of ids one bucket item may hold (a shard takes at most 1,000
 * records/s, so a full bucket means ids far beyond that): well under
 * DynamoDB's 400 KB item limit, with room for the key and the version. Past
 * it, ids are not recorded (so not deduplicated); every store applies it.
 */
export const DEDUPE_MAX_BUCKET_BYTES = 300 * 1024;

/**
 * Bytes one id takes in a bucket item (`"id":"seq",` in its JSON). Ids are
 * base64url (dedupeId) and sequence numbers decimal digits (Kinesis; the
 * engine refuses any other, see sequence.ts), so characters are bytes.
 */
export function dedupeEntryBytes(id: string, sequenceNumber: string): number {
  return id.length + sequenceNumber.length + 6;
}

/** Bytes of a bucket's ids as they are counted against the cap: the braces and every entry. */
export function dedupeBucketBytes(ids: ReadonlyMap<string, string>): number {
  let n = 2;
  for (const [id, seq] of ids) n += dedupeEntryBytes(id, seq);
  return n;
}
