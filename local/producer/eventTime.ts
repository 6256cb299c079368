import { UsageError } from '../cli/errors';
import { replaceJsonField } from './jsonField';

/** What `--event-time` stamps events relative to. */
export type EventTimeAnchor = { readonly kind: 'now' } | { readonly kind: 'pipeline' } | { readonly kind: 'at'; readonly time: number };

export function parseEventTimeOption(text: string): EventTimeAnchor {
  if (text === 'now') return { kind: 'now' };
  if (text === 'pipeline') return { kind: 'pipeline' };
  const time = /^\d{4}-\d\d-\d\d/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(time)) throw new UsageError(`--event-time takes now, pipeline or an ISO-8601 time such as 2026-11-28T10:00:00Z (given ${JSON.stringify(text)})`);
  return { kind: 'at', time };
}

/** The path of a payload field: `ts`, or `meta.ts` for a nested one (unless the payload has a top-level key with the dot). */
export function fieldPath(field: string, record?: object): string[] {
  if (record !== undefined && Object.hasOwn(record, field)) return [field];
  return field.split('.');
}

function valueAt(record: object, path: readonly string[]): unknown {
  let v: unknown = record;
  for (const p of path) v = v !== null && typeof v === 'object' && Object.hasOwn(v, p) ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

/** An event time as a payload holds it: an ISO-8601 string or epoch milliseconds. */
export function eventTimeOf(record: object, field: string): number | undefined {
  const v = valueAt(record, fieldPath(field, record));
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/**
 * Moves every event by the same amount so that the first one lands at the
 * anchor and the others keep their spacing. Only the event-time field's value
 * is rewritten (in the form it had: ISO string or epoch ms); every other byte
 * of the line stays as it was. Events without a readable time are left alone.
 */
export class EventTimeShifter {
  private offset: number | undefined;
  /** Events sent unchanged: no readable event time. */
  unchanged = 0;

  constructor(
    private readonly field: string,
    private readonly anchor: () => number,
  ) {}

  /** The line's new bytes, or undefined to send it unchanged. */
  shift(bytes: Buffer, record: object): Buffer | undefined {
    const path = fieldPath(this.field, record);
    const original = valueAt(record, path);
    const t = eventTimeOf(record, this.field);
    if (t === undefined) {
      this.unchanged++;
      return undefined;
    }
    this.offset ??= this.anchor() - t;
    const moved = t + this.offset;
    const json = typeof original === 'number' ? String(moved) : JSON.stringify(new Date(moved).toISOString());
    const text = replaceJsonField(bytes.toString('utf8'), path, json);
    return text === undefined ? undefined : Buffer.from(text, 'utf8');
  }
}
