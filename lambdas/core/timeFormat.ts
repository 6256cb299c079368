import type { EpochMs } from './types';
import { ISO_8601_DATE_TIME, parseIsoDateTime } from './timestamp';

/**
 * How an event-time value is read (`timestamp: { field, format }`):
 *
 * - `auto` (the default): a number is epoch milliseconds, a string ISO-8601;
 * - `iso`: an ISO-8601 date-time string with a time zone;
 * - `epoch-ms`, `epoch-s`: a number, or a string of one (AWS IoT and
 *   EventBridge payloads often carry epoch seconds), fractions allowed;
 * - a pattern of `yyyy MM MMM dd HH mm ss SSS Z`, punctuation and quoted
 *   letters, e.g. `dd/MMM/yyyy:HH:mm:ss Z` (Apache/nginx), `yyyy-MM-dd HH:mm:ss.SSS`
 *   or `yyyy-MM-dd'T'HH:mm`;
 *   without `Z` the time is read as UTC.
 */
export type TimeFormat =
  | { readonly kind: 'auto' }
  | { readonly kind: 'iso' }
  | { readonly kind: 'epoch-ms' }
  | { readonly kind: 'epoch-s' }
  | { readonly kind: 'pattern'; readonly source: string; readonly parse: (s: string) => EpochMs };

export const NAMED_TIME_FORMATS = ['auto', 'iso', 'epoch-ms', 'epoch-s'] as const;

/** The largest epoch-ms a JavaScript Date holds (year 275760). */
const MAX_DATE_MS = 8.64e15;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const TOKENS: ReadonlyArray<[string, string]> = [
  ['yyyy', '(\\d{4})'],
  ['MMM', '([A-Za-z]{3})'],
  ['MM', '(\\d{2})'],
  ['dd', '(\\d{2})'],
  ['HH', '(\\d{2})'],
  ['mm', '(\\d{2})'],
  ['ss', '(\\d{2})'],
  ['SSS', '(\\d{1,9})'],
  ['Z', '(Z|z|[+-]\\d{2}:?\\d{2})'],
];

/** Compiles a named format or a pattern; returns a message (what is allowed) when it is neither. */
export function compileTimeFormat(source: string): TimeFormat | string {
  if ((NAMED_TIME_FORMATS as readonly string[]).includes(source)) return { kind: source as 'auto' | 'iso' | 'epoch-ms' | 'epoch-s' };
  const order: string[] = [];
  let re = '^';
  let i = 0;
  outer: while (i < source.length) {
    for (const [token, group] of TOKENS) {
      if (source.startsWith(token, i)) {
        if (order.includes(token)) return `time format ${JSON.stringify(source)} has ${token} twice`;
        order.push(token);
        re += group;
        i += token.length;
        continue outer;
      }
    }
    const ch = source[i]!;
    if (ch === "'") {
      // 'T': literal text, as in yyyy-MM-dd'T'HH:mm
      const end = source.indexOf("'", i + 1);
      if (end < 0) return `time format ${JSON.stringify(source)}: unterminated quote at offset ${i} (quote literal letters, e.g. yyyy-MM-dd'T'HH:mm)`;
      re += source.slice(i + 1, end).replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
      i = end + 1;
      continue;
    }
    if (/[A-Za-z]/.test(ch)) {
      return `time format ${JSON.stringify(source)}: unknown letter ${JSON.stringify(ch)} at offset ${i} (expected one of ${NAMED_TIME_FORMATS.join(' | ')}, or a pattern of yyyy MM MMM dd HH mm ss SSS Z, punctuation and 'quoted' letters, e.g. "dd/MMM/yyyy:HH:mm:ss Z")`;
    }
    re += ch.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
    i++;
  }
  for (const needed of ['yyyy', 'dd', 'HH', 'mm']) {
    if (!order.includes(needed)) return `time format ${JSON.stringify(source)} has no ${needed}: a pattern needs at least yyyy, MM or MMM, dd, HH and mm`;
  }
  if (!order.includes('MM') && !order.includes('MMM')) return `time format ${JSON.stringify(source)} has no month (MM or MMM)`;
  const regex = new RegExp(re + '$');
  const at = (token: string): number => order.indexOf(token) + 1;
  const parse = (s: string): EpochMs => {
    const m = regex.exec(s);
    if (m === null) return Number.NaN;
    const g = (token: string): string | undefined => (at(token) > 0 ? m[at(token)] : undefined);
    const year = Number(g('yyyy'));
    const monthText = g('MMM');
    const month = monthText !== undefined ? MONTHS.indexOf(monthText.toLowerCase()) + 1 : Number(g('MM'));
    const day = Number(g('dd'));
    const hour = Number(g('HH'));
    const minute = Number(g('mm'));
    const second = Number(g('ss') ?? '0');
    const fraction = g('SSS');
    const ms = fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * 1000 + 1e-6);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return Number.NaN;
    let t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
    // A day past the month's end would roll over into the next month: refuse it.
    if (new Date(t).getUTCDate() !== day) return Number.NaN;
    const zone = g('Z');
    if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
      const sign = zone[0] === '-' ? -1 : 1;
      const digits = zone.slice(1).replace(':', '');
      const offset = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
      if (Number(digits.slice(2)) > 59) return Number.NaN;
      t -= sign * offset * 60_000;
    }
    return t;
  };
  return { kind: 'pattern', source, parse };
}

function shown(value: string, redact: boolean): string {
  return redact ? '[redacted]' : JSON.stringify(value.slice(0, 64));
}

const EPOCH_NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * Reads an event time with `format`; returns a message (naming the field,
 * what it held and what was expected) when it cannot. `auto` is
 * parseEventTime's rule (decode.ts).
 */
export function readEventTime(value: unknown, format: TimeFormat, field: string, redact: boolean): EpochMs | string {
  const what = (v: unknown): string =>
    typeof v === 'string' ? shown(v, redact) : redact ? '[redacted]' : v === null ? 'null' : typeof v === 'number' ? String(v) : typeof v;
  switch (format.kind) {
    case 'iso': {
      if (typeof value !== 'string') return `field "${field}" is ${what(value)}: expected an ISO-8601 date-time string (the stream's format is iso)`;
      const t = parseIsoDateTime(value);
      if (!Number.isNaN(t)) return t;
      return ISO_8601_DATE_TIME.test(value)
        ? `field "${field}" is ${what(value)}: not a valid date-time`
        : `field "${field}" is ${what(value)}: expected an ISO-8601 date-time with a time zone (e.g. 2026-11-27T10:00:00.000Z)`;
    }
    case 'epoch-ms':
    case 'epoch-s': {
      const unit = format.kind === 'epoch-s' ? 'seconds' : 'milliseconds';
      const n = typeof value === 'number' ? value : typeof value === 'string' && EPOCH_NUMBER.test(value) ? Number(value) : Number.NaN;
      if (!Number.isFinite(n)) return `field "${field}" is ${what(value)}: expected epoch ${unit} (a number, or a string of digits)`;
      const ms = format.kind === 'epoch-s' ? n * 1000 : n;
      if (Math.abs(ms) > MAX_DATE_MS) return `field "${field}" is ${what(value)}: outside the range of dates`;
      return Math.floor(ms);
    }
    case 'pattern': {
      if (typeof value !== 'string') return `field "${field}" is ${what(value)}: expected a string in the format ${JSON.stringify(format.source)}`;
      const t = format.parse(value);
      return Number.isNaN(t) ? `field "${field}" is ${what(value)}: does not match the format ${JSON.stringify(format.source)} (or is not a valid date)` : t;
    }
    default:
      return Number.NaN;
  }
}
