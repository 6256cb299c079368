import type { Readable } from 'node:stream';
import { InvalidInputError } from './errors';

export interface InputLine {
  /** The line's bytes exactly as read, without its terminator (`\n`, or `\r\n`). */
  readonly bytes: Buffer;
  /** 1-based line number in the input. */
  readonly line: number;
}

export interface NdjsonLine extends InputLine {
  /** The parsed JSON object. */
  readonly record: object;
}

export interface NdjsonOptions {
  /** Skip lines that are not JSON objects (reported to `onInvalid`) instead of throwing InvalidInputError. @default false */
  readonly skipInvalid?: boolean;
  readonly onInvalid?: (error: InvalidInputError) => void;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function blank(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== CR) return false;
  return true;
}

/**
 * Splits the input into lines at `\n`, byte for byte: no decoding, so a line
 * that is not UTF-8 arrives as it was. A `\r` before the `\n` is part of the
 * terminator; a UTF-8 byte order mark at the very start is dropped. Blank lines
 * (empty, or spaces and tabs only) are skipped, their numbers counted.
 */
export async function* readLines(input: Readable): AsyncGenerator<InputLine> {
  let pending: Buffer[] = [];
  let n = 0;
  let first = true;
  const emit = (parts: Buffer[]): InputLine | undefined => {
    let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (first) {
      first = false;
      if (bytes.subarray(0, 3).equals(BOM)) bytes = bytes.subarray(3);
    }
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
    n++;
    return blank(bytes) ? undefined : { bytes, line: n };
  };
  for await (const chunk of input) {
    const buf: Buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    let start = 0;
    for (let i = buf.indexOf(NEWLINE); i >= 0; i = buf.indexOf(NEWLINE, start)) {
      pending.push(buf.subarray(start, i));
      const l = emit(pending);
      pending = [];
      if (l) yield l;
      start = i + 1;
    }
    if (start < buf.length) pending.push(buf.subarray(start));
  }
  if (pending.length > 0) {
    const l = emit(pending);
    if (l) yield l;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The JSON object a line holds, or why it holds none. */
export function parseJsonLine(l: InputLine): { readonly record: object } | { readonly error: InvalidInputError } {
  let text: string;
  try {
    text = utf8.decode(l.bytes);
  } catch {
    return { error: new InvalidInputError(l.line, 'not valid UTF-8 (emit --raw sends such a line as it is)') };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: new InvalidInputError(l.line, `not valid JSON (${err instanceof Error ? err.message : String(err)})`) };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: new InvalidInputError(l.line, `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`) };
  }
  return { record: value };
}

/** Reads newline-delimited JSON objects, each with its original bytes; blank lines are ignored. */
export async function* readNdjson(input: Readable, opts: NdjsonOptions = {}): AsyncGenerator<NdjsonLine> {
  for await (const l of readLines(input)) {
    const r = parseJsonLine(l);
    if ('error' in r) {
      if (!opts.skipInvalid) throw r.error;
      opts.onInvalid?.(r.error);
      continue;
    }
    yield { ...l, record: r.record };
  }
}
