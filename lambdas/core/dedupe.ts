import { hashValue } from './aggregates/murmur3';

/**
 * Producer-duplicate ids. Event ids are hashed (128-bit MurmurHash3, 96 bits
 * kept) so that a bucket item holds many ids in little space whatever the
 * producer's id format; the 96 bits are written as 16 base64url characters.
 * Built from a table of 2-character strings: Number#toString(36), used before,
 * cost about 1 µs per event, as much as decoding the record.
 */

/** Event ids are filed in buckets of this much event time (one state item per shard and bucket). */
export const DEDUPE_BUCKET_MS = 1000;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Every 12-bit value as two base64url characters. */
const PAIRS: readonly string[] = Array.from({ length: 4096 }, (_, v) => ALPHABET[v >>> 6]! + ALPHABET[v & 63]!);

const words = new Uint32Array(4);

/** The stored form of an event id: 16 base64url characters of its hash. */
export function dedupeId(eventId: string): string {
  hashValue(eventId, words);
  const a = words[0]!;
  const b = words[1]!;
  const c = words[2]!;
  // 96 bits as eight 12-bit chunks: a[31..20] a[19..8] a[7..0]b[31..28] b[27..16] b[15..4] b[3..0]c[31..24] c[23..12] c[11..0]
  return (
    PAIRS[a >>> 20]! +
    PAIRS[(a >>> 8) & 4095]! +
    PAIRS[((a & 255) << 4) | (b >>> 28)]! +
    PAIRS[(b >>> 16) & 4095]! +
    PAIRS[(b >>> 4) & 4095]! +
    PAIRS[((b & 15) << 8) | (c >>> 24)]! +
    PAIRS[(c >>> 12) & 4095]! +
    PAIRS[c & 4095]!
  );
}
