import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { InvalidInputError } from './errors';

export interface NdjsonLine {
  readonly record: object;
  /** 1-based line number in the input. */
  readonly line: number;
}

export interface NdjsonOptions {
  /** Skip lines that are not JSON objects (reported to `onInvalid`) instead of throwing InvalidInputError. @default false */
  readonly skipInvalid?: boolean;
  readonly onInvalid?: (error: InvalidInputError) => void;
}

/** Reads newline-delimited JSON objects; blank lines are ignored. */
export async function* readNdjson(input: Readable, opts: NdjsonOptions = {}): AsyncGenerator<NdjsonLine> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const raw of lines) {
      n++;
      const text = raw.trim();
      if (text === '') continue;
      let error: InvalidInputError | undefined;
      let value: unknown;
      try {
        value = JSON.parse(text);
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          error = new InvalidInputError(n, `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
        }
      } catch (err) {
        error = new InvalidInputError(n, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
      }
      if (error) {
        if (!opts.skipInvalid) throw error;
        opts.onInvalid?.(error);
        continue;
      }
      yield { record: value as object, line: n };
    }
  } finally {
    lines.close();
  }
}
