import { createHash } from 'node:crypto';

/**
 * KPL aggregated records: what the Kinesis Producer Library, Fluent Bit's
 * kinesis plugin with aggregation and the Kinesis Agent write. The format
 * (https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md):
 *
 *     F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf (16 bytes)
 *
 *     message AggregatedRecord {
 *       repeated string partition_key_table     = 1;
 *       repeated string explicit_hash_key_table = 2;
 *       repeated Record records                 = 3;
 *     }
 *     message Record {
 *       required uint64 partition_key_index     = 1;
 *       optional uint64 explicit_hash_key_index = 2;
 *       required bytes  data                    = 3;
 *       repeated Tag    tags                    = 4;
 *     }
 *
 * This is a reader of exactly that, not a general protobuf decoder: it walks
 * the bytes once and hands out views (no copies) of each user record's data.
 * aws-kinesis-agg's deaggregator does the same through protobufjs, then
 * re-encodes every user record as base64 for its callback, which the core
 * would decode again; see the README ("Why a reader of our own") for the
 * measured difference.
 */

export const KPL_MAGIC = Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2);
const DIGEST_BYTES = 16;

/** True when `bytes` start with the KPL magic (and are long enough to hold a digest). */
export function isKplAggregate(bytes: Uint8Array): boolean {
  return bytes.length >= KPL_MAGIC.length + DIGEST_BYTES && bytes[0] === 0xf3 && bytes[1] === 0x89 && bytes[2] === 0x9a && bytes[3] === 0xc2;
}

/**
 * The first base64 characters of any KPL aggregate: F3 89 9A C2 encode to
 * "84maw" and a fifth character. Lets the decoder keep plain JSON records
 * (which start with "e" for "{", or "I"/"C"/"D"/"W" for white space) on their
 * fast path by looking at two characters.
 */
export function mayBeKplBase64(data: string): boolean {
  return data.charCodeAt(0) === 56 /* 8 */ && data.charCodeAt(1) === 52 /* 4 */ && data.startsWith('84maw');
}

export interface UserRecord {
  readonly partitionKey: string;
  readonly data: Uint8Array;
}

export type Deaggregated = { readonly ok: true; readonly records: UserRecord[] } | { readonly ok: false; readonly message: string };

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      else if ((b & 0x7f) !== 0) throw new Error('varint larger than 2^53');
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint longer than 10 bytes');
    }
  }

  /** The [start, end) of a length-delimited field's payload. */
  delimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) throw new Error(`field of ${len} bytes runs past the end`);
    this.pos = start + len;
    return [start, start + len];
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.delimited();
    else if (wire === 5) this.advance(4);
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new Error('truncated field');
    this.pos += n;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Splits a KPL aggregate (magic bytes already seen) into its user records,
 * in order. With `checkDigest` the MD5 trailer is verified first, as the KPL's
 * own deaggregators do: a record whose digest does not match is refused whole
 * (its contents cannot be trusted), never partly applied.
 */
export function deaggregate(bytes: Uint8Array, checkDigest = true): Deaggregated {
  const bodyStart = KPL_MAGIC.length;
  const bodyEnd = bytes.length - DIGEST_BYTES;
  if (checkDigest) {
    const digest = createHash('md5').update(bytes.subarray(bodyStart, bodyEnd)).digest();
    for (let i = 0; i < DIGEST_BYTES; i++) {
      if (digest[i] !== bytes[bodyEnd + i]) {
        return { ok: false, message: 'KPL aggregated record: the MD5 digest of its contents does not match its trailer (the record is truncated or corrupt)' };
      }
    }
  }
  try {
    const keys: string[] = [];
    const spans: Array<[number, number, number]> = []; // data start, data end, key index
    const r = new Reader(bytes, bodyStart, bodyEnd);
    while (r.pos < bodyEnd) {
      const tag = r.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 1 && wire === 2) {
        const [s, e] = r.delimited();
        keys.push(utf8.decode(bytes.subarray(s, e)));
      } else if (field === 3 && wire === 2) {
        const [s, e] = r.delimited();
        const inner = new Reader(bytes, s, e);
        let keyIndex = -1;
        let data: [number, number] | null = null;
        while (inner.pos < e) {
          const t = inner.varint();
          const f = Math.floor(t / 8);
          const w = t & 7;
          if (f === 1 && w === 0) keyIndex = inner.varint();
          else if (f === 3 && w === 2) data = inner.delimited();
          else inner.skip(w);
        }
        if (data === null) throw new Error(`user record ${spans.length} has no data field`);
        if (keyIndex < 0) throw new Error(`user record ${spans.length} has no partition key index`);
        spans.push([data[0], data[1], keyIndex]);
      } else {
        r.skip(wire);
      }
    }
    const records: UserRecord[] = new Array<UserRecord>(spans.length);
    for (let i = 0; i < spans.length; i++) {
      const [s, e, k] = spans[i]!;
      const partitionKey = keys[k];
      if (partitionKey === undefined) throw new Error(`user record ${i} names partition key ${k} of a table of ${keys.length}`);
      records[i] = { partitionKey, data: bytes.subarray(s, e) };
    }
    return { ok: true, records };
  } catch (err) {
    return { ok: false, message: `KPL aggregated record: malformed protobuf (${err instanceof Error ? err.message : String(err)})` };
  }
}
