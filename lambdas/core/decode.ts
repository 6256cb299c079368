import type { Clock, DecodeResult, EpochMs, JsonObject, KinesisLikeRecord, Rejection, RejectReason, StreamSpec } from './types';
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

  constructor(capacity: number) {
    this.payloads = new Array<JsonObject>(capacity);
    this.records = new Array<KinesisLikeRecord>(capacity);
    this.times = new Float64Array(Math.max(capacity, 1));
  }

  push(payload: JsonObject, eventTime: EpochMs, record: KinesisLikeRecord): void {
    const i = this.length++;
    if (i === this.times.length) {
      const grown = new Float64Array(i * 2);
      grown.set(this.times);
      this.times = grown;
    }
    this.payloads[i] = payload;
    this.records[i] = record;
    this.times[i] = eventTime;
  }

  /** The events whose `drop` entry is 0, in order. */
  without(drop: Uint8Array): DecodedBatch {
    const out = new DecodedBatch(this.length);
    for (let i = 0; i < this.length; i++) if (drop[i] === 0) out.push(this.payloads[i]!, this.times[i]!, this.records[i]!);
    return out;
  }

  sequenceNumber(i: number): string {
    return this.records[i]!.sequenceNumber;
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
  const id = payload[stream.idField];
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
 * Decodes one Kinesis record of `stream` (see decodeInto) into an event object.
 * The engine decodes into a DecodedBatch instead.
 */
export function decodeRecord(record: KinesisLikeRecord, stream: StreamSpec, clock: Clock, redact?: ReadonlySet<string>): DecodeResult {
  const batch = new DecodedBatch(1);
  const rejection = decodeInto(batch, record, stream, clock, redact);
  if (rejection !== null) return { ok: false, rejection };
  const payload = batch.payloads[0]!;
  return {
    ok: true,
    event: {
      payload,
      eventTime: batch.times[0]!,
      arrivalTime: arrivalMs(record),
      shardId: record.shardId,
      sequenceNumber: record.sequenceNumber,
      partitionKey: record.partitionKey,
      eventId: eventIdOf(stream, payload),
    },
  };
}

/**
 * Decodes one Kinesis record of `stream`: base64 → UTF-8 → JSON object →
 * schema → event time, and appends the event to `batch`. Never throws on bad
 * input: every failure is returned as a classified rejection that carries the
 * record's data for quarantine (and nothing is appended). A message quotes at
 * most 64 characters of one field (the event time), never a field listed in
 * `redact`.
 */
export function decodeInto(batch: DecodedBatch, record: KinesisLikeRecord, stream: StreamSpec, clock: Clock, redact?: ReadonlySet<string>): Rejection | null {
  const data = record.data;
  // 4 base64 characters carry 3 bytes: check the size before allocating.
  const approxBytes = Math.floor((data.length * 3) / 4);
  if (approxBytes > stream.maxRecordBytes) {
    return reject(record, 'too-large', `record is about ${approxBytes} bytes, more than the stream's limit of ${stream.maxRecordBytes} bytes`);
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
    return reject(record, 'not-object', `record data is JSON ${kind}: expected a JSON object`);
  }
  const payload = parsed as JsonObject;
  if (stream.validate) {
    const problem = stream.validate(payload);
    if (problem !== null) {
      return reject(record, 'schema', `payload does not match ${stream.schemaPath ?? 'the stream schema'}: ${problem}`);
    }
  }
  let eventTime: EpochMs;
  if (stream.timestamp.kind === 'arrival') {
    eventTime = arrivalMs(record);
  } else {
    const field = stream.timestamp.field;
    const value = payload[field];
    // An inherited property (a field named "constructor") is not the payload's.
    if (value === undefined || !Object.hasOwn(payload, field)) {
      return reject(record, 'no-timestamp', `payload has no "${field}" field (the stream's event-time field)`);
    }
    const t = parseEventTime(value, field, redact?.has(field) === true);
    if (typeof t === 'string') return reject(record, 'bad-timestamp', t);
    eventTime = t;
  }
  if (eventTime < MIN_EVENT_TIME) {
    return reject(record, 'bad-timestamp', `event time ${new Date(eventTime).toISOString()} is before 2000-01-01: not a plausible event time`);
  }
  const now = clock.now();
  if (eventTime > now + stream.maxFutureMs) {
    return reject(
      record,
      'future-timestamp',
      `event time ${new Date(eventTime).toISOString()} is ${Math.round((eventTime - now) / 1000)}s ahead of the clock; the stream allows ${Math.round(stream.maxFutureMs / 1000)}s (check the producer's clock)`,
    );
  }
  batch.push(payload, eventTime, record);
  return null;
}
