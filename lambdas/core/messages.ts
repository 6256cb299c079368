import { parse as parseLogfmt } from 'logfmt/lib/logfmt_parser';
import type { JsonObject, JsonValue, MessageParser, RejectReason } from './types';

/**
 * Messages to event fields (the stream's `parse:`), and the CloudWatch Logs
 * subscription envelope. Pure functions over strings; decode.ts calls them.
 */

export type Parsed = { readonly ok: true; readonly payload: JsonObject } | { readonly ok: false; readonly reason: RejectReason; readonly message: string };

/** A value of a text format (logfmt, a regex group) that is entirely a decimal number, read as one. Leading zeros stay text ("007" is an id, not 7). */
const NUMBER_TEXT = /^-?(?:0|[1-9]\d{0,15})(?:\.\d+)?(?:[eE][+-]?\d{1,3})?$/;

export function textValue(v: string): string | number {
  if (v.length > 0 && v.length <= 32 && NUMBER_TEXT.test(v)) {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
  }
  return v;
}

/** Keys a payload never takes from text: they would reach the object's prototype. */
const UNSAFE_KEYS = new Set(['__proto__']);

function parseJsonMessage(text: string): Parsed {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: 'not-json', message: `message is not JSON: ${detail.slice(0, 200)} (the stream parses messages as json; logfmt or a regex reads text lines)` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
    return { ok: false, reason: 'not-object', message: `message is JSON ${kind}: expected a JSON object` };
  }
  return { ok: true, payload: parsed as JsonObject };
}

function parseLogfmtMessage(text: string): Parsed {
  const raw = parseLogfmt(text);
  const payload: JsonObject = {};
  let n = 0;
  for (const key of Object.keys(raw)) {
    if (UNSAFE_KEYS.has(key)) continue;
    const v = raw[key]!;
    payload[key] = typeof v === 'string' ? textValue(v) : v;
    n++;
  }
  if (n === 0) return { ok: false, reason: 'no-match', message: 'message has no key=value pairs (the stream parses messages as logfmt)' };
  return { ok: true, payload };
}

function parseRegexMessage(text: string, regex: RegExp, source: string): Parsed {
  const m = regex.exec(text);
  if (m === null || m.groups === undefined) {
    return { ok: false, reason: 'no-match', message: `message does not match the stream's regex ${JSON.stringify(source.slice(0, 200))}` };
  }
  const payload: JsonObject = {};
  for (const [name, v] of Object.entries(m.groups)) if (v !== undefined) payload[name] = textValue(v);
  return { ok: true, payload };
}

export function parseMessage(text: string, parser: MessageParser): Parsed {
  switch (parser.kind) {
    case 'json':
      return parseJsonMessage(text);
    case 'logfmt':
      return parseLogfmtMessage(text);
    case 'regex':
      return parseRegexMessage(text, parser.regex, parser.source);
  }
}

// ------------------------------------------------------------ CloudWatch Logs

export interface LogEvent {
  readonly id: JsonValue;
  readonly timestamp: JsonValue;
  readonly message: unknown;
}

export type Envelope =
  | { readonly kind: 'control' }
  | {
      readonly kind: 'data';
      readonly logGroup: string;
      readonly logStream: string;
      readonly owner: string | null;
      readonly subscriptionFilters: JsonValue;
      readonly logEvents: readonly LogEvent[];
    }
  | { readonly kind: 'bad'; readonly reason: RejectReason; readonly message: string };

const ENVELOPE_SHAPE = 'a CloudWatch Logs subscription payload {messageType, owner, logGroup, logStream, subscriptionFilters, logEvents: [{id, timestamp, message}]}';

/** Reads the (already decompressed) text of a CloudWatch Logs subscription record. */
export function readEnvelope(text: string): Envelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { kind: 'bad', reason: 'not-json', message: `record data is not JSON: ${detail.slice(0, 200)} (expected ${ENVELOPE_SHAPE}, gzip-compressed)` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { kind: 'bad', reason: 'not-cloudwatch-logs', message: `record data is not ${ENVELOPE_SHAPE}` };
  }
  const o = parsed as Record<string, unknown>;
  if (o.messageType === 'CONTROL_MESSAGE') return { kind: 'control' };
  if (o.messageType !== 'DATA_MESSAGE') {
    return { kind: 'bad', reason: 'not-cloudwatch-logs', message: `record has messageType ${JSON.stringify(o.messageType ?? null)}: expected DATA_MESSAGE or CONTROL_MESSAGE (${ENVELOPE_SHAPE})` };
  }
  if (typeof o.logGroup !== 'string' || typeof o.logStream !== 'string' || !Array.isArray(o.logEvents)) {
    return { kind: 'bad', reason: 'not-cloudwatch-logs', message: `DATA_MESSAGE without a string logGroup, a string logStream and a logEvents array (${ENVELOPE_SHAPE})` };
  }
  return {
    kind: 'data',
    logGroup: o.logGroup,
    logStream: o.logStream,
    owner: typeof o.owner === 'string' ? o.owner : null,
    subscriptionFilters: Array.isArray(o.subscriptionFilters) ? (o.subscriptionFilters as JsonValue) : [],
    logEvents: o.logEvents as LogEvent[],
  };
}
