/**
 * Date-time strings to epoch milliseconds, without the cost of a regex and
 * Date.parse per event.
 *
 * Two grammars are in use, and each must keep accepting exactly what it
 * accepted when it was a regex followed by Date.parse (V8's):
 *
 * - ISO_8601_DATE_TIME, for an event-time field: seconds optional, 1 to 9
 *   fraction digits, offset ±hh:mm or ±hhmm;
 * - RFC3339_DATE_TIME, for the JSON Schema `date-time` format: seconds
 *   required, any number of fraction digits, offset ±hh:mm only.
 *
 * Both take T, t or a space between date and time, and Z or z. The regex lets
 * through values Date.parse then decides on: V8 rejects hour 24 unless it is
 * exactly 24:00:00(.0…), second 60, month 0 or 13, day 0 or 32, offsets past
 * 23:59; it takes day 29 to 31 of any month and rolls over (Feb 30 is Mar 2);
 * it truncates fractions to milliseconds.
 *
 * The fast path reads the canonical shape (date T time, hour 0–23, at most 9
 * fraction digits) by char codes and computes the instant itself. Everything
 * else, valid or not, goes to the regex and Date.parse as before, so an input
 * the fast path declines keeps its old answer: only what the fast path accepts
 * has to agree with V8, and the differential test checks that. The space
 * separator stays on the slow path on purpose: V8 reads it with its legacy
 * parser, which has quirks of its own ("0010-01-01 00:00:00Z" is 2001-10-01).
 */

/** An event time: ISO-8601 date-time with a time zone (Z or ±hh:mm, or ±hhmm). */
export const ISO_8601_DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$/;

/** JSON Schema's `date-time`: RFC 3339 §5.6, with the lowercase and space its §5.6 NOTE permits. */
export const RFC3339_DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

const MS_PER_MINUTE = 60_000;
const MS_PER_DAY = 86_400_000;

/** Epoch ms of an ISO_8601_DATE_TIME string (the event-time grammar), or NaN when it is not one or not a date V8 accepts. */
export function parseIsoDateTime(s: string): number {
  if (s === lastRfc) return lastRfcValue;
  const t = fastParse(s, false);
  // t !== t only for NaN: the fast path left the string to the regex and Date.parse.
  return t === t ? t : ISO_8601_DATE_TIME.test(s) ? Date.parse(s) : NaN;
}

/** Epoch ms of an RFC3339_DATE_TIME string (the JSON Schema date-time grammar), or NaN when it is not one or not a date V8 accepts. */
export function parseRfc3339DateTime(s: string): number {
  const t = fastParse(s, true);
  if (t === t) {
    lastRfc = s;
    lastRfcValue = t;
    return t;
  }
  return RFC3339_DATE_TIME.test(s) ? Date.parse(s) : NaN;
}

/**
 * The last string the RFC 3339 fast path read, and its value. A stream whose
 * schema checks the event-time field's format reads each timestamp twice in
 * a row (schema, then event time): the second read is this comparison. The
 * fast path's RFC shape (seconds, ±hh:mm) is a subset of its ISO shape with
 * the same value, so the ISO parse may take it as is.
 */
let lastRfc: string | undefined;
let lastRfcValue = Number.NaN;

/** The two digits at i as a number, or -1 (also past the end: charCodeAt is NaN there, and NaN fails both tests). */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * YYYY-MM-DD(T|t)HH:MM[:SS[.f]](Z|z|±HH:MM|±HHMM) with f of 1–9 digits; `rfc`
 * requires the seconds and the offset's colon. NaN means "not decided here".
 */
function fastParse(s: string, rfc: boolean): number {
  const n = s.length;
  // The shortest shape is YYYY-MM-DDTHH:MMZ: past this check, the reads up to index 16 are in bounds, so a
  // digit is (code - 48) >>> 0 <= 9 (anything else, negative included, is larger).
  if (n < 17) return NaN;
  const y0 = (s.charCodeAt(0) - 48) >>> 0;
  const y1 = (s.charCodeAt(1) - 48) >>> 0;
  const y2 = (s.charCodeAt(2) - 48) >>> 0;
  const y3 = (s.charCodeAt(3) - 48) >>> 0;
  const mo0 = (s.charCodeAt(5) - 48) >>> 0;
  const mo1 = (s.charCodeAt(6) - 48) >>> 0;
  const d0 = (s.charCodeAt(8) - 48) >>> 0;
  const d1 = (s.charCodeAt(9) - 48) >>> 0;
  const h0 = (s.charCodeAt(11) - 48) >>> 0;
  const h1 = (s.charCodeAt(12) - 48) >>> 0;
  const mi0 = (s.charCodeAt(14) - 48) >>> 0;
  const mi1 = (s.charCodeAt(15) - 48) >>> 0;
  const sep = s.charCodeAt(10);
  if (
    y0 > 9 ||
    y1 > 9 ||
    y2 > 9 ||
    y3 > 9 ||
    mo0 > 9 ||
    mo1 > 9 ||
    d0 > 9 ||
    d1 > 9 ||
    h0 > 9 ||
    h1 > 9 ||
    mi0 > 9 ||
    mi1 > 9 ||
    s.charCodeAt(4) !== 45 /* - */ ||
    s.charCodeAt(7) !== 45 ||
    (sep !== 84 /* T */ && sep !== 116 /* t */) ||
    s.charCodeAt(13) !== 58 /* : */
  ) {
    return NaN;
  }
  const month = mo0 * 10 + mo1;
  const day = d0 * 10 + d1;
  const hour = h0 * 10 + h1;
  const minute = mi0 * 10 + mi1;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59) return NaN;
  let i = 16;
  let second = 0;
  let ms = 0;
  if (s.charCodeAt(i) === 58) {
    second = twoDigits(s, 17);
    if (second < 0 || second > 59) return NaN;
    i = 19;
    if (s.charCodeAt(i) === 46 /* . */) {
      // V8 truncates to milliseconds: keep the first three digits, as if padded with zeros.
      const start = ++i;
      let d = s.charCodeAt(i) - 48;
      while (d >= 0 && d <= 9) {
        if (i - start < 3) ms = ms * 10 + d;
        d = s.charCodeAt(++i) - 48;
      }
      const digits = i - start;
      // Past 9 digits V8 keeps 9 significant ones and misreads leading zeros: leave those to it.
      if (digits === 0 || digits > 9) return NaN;
      if (digits === 1) ms *= 100;
      else if (digits === 2) ms *= 10;
    }
  } else if (rfc) {
    return NaN;
  }
  let offsetMinutes: number;
  const zone = s.charCodeAt(i);
  if (zone === 90 /* Z */ || zone === 122 /* z */) {
    if (i + 1 !== n) return NaN;
    offsetMinutes = 0;
  } else if (zone === 43 /* + */ || zone === 45 /* - */) {
    const oh = twoDigits(s, i + 1);
    const colon = s.charCodeAt(i + 3) === 58;
    if (rfc && !colon) return NaN;
    const om = twoDigits(s, colon ? i + 4 : i + 3);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || (colon ? i + 6 : i + 5) !== n) return NaN;
    offsetMinutes = zone === 43 ? oh * 60 + om : -(oh * 60 + om);
  } else {
    return NaN;
  }
  const year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
  // A stream's event times mostly fall in one month: its first day is computed once.
  if (year * 16 + month !== cachedYearMonth) {
    cachedYearMonth = year * 16 + month;
    cachedMonthDays = daysFromCivil(year, month);
  }
  return (cachedMonthDays + day - 1) * MS_PER_DAY + (hour * 60 + minute - offsetMinutes) * MS_PER_MINUTE + second * 1000 + ms;
}

/** The (year * 16 + month) fastParse read last, and daysFromCivil of it. */
let cachedYearMonth = -1;
let cachedMonthDays = 0;

/**
 * Days from 1970-01-01 to the first of `month` (1–12) of `year` (0–9999), in
 * the proleptic Gregorian calendar (H. Hinnant's days_from_civil, with eras of
 * 400 years). Adding day - 1 to it rolls day 30 of February over into March, as
 * Date.parse does.
 */
function daysFromCivil(year: number, month: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5);
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}
