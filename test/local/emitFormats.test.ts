/**
 * `tidewatch emit --aggregate / --gzip` against kinesis-local: the records it
 * writes are what KPL producers write (aws-kinesis-agg aggregates, gzip
 * members), and the core reads every event back, in order.
 */
import { PassThrough, Readable } from 'node:stream';
import { decodeRecordEvents } from '../../lambdas/core/decode';
import { isKplAggregate } from '../../lambdas/core/kpl';
import { parsePipeline } from '../../lambdas/core/pipeline';
import { startKinesis, type KinesisEmulator } from '../../local/emulators';
import { runEmit } from '../../local/producer';
import { readAll, uniqueName } from './helpers';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const stream = parsePipeline(
  "streams:\n  s: { timestamp: ts, id: id }\nrules:\n  - { alert: A, stream: s, window: { tumbling: 1m }, aggregate: { n: 'count()' }, when: 'n > 0.0' }\n",
  'p.yaml',
).streams.get('s')!;

describe('tidewatch emit --aggregate / --gzip (against kinesis-local)', () => {
  let kinesis: KinesisEmulator;

  beforeAll(async () => {
    kinesis = await startKinesis();
  }, 60_000);

  afterAll(async () => {
    await kinesis.stop();
  });

  async function emit(args: string[], stdin: string) {
    const name = uniqueName('emit');
    await kinesis.createStream(name, 1);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await runEmit(['--stream', name, ...args, '--endpoint', kinesis.endpoint, '--quiet'], { stdin: Readable.from([stdin]), stdout, stderr, env: {} });
    const client = kinesis.client();
    const records = await readAll(client, name);
    client.destroy();
    return { code, out, err, records };
  }

  const input = Array.from({ length: 25 }, (_, i) => JSON.stringify({ id: `e${i}`, ts: T0 + i, host: `h${i % 3}` })).join('\n');
  const decodeAll = (records: Awaited<ReturnType<typeof emit>>['records']) =>
    records.flatMap((r) =>
      decodeRecordEvents(
        { data: Buffer.from(r.Data!).toString('base64'), partitionKey: r.PartitionKey!, sequenceNumber: r.SequenceNumber!, approximateArrivalTimestamp: T0 / 1000, shardId: r.shardId },
        stream,
        { now: () => T0 },
      ).events.map((e) => e.eventId),
    );

  it('--aggregate --aggregate-events 10 writes 3 KPL records of 10, 10 and 5 events; every event decodes, in order', async () => {
    const r = await emit(['--aggregate', '--aggregate-events', '10', '--json'], input);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ sent: 3, failed: 0, events: 25 });
    expect(r.records.map((x) => isKplAggregate(x.Data!))).toEqual([true, true, true]);
    expect(decodeAll(r.records)).toEqual(Array.from({ length: 25 }, (_, i) => `e${i}`));
  }, 30_000);

  it('--gzip writes one gzip record per event; with --aggregate the events are gzip members inside aggregates', async () => {
    const gz = await emit(['--gzip', '--partition-key', 'host'], input);
    const both = await emit(['--gzip', '--aggregate'], input);
    expect([gz.code, both.code]).toEqual([0, 0]);
    expect(gz.records).toHaveLength(25);
    expect(gz.records.every((x) => x.Data![0] === 0x1f && x.Data![1] === 0x8b)).toBe(true);
    expect(new Set(gz.records.map((x) => x.PartitionKey))).toEqual(new Set(['h0', 'h1', 'h2']));
    expect(gz.err).toContain('25 events, each a gzip-compressed record');
    expect(both.records).toHaveLength(1);
    expect(both.err).toContain('25 events in 1 KPL aggregated records (each event gzip-compressed)');
    expect(decodeAll(gz.records).sort()).toEqual(decodeAll(both.records).sort());
    expect(decodeAll(both.records)).toHaveLength(25);
  }, 30_000);

  it('--aggregate-events without --aggregate, or out of range, is a usage error (exit 2)', async () => {
    const a = await emit(['--aggregate-events', '5'], input);
    const b = await emit(['--aggregate', '--aggregate-events', '0'], input);
    expect([a.code, b.code]).toEqual([2, 2]);
    expect(a.err).toContain('--aggregate-events needs --aggregate');
    expect(b.err).toContain('--aggregate-events must be a positive integer (given "0")');
    expect([a.records.length, b.records.length]).toEqual([0, 0]);
  }, 30_000);
});
