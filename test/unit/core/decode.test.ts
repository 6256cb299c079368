import fc from 'fast-check';
import { DecodedBatch, decodeInto, decodeRecord, newDecodeSink, parseEventTime } from '../../../lambdas/core/decode';
import { fixedClock, kinesisRecordFactory, streamSpec, T0 } from '../../helpers/factories';

const clock = fixedClock(T0);
const stream = streamSpec();

describe('decodeRecord', () => {
  it('decodes a valid record with an ISO-8601 timestamp and event id', () => {
    const r = decodeRecord(kinesisRecordFactory({ ts: '2026-11-27T09:59:30.250Z', eventId: 'e-1', service: 'api' }), stream, clock);
    expect(r).toEqual({
      ok: true,
      event: expect.objectContaining({ eventTime: Date.UTC(2026, 10, 27, 9, 59, 30, 250), eventId: 'e-1', payload: { ts: '2026-11-27T09:59:30.250Z', eventId: 'e-1', service: 'api' } }),
    });
  });

  it('accepts epoch milliseconds', () => {
    const r = decodeRecord(kinesisRecordFactory({ ts: T0 - 1000 }), stream, clock);
    expect(r.ok && r.event.eventTime).toBe(T0 - 1000);
  });

  it('takes the arrival time when the stream says so', () => {
    const r = decodeRecord(kinesisRecordFactory({ x: 1 }, { arrivalMs: T0 - 5000 }), streamSpec({ timestamp: { kind: 'arrival' } }), clock);
    expect(r.ok && r.event.eventTime).toBe(T0 - 5000);
  });

  const cases: Array<[string, Parameters<typeof kinesisRecordFactory>, string, RegExp]> = [
    ['invalid base64', [null, { rawData: '!!!not base64!!!' }], 'bad-base64', /not valid base64/],
    ['base64 with wrong padding', [null, { rawData: 'abc' }], 'bad-base64', /base64/],
    ['invalid UTF-8', [null, { rawData: Buffer.from([0xff, 0xfe, 0x7b]).toString('base64') }], 'not-utf8', /UTF-8/],
    ['truncated JSON', [null, { rawData: Buffer.from('{"ts": 1').toString('base64') }], 'not-json', /not JSON/],
    ['a JSON array', [[1, 2]], 'not-object', /JSON an array: expected a JSON object/],
    ['a JSON string', ['hello'], 'not-object', /JSON string/],
    ['JSON null', [null], 'not-object', /JSON null/],
    ['no timestamp', [{ service: 'api' }], 'no-timestamp', /no "ts" field/],
    ['epoch seconds', [{ ts: 1764237600 }], 'bad-timestamp', /epoch seconds/],
    ['a date without zone', [{ ts: '2026-11-27 10:00' }], 'bad-timestamp', /ISO-8601/],
    ['an object timestamp', [{ ts: { a: 1 } }], 'bad-timestamp', /is object/],
    ['a timestamp far in the past', [{ ts: '1999-12-31T23:59:59Z' }], 'bad-timestamp', /before 2000-01-01/],
    ['a timestamp far in the future', [{ ts: T0 + 3600_000 }], 'future-timestamp', /3600s ahead of the clock; the stream allows 300s/],
    ['NaN-like timestamp string', [{ ts: 'NaN' }], 'bad-timestamp', /ISO-8601/],
  ];
  it.each(cases)('rejects %s with a reason a person can act on', (_name, args, reason, message) => {
    const record = kinesisRecordFactory(...args);
    const r = decodeRecord(record, stream, clock);
    expect(r).toEqual({
      ok: false,
      rejection: expect.objectContaining({ reason, message: expect.stringMatching(message), data: record.data, sequenceNumber: record.sequenceNumber, shardId: record.shardId }),
    });
  });

  it('rejects oversized records before decoding them', () => {
    const r = decodeRecord(kinesisRecordFactory({ ts: T0, blob: 'x'.repeat(2000) }), streamSpec({ maxRecordBytes: 1000 }), clock);
    expect(!r.ok && r.rejection.reason).toBe('too-large');
  });

  it('rejects payloads failing the schema with the validator message', () => {
    const s = streamSpec({ validate: (p) => ((p as { status?: unknown }).status === undefined ? 'must have required property "status"' : null), schemaPath: 'schemas/t.json' });
    const r = decodeRecord(kinesisRecordFactory({ ts: T0 }), s, clock);
    expect(!r.ok && r.rejection).toMatchObject({ reason: 'schema', message: 'payload does not match schemas/t.json: must have required property "status"' });
  });

  it('accepts text that contains U+FFFD itself (a replacement character is not a decoding error)', () => {
    const r = decodeRecord(kinesisRecordFactory({ ts: T0, note: 'bad byte: \uFFFD', eventId: '\uFFFD' }), stream, clock);
    expect(r.ok && r.event).toMatchObject({ payload: { note: 'bad byte: \uFFFD' }, eventId: '\uFFFD' });
  });

  it.each([
    ['a lone continuation byte', [0x80]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('rejects %s inside a JSON string as not-utf8', (_name, bad) => {
    const bytes = Buffer.concat([Buffer.from(`{"ts":${T0},"note":"`), Buffer.from(bad), Buffer.from('"}')]);
    const r = decodeRecord(kinesisRecordFactory(null, { rawData: bytes.toString('base64') }), stream, clock);
    expect(!r.ok && r.rejection).toMatchObject({ reason: 'not-utf8', message: 'record data is not valid UTF-8 text' });
  });

  it('skips a UTF-8 byte order mark before the JSON', () => {
    const r = decodeRecord(kinesisRecordFactory(null, { rawData: Buffer.from(`\uFEFF{"ts":${T0}}`).toString('base64') }), stream, clock);
    expect(r.ok && r.event.eventTime).toBe(T0);
  });

  it('has no event id when the payload has none', () => {
    const r = decodeRecord(kinesisRecordFactory({ ts: T0 }), stream, clock);
    expect(r.ok && r.event.eventId).toBeUndefined();
  });

  it('does not take an inherited property for the event-time field', () => {
    const r = decodeRecord(kinesisRecordFactory({ ts: T0 }), streamSpec({ timestamp: { kind: 'field', field: 'constructor' } }), clock);
    expect(!r.ok && r.rejection).toMatchObject({ reason: 'no-timestamp', message: 'payload has no "constructor" field (the stream\'s event-time field)' });
  });

  it('keeps prototype-pollution keys as plain data', () => {
    const record = kinesisRecordFactory(null, { rawData: Buffer.from('{"ts":1764237600000,"__proto__":{"polluted":true}}').toString('base64') });
    const r = decodeRecord(record, stream, clock);
    expect(r.ok).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('the future check reads the clock once a batch unless an event time needs a fresh reading', () => {
  /** A clock that moves on 10 s at every reading, and counts them. */
  function movingClock(start: number): { now: () => number; reads: number } {
    const c = { reads: 0, now: () => start + 10_000 * c.reads++ };
    return c;
  }

  it('reads it for the first event, and again only for an event past the last reading plus maxFuture', () => {
    const c = movingClock(T0);
    const batch = new DecodedBatch(8);
    const sink = newDecodeSink();
    const decode = (ts: number) => decodeInto(batch, kinesisRecordFactory({ ts }), stream, c, undefined, sink);
    expect(decode(T0 - 1000)).toBeNull();
    expect(decode(T0 + 299_000)).toBeNull();
    expect(decode(T0)).toBeNull();
    expect(c.reads).toBe(1);
    // Past T0 + 300 s: the clock is read again (now T0 + 10 s), and the event is within 300 s of it.
    expect(decode(T0 + 305_000)).toBeNull();
    expect(c.reads).toBe(2);
    // Past T0 + 10 s + 300 s: read again (T0 + 20 s); still 300 s too far, as a fresh reading says.
    const r = decode(T0 + 620_000);
    expect(r).toMatchObject({ reason: 'future-timestamp', message: 'event time 2026-11-27T10:10:20.000Z is 600s ahead of the clock; the stream allows 300s (check the producer\'s clock)' });
    expect(c.reads).toBe(3);
    expect(Array.from(batch.times.subarray(0, batch.length))).toEqual([T0 - 1000, T0 + 299_000, T0, T0 + 305_000]);
  });

  it('reads it for every event without a sink (each decode on its own), as before', () => {
    const c = movingClock(T0);
    for (let i = 0; i < 3; i++) expect(decodeRecord(kinesisRecordFactory({ ts: T0 }), stream, c).ok).toBe(true);
    expect(c.reads).toBe(3);
  });

  it('does the same on the general path (ndjson lines)', () => {
    const c = movingClock(T0);
    const sink = newDecodeSink();
    const batch = new DecodedBatch(4);
    const lines = [T0, T0 + 100_000, T0 + 305_000, T0 + 900_000].map((ts) => JSON.stringify({ ts })).join('\n');
    decodeInto(batch, kinesisRecordFactory(null, { rawData: Buffer.from(lines).toString('base64') }), streamSpec({ framing: 'ndjson' }), c, undefined, sink);
    expect(batch.length).toBe(3);
    expect(sink.rejected.map((r) => [r.reason, r.index])).toEqual([['future-timestamp', 3]]);
    expect(c.reads).toBe(3);
  });
});

describe('parseEventTime', () => {
  it('parses offsets', () => {
    expect(parseEventTime('2026-11-27T12:00:00+02:00', 'ts')).toBe(Date.UTC(2026, 10, 27, 10));
  });
  it('tells a string of the wrong shape from a date that does not exist', () => {
    expect(parseEventTime('2026-11-27 10:00', 'ts')).toBe(
      'field "ts" is "2026-11-27 10:00": expected an ISO-8601 date-time with a time zone (e.g. 2026-11-27T10:00:00.000Z) or epoch milliseconds',
    );
    expect(parseEventTime('2026-11-32T10:00:00Z', 'ts')).toBe('field "ts" is "2026-11-32T10:00:00Z": not a valid date-time');
    expect(parseEventTime('2026-11-27T24:00:01Z', 'ts', true)).toBe('field "ts" is [redacted]: not a valid date-time');
  });
  it('rejects infinities', () => {
    expect(parseEventTime(Infinity, 'ts')).toMatch(/not a finite number/);
  });
});

describe('decodeRecord text decoding (ASCII fast path vs the general path)', () => {
  /** The general path alone, as decodeRecord did it for every record before the ASCII fast path. */
  function reference(data: string): { reason: string } | { payload: unknown } {
    const n = data.length;
    const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
    const bytes = n % 4 === 0 ? Buffer.from(data, 'base64') : undefined;
    if (bytes === undefined || bytes.length !== (n / 4) * 3 - padding) return { reason: 'bad-base64' };
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return { reason: 'not-utf8' };
    }
    try {
      return { payload: JSON.parse(text) as unknown };
    } catch {
      return { reason: 'not-json' };
    }
  }
  const arrival = stream.timestamp.kind === 'field' ? { ...stream, timestamp: { kind: 'arrival' as const } } : stream;
  function actual(data: string): { reason: string } | { payload: unknown } {
    const r = decodeRecord(kinesisRecordFactory(null, { rawData: data }), arrival, clock);
    if (r.ok) return { payload: r.event.payload };
    return { reason: r.rejection.reason === 'not-object' ? 'json-non-object' : r.rejection.reason };
  }
  const normalise = (x: { reason: string } | { payload: unknown }) =>
    'payload' in x && (x.payload === null || typeof x.payload !== 'object' || Array.isArray(x.payload)) ? { reason: 'json-non-object' } : x;

  it('gives the general path\'s answer for JSON texts of any characters', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean())), (obj) => {
        const data = Buffer.from(JSON.stringify(obj), 'utf8').toString('base64');
        expect(actual(data)).toEqual(normalise(reference(data)));
        expect(actual(data)).toEqual({ payload: JSON.parse(JSON.stringify(obj)) as unknown });
      }),
      { numRuns: 2000, seed: 20261128 },
    );
  });

  it('gives the general path\'s answer for arbitrary bytes and for near-base64 text', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n.';
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')),
          fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64url')),
          fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }).map((cs) => cs.join('')),
          fc.string({ maxLength: 30 }).map((s) => Buffer.from(s).toString('base64')),
        ),
        (data) => {
          expect(actual(data)).toEqual(normalise(reference(data)));
        },
      ),
      { numRuns: 5000, seed: 20261128 },
    );
  });

  it('decodes non-ASCII payloads through the general path, and base64url text as before', () => {
    expect(actual(Buffer.from('{"s":"héllo ☃ 😀"}').toString('base64'))).toEqual({ payload: { s: 'héllo ☃ 😀' } });
    const url = Buffer.from('{"a":"???>>>"}').toString('base64url');
    expect(url).toMatch(/[-_]/);
    expect(actual(url.padEnd(Math.ceil(url.length / 4) * 4, '='))).toEqual({ payload: { a: '???>>>' } });
  });
});
