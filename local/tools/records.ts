/**
 * Input lines and payloads -> Lambda-shaped Kinesis records, for `test` and
 * `backtest`. The record carries the payload's bytes exactly as given, so the
 * engine decodes (and rejects) them as it would the real stream's.
 *
 * An NDJSON line is either a payload (any line, even one that is not JSON:
 * the engine rejects it with its reason), or a Kinesis record as the AWS CLI
 * prints one (`aws kinesis get-records`: `Data`, `ApproximateArrivalTimestamp`,
 * `PartitionKey`, `SequenceNumber`) or as Lambda delivers one (`kinesis: {
 * data, approximateArrivalTimestamp, … }`, `eventID: "shardId-…:seq"`). A
 * record keeps its bytes, arrival time, shard and sequence number; a payload
 * arrives at its event time plus the arrival delay, on the shard its
 * partition key hashes to, with a generated sequence number.
 */
import { parseEventTime } from '../../lambdas/core/decode';
import type { EpochMs, KinesisLikeRecord, StreamSpec } from '../../lambdas/core/types';
import { shardIdOf, shardIndexOf } from '../records';

/**
 * The raw JSON text of a top-level field of a JSON object text, without
 * parsing the rest: e.g. `"2026-11-27T10:00:00Z"` or `1764237600000` (the
 * first, if the key is repeated).
 * undefined when the text has no such top-level field, or is not an object.
 * A scanner that skips strings and nested values; for text that is not
 * valid JSON the answer is unspecified (the engine rejects such a record).
 */
export function topLevelValue(json: string, key: string): string | undefined {
  // One pass, no closures and no string per key (this runs once per input line of a backtest).
  const n = json.length;
  let i = skipBlank(json, 0);
  if (json.charCodeAt(i) !== 123 /* { */) return undefined;
  i = skipBlank(json, i + 1);
  if (json.charCodeAt(i) === 125 /* } */) return undefined;
  for (;;) {
    if (i >= n || json.charCodeAt(i) !== 34 /* " */) return undefined;
    const keyStart = i;
    escaped = false;
    i = skipString(json, i);
    if (i < 0) return undefined;
    let isKey: boolean;
    if (!escaped) isKey = i - keyStart - 2 === key.length && json.startsWith(key, keyStart + 1);
    else {
      try {
        isKey = JSON.parse(json.slice(keyStart, i)) === key;
      } catch {
        return undefined;
      }
    }
    i = skipBlank(json, i);
    if (json.charCodeAt(i) !== 58 /* : */) return undefined;
    i = skipBlank(json, i + 1);
    const valueStart = i;
    i = skipValue(json, i);
    // The first of repeated keys (JSON.parse keeps the last: a payload that repeats its
    // event-time field gets its arrival from the first; the engine reads its event time itself).
    if (isKey) return json.slice(valueStart, i);
    i = skipBlank(json, i);
    const c = json.charCodeAt(i);
    if (c === 125) return undefined;
    if (c !== 44 /* , */) return undefined;
    i = skipBlank(json, i + 1);
  }
}

/** Set by skipString: the string had an escape. */
let escaped = false;

function skipBlank(json: string, i: number): number {
  while (i < json.length) {
    const c = json.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
    i++;
  }
  return i;
}

/** The index after the string starting at i (its opening quote), or -1 when it does not end. */
function skipString(json: string, i: number): number {
  i++;
  while (i < json.length) {
    const c = json.charCodeAt(i);
    if (c === 92 /* \ */) {
      escaped = true;
      i += 2;
    } else if (c === 34) return i + 1;
    else i++;
  }
  return -1;
}

/** The index after the value starting at i. */
function skipValue(json: string, i: number): number {
  const n = json.length;
  const c = json.charCodeAt(i);
  if (c === 34) {
    const e = skipString(json, i);
    return e < 0 ? n : e;
  }
  if (c === 123 || c === 91 /* [ */) {
    let depth = 0;
    while (i < n) {
      const d = json.charCodeAt(i);
      if (d === 34) {
        const e = skipString(json, i);
        if (e < 0) return n;
        i = e;
        continue;
      }
      if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return n;
  }
  while (i < n) {
    const d = json.charCodeAt(i);
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 9 || d === 10 || d === 13) return i;
    i++;
  }
  return n;
}

/** The value of a top-level field as JSON would give it (strings unescaped); undefined when absent or unreadable. */
export function topLevelField(json: string, key: string): unknown {
  const raw = topLevelValue(json, key);
  if (raw === undefined || raw === '') return undefined;
  if (raw.charCodeAt(0) === 34 && !raw.includes('\\')) return raw.slice(1, -1);
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

/** A field by dotted path (`a.b`), top level without parsing the whole text when possible. */
function fieldValue(json: string, path: readonly string[]): unknown {
  if (path.length === 1) return topLevelField(json, path[0]!);
  let v = topLevelField(json, path[0]!);
  for (const p of path.slice(1)) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

/** The event time of a payload's text, as the engine would read it; null when it has none the engine accepts. */
export function eventTimeOf(json: string, stream: StreamSpec): EpochMs | null {
  if (stream.timestamp.kind !== 'field') return null;
  const v = topLevelField(json, stream.timestamp.field);
  if (v === undefined) return null;
  if (typeof v === 'string') {
    const quick = utcMillis(v);
    if (quick !== null) return quick;
  }
  const t = parseEventTime(v, stream.timestamp.field);
  return typeof t === 'number' ? t : null;
}

/** The last seconds (`2026-11-27T10:00:05`) utcMillis read, and their epoch ms: lines arrive a few seconds out of order. */
const SECONDS = 4;
const seconds: string[] = new Array<string>(SECONDS).fill('\u0000');
const secondsMs = new Float64Array(SECONDS);
let nextSlot = 0;

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ`, the commonest shape of event times by far, read
 * with recent seconds remembered; null for any other shape, which the engine's
 * parser reads. Only the arrival time of a payload line comes from here: the
 * engine reads the event time itself.
 */
function utcMillis(v: string): EpochMs | null {
  if (v.length !== 24 || v.charCodeAt(23) !== 90 /* Z */ || v.charCodeAt(19) !== 46 /* . */ || v.charCodeAt(10) !== 84 /* T */) return null;
  const a = v.charCodeAt(20) - 48;
  const b = v.charCodeAt(21) - 48;
  const c = v.charCodeAt(22) - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9) return null;
  const ms = a * 100 + b * 10 + c;
  for (let k = 0; k < SECONDS; k++) if (v.startsWith(seconds[k]!)) return secondsMs[k]! + ms;
  const second = v.slice(0, 19);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(second)) return null;
  // The engine's own parser decides what a valid second is (calendar, ranges).
  const t = parseEventTime(`${second}Z`, 'ts');
  if (typeof t !== 'number') return null;
  seconds[nextSlot] = second;
  secondsMs[nextSlot] = t;
  nextSlot = (nextSlot + 1) % SECONDS;
  return t + ms;
}

export interface RecordMakerOptions {
  /** Shards payloads are spread over. @default 1 */
  readonly shards?: number;
  /** Payload field (`a.b` for nested) whose value is the partition key; without it, the line number is. */
  readonly partitionKey?: string;
}

/**
 * Builds records: payloads get a shard (from their partition key) and a
 * sequence number that grows per shard; given records keep theirs, which
 * must grow per shard too.
 */
export class RecordMaker {
  private readonly shards: number;
  private readonly keyPath: readonly string[] | undefined;
  /** Per shard index: its id (cached) and sequence state. */
  private readonly byIndex: Array<ShardSequence | undefined> = [];
  private readonly byId = new Map<string, ShardSequence>();
  private n = 0;

  constructor(opts: RecordMakerOptions = {}) {
    this.shards = opts.shards ?? 1;
    this.keyPath = opts.partitionKey?.split('.');
  }

  private shard(id: string): ShardSequence {
    let s = this.byId.get(id);
    if (s === undefined) this.byId.set(id, (s = { id, index: shardIndexOfId(id), count: 0, last: undefined, lastBig: null }));
    return s;
  }

  /** A record for a payload's text arriving at `arrival` (ms). `shard` (0-based) overrides the partition key's. */
  payload(text: string, arrival: EpochMs, opts: { readonly shard?: number; readonly partitionKey?: string } = {}): KinesisLikeRecord {
    this.n += 1;
    let key = opts.partitionKey;
    if (key === undefined && this.keyPath !== undefined) {
      const v = fieldValue(text, this.keyPath);
      if (v !== undefined && v !== null && v !== '') key = typeof v === 'string' ? v : JSON.stringify(v);
    }
    if (key === undefined) key = this.shards === 1 && opts.shard === undefined ? 'line' : `line-${this.n}`;
    const index = opts.shard ?? (this.shards === 1 ? 0 : shardIndexOf(key, this.shards));
    let s = this.byIndex[index];
    if (s === undefined) s = this.byIndex[index] = this.shard(shardIdOf(index));
    let sequenceNumber: string;
    if (s.lastBig === null) {
      // 1, 2, 3, … per shard: the engine compares sequence numbers as decimals of any length. A short,
      // flat string: the in-memory store keeps one per producer-duplicate id it remembers.
      sequenceNumber = String(++s.count);
      s.last = sequenceNumber;
    } else {
      // After a given record on this shard: the next number after it.
      s.lastBig += 1n;
      sequenceNumber = s.lastBig.toString();
    }
    return { data: base64(text), partitionKey: key, sequenceNumber, approximateArrivalTimestamp: arrival / 1000, shardId: s.id };
  }

  /**
   * A given Kinesis record (from an input line). Without a shard it goes where
   * its partition key hashes to; without a sequence number it gets one. Throws
   * when its sequence number does not grow on its shard.
   */
  record(r: InputLine & { readonly kind: 'record' }): KinesisLikeRecord {
    const shardId = r.shardId ?? shardIdOf(this.shards === 1 ? 0 : shardIndexOf(r.partitionKey, this.shards));
    if (r.sequenceNumber === undefined) {
      const made = this.payload('', r.arrival, { partitionKey: r.partitionKey || `line-${this.n + 1}`, shard: this.shard(shardId).index });
      return { ...made, data: r.data };
    }
    const s = this.shard(shardId);
    const seq = BigInt(r.sequenceNumber);
    const prev = s.lastBig ?? (s.last !== undefined ? BigInt(s.last) : null);
    if (prev !== null && seq <= prev) {
      throw new Error(`records of ${shardId} are not in sequence order: ${r.sequenceNumber} comes after ${prev} (Kinesis delivers a shard in sequence order; sort the input by shard and sequence number)`);
    }
    s.lastBig = seq;
    return { data: r.data, partitionKey: r.partitionKey, sequenceNumber: r.sequenceNumber, approximateArrivalTimestamp: r.arrival / 1000, shardId };
  }
}

/**
 * Base64 of a text's UTF-8 bytes. An ASCII text's characters are its bytes, and
 * btoa encodes those about 3 times faster than Buffer on Node 20; anything
 * else goes through Buffer.
 */
function base64(text: string): string {
  return Buffer.byteLength(text, 'utf8') === text.length ? btoa(text) : Buffer.from(text, 'utf8').toString('base64');
}

interface ShardSequence {
  readonly id: string;
  readonly index: number;
  count: number;
  /** The last generated sequence number. */
  last: string | undefined;
  /** The last sequence number, once a given record set it. */
  lastBig: bigint | null;
}

/** The index in `shardId-000000000003`, for generated sequence numbers (0 when it has no number). */
function shardIndexOfId(shardId: string): number {
  const m = /(\d+)$/.exec(shardId);
  return m ? Number(m[1]) % 1_000_000_000_000 : 0;
}

/** What an input line is: a payload (its exact text), or a Kinesis record. */
export type InputLine =
  | { readonly kind: 'payload'; readonly text: string }
  | { readonly kind: 'record'; readonly data: string; readonly arrival: EpochMs; readonly partitionKey: string; readonly sequenceNumber?: string; readonly shardId?: string };

const SEQUENCE = /^\d{1,129}$/;

/** Recognises a Kinesis record line (AWS CLI or Lambda shape); anything else is a payload. Throws on a malformed record line. */
export function classifyLine(line: string): InputLine {
  // Cheap test first: a payload line rarely carries these keys.
  if (!line.includes('pproximateArrivalTimestamp"')) return { kind: 'payload', text: line };
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return { kind: 'payload', text: line };
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return { kind: 'payload', text: line };
  const top = o as Record<string, unknown>;
  const lambda = top['kinesis'];
  const r = (lambda !== null && typeof lambda === 'object' && !Array.isArray(lambda) ? lambda : top) as Record<string, unknown>;
  const data = r['Data'] ?? r['data'];
  const arrivalRaw = r['ApproximateArrivalTimestamp'] ?? r['approximateArrivalTimestamp'];
  if (typeof data !== 'string' || arrivalRaw === undefined) return { kind: 'payload', text: line };
  const arrival = typeof arrivalRaw === 'number' ? Math.round(arrivalRaw * 1000) : typeof arrivalRaw === 'string' ? Date.parse(arrivalRaw) : Number.NaN;
  if (!Number.isFinite(arrival)) throw new Error(`ApproximateArrivalTimestamp must be epoch seconds or an ISO-8601 time (given ${JSON.stringify(arrivalRaw)})`);
  const seq = r['SequenceNumber'] ?? r['sequenceNumber'];
  if (seq !== undefined && (typeof seq !== 'string' || !SEQUENCE.test(seq))) throw new Error(`SequenceNumber must be a decimal string of up to 129 digits (given ${JSON.stringify(seq)})`);
  const pk = r['PartitionKey'] ?? r['partitionKey'];
  const eventId = top['eventID'];
  const shardFromId = typeof eventId === 'string' ? /^(shardId-[^:]+):/.exec(eventId)?.[1] : undefined;
  const shard = top['shardId'] ?? top['ShardId'] ?? shardFromId;
  return {
    kind: 'record',
    data,
    arrival,
    partitionKey: typeof pk === 'string' ? pk : '',
    ...(typeof seq === 'string' ? { sequenceNumber: seq } : {}),
    ...(typeof shard === 'string' ? { shardId: shard } : {}),
  };
}
