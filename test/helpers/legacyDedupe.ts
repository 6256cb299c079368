/**
 * The dedupe chunk format before 12-byte entries, frozen (a copy of the code
 * that wrote it, not derived from today's): deployed tables hold chunks of it
 * until their TTL drops them, so tests build them with this and check that
 * they are still read. Do not change it to follow the code: it is what is
 * stored.
 */
import { hashValue } from '../../lambdas/core/aggregates/murmur3';

/** Bytes of an entry: 12 of the id hash (its first 96 bits), 6 of the sequence number's (first 48). */
export const OLD_ENTRY_BYTES = 18;

/** An old entry: the id hash's three words, and the 48-bit fingerprint (0 <= f48 < 2^48). */
export interface OldEntry {
  readonly words: readonly [number, number, number];
  readonly f48: number;
}

/** The old entry of an event id recorded from a record (and sub-event index, -1: none), as the engine and store before computed it. */
export function oldEntry(eventId: string, sequenceNumber: string, index = -1): OldEntry {
  const w = new Uint32Array(4);
  hashValue(eventId, w);
  const words: [number, number, number] = [w[0]!, w[1]!, w[2]!];
  // dedupeSeqFingerprint before: of `${seq}/${index}` for a sub-event, the first hash word then the top 16 bits of the second.
  hashValue(index >= 0 ? `${sequenceNumber}/${index}` : sequenceNumber, w);
  return { words, f48: w[0]! * 0x10000 + (w[1]! >>> 16) };
}

/** An old entry from a 16-character base64url id (dedupeId's text) and a 48-bit fingerprint. */
export function oldEntryOfText(id: string, f48: number): OldEntry {
  const b = Buffer.from(id, 'base64url');
  if (b.length !== 12) throw new Error(`test id ${id} is not 16 base64url characters`);
  return { words: [b.readUInt32BE(0), b.readUInt32BE(4), b.readUInt32BE(8)], f48 };
}

/** The `ids` attribute of an old chunk (dedupeLayout.encodeChunk before): per entry 12 bytes of id, then the fingerprint's 6, big-endian. */
export function oldChunkBytes(entries: readonly OldEntry[]): Uint8Array {
  const bytes = new Uint8Array(entries.length * OLD_ENTRY_BYTES);
  const view = new DataView(bytes.buffer);
  entries.forEach((e, i) => {
    const o = i * OLD_ENTRY_BYTES;
    if (!Number.isInteger(e.f48) || e.f48 < 0 || e.f48 >= 2 ** 48) throw new Error(`not a 48-bit fingerprint: ${e.f48}`);
    view.setUint32(o, e.words[0]);
    view.setUint32(o + 4, e.words[1]);
    view.setUint32(o + 8, e.words[2]);
    view.setUint32(o + 12, Math.floor(e.f48 / 0x10000));
    view.setUint16(o + 16, e.f48 % 0x10000);
  });
  return bytes;
}

/** An old chunk item (native: attribute names as stored, `ids` the binary attribute). */
export function oldChunkItem(pk: string, sk: string, entries: readonly OldEntry[], expiresAtSeconds: number): Record<string, unknown> {
  return { pk, sk, ids: oldChunkBytes(entries), expiresAt: expiresAtSeconds };
}
