import { compileTimeFormat, readEventTime, type TimeFormat } from '../../../lambdas/core/timeFormat';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const fmt = (source: string): TimeFormat => {
  const f = compileTimeFormat(source);
  if (typeof f === 'string') throw new Error(f);
  return f;
};

describe('time formats', () => {
  it('patterns: fractions to milliseconds, month names, offsets with or without a colon, UTC without Z', () => {
    expect(readEventTime('2026-11-27 10:00:00.1234', fmt('yyyy-MM-dd HH:mm:ss.SSS'), 't', false)).toBe(T0 + 123);
    expect(readEventTime('27/Nov/2026:05:30:00 -0430', fmt('dd/MMM/yyyy:HH:mm:ss Z'), 't', false)).toBe(T0);
    expect(readEventTime('27/nov/2026:11:00:00 +01:00', fmt('dd/MMM/yyyy:HH:mm:ss Z'), 't', false)).toBe(T0);
    expect(readEventTime('2026-11-27T10:00', fmt("yyyy-MM-dd'T'HH:mm"), 't', false)).toBe(T0);
  });

  it('refuses impossible dates instead of rolling them over, and names the format', () => {
    const f = fmt('yyyy-MM-dd HH:mm:ss');
    for (const bad of ['2026-02-30 10:00:00', '2026-13-01 10:00:00', '2026-11-27 24:00:00', '2026-11-27 10:60:00']) {
      expect(readEventTime(bad, f, 't', false)).toBe(`field "t" is ${JSON.stringify(bad)}: does not match the format "yyyy-MM-dd HH:mm:ss" (or is not a valid date)`);
    }
    expect(readEventTime('2026-02-30 10:00:00', f, 't', true)).toBe('field "t" is [redacted]: does not match the format "yyyy-MM-dd HH:mm:ss" (or is not a valid date)');
  });

  it('epoch-s and epoch-ms: numbers and strings of digits, fractions floored to the millisecond', () => {
    expect(readEventTime(T0 / 1000 + 0.0016, fmt('epoch-s'), 't', false)).toBe(T0 + 1);
    expect(readEventTime(String(T0), fmt('epoch-ms'), 't', false)).toBe(T0);
    expect(readEventTime('1e9', fmt('epoch-s'), 't', false)).toBe('field "t" is "1e9": expected epoch seconds (a number, or a string of digits)');
    expect(readEventTime(1e300, fmt('epoch-s'), 't', false)).toBe('field "t" is 1e+300: outside the range of dates');
  });

  it('iso refuses numbers; a pattern refuses non-strings', () => {
    expect(readEventTime(T0, fmt('iso'), 't', false)).toBe(`field "t" is ${T0}: expected an ISO-8601 date-time string (the stream's format is iso)`);
    expect(readEventTime(5, fmt('yyyy-MM-dd HH:mm'), 't', false)).toBe('field "t" is 5: expected a string in the format "yyyy-MM-dd HH:mm"');
  });

  it('a pattern needs a date and a time, each token once', () => {
    expect(compileTimeFormat('HH:mm')).toBe('time format "HH:mm" has no yyyy: a pattern needs at least yyyy, MM or MMM, dd, HH and mm');
    expect(compileTimeFormat('yyyy-dd HH:mm')).toBe('time format "yyyy-dd HH:mm" has no month (MM or MMM)');
    expect(compileTimeFormat('yyyy-MM-dd HH:mm yyyy')).toBe('time format "yyyy-MM-dd HH:mm yyyy" has yyyy twice');
  });
});
