import { DedupeIds, formatDedupeId, parseDedupeId } from '../../lambdas/core/dedupe';
import type { DedupeEntries } from '../../lambdas/core/StateStore';

/** The words of a 16-character base64url id (dedupeId's form); throws on anything else, so a test cannot pass a bad id unnoticed. */
function idWordsInto(id: string, out: Uint32Array, k: number): void {
  if (!parseDedupeId(id, out, k)) throw new Error(`test id ${JSON.stringify(id)} is not 16 base64url characters`);
}

/** A store's dedupe entries from ids written as dedupeId's 16 base64url characters (index: a sub-event's, -1 when absent). */
export function dedupeEntries(list: ReadonlyArray<{ bucket: number; id: string; seq: string; index?: number }>): DedupeEntries {
  const ids = new Uint32Array(2 * list.length);
  list.forEach((e, k) => idWordsInto(e.id, ids, k));
  return { length: list.length, buckets: Float64Array.from(list.map((e) => e.bucket)), ids, seqs: list.map((e) => e.seq), indexes: Int32Array.from(list.map((e) => e.index ?? -1)) };
}

/** A bucket's ids from [16-character id, fingerprint] pairs, in that order. */
export function dedupeIdsOf(pairs: ReadonlyArray<readonly [string, number]>): DedupeIds {
  const ids = new DedupeIds();
  const w = new Uint32Array(2);
  for (const [id, f] of pairs) {
    idWordsInto(id, w, 0);
    if (ids.add(w, 0, f) >= 0) throw new Error(`test id ${id} given twice`);
  }
  return ids;
}

/** What a bucket keeps of a 16-character id: its first 64 bits, as the 11 characters formatDedupeId writes (dedupePairs' form). */
export function keptId(id: string): string {
  const w = new Uint32Array(2);
  idWordsInto(id, w, 0);
  return formatDedupeId(w, 0);
}

/** A bucket's ids as [kept id (keptId's 11 characters), fingerprint] pairs, in the order they were added. */
export function dedupePairs(ids: DedupeIds): Array<[string, number]> {
  return Array.from({ length: ids.size }, (_, e) => [formatDedupeId(ids.idWords(), e), ids.fingerprintAt(e)]);
}
