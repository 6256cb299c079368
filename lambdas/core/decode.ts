import { gunzipSync } from 'node:zlib';
import { eventVariables } from './expression';
import { readPath } from './fieldPath';
import { deaggregate, isKplAggregate, mayBeKplBase64 } from './kpl';
import { parseMessage, readEnvelope } from './messages';
import { readEventTime } from './timeFormat';
import type { Clock, DecodedEvent, DecodeResult, EpochMs, JsonObject, JsonValue, KinesisLikeRecord, Rejection, RejectReason, StreamSpec } from './types';
import { ISO_8601_DATE_TIME, parseIsoDateTime } from './timestamp';

/** Event times before this are not plausible for live telemetry (2000-01-01T00:00:00Z). */
export const MIN_EVENT_TIME: EpochMs = Date.UTC(2000, 0, 1);

/** The largest epoch-ms a JavaScript Date holds (year 275760). */
const MAX_DATE_MS = 8.64e15;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function reject(record: KinesisLikeRecord, reason: RejectReason, message: string): Rejection {
  return {
    reason,
    message,
    shardId: record.shardId,
    sequenceNumber: record.sequenceNumber,
    partitionKey: record.partitionKey,
    arrivalTime: arrivalMs(record),
    data: record.data,
  };
}

/** A sub-event's rejection: its record's identity, its index, and its own bytes (base64). */
function rejectSub(record: KinesisLikeRecord, index: number, data: string, reason: RejectReason, message: string): Rejection {
  return { ...reject(record, reason, message), data, index };
}

/** What decoding a batch counts besides events and rejections. */
export interface DecodeSink {
  readonly rejected: Rejection[];
  /** CloudWatch Logs CONTROL_MESSAGE records: acknowledged, counted, never events nor rejections. */
  controlMessages: number;
  /** Derived fields whose expression failed on an event (the field is left missing), by field name. */
  readonly derivedErrors: Record<string, number>;
  /**
   * The clock's latest reading while decoding this batch (-Infinity before the first). An event
   * time within maxFuture of it is within maxFuture of the clock now (the clock does not run
   * backwards), so only a later one reads the clock again: the future check is still made
   * against a fresh reading whenever it could fail, without a Date.now() (about 40 ns) per event.
   */
  clockSeen: EpochMs;
}

export function newDecodeSink(): DecodeSink {
  return { rejected: [], controlMessages: 0, derivedErrors: {}, clockSeen: -Infinity };
}

/** Why an event time is too far ahead of the clock (read again only when the batch's last reading does not settle it), or null. */
function futureProblem(eventTime: EpochMs, stream: StreamSpec, clock: Clock, sink: DecodeSink | undefined): string | null {
  if (sink !== undefined && eventTime <= sink.clockSeen + stream.maxFutureMs) return null;
  const now = clock.now();
  if (sink !== undefined) sink.clockSeen = now;
  if (eventTime <= now + stream.maxFutureMs) return null;
  return `event time ${new Date(eventTime).toISOString()} is ${Math.round((eventTime - now) / 1000)}s ahead of the clock; the stream allows ${Math.round(stream.maxFutureMs / 1000)}s (check the producer's clock)`;
}

/**
 * A batch's decoded events, column by column: the payloads, their event
 * times and the records they came from. At 10,000 events a batch, an object
 * per event (and a boxed number per event time) is garbage the young-generation
 * collector copies while the batch is live; the columns allocate nothing per
 * event but the payload JSON.parse made.
 */
export class DecodedBatch {
  length = 0;
  /** Sized for `capacity` events up front (entries past `length` are empty), as `times` is. */
  readonly payloads: JsonObject[];
  readonly records: KinesisLikeRecord[];
  times: Float64Array;
  /**
   * Each event's index among its record's events (see Rejection.index), or -1
   * for a record that is one event by its framing. An event's identity is
   * (sequence number, index).
   */
  indexes: Int32Array;

  constructor(capacity: number) {
    this.payloads = new Array<JsonObject>(capacity);
    this.records = new Array<KinesisLikeRecord>(capacity);
    this.times = new Float64Array(Math.max(capacity, 1));
    this.indexes = new Int32Array(Math.max(capacity, 1));
  }

  push(payload: JsonObject, eventTime: EpochMs, record: KinesisLikeRecord, index = -1): void {
    const i = this.length++;
    if (i === this.times.length) {
      const grown = new Float64Array(i * 2);
      grown.set(this.times);
      this.times = grown;
      const indexes = new Int32Array(i * 2);
      indexes.set(this.indexes);
      this.indexes = indexes;
    }
    this.payloads[i] = payload;
    this.records[i] = record;
    this.times[i] = eventTime;
    this.indexes[i] = index;
  }

  /** The events whose `drop` entry is 0, in order. */
  without(drop: Uint8Array): DecodedBatch {
    const out = new DecodedBatch(this.length);
    for (let i = 0; i < this.length; i++) if (drop[i] === 0) out.push(this.payloads[i]!, this.times[i]!, this.records[i]!, this.indexes[i]!);
    return out;
  }

  /** A copy of the first `n` events (the same indices). */
  truncated(n: number): DecodedBatch {
    const out = new DecodedBatch(n);
    for (let i = 0; i < n; i++) out.push(this.payloads[i]!, this.times[i]!, this.records[i]!, this.indexes[i]!);
    return out;
  }

  sequenceNumber(i: number): string {
    return this.records[i]!.sequenceNumber;
  }

  /**
   * The first event of event i's record. A record's events are adjacent and
   * never split across batches, so a batch that must stop at event i stops at
   * this one instead: Lambda retries whole records, and a record is applied
   * whole or not at all.
   */
  recordStart(i: number): number {
    const record = this.records[i];
    while (i > 0 && this.records[i - 1] === record) i--;
    return i;
  }

  /** The latest event time of events 0..i, or `prior` when that is later (or i < 0). */
  maxTimeThrough(i: number, prior: EpochMs): EpochMs {
    let max = prior;
    for (let k = 0; k <= i; k++) if (this.times[k]! > max) max = this.times[k]!;
    return max;
  }
}

/** The producer's event id of a payload (a string, or a number as a string), when the stream declares its field. */
export function eventIdOf(stream: StreamSpec, payload: JsonObject): string | undefined {
  if (stream.idField === undefined) return undefined;
  const id = stream.idPath !== undefined ? readPath(payload, stream.idPath) : payload[stream.idField];
  return typeof id === 'string' ? id : typeof id === 'number' ? String(id) : undefined;
}

function arrivalMs(record: KinesisLikeRecord): EpochMs {
  return Math.round(record.approximateArrivalTimestamp * 1000);
}

/** A string value as a message may quote it. */
function shown(value: string, redact: boolean): string {
  return redact ? '[redacted]' : JSON.stringify(value.slice(0, 64));
}

/**
 * Reads an event time from a payload value: epoch milliseconds (a number) or
 * an ISO-8601 string with a time zone. Returns a message when it cannot.
 */
export function parseEventTime(value: unknown, field: string, redact = false): EpochMs | string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return `field "${field}" is not a finite number`;
    if (Math.abs(value) > MAX_DATE_MS) {
      return `field "${field}" is ${redact ? '[redacted]' : value}: outside the range of dates (epoch milliseconds up to ${MAX_DATE_MS})`;
    }
    if (value < 1e11) {
      return `field "${field}" is ${redact ? '[redacted]' : value}: expected epoch milliseconds (this looks like epoch seconds or a relative time)`;
    }
    return Math.floor(value);
  }
  if (typeof value === 'string') {
    const t = parseIsoDateTime(value);
    if (!Number.isNaN(t)) return t;
    if (!ISO_8601_DATE_TIME.test(value)) {
      return `field "${field}" is ${shown(value, redact)}: expected an ISO-8601 date-time with a time zone (e.g. 2026-11-27T10:00:00.000Z) or epoch milliseconds`;
    }
    return `field "${field}" is ${shown(value, redact)}: not a valid date-time`;
  }
  return `field "${field}" is ${value === null ? 'null' : typeof value}: expected an ISO-8601 string or epoch milliseconds`;
}

/**
 * The record's text when its bytes are all ASCII, as JSON telemetry nearly
 * always is: atob decodes base64 straight to a string whose characters are
 * the bytes, which for ASCII is the UTF-8 text itself, at a third of the cost
 * of a Buffer plus UTF-8 decoding (atob is a web-platform global, kept by
 * Node). Anything else (a byte of 0x80 or more, a character atob refuses or
 * skips) returns undefined and takes the general path, which decodes or
 * rejects it exactly as it always did.
 */
function asciiText(data: string, expectedLength: number): string | undefined {
  let binary: string;
  try {
    binary = atob(data);
  } catch {
    return undefined;
  }
  // A character of 0x80-0xFF takes two bytes in UTF-8: equal lengths mean all ASCII
  // (Buffer.byteLength scans a few times faster than a regular expression).
  return binary.length === expectedLength && Buffer.byteLength(binary, 'utf8') === expectedLength ? binary : undefined;
}

/**
 * Decodes one Kinesis record of `stream` (see decodeInto) into an event object:
 * the record's first event, or its first rejection. The engine decodes into a
 * DecodedBatch instead; decodeRecordEvents returns every event of a record.
 */
export function decodeRecord(record: KinesisLikeRecord, stream: StreamSpec, clock: Clock, redact?: ReadonlySet<string>): DecodeResult {
  const all = decodeRecordEvents(record, stream, clock, redact);
  if (all.events.length > 0) return { ok: true, event: all.events[0]! };
  if (all.rejected.length > 0) return { ok: false, rejection: all.rejected[0]! };
  throw new Error(`record ${record.sequenceNumber} holds no event (a CONTROL_MESSAGE or an empty list): use decodeRecordEvents`);
}

/** Every event and rejection of one record, in order (for tests, tools and the docs' examples). */
export function decodeRecordEvents(
  record: KinesisLikeRecord,
  stream: StreamSpec,
  clock: Clock,
  redact?: ReadonlySet<string>,
): { events: DecodedEvent[]; rejected: Rejection[]; controlMessages: number; derivedErrors: Record<string, number> } {
  const batch = new DecodedBatch(1);
  const sink = newDecodeSink();
  const rejection = decodeInto(batch, record, stream, clock, redact, sink);
  if (rejection !== null) sink.rejected.push(rejection);
  const events: DecodedEvent[] = [];
  for (let i = 0; i < batch.length; i++) {
    const payload = batch.payloads[i]!;
    const index = batch.indexes[i]!;
    events.push({
      payload,
      eventTime: batch.times[i]!,
      arrivalTime: arrivalMs(record),
      shardId: record.shardId,
      sequenceNumber: record.sequenceNumber,
      partitionKey: record.partitionKey,
      eventId: eventIdOf(stream, payload),
      ...(index >= 0 ? { index } : {}),
    });
  }
  return { events, rejected: sink.rejected, controlMessages: sink.controlMessages, derivedErrors: sink.derivedErrors };
}

/** True when base64 `data` starts with the gzip magic 1F 8B 08 ("H4sI"). */
function mayBeGzipBase64(data: string): boolean {
  return data.charCodeAt(0) === 72 /* H */ && data.startsWith('H4sI');
}

/**
 * Decodes one Kinesis record of `stream` and appends its events to `batch`.
 * Never throws on bad input: every failure is a classified rejection that
 * carries the data for quarantine.
 *
 * A plain JSON record (the default framing, not KPL, not gzip) takes the fast
 * path: base64 → UTF-8 → JSON object → schema → event time; its rejection is
 * returned. Anything else (KPL aggregates, gzip, other framings and parsers)
 * takes decodeSplit, which appends every event of the record and puts every
 * rejection in `sink` (a bad sub-event is rejected alone); null is returned.
 * A message quotes at most 64 characters of one field (the event time), never
 * a field listed in `redact`.
 */
export function decodeInto(
  batch: DecodedBatch,
  record: KinesisLikeRecord,
  stream: StreamSpec,
  clock: Clock,
  redact?: ReadonlySet<string>,
  sink?: DecodeSink,
): Rejection | null {
  const data = record.data;
  // 4 base64 characters carry 3 bytes: check the size before allocating.
  const approxBytes = Math.floor((data.length * 3) / 4);
  if (approxBytes > stream.maxRecordBytes) {
    return reject(record, 'too-large', `record is about ${approxBytes} bytes, more than the stream's limit of ${stream.maxRecordBytes} bytes`);
  }
  if (
    (stream.framing !== undefined && stream.framing !== 'json') ||
    (stream.parse !== undefined && stream.parse.kind !== 'json') ||
    (stream.kpl !== false && mayBeKplBase64(data)) ||
    (stream.gzip !== false && mayBeGzipBase64(data))
  ) {
    const own = sink ?? newDecodeSink();
    const before = own.rejected.length;
    decodeSplit(batch, record, stream, clock, redact, own);
    return sink === undefined ? (own.rejected[before] ?? null) : null;
  }
  // 4 base64 characters carry 3 bytes, less the padding.
  const n = data.length;
  const padding = data.charCodeAt(n - 1) !== 61 /* = */ ? 0 : data.charCodeAt(n - 2) === 61 ? 2 : 1;
  const expected = (n / 4) * 3 - padding;
  const ascii = n % 4 === 0 ? asciiText(data, expected) : undefined;
  let text: string;
  if (ascii !== undefined) {
    text = ascii;
  } else {
    // Node's decoder skips characters outside the alphabet, so a decoded length short of
    // what the text length promises means the text was not base64 (cheaper than a regex scan).
    const bytes = n % 4 === 0 ? Buffer.from(data, 'base64') : undefined;
    if (bytes === undefined || bytes.length !== expected) {
      return reject(record, 'bad-base64', 'record data is not valid base64 (Lambda delivers Kinesis data base64-encoded)');
    }
    // The fatal TextDecoder, measured on Node 20, is faster than Buffer#toString (plus a
    // search for U+FFFD), and it drops a leading byte order mark, which JSON.parse would refuse.
    try {
      text = utf8.decode(bytes);
    } catch {
      return reject(record, 'not-utf8', 'record data is not valid UTF-8 text');
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return reject(record, 'not-json', `record data is not JSON: ${detail.slice(0, 200)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
    return reject(record, 'not-object', `record data is JSON ${kind}: expected a JSON object` + (Array.isArray(parsed) ? ' (a record holding a list of events needs framing: json-array)' : ''));
  }
  const payload = parsed as JsonObject;
  if (stream.validate) {
    const problem = stream.validate(payload);
    if (problem !== null) {
      return reject(record, 'schema', `payload does not match ${stream.schemaPath ?? 'the stream schema'}: ${problem}`);
    }
  }
  if (stream.derived !== undefined || stream.materialize !== undefined) enrich(payload, stream, sink);
  let eventTime: EpochMs;
  const ts = stream.timestamp;
  if (ts.kind === 'arrival') {
    eventTime = arrivalMs(record);
  } else if (ts.path === undefined && ts.format === undefined) {
    const field = ts.field;
    const value = payload[field];
    // An inherited property (a field named "constructor") is not the payload's.
    if (value === undefined || !Object.hasOwn(payload, field)) {
      return reject(record, 'no-timestamp', `payload has no "${field}" field (the stream's event-time field)`);
    }
    const t = parseEventTime(value, field, redact?.has(field) === true);
    if (typeof t === 'string') return reject(record, 'bad-timestamp', t);
    eventTime = t;
  } else {
    const t = eventTimeOf(payload, stream, record, redact);
    if (typeof t !== 'number') return reject(record, t[0], t[1]);
    eventTime = t;
  }
  const problem = boundsProblem(eventTime, stream, clock, sink);
  if (problem !== null) return reject(record, problem[0], problem[1]);
  batch.push(payload, eventTime, record);
  return null;
}

/** The event time of a payload under the stream's timestamp (nested path, format), or why not. */
function eventTimeOf(payload: JsonObject, stream: StreamSpec, record: KinesisLikeRecord, redact?: ReadonlySet<string>): EpochMs | [RejectReason, string] {
  const ts = stream.timestamp;
  if (ts.kind === 'arrival') return arrivalMs(record);
  const field = ts.field;
  const value = ts.path !== undefined ? readPath(payload, ts.path) : Object.hasOwn(payload, field) ? payload[field] : undefined;
  if (value === undefined) return ['no-timestamp', `payload has no "${field}" field (the stream's event-time field)`];
  const hidden = redact?.has(field) === true;
  const t = ts.format === undefined || ts.format.kind === 'auto' ? parseEventTime(value, field, hidden) : readEventTime(value, ts.format, field, hidden);
  return typeof t === 'string' ? ['bad-timestamp', t] : t;
}

/** Why an event time is out of bounds (before 2000, too far ahead of the clock), or null. */
function boundsProblem(eventTime: EpochMs, stream: StreamSpec, clock: Clock, sink: DecodeSink | undefined): [RejectReason, string] | null {
  if (eventTime < MIN_EVENT_TIME) return ['bad-timestamp', `event time ${new Date(eventTime).toISOString()} is before 2000-01-01: not a plausible event time`];
  const future = futureProblem(eventTime, stream, clock, sink);
  return future === null ? null : ['future-timestamp', future];
}

/** A CEL value as a payload value: ints (BigInt) become numbers, anything undefined null. */
function jsonOf(v: unknown): JsonValue {
  if (typeof v === 'bigint') return Number(v);
  if (v === undefined) return null;
  return v as JsonValue;
}

/**
 * Per-event derived fields (computed once, in order, a later one seeing the
 * earlier ones) and the nested group paths copied to the payload under their
 * text. A derived field whose expression fails on an event is left missing
 * and counted in the sink (the event still counts; a rule grouping by it
 * counts it as a missing group field).
 */
function enrich(payload: JsonObject, stream: StreamSpec, sink: DecodeSink | undefined): void {
  if (stream.derived !== undefined) {
    for (const d of stream.derived) {
      try {
        const value = d.expression.evaluate(d.expression.acceptsPayload === true ? payload : eventVariables(payload));
        payload[d.name] = jsonOf(value);
      } catch {
        if (Object.hasOwn(payload, d.name)) delete payload[d.name];
        if (sink !== undefined) sink.derivedErrors[d.name] = (sink.derivedErrors[d.name] ?? 0) + 1;
      }
    }
  }
  if (stream.materialize !== undefined) {
    for (const path of stream.materialize) {
      const v = readPath(payload, path);
      if (v !== undefined) payload[path.source] = v as JsonValue;
      else if (Object.hasOwn(payload, path.source)) delete payload[path.source];
    }
  }
}

/** Decompressed text of a gzip member is capped at this many times the stream's record limit. */
export const MAX_GZIP_RATIO = 16;

interface SplitContext {
  readonly batch: DecodedBatch;
  readonly record: KinesisLikeRecord;
  readonly stream: StreamSpec;
  readonly clock: Clock;
  readonly redact: ReadonlySet<string> | undefined;
  readonly sink: DecodeSink;
  /** Whether the record's events carry an index (anything but one plain event per record). */
  readonly split: boolean;
  /** Whether the record is a KPL aggregate: a user record that fails as a whole is then a sub-event of its own. */
  readonly aggregated: boolean;
  /** The next sub-event index. */
  next: number;
}

const base64Of = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
const base64OfText = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** A sub-event's own bytes, for quarantine: the bytes themselves, or a function of their text (made only when it is rejected). */
type SubData = Uint8Array | (() => string);

const dataOf = (d: SubData): string => (typeof d === 'function' ? base64OfText(d()) : base64Of(d));

/** Rejects the next sub-event (or the whole record when it is not split). */
function fail(ctx: SplitContext, data: SubData, reason: RejectReason, message: string): void {
  if (!ctx.split) {
    ctx.sink.rejected.push(reject(ctx.record, reason, message));
    return;
  }
  const index = ctx.next++;
  ctx.sink.rejected.push(rejectSub(ctx.record, index, dataOf(data), reason, message));
}

/** Rejects a whole unit: a KPL user record is a sub-event of its own; an unaggregated record is rejected whole. */
function failUnit(ctx: SplitContext, data: SubData, reason: RejectReason, message: string): void {
  if (!ctx.aggregated) {
    ctx.sink.rejected.push(reject(ctx.record, reason, message));
    return;
  }
  const index = ctx.next++;
  ctx.sink.rejected.push(rejectSub(ctx.record, index, dataOf(data), reason, message));
}

/** Schema, derived fields, event time and its bounds, then the event is appended with the next index. */
function accept(ctx: SplitContext, payload: JsonObject, data: SubData): void {
  const { stream } = ctx;
  if (stream.validate) {
    const problem = stream.validate(payload);
    if (problem !== null) return fail(ctx, data, 'schema', `payload does not match ${stream.schemaPath ?? 'the stream schema'}: ${problem}`);
  }
  if (stream.derived !== undefined || stream.materialize !== undefined) enrich(payload, stream, ctx.sink);
  const t = eventTimeOf(payload, stream, ctx.record, ctx.redact);
  if (typeof t !== 'number') return fail(ctx, data, t[0], t[1]);
  const problem = boundsProblem(t, stream, ctx.clock, ctx.sink);
  if (problem !== null) return fail(ctx, data, problem[0], problem[1]);
  ctx.batch.push(payload, t, ctx.record, ctx.split ? ctx.next++ : -1);
}

/**
 * The general path: KPL de-aggregation (magic bytes F3 89 9A C2, MD5
 * checked), then per user record gzip (magic bytes 1F 8B), UTF-8, the
 * stream's framing and its message parser. Every event is appended, every
 * failure rejected on its own: a record's good events count even when one of
 * its sub-events is bad.
 */
function decodeSplit(batch: DecodedBatch, record: KinesisLikeRecord, stream: StreamSpec, clock: Clock, redact: ReadonlySet<string> | undefined, sink: DecodeSink): void {
  const data = record.data;
  const n = data.length;
  const padding = n === 0 ? 0 : data.charCodeAt(n - 1) !== 61 ? 0 : data.charCodeAt(n - 2) === 61 ? 2 : 1;
  const expected = (n / 4) * 3 - padding;
  const bytes = n % 4 === 0 ? Buffer.from(data, 'base64') : undefined;
  if (bytes === undefined || bytes.length !== expected) {
    sink.rejected.push(reject(record, 'bad-base64', 'record data is not valid base64 (Lambda delivers Kinesis data base64-encoded)'));
    return;
  }
  const framing = stream.framing ?? 'json';
  if (stream.kpl !== false && isKplAggregate(bytes)) {
    const agg = deaggregate(bytes, true);
    if (!agg.ok) {
      sink.rejected.push(reject(record, 'bad-kpl', agg.message));
      return;
    }
    const ctx: SplitContext = { batch, record, stream, clock, redact, sink, split: true, aggregated: true, next: 0 };
    for (const user of agg.records) decodeUnit(ctx, user.data, framing);
    return;
  }
  decodeUnit({ batch, record, stream, clock, redact, sink, split: framing !== 'json', aggregated: false, next: 0 }, bytes, framing);
}

/** One unit of a record (the record itself, or one KPL user record): gzip, UTF-8, framing, parser. */
function decodeUnit(ctx: SplitContext, unit: Uint8Array, framing: NonNullable<StreamSpec['framing']>): void {
  const { stream } = ctx;
  // A unit rejected whole keeps its own bytes (a KPL user record) or is the record (then its data is the record's).
  const unitData: SubData = unit;
  let bytes = unit;
  if (stream.gzip !== false && bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const limit = stream.maxRecordBytes * MAX_GZIP_RATIO;
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: limit });
    } catch (err) {
      const tooLarge = err instanceof RangeError || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
      if (tooLarge) return failUnit(ctx, unitData, 'too-large', `gzip data decompresses to more than ${limit} bytes (${MAX_GZIP_RATIO} times the stream's record limit of ${stream.maxRecordBytes} bytes)`);
      return failUnit(ctx, unitData, 'bad-gzip', `record data starts like gzip (1F 8B) but does not decompress: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return failUnit(ctx, unitData, 'not-utf8', 'record data is not valid UTF-8 text');
  }
  const parser = stream.parse ?? { kind: 'json' as const };
  switch (framing) {
    case 'json': {
      if (parser.kind === 'json') {
        // The common case (KPL user records of JSON): no result object per event.
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          const detail = err instanceof Error ? err.message : String(err);
          return fail(ctx, unitData, 'not-json', `record data is not JSON: ${detail.slice(0, 200)}`);
        }
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
          return fail(ctx, unitData, 'not-object', `record data is JSON ${kind}: expected a JSON object`);
        }
        return accept(ctx, parsed as JsonObject, unitData);
      }
      const m = parseMessage(text, parser);
      if (!m.ok) return fail(ctx, unitData, m.reason, m.message.replace(/^message/, 'record data'));
      return accept(ctx, m.payload, unitData);
    }
    case 'ndjson': {
      let start = 0;
      while (start <= text.length) {
        let end = text.indexOf('\n', start);
        if (end < 0) end = text.length;
        let line = text.slice(start, end);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        start = end + 1;
        if (line.trim() === '') continue;
        const lineData = (): string => line;
        const m = parseMessage(line, parser);
        if (!m.ok) fail(ctx, lineData, m.reason, m.message.replace(/^message/, 'line'));
        else accept(ctx, m.payload, lineData);
      }
      return;
    }
    case 'json-array': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        return failUnit(ctx, unitData, 'not-json', `record data is not JSON: ${detail.slice(0, 200)} (the stream's framing is json-array)`);
      }
      if (!Array.isArray(parsed)) {
        const kind = parsed === null ? 'null' : typeof parsed === 'object' ? 'an object' : typeof parsed;
        return failUnit(ctx, unitData, 'not-array', `record data is JSON ${kind}: the stream's framing is json-array (a JSON array of event objects)`);
      }
      for (const el of parsed as unknown[]) {
        // An element nested too deeply to serialise again (a hostile record) keeps the record's text instead.
        const elData = (): string => {
          try {
            return JSON.stringify(el) ?? 'null';
          } catch {
            return text;
          }
        };
        if (el === null || typeof el !== 'object' || Array.isArray(el)) {
          const kind = el === null ? 'null' : Array.isArray(el) ? 'an array' : typeof el;
          fail(ctx, elData, 'not-object', `array element is JSON ${kind}: expected a JSON object`);
        } else accept(ctx, el as JsonObject, elData);
      }
      return;
    }
    case 'cloudwatch-logs': {
      const env = readEnvelope(text);
      if (env.kind === 'control') {
        ctx.sink.controlMessages += 1;
        return;
      }
      if (env.kind === 'bad') return failUnit(ctx, unitData, env.reason, env.message);
      for (const ev of env.logEvents) {
        const message = ev !== null && typeof ev === 'object' ? ev.message : undefined;
        const evData = (): string => {
          if (typeof message === 'string') return message;
          try {
            return JSON.stringify(ev) ?? 'null';
          } catch {
            return text;
          }
        };
        if (typeof message !== 'string') {
          fail(ctx, evData, 'not-cloudwatch-logs', 'log event has no string message: expected {id, timestamp, message}');
          continue;
        }
        const m = parseMessage(message, parser);
        if (!m.ok) {
          fail(ctx, evData, m.reason, `log event ${JSON.stringify(String(ev.id ?? '')).slice(0, 80)}: ${m.message}`);
          continue;
        }
        m.payload.cloudwatch = {
          logGroup: env.logGroup,
          logStream: env.logStream,
          owner: env.owner,
          subscriptionFilters: env.subscriptionFilters,
          id: ev.id ?? null,
          timestamp: ev.timestamp ?? null,
          message,
        };
        accept(ctx, m.payload, evData);
      }
      return;
    }
  }
}
