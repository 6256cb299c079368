/**
 * What a record may contain, decoded by the core: KPL aggregates (made with
 * aws-kinesis-agg), gzip (zlib), the framings and message parsers, field
 * paths, time formats and derived fields, each from a pipeline file as a user
 * writes it. Every bad sub-event is rejected alone, with its index.
 */
import { deaggregateSync } from 'aws-kinesis-agg';
import fc from 'fast-check';
import { decodeRecordEvents } from '../../../lambdas/core/decode';
import { deaggregate, isKplAggregate } from '../../../lambdas/core/kpl';
import { parsePipeline } from '../../../lambdas/core/pipeline';
import type { StreamSpec } from '../../../lambdas/core/types';
import { cloudWatchLogsControlRecord, cloudWatchLogsRecord, gzip, kplAggregate } from '../../../local/producer/encode';
import { fixedClock, kinesisRecordFactory, T0 } from '../../helpers/factories';

const clock = fixedClock(T0 + 60_000);

function streamOf(yaml: string, groupBy = '[service]'): StreamSpec {
  const p = parsePipeline(
    `streams:\n  s:\n${yaml
      .trim()
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n')}\nrules:\n  - alert: A\n    stream: s\n    groupBy: ${groupBy}\n    window: { tumbling: 1m }\n    aggregate: { n: 'count()' }\n    when: 'n > 0.0'\n`,
    'p.yaml',
  );
  return p.streams.get('s')!;
}

const rec = (data: Buffer, partitionKey = 'pk') => kinesisRecordFactory(null, { rawData: data.toString('base64'), partitionKey });
const json = (o: unknown) => Buffer.from(JSON.stringify(o), 'utf8');

describe('KPL aggregated records (aws-kinesis-agg)', () => {
  const stream = streamOf('timestamp: ts\nid: eventId');

  it('de-aggregates every user record into an event, indexed in order, detected by the magic bytes', async () => {
    // Arrange
    const users = [0, 1, 2, 3].map((i) => ({ partitionKey: `k${i % 2}`, data: json({ eventId: `e${i}`, ts: T0 + i, service: 'api' }) }));
    const [agg] = await kplAggregate(users);

    // Act
    const out = decodeRecordEvents(rec(agg!.data, agg!.partitionKey), stream, clock);

    // Assert
    expect(agg!.data.subarray(0, 4)).toEqual(Buffer.from([0xf3, 0x89, 0x9a, 0xc2]));
    expect(out.rejected).toEqual([]);
    expect(out.events.map((e) => [e.index, e.eventId, e.eventTime])).toEqual([
      [0, 'e0', T0],
      [1, 'e1', T0 + 1],
      [2, 'e2', T0 + 2],
      [3, 'e3', T0 + 3],
    ]);
  });

  it('rejects a bad user record alone, with the record sequence number, its index and its own bytes; the others count', async () => {
    // Arrange
    const [agg] = await kplAggregate([
      { partitionKey: 'a', data: json({ eventId: 'e0', ts: T0, service: 'api' }) },
      { partitionKey: 'a', data: Buffer.from('{"eventId":"e1","ts":', 'utf8') },
      { partitionKey: 'a', data: json({ eventId: 'e2', service: 'api' }) },
      { partitionKey: 'a', data: json({ eventId: 'e3', ts: T0 + 3, service: 'api' }) },
    ]);
    const record = rec(agg!.data);

    // Act
    const out = decodeRecordEvents(record, stream, clock);

    // Assert
    expect(out.events.map((e) => [e.index, e.eventId])).toEqual([
      [0, 'e0'],
      [3, 'e3'],
    ]);
    expect(out.rejected.map((r) => [r.index, r.reason, r.sequenceNumber, Buffer.from(r.data, 'base64').toString()])).toEqual([
      [1, 'not-json', record.sequenceNumber, '{"eventId":"e1","ts":'],
      [2, 'no-timestamp', record.sequenceNumber, '{"eventId":"e2","service":"api"}'],
    ]);
  });

  it('refuses a record whose MD5 trailer does not match, whole (bad-kpl), and reads it as plain data with kpl: false', async () => {
    // Arrange
    const [agg] = await kplAggregate([{ partitionKey: 'a', data: json({ ts: T0 }) }]);
    const corrupt = Buffer.from(agg!.data);
    corrupt[corrupt.length - 1]! ^= 0xff;

    // Act
    const bad = decodeRecordEvents(rec(corrupt), stream, clock);
    const off = decodeRecordEvents(rec(agg!.data), streamOf('timestamp: ts\nkpl: false'), clock);

    // Assert
    expect(bad.events).toEqual([]);
    expect(bad.rejected.map((r) => [r.reason, r.index, r.message])).toEqual([
      ['bad-kpl', undefined, 'KPL aggregated record: the MD5 digest of its contents does not match its trailer (the record is truncated or corrupt)'],
    ]);
    expect(off.rejected.map((r) => r.reason)).toEqual(['not-utf8']);
  });

  it('property: our reader returns exactly what aws-kinesis-agg deaggregateSync returns (data, partition keys, order)', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Partition keys start with a letter: aws-kinesis-agg 4.2.8 builds its key table with Object.keys, which puts
        // integer-like keys ("0", "17") first, so their records get another record's key (its data is intact).
        fc.array(fc.record({ partitionKey: fc.string({ maxLength: 20 }).map((s) => `k${s}`), data: fc.uint8Array({ minLength: 1, maxLength: 300 }) }), { minLength: 1, maxLength: 40 }),
        async (users) => {
          const aggs = await kplAggregate(users.map((u) => ({ partitionKey: u.partitionKey, data: Buffer.from(u.data) })));
          const ours: Array<[string, string]> = [];
          const theirs: Array<[string, string]> = [];
          for (const a of aggs) {
            expect(isKplAggregate(a.data)).toBe(true);
            const d = deaggregate(a.data);
            if (!d.ok) throw new Error(d.message);
            for (const u of d.records) ours.push([u.partitionKey, Buffer.from(u.data).toString('base64')]);
            deaggregateSync({ data: a.data.toString('base64'), partitionKey: a.partitionKey, sequenceNumber: '1', approximateArrivalTimestamp: 0, kinesisSchemaVersion: '1.0' }, true, (err, recs) => {
              if (err) throw err;
              for (const u of recs ?? []) theirs.push([u.partitionKey, u.data]);
            });
          }
          expect(ours).toEqual(theirs);
          expect(ours).toEqual(users.map((u) => [u.partitionKey, Buffer.from(u.data).toString('base64')]));
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('gzip (zlib)', () => {
  it('decompresses a gzip record detected by its magic bytes, and refuses a truncated one (bad-gzip) or one past 16x the record limit (too-large)', () => {
    // Arrange
    const stream = streamOf('timestamp: ts\nmaxRecordSize: 1KiB');
    const good = gzip(JSON.stringify({ ts: T0, service: 'api' }));
    const truncated = good.subarray(0, good.length - 6);
    const bomb = gzip(JSON.stringify({ ts: T0, pad: 'x'.repeat(20_000) }));

    // Act
    const [a, b, c] = [good, truncated, bomb].map((d) => decodeRecordEvents(rec(d), stream, clock));

    // Assert
    expect(a!.events.map((e) => [e.index, e.payload['service']])).toEqual([[undefined, 'api']]);
    expect(b!.rejected.map((r) => [r.reason, r.index])).toEqual([['bad-gzip', undefined]]);
    expect(c!.rejected.map((r) => r.reason)).toEqual(['too-large']);
    expect(c!.rejected[0]!.message).toBe("gzip data decompresses to more than 16384 bytes (16 times the stream's record limit of 1024 bytes)");
  });

  it('gzip inside KPL user records (what an aggregating producer that compresses writes)', async () => {
    const [agg] = await kplAggregate([0, 1].map((i) => ({ partitionKey: 'a', data: gzip(JSON.stringify({ ts: T0 + i, service: 'db' })) })));
    const out = decodeRecordEvents(rec(agg!.data), streamOf('timestamp: ts'), clock);
    expect(out.events.map((e) => [e.index, e.eventTime])).toEqual([
      [0, T0],
      [1, T0 + 1],
    ]);
  });
});

describe('framings', () => {
  it('json-array: each element an event; a non-object element rejected alone; an object is not-array', () => {
    const stream = streamOf('framing: json-array\ntimestamp: ts');
    const out = decodeRecordEvents(rec(json([{ ts: T0, service: 'a' }, 7, { ts: T0 + 1, service: 'b' }])), stream, clock);
    expect(out.events.map((e) => [e.index, e.payload['service']])).toEqual([
      [0, 'a'],
      [2, 'b'],
    ]);
    expect(out.rejected.map((r) => [r.index, r.reason, Buffer.from(r.data, 'base64').toString()])).toEqual([[1, 'not-object', '7']]);
    expect(decodeRecordEvents(rec(json({ ts: T0 })), stream, clock).rejected.map((r) => [r.reason, r.index])).toEqual([['not-array', undefined]]);
  });

  it('json-array: an element nested 10^5 levels deep is rejected alone (the record text kept), never thrown', () => {
    const stream = streamOf('framing: json-array\ntimestamp: ts');
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const text = `[{"ts":${T0}},${deep}]`;
    const out = decodeRecordEvents(rec(Buffer.from(text)), stream, clock);
    expect(out.events).toHaveLength(1);
    expect(out.rejected.map((r) => [r.index, r.reason])).toEqual([[1, 'not-object']]);
    expect(out.rejected[0]!.data.length).toBeGreaterThan(0);
  });

  it('ndjson: one event per non-blank line (CRLF too); a bad line rejected alone with its text', () => {
    const stream = streamOf('framing: ndjson\ntimestamp: ts');
    const text = `{"ts":${T0},"service":"a"}\r\n\n{"ts":\n{"ts":${T0 + 5},"service":"c"}\n`;
    const out = decodeRecordEvents(rec(Buffer.from(text)), stream, clock);
    expect(out.events.map((e) => [e.index, e.payload['service'], e.eventTime])).toEqual([
      [0, 'a', T0],
      [2, 'c', T0 + 5],
    ]);
    expect(out.rejected.map((r) => [r.index, r.reason, Buffer.from(r.data, 'base64').toString()])).toEqual([[1, 'not-json', '{"ts":']]);
  });

  it('a plain JSON array on the default framing names the framing that reads it', () => {
    const out = decodeRecordEvents(rec(json([{ ts: T0 }])), streamOf('timestamp: ts'), clock);
    expect(out.rejected[0]!.message).toBe('record data is JSON an array: expected a JSON object (a record holding a list of events needs framing: json-array)');
  });
});

describe('CloudWatch Logs subscription records', () => {
  const record = cloudWatchLogsRecord({
    logGroup: '/aws/lambda/checkout',
    logStream: '2026/11/27/[$LATEST]abc',
    logEvents: [
      { id: '3801', timestamp: T0 + 1000, message: 'ERROR checkout 503 latency=812ms' },
      { id: '3802', timestamp: T0 + 2000, message: 'not a log line we know' },
      { id: '3803', timestamp: T0 + 3000, message: 'INFO checkout 200 latency=12ms' },
    ],
  });

  it('regex parser: named groups become fields (numbers as numbers), CloudWatch fields under cloudwatch.*, a line that does not match rejected alone', () => {
    // Arrange
    const stream = streamOf(`framing: cloudwatch-logs\nparse: { regex: '^(?<level>[A-Z]+) (?<service>\\S+) (?<status>\\d{3}) latency=(?<latencyMs>\\d+)ms$' }\ntimestamp: cloudwatch.timestamp\nid: cloudwatch.id`);
    const r = rec(record);

    // Act
    const out = decodeRecordEvents(r, stream, clock);

    // Assert
    expect(out.events.map((e) => [e.index, e.eventId, e.eventTime, e.payload['level'], e.payload['service'], e.payload['status'], e.payload['latencyMs']])).toEqual([
      [0, '3801', T0 + 1000, 'ERROR', 'checkout', 503, 812],
      [2, '3803', T0 + 3000, 'INFO', 'checkout', 200, 12],
    ]);
    expect(out.events[0]!.payload['cloudwatch']).toEqual({
      logGroup: '/aws/lambda/checkout',
      logStream: '2026/11/27/[$LATEST]abc',
      owner: '123456789012',
      subscriptionFilters: ['tidewatch'],
      id: '3801',
      timestamp: T0 + 1000,
      message: 'ERROR checkout 503 latency=812ms',
    });
    expect(out.rejected.map((x) => [x.index, x.reason, x.sequenceNumber, Buffer.from(x.data, 'base64').toString()])).toEqual([[1, 'no-match', r.sequenceNumber, 'not a log line we know']]);
  });

  it('logfmt parser: key=value pairs, quoted values, numbers and booleans', () => {
    const stream = streamOf('framing: cloudwatch-logs\nparse: logfmt\ntimestamp: cloudwatch.timestamp');
    const data = cloudWatchLogsRecord({ logGroup: 'g', logStream: 's', logEvents: [{ id: '1', timestamp: T0, message: 'level=warn service=api msg="slow query" latency_ms=1500 retry=false cached code=007' }] });
    const out = decodeRecordEvents(rec(data), stream, clock);
    const fields = { ...out.events[0]!.payload };
    delete fields['cloudwatch'];
    expect(fields).toEqual({ level: 'warn', service: 'api', msg: 'slow query', latency_ms: 1500, retry: false, cached: true, code: '007' });
  });

  it('json messages (the default parser): structured log lines', () => {
    const stream = streamOf('framing: cloudwatch-logs\ntimestamp: { field: time, format: iso }');
    const data = cloudWatchLogsRecord({ logGroup: 'g', logStream: 's', logEvents: [{ id: '1', timestamp: 0, message: JSON.stringify({ time: '2026-11-27T10:00:01Z', service: 'api' }) }] });
    expect(decodeRecordEvents(rec(data), stream, clock).events.map((e) => e.eventTime)).toEqual([T0 + 1000]);
  });

  it('CONTROL_MESSAGE is acknowledged and counted, never an event nor a rejection; a JSON that is not a subscription payload is not-cloudwatch-logs', () => {
    const stream = streamOf('framing: cloudwatch-logs\ntimestamp: cloudwatch.timestamp');
    const control = decodeRecordEvents(rec(cloudWatchLogsControlRecord()), stream, clock);
    const other = decodeRecordEvents(rec(gzip(JSON.stringify({ messageType: 'SOMETHING' }))), stream, clock);
    expect([control.events.length, control.rejected.length, control.controlMessages]).toEqual([0, 0, 1]);
    expect(other.rejected.map((r) => [r.reason, r.message])).toEqual([
      [
        'not-cloudwatch-logs',
        'record has messageType "SOMETHING": expected DATA_MESSAGE or CONTROL_MESSAGE (a CloudWatch Logs subscription payload {messageType, owner, logGroup, logStream, subscriptionFilters, logEvents: [{id, timestamp, message}]})',
      ],
    ]);
  });
});

describe('field paths, time formats and derived fields', () => {
  const eventBridge = { version: '0', id: 'eb-1', 'detail-type': 'Deploy', source: 'ci', time: '2026-11-27T10:00:00Z', detail: { service: 'api', 'build-id': 42, at: (T0 + 5000) / 1000 } };

  it('nested timestamp and id paths, epoch seconds, and nested groupBy paths copied to the payload under their text', () => {
    const stream = streamOf('timestamp: { field: detail.at, format: epoch-s }\nid: detail["build-id"]', `['detail.service', 'detail["detail-type"]']`);
    const out = decodeRecordEvents(rec(json({ ...eventBridge, detail: { ...eventBridge.detail, 'detail-type': 'x' } })), stream, clock);
    expect(out.rejected).toEqual([]);
    expect(out.events.map((e) => [e.eventTime, e.eventId, e.payload['detail.service'], e.payload['detail["detail-type"]']])).toEqual([[T0 + 5000, '42', 'api', 'x']]);
  });

  it('a nested path that matches nothing leaves the group field missing (a literal dotted key does not stand in for it)', () => {
    const stream = streamOf('timestamp: ts', '[detail.service]');
    const out = decodeRecordEvents(rec(json({ ts: T0, 'detail.service': 'literal' })), stream, clock);
    expect(Object.hasOwn(out.events[0]!.payload, 'detail.service')).toBe(false);
  });

  it('epoch-s accepts a numeric string; a pattern reads Apache time with its offset; mismatches name the format', () => {
    const s = streamOf('timestamp: { field: t, format: epoch-s }');
    const p = streamOf('timestamp: { field: t, format: "dd/MMM/yyyy:HH:mm:ss Z" }');
    expect(decodeRecordEvents(rec(json({ t: String(T0 / 1000) })), s, clock).events[0]!.eventTime).toBe(T0);
    expect(decodeRecordEvents(rec(json({ t: '27/Nov/2026:12:00:30 +0200' })), p, clock).events[0]!.eventTime).toBe(T0 + 30_000);
    expect(decodeRecordEvents(rec(json({ t: '2026-11-27' })), p, clock).rejected[0]!.message).toBe(
      'field "t" is "2026-11-27": does not match the format "dd/MMM/yyyy:HH:mm:ss Z" (or is not a valid date)',
    );
    expect(decodeRecordEvents(rec(json({ t: 'soon' })), s, clock).rejected[0]!.message).toBe('field "t" is "soon": expected epoch seconds (a number, or a string of digits)');
  });

  it('derived fields are computed once per event, in order, and a failing one is left missing and counted', () => {
    const stream = streamOf("timestamp: ts\nfields:\n  service: 'detail.service'\n  latencyS: 'latencyMs / 1000.0'\n  slow: 'latencyS > 1.0'");
    const out = decodeRecordEvents(rec(json({ ts: T0, detail: { service: 'api' }, latencyMs: 1500 })), stream, clock);
    const missing = decodeRecordEvents(rec(json({ ts: T0, detail: {} })), stream, clock);
    expect([out.events[0]!.payload['service'], out.events[0]!.payload['latencyS'], out.events[0]!.payload['slow']]).toEqual(['api', 1.5, true]);
    expect(missing.events).toHaveLength(1);
    expect(missing.derivedErrors).toEqual({ service: 1, latencyS: 1, slow: 1 });
  });
});

describe('the README worked example: pipelines/cloudwatch-logs.yaml', () => {
  it('parses Lambda log lines with the regex, derives latencyS and isError, and groups by service and log group', async () => {
    // Arrange
    const { loadPipeline } = await import('../../../lambdas/core/pipeline');
    const p = loadPipeline(`${__dirname}/../../../pipelines/cloudwatch-logs.yaml`);
    const stream = p.streams.get('app-logs')!;
    const data = cloudWatchLogsRecord({
      logGroup: '/aws/lambda/checkout',
      logStream: '2026/11/27/[$LATEST]0f1e',
      logEvents: [
        { id: '3801', timestamp: T0 + 1250, message: '2026-11-27T10:00:01.250Z ERROR checkout status=503 latency=812ms path=/pay' },
        { id: '3802', timestamp: T0 + 1300, message: 'START RequestId: 8f3c Version: $LATEST' },
        { id: '3803', timestamp: T0 + 1400, message: '2026-11-27T10:00:01.400Z INFO checkout status=200 latency=31ms' },
      ],
    });

    // Act
    const out = decodeRecordEvents(rec(data), stream, clock);

    // Assert
    expect(out.events.map((e) => ({ ...e.payload, cloudwatch: undefined }))).toEqual([
      { time: '2026-11-27T10:00:01.250Z', level: 'ERROR', service: 'checkout', status: 503, latencyMs: 812, path: '/pay', latencyS: 0.812, isError: true, cloudwatch: undefined, 'cloudwatch.logGroup': '/aws/lambda/checkout' },
      { time: '2026-11-27T10:00:01.400Z', level: 'INFO', service: 'checkout', status: 200, latencyMs: 31, latencyS: 0.031, isError: false, cloudwatch: undefined, 'cloudwatch.logGroup': '/aws/lambda/checkout' },
    ]);
    expect(out.events.map((e) => [e.index, e.eventId, e.eventTime, e.payload['cloudwatch.logGroup']])).toEqual([
      [0, '3801', T0 + 1250, '/aws/lambda/checkout'],
      [2, '3803', T0 + 1400, '/aws/lambda/checkout'],
    ]);
    expect(out.rejected.map((r) => [r.index, r.reason])).toEqual([[1, 'no-match']]);
  });
});

describe('hostile bytes on every framing', () => {
  const streams = [
    streamOf('timestamp: ts'),
    streamOf('framing: json-array\ntimestamp: ts'),
    streamOf("framing: ndjson\nparse: logfmt\ntimestamp: ts\nfields:\n  x: 'ts + 1.0'"),
    streamOf("framing: cloudwatch-logs\nparse: { regex: '^(?<a>\\w+)' }\ntimestamp: cloudwatch.timestamp"),
  ];
  // Random bytes, and the same wrapped as a gzip member, a KPL user record, and a CloudWatch Logs payload.
  const payloads = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((b) => Promise.resolve(Buffer.from(b))),
    fc.uint8Array({ maxLength: 200 }).map((b) => Promise.resolve(gzip(Buffer.from(b)))),
    fc.array(fc.uint8Array({ minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 5 }).map(async (us) => (await kplAggregate(us.map((u) => ({ partitionKey: 'k', data: Buffer.from(u) }))))[0]!.data),
    fc.array(fc.record({ id: fc.string(), timestamp: fc.oneof(fc.integer(), fc.constant(T0)), message: fc.string() }), { maxLength: 4 }).map((logEvents) => Promise.resolve(cloudWatchLogsRecord({ logGroup: 'g', logStream: 's', logEvents }))),
  );

  it('property: never throws; every event and rejection has its own index; a record is split or whole, never both', async () => {
    await fc.assert(
      fc.asyncProperty(payloads, fc.integer({ min: 0, max: streams.length - 1 }), async (data, s) => {
        const out = decodeRecordEvents(rec(await data), streams[s]!, clock);
        const indexes = [...out.events.map((e) => e.index), ...out.rejected.map((r) => r.index)];
        const split = indexes.filter((i) => i !== undefined) as number[];
        expect(new Set(split).size).toBe(split.length);
        // Split: every item has an index; whole: at most one item (an event or its rejection).
        expect(split.length > 0 ? split.length === indexes.length : indexes.length <= 1).toBe(true);
        for (const r of out.rejected) expect(typeof r.message).toBe('string');
      }),
      { numRuns: 300 },
    );
  });
});
