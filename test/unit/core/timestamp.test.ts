import fc from 'fast-check';
import { compileJsonSchema } from '../../../lambdas/core/pipeline';
import { parseIsoDateTime, parseRfc3339DateTime } from '../../../lambdas/core/timestamp';

/*
 * The reference: what parseEventTime and the JSON Schema date-time format did
 * before the char-code parser, copied verbatim (regex, then V8's Date.parse).
 */
const OLD_ISO_8601 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$/;
const OLD_RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const oldIso = (s: string) => (OLD_ISO_8601.test(s) ? Date.parse(s) : NaN);
const oldRfc = (s: string) => (OLD_RFC3339.test(s) ? Date.parse(s) : NaN);

// ------------------------------------------------------------------ generators

const digits = (minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength, maxLength });
/** A fixed-width field: mostly in range or just past it, sometimes the wrong number of digits. */
const field = (width: number, max: number) =>
  fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max }).map((n) => String(n).padStart(width, '0')) }, { weight: 1, arbitrary: digits(0, width + 1) });
const year = fc.oneof(field(4, 9999), fc.constantFrom('2026', '2024', '2100', '2000', '1970', '1969', '0000', '9999'));
const month = fc.oneof(field(2, 13), fc.constantFrom('01', '02', '12'));
const day = fc.oneof(field(2, 32), fc.constantFrom('28', '29', '30', '31'));
const dateTimeSep = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('T', 't') }, { weight: 2, arbitrary: fc.constant(' ') }, { weight: 1, arbitrary: fc.constantFrom('', '_', 'TT', '  ') });
const hour = fc.oneof(field(2, 25), fc.constantFrom('00', '23', '24'));
const minute = fc.oneof(field(2, 60), fc.constant('00'));
const second = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(field(2, 61), fc.constantFrom('00', '59', '60')).map((s) => `:${s}`) },
  { weight: 2, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.constantFrom(':', '::00', '.00') },
);
const fraction = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 6, arbitrary: digits(1, 12).map((d) => `.${d}`) },
  { weight: 2, arbitrary: fc.tuple(digits(1, 10), digits(1, 3)).map(([z, d]) => `.${'0'.repeat(z.length)}${d}`) },
  { weight: 1, arbitrary: fc.constantFrom('.', ',123', '..1') },
);
const zone = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('Z', 'z') },
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom('+', '-'), fc.oneof(field(2, 24), fc.constantFrom('00', '23')), fc.constantFrom(':', ':', '', ';'), fc.oneof(field(2, 60), fc.constantFrom('00', '30', '59')))
      .map(([sign, h, colon, m]) => `${sign}${h}${colon}${m}`),
  },
  { weight: 1, arbitrary: fc.constantFrom('', 'ZZ', 'Z ', ' Z', '+', '+05', '+5:30', 'UTC', 'GMT', '+05:30Z', '\n') },
);
const dateTimeLike = fc
  .tuple(year, month, day, dateTimeSep, hour, minute, second, fraction, zone)
  .map(([y, mo, d, sep, h, mi, s, f, z]) => `${y}-${mo}-${d}${sep}${h}:${mi}${s}${f}${z}`);
/** One character replaced, inserted or deleted: shapes the pieces above do not build. */
const mutated = fc
  .tuple(dateTimeLike, fc.nat(), fc.constantFrom('edit', 'insert', 'delete'), fc.constantFrom(...'0123456789-:;.+TtZz x\u0660\uff10'))
  .map(([s, at, how, c]) => {
    const i = at % (s.length + 1);
    if (how === 'delete') return s.slice(0, i) + s.slice(i + 1);
    return s.slice(0, i) + c + s.slice(how === 'edit' ? i + 1 : i);
  });

// ------------------------------------------------------------------ differential

describe('date-time parsing is exactly the regex + Date.parse it replaces', () => {
  it('for date-time-like strings, valid and broken', () => {
    let accepted = 0;
    let total = 0;
    fc.assert(
      fc.property(fc.oneof({ weight: 4, arbitrary: dateTimeLike }, { weight: 1, arbitrary: mutated }), (s) => {
        const iso = oldIso(s);
        total++;
        if (!Number.isNaN(iso)) accepted++;
        // Object.is: NaN equals NaN, and +0 and -0 differ.
        return Object.is(parseIsoDateTime(s), iso) && Object.is(parseRfc3339DateTime(s), oldRfc(s));
      }),
      { numRuns: 30_000, seed: 20261127 },
    );
    // The generators must reach the accepting side often, or the property says little.
    expect(accepted / total).toBeGreaterThan(0.1);
  });

  it('when the event time is read right after the schema format read the same string (the memo)', () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 4, arbitrary: dateTimeLike }, { weight: 1, arbitrary: mutated }), (s) => {
        // Schema first, then the event time, as decodeRecord does; a copy of the string as well.
        const rfc = parseRfc3339DateTime(s);
        const iso = parseIsoDateTime(s);
        parseRfc3339DateTime(s);
        const isoOfCopy = parseIsoDateTime(` ${s}`.slice(1));
        return Object.is(rfc, oldRfc(s)) && Object.is(iso, oldIso(s)) && Object.is(isoOfCopy, oldIso(s));
      }),
      { numRuns: 20_000, seed: 20261128 },
    );
  });

  it('for strings in a row that share their date and time to the second', () => {
    // Mostly the same second with another fraction or zone; sometimes another second, or none.
    const rest = fc.oneof({ weight: 4, arbitrary: fc.tuple(fraction, zone).map(([f, z]) => `${f}${z}`) }, { weight: 1, arbitrary: fc.tuple(second, fraction, zone).map(([sec, f, z]) => `${sec.slice(3)}${f}${z}`) });
    const prefix = fc.tuple(year, month, day, dateTimeSep, hour, minute, second).map(([y, mo, d, sep, h, mi, sec]) => `${y}-${mo}-${d}${sep}${h}:${mi}${sec.slice(0, 3)}`);
    fc.assert(
      fc.property(prefix, fc.array(fc.oneof({ weight: 4, arbitrary: rest }, { weight: 1, arbitrary: fc.constantFrom('', ':', 'x', '0') }), { minLength: 2, maxLength: 8 }), (p, rests) =>
        rests.every((r) => {
          const s = p + r;
          return Object.is(parseRfc3339DateTime(s), oldRfc(s)) && Object.is(parseIsoDateTime(s), oldIso(s));
        }),
      ),
      { numRuns: 10_000, seed: 20261129 },
    );
    // A whole date-time read before, then strings that merely start like it.
    parseIsoDateTime('2026-11-27T10:00:00Z');
    for (const s of ['2026-11-27T10:00', '2026-11-27T10:00:', '2026-11-27T10:00Z', '2026-11-27T10:00:0', '2026-11-27T10:00:00', '2026-11-27T10:00:00.', '2026-11-27T10:00:00.5', '2026-11-27T10:00:001Z', '2026-11-27T10:00:00+01:00', '2026-11-27T10:00:00.1234567891Z']) {
      expect([s, parseIsoDateTime(s)]).toEqual([s, oldIso(s)]);
      expect([s, parseRfc3339DateTime(s)]).toEqual([s, oldRfc(s)]);
    }
  });

  it('for every day of every month of century, leap and era boundary years, and years between', () => {
    const years = new Set([0, 1, 3, 4, 99, 100, 101, 399, 400, 401, 1600, 1899, 1900, 2000, 2100, 2400, 9996, 9999]);
    for (let y = 1968; y <= 2032; y++) years.add(y);
    for (let y = 0; y <= 9999; y += 97) years.add(y);
    for (const y of years) {
      for (let m = 1; m <= 12; m++) {
        for (let d = 1; d <= 31; d++) {
          const s = `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}T23:59:59.999-23:59`;
          const want = Date.parse(s);
          if (parseIsoDateTime(s) !== want || parseRfc3339DateTime(s) !== want) throw new Error(`${s}: ${parseIsoDateTime(s)} !== ${want}`);
        }
      }
    }
    expect(parseIsoDateTime('2026-11-27T10:00:00Z')).toBe(Date.UTC(2026, 10, 27, 10));
  });
});

// ------------------------------------------------------------------ edge cases

describe('parseIsoDateTime (event times)', () => {
  const ms = (...a: Parameters<typeof Date.UTC>) => Date.UTC(...a);
  it.each<[string, number]>([
    ['2026-11-27T10:00:00.013Z', ms(2026, 10, 27, 10, 0, 0, 13)],
    ['2026-11-27t10:00:00.013z', ms(2026, 10, 27, 10, 0, 0, 13)],
    ['2026-11-27 10:00:00.013Z', ms(2026, 10, 27, 10, 0, 0, 13)],
    ['2026-11-27T10:00Z', ms(2026, 10, 27, 10)],
    ['2026-11-27T12:00:00+02:00', ms(2026, 10, 27, 10)],
    ['2026-11-27T12:00:00+0200', ms(2026, 10, 27, 10)],
    ['2026-11-27T04:30:00-05:30', ms(2026, 10, 27, 10)],
    ['2026-11-27T10:00:00-00:00', ms(2026, 10, 27, 10)],
    ['2026-11-27T10:00:00+23:59', ms(2026, 10, 27, 10) - (23 * 60 + 59) * 60_000],
    // Fractions are truncated to milliseconds, whatever their length (up to 9 digits here).
    ['2026-11-27T10:00:00.1Z', ms(2026, 10, 27, 10, 0, 0, 100)],
    ['2026-11-27T10:00:00.12Z', ms(2026, 10, 27, 10, 0, 0, 120)],
    ['2026-11-27T10:00:00.1239Z', ms(2026, 10, 27, 10, 0, 0, 123)],
    ['2026-11-27T10:00:00.999999999Z', ms(2026, 10, 27, 10, 0, 0, 999)],
    ['2026-11-27T10:00:00.000999Z', ms(2026, 10, 27, 10)],
    // V8 takes day 29 to 31 of any month and rolls over.
    ['2026-02-30T00:00:00Z', ms(2026, 2, 2)],
    ['2026-04-31T00:00:00Z', ms(2026, 4, 1)],
    ['2024-02-29T00:00:00Z', ms(2024, 1, 29)],
    ['2100-02-29T00:00:00Z', ms(2100, 2, 1)],
    // Hour 24 only as the very end of a day.
    ['2026-11-27T24:00:00Z', ms(2026, 10, 28)],
    ['2026-11-27T24:00:00.000Z', ms(2026, 10, 28)],
    ['2026-11-27T24:00Z', ms(2026, 10, 28)],
    ['0000-01-01T00:00:00Z', -62_167_219_200_000],
    ['9999-12-31T23:59:59.999Z', 253_402_300_799_999],
    ['1969-12-31T23:59:59.999Z', -1],
  ])('%s', (s, want) => {
    expect(parseIsoDateTime(s)).toBe(want);
    expect(parseIsoDateTime(s)).toBe(Date.parse(s));
  });

  it('gives +0 for the epoch, as Date.parse does', () => {
    expect(Object.is(parseIsoDateTime('1970-01-01T00:00:00Z'), 0)).toBe(true);
    expect(Object.is(parseIsoDateTime('1970-01-01T00:00:00-00:00'), 0)).toBe(true);
  });

  it.each([
    '',
    'NaN',
    '2026-11-27',
    '2026-11-27T10:00:00', // no time zone
    '2026-11-27T10:00:00Z ',
    '2026-11-27T10:00:00Z\n',
    '2026-11-27T10:00:00.Z',
    '2026-11-27T10:00:00.1234567891Z', // 10 fraction digits
    '2026-11-27T10:00:00,123Z',
    '2026-11-27T10:00:00+05',
    '2026-11-27T10:00:00+5:30',
    '2026-11-27T10:00:00UTC',
    '2026-11-27T10Z',
    '26-11-27T10:00:00Z',
    '+002026-11-27T10:00:00Z',
    '２０２６-11-27T10:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-00-01T00:00:00Z',
    '2026-01-00T00:00:00Z',
    '2026-01-32T00:00:00Z',
    '2026-11-27T24:00:01Z',
    '2026-11-27T24:00:00.001Z',
    '2026-11-27T24:01:00Z',
    '2026-11-27T25:00:00Z',
    '2026-11-27T10:60:00Z',
    '2026-11-27T23:59:60Z', // no leap seconds
    '2026-11-27T10:00:00+24:00',
    '2026-11-27T10:00:00+05:60',
  ])('rejects %j', (s) => {
    expect(parseIsoDateTime(s)).toBeNaN();
  });

  it('reads the canonical shapes without Date.parse', () => {
    const spy = jest.spyOn(Date, 'parse');
    try {
      for (const s of ['2026-11-27T10:00:00.013Z', '2026-11-27t10:00z', '2026-11-27T10:00:00.123456789+05:30', '2026-11-27T10:00:00-0800']) parseIsoDateTime(s);
      parseRfc3339DateTime('2026-11-27T10:00:00.013Z');
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });
});

describe('parseRfc3339DateTime (the JSON Schema date-time format)', () => {
  it('differs from the event-time grammar where the regexes did', () => {
    expect(parseRfc3339DateTime('2026-11-27T10:00Z')).toBeNaN(); // seconds required
    expect(parseRfc3339DateTime('2026-11-27T12:00:00+0200')).toBeNaN(); // colon required
    expect(parseRfc3339DateTime('2026-11-27T10:00:00.1234567891Z')).toBe(Date.UTC(2026, 10, 27, 10, 0, 0, 123)); // any fraction length
    expect(parseRfc3339DateTime('2026-11-27T24:00:00.0000000000Z')).toBe(Date.UTC(2026, 10, 28));
    expect(parseRfc3339DateTime('2026-11-27T24:00:00.0000000001Z')).toBeNaN();
  });

  it('is the format ajv checks', () => {
    const compiled = compileJsonSchema(JSON.stringify({ type: 'string', format: 'date-time' }));
    if (!compiled.ok) throw new Error(compiled.message);
    expect(compiled.validate('2026-11-27T10:00:00.013Z')).toBeNull();
    expect(compiled.validate('2026-02-30T10:00:00Z')).toBeNull();
    expect(compiled.validate('2026-11-27 10:00:00z')).toBeNull();
    expect(compiled.validate('2026-11-27T23:59:60Z')).toBe('event must match format "date-time"');
    expect(compiled.validate('2026-11-27T10:00Z')).toBe('event must match format "date-time"');
  });
});
