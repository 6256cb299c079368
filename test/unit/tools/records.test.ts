import { parseEventTime } from '../../../lambdas/core/decode';
import { parsePipeline } from '../../../lambdas/core/pipeline';
import { classifyLine, eventTimeOf, RecordMaker, topLevelField, topLevelValue } from '../../../local/tools/records';

describe('reading a top-level field without parsing the line', () => {
  it.each([
    ['{"eventId":"e1","ts":"2026-01-01T00:00:00Z","kind":"http"}', '"2026-01-01T00:00:00Z"'],
    ['{"a":{"ts":"nested"},"ts":"top"}', '"top"'],
    ['{"x":[{"ts":2}],"ts":3}', '3'],
    ['{"b":"says \\"ts\\":1", "ts" : 5 }', '5'],
    ['{"t\\u0073":"escaped key"}', '"escaped key"'],
    ['  {"ts":true}', 'true'],
  ])('finds the value JSON.parse would give in %s', (line, raw) => {
    expect(topLevelValue(line, 'ts')).toBe(raw);
    expect(topLevelField(line, 'ts')).toEqual((JSON.parse(line) as { ts: unknown }).ts);
  });

  it('takes the first of repeated keys (JSON.parse takes the last: only a payload line\'s arrival is read from here)', () => {
    expect(topLevelValue('{"ts":1,"x":[{"ts":2}],"ts":3}', 'ts')).toBe('1');
  });

  it.each(['{}', '{"x":[1,{"ts":3}]}', 'not json', '[{"ts":1}]', '', '{"ts"'])('finds nothing in %j', (line) => {
    expect(topLevelField(line, 'ts')).toBeUndefined();
  });

  it('reads the event time as the engine does', () => {
    const stream = parsePipeline('streams:\n  s:\n    timestamp: at\nrules:\n  - { alert: A, stream: s, absent: 1m }\n', 'p.yaml').streams.get('s')!;
    expect(eventTimeOf('{"at":"2026-01-01T00:00:01.5Z"}', stream)).toBe(Date.UTC(2026, 0, 1, 0, 0, 1, 500));
    expect(eventTimeOf('{"at":1767225601500}', stream)).toBe(1767225601500);
    expect(eventTimeOf('{"at":"yesterday"}', stream)).toBeNull();
    expect(eventTimeOf('{"ts":"2026-01-01T00:00:00Z"}', stream)).toBeNull();
  });
});

describe('input lines', () => {
  it('recognises Kinesis records as the AWS CLI and Lambda print them; anything else is a payload', () => {
    const data = Buffer.from('{"a":1}').toString('base64');
    expect(classifyLine(JSON.stringify({ SequenceNumber: '123', ApproximateArrivalTimestamp: '2026-01-01T00:00:00.000000+00:00', Data: data, PartitionKey: 'k' }))).toEqual({
      kind: 'record', data, arrival: Date.UTC(2026, 0, 1), partitionKey: 'k', sequenceNumber: '123',
    });
    expect(classifyLine(JSON.stringify({ eventID: 'shardId-000000000002:456', kinesis: { sequenceNumber: '456', approximateArrivalTimestamp: 1767225600.25, data, partitionKey: 'p' } }))).toEqual({
      kind: 'record', data, arrival: Date.UTC(2026, 0, 1) + 250, partitionKey: 'p', sequenceNumber: '456', shardId: 'shardId-000000000002',
    });
    expect(classifyLine('{"approximateArrivalTimestamp": "a payload field", "x": 1}')).toEqual({ kind: 'payload', text: '{"approximateArrivalTimestamp": "a payload field", "x": 1}' });
    expect(() => classifyLine(JSON.stringify({ SequenceNumber: 'abc', ApproximateArrivalTimestamp: 1, Data: data }))).toThrow('SequenceNumber must be a decimal string of up to 129 digits (given "abc")');
  });

  it('gives payloads growing sequence numbers per shard, after any given record, and refuses records out of order', () => {
    const m = new RecordMaker({ shards: 2, partitionKey: 'host' });
    const a = m.payload('{"host":"web-2"}', 1000);
    const b = m.payload('{"host":"web-2"}', 2000);
    expect([a.shardId, a.partitionKey, a.approximateArrivalTimestamp, Buffer.from(a.data, 'base64').toString()]).toEqual(['shardId-000000000000', 'web-2', 1, '{"host":"web-2"}']);
    expect(BigInt(b.sequenceNumber) > BigInt(a.sequenceNumber)).toBe(true);
    const given = m.record({ kind: 'record', data: 'e30=', arrival: 3000, partitionKey: 'x', sequenceNumber: '49700000000000000000000000000000000000000000000000000000', shardId: 'shardId-000000000000' });
    const after = m.payload('{"host":"web-2"}', 4000);
    expect(BigInt(after.sequenceNumber)).toBe(BigInt(given.sequenceNumber) + 1n);
    expect(() => m.record({ kind: 'record', data: 'e30=', arrival: 5000, partitionKey: 'x', sequenceNumber: '5', shardId: 'shardId-000000000000' })).toThrow(/records of shardId-000000000000 are not in sequence order: 5 comes after 4970/);
  });
});

describe('arrival times of payload lines', () => {
  it('reads the common UTC shape as the engine does, and leaves every other one to it', () => {
    const stream = parsePipeline('streams:\n  s:\n    timestamp: ts\nrules:\n  - { alert: A, stream: s, absent: 1m }\n', 'p.yaml').streams.get('s')!;
    for (const ts of ['2026-11-27T10:00:05.038Z', '2026-11-27T10:00:05.999Z', '2026-11-27T10:00:06.000Z', '2026-02-28T23:59:59.500Z', '2026-11-27T10:00:05Z', '2026-11-27T11:00:05.038+01:00', '2026-11-27T10:00:05.1234Z']) {
      expect(eventTimeOf(JSON.stringify({ ts }), stream)).toBe(Date.parse(ts));
    }
    // whatever the engine's parser says of odd ones (it reads 2026-02-30 as March 2nd), this says too
    for (const ts of ['2026-02-30T10:00:05.038Z', '2026-11-27T25:00:05.038Z', '2026-11-27T10:00:05.0a8Z']) {
      const engine = parseEventTime(ts, 'ts');
      expect(eventTimeOf(JSON.stringify({ ts }), stream)).toBe(typeof engine === 'number' ? engine : null);
    }
  });
});
