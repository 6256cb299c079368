import { DescribeStreamSummaryCommand, ListShardsCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { startKinesis, waitForStreamActive, type KinesisEmulator } from '../../local/emulators';
import { EventSourceMapping, EventSourceMappingConfigError, type EventSourceMappingOptions, type OnFailureRecord } from '../../local/esm';
import { captureLog, payload, putJson, sleep, uniqueName } from './helpers';

type Body = { n: number; key: string };

/** What a handler saw: one entry per invocation. */
interface Invocation {
  readonly shardId: string;
  readonly ns: number[];
  readonly seqs: string[];
  readonly at: number;
}

function shardOf(r: KinesisStreamRecord): string {
  return r.eventID.split(':')[0]!;
}

describe('local event source mapping (against kinesis-local)', () => {
  let kinesis: KinesisEmulator;
  let client: KinesisClient;
  const mappings: EventSourceMapping[] = [];

  beforeAll(async () => {
    kinesis = await startKinesis();
    client = kinesis.client();
  });

  afterEach(async () => {
    await Promise.all(mappings.splice(0).map((m) => m.stop()));
  });

  afterAll(async () => {
    await kinesis.stop();
  });

  /** A fresh stream with `shards` shards and `count` records (keys k0…k(keys-1)); returns stream name and sequence numbers. */
  async function streamWith(shards: number, count: number, keys = 1): Promise<{ stream: string; seqs: string[] }> {
    const stream = uniqueName('esm');
    await kinesis.createStream(stream, shards);
    const seqs = await putJson(client, stream, Array.from({ length: count }, (_, n) => ({ key: `k${n % keys}`, body: { n, key: `k${n % keys}` } })));
    return { stream, seqs };
  }

  /** Starts a mapping that records invocations; `respond` decides each invocation's outcome. */
  async function run(
    stream: string,
    options: Partial<EventSourceMappingOptions>,
    respond: (event: KinesisStreamEvent, call: number) => Promise<KinesisStreamBatchResponse | void> | KinesisStreamBatchResponse | void = () => undefined,
  ) {
    const invocations: Invocation[] = [];
    const logs = captureLog();
    const esm = new EventSourceMapping({
      client,
      streamName: stream,
      startingPosition: 'TRIM_HORIZON',
      pollIntervalMs: 20,
      retryDelayMs: 1,
      shardDiscoveryIntervalMs: 100,
      log: logs.log,
      handler: async (event) => {
        invocations.push({
          shardId: shardOf(event.Records[0]!),
          ns: event.Records.map((r) => payload<Body>(r).n),
          seqs: event.Records.map((r) => r.kinesis.sequenceNumber),
          at: Date.now(),
        });
        return respond(event, invocations.length);
      },
      ...options,
    });
    mappings.push(esm);
    await esm.start();
    return { esm, invocations, logs };
  }

  it('invokes the handler with events shaped exactly like Lambda', async () => {
    // GIVEN
    const { stream, seqs } = await streamWith(1, 1);
    const arn = (await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary!.StreamARN!;
    let seen: KinesisStreamEvent | undefined;

    // WHEN
    const { esm } = await run(stream, { functionName: 'processor' }, (event) => {
      seen = event;
    });
    await esm.idle();

    // THEN
    const r = seen!.Records[0]!;
    expect(Object.keys(r)).toEqual(['kinesis', 'eventSource', 'eventVersion', 'eventID', 'eventName', 'invokeIdentityArn', 'awsRegion', 'eventSourceARN']);
    expect(r).toEqual({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'k0',
        sequenceNumber: seqs[0],
        data: Buffer.from(JSON.stringify({ n: 0, key: 'k0' })).toString('base64'),
        approximateArrivalTimestamp: expect.any(Number) as unknown,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:${seqs[0]}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/processor-role',
      awsRegion: 'us-east-1',
      eventSourceARN: arn,
    });
    const arrival = r.kinesis.approximateArrivalTimestamp;
    expect(Math.abs(arrival * 1000 - Date.now())).toBeLessThan(60_000); // epoch seconds, fractional
  });

  it('honours batchSize and keeps per-shard order', async () => {
    // GIVEN 250 records already in one shard
    const { stream } = await streamWith(1, 250);

    // WHEN
    const { esm, invocations } = await run(stream, { batchSize: 100 });
    await esm.idle();

    // THEN
    expect(invocations.map((i) => i.ns.length)).toEqual([100, 100, 50]);
    expect(invocations.flatMap((i) => i.ns)).toEqual(Array.from({ length: 250 }, (_, n) => n));
    expect(esm.stats()).toMatchObject({ invocations: 3, recordsReceived: 250, recordsProcessed: 250, retries: 0, lagMs: 0 });
  });

  it('gathers records for maximumBatchingWindowInSeconds before invoking', async () => {
    // GIVEN an empty stream and a mapping with a 1 s window
    const { stream } = await streamWith(1, 0);
    const { esm, invocations } = await run(stream, { batchSize: 1000, maximumBatchingWindowInSeconds: 1 });

    // WHEN records arrive over 400 ms
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) {
      await putJson(client, stream, [{ key: 'k', body: { n: i, key: 'k' } }]);
      await sleep(200);
    }
    await esm.idle();

    // THEN one invocation with all of them, no earlier than the window allows
    expect(invocations.map((i) => i.ns)).toEqual([[0, 1, 2]]);
    expect(invocations[0]!.at - t0).toBeGreaterThanOrEqual(900);
  });

  it('invokes as soon as batchSize is reached, without waiting for the window', async () => {
    const { stream } = await streamWith(1, 30);
    const t0 = Date.now();
    const { esm, invocations } = await run(stream, { batchSize: 10, maximumBatchingWindowInSeconds: 30 });
    while (invocations.length < 3) await sleep(10);
    expect(invocations.map((i) => i.ns.length)).toEqual([10, 10, 10]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await esm.stop();
  });

  it('processes two shards concurrently with one batch in flight per shard, each in order', async () => {
    // GIVEN 2 shards, 8 partition keys, 400 records
    const { stream } = await streamWith(2, 400, 8);
    const inFlight = new Map<string, number>();
    let maxPerShard = 0;
    let maxTotal = 0;
    let total = 0;

    // WHEN every invocation takes a while
    const { esm, invocations } = await run(stream, { batchSize: 50 }, async (event) => {
      const shard = shardOf(event.Records[0]!);
      inFlight.set(shard, (inFlight.get(shard) ?? 0) + 1);
      total++;
      maxPerShard = Math.max(maxPerShard, inFlight.get(shard)!);
      maxTotal = Math.max(maxTotal, total);
      await sleep(60);
      inFlight.set(shard, inFlight.get(shard)! - 1);
      total--;
    });
    await esm.idle();

    // THEN
    expect(maxPerShard).toBe(1);
    expect(maxTotal).toBe(2);
    expect(new Set(invocations.map((i) => i.shardId)).size).toBe(2);
    for (const shard of new Set(invocations.map((i) => i.shardId))) {
      const seqs = invocations.filter((i) => i.shardId === shard).flatMap((i) => i.seqs);
      const sorted = [...seqs].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
      expect(seqs).toEqual(sorted);
    }
    const perKey = new Map<number, number[]>();
    for (const n of invocations.flatMap((i) => i.ns)) perKey.set(n % 8, [...(perKey.get(n % 8) ?? []), n]);
    for (const ns of perKey.values()) expect(ns).toEqual([...ns].sort((a, b) => a - b));
    expect(invocations.flatMap((i) => i.ns).sort((a, b) => a - b)).toEqual(Array.from({ length: 400 }, (_, n) => n));
  });

  it('retries from the lowest failed sequence number of a partial batch response; earlier records are not redelivered', async () => {
    // GIVEN 10 records
    const { stream, seqs } = await streamWith(1, 10);

    // WHEN the first invocation reports records 7 and 4 as failed
    const { esm, invocations } = await run(stream, { batchSize: 10, functionResponseTypes: ['ReportBatchItemFailures'] }, (_e, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: seqs[7]! }, { itemIdentifier: seqs[4]! }] } : undefined,
    );
    await esm.idle();

    // THEN
    expect(invocations.map((i) => i.ns)).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      [4, 5, 6, 7, 8, 9],
    ]);
    expect(esm.stats()).toMatchObject({ partialFailures: 1, retries: 1, recordsProcessed: 10, recordsDiscarded: 0 });
    expect(esm.stats().shards[0]!.checkpoint).toBe(seqs[9]);
  });

  it('ignores batchItemFailures without ReportBatchItemFailures, as Lambda does, and warns', async () => {
    const { stream, seqs } = await streamWith(1, 3);
    const { esm, invocations, logs } = await run(stream, {}, () => ({ batchItemFailures: [{ itemIdentifier: seqs[1]! }] }));
    await esm.idle();
    expect(invocations).toHaveLength(1);
    expect(logs.lines.some((l) => l.message.includes('ReportBatchItemFailures'))).toBe(true);
  });

  it('treats an itemIdentifier that is not in the batch as a failure of the whole batch', async () => {
    const { stream } = await streamWith(1, 3);
    const { esm, invocations } = await run(stream, { functionResponseTypes: ['ReportBatchItemFailures'] }, (_e, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: '123' }] } : undefined,
    );
    await esm.idle();
    expect(invocations.map((i) => i.ns)).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ]);
  });

  it('bisects a batch on a thrown error until the bad record is alone, retries it, then discards it', async () => {
    // GIVEN 8 records; record 5 makes the function throw
    const { stream, seqs } = await streamWith(1, 8);
    const failures: Array<{ info: OnFailureRecord; ns: number[] }> = [];

    // WHEN
    const { esm, invocations } = await run(
      stream,
      {
        batchSize: 8,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 1,
        destinationConfig: { onFailure: { destination: (info, records) => void failures.push({ info, ns: records.map((r) => payload<Body>(r).n) }) } },
      },
      (event) => {
        if (event.Records.some((r) => payload<Body>(r).n === 5)) throw new Error('poison record');
      },
    );
    await esm.idle();

    // THEN halves are tried in order, first half first, as Lambda does
    expect(invocations.map((i) => i.ns)).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [4, 5],
      [4],
      [5],
      [5], // the one retry
      [6, 7],
    ]);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.ns).toEqual([5]);
    expect(failures[0]!.info.KinesisBatchInfo).toMatchObject({ startSequenceNumber: seqs[5], endSequenceNumber: seqs[5], batchSize: 1 });
    expect(failures[0]!.info.requestContext).toMatchObject({ condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 });
    expect(esm.stats()).toMatchObject({ bisections: 3, retries: 1, recordsProcessed: 7, recordsDiscarded: 1 });
  });

  it('sends a batch to the on-failure destination after maximumRetryAttempts and moves on', async () => {
    // GIVEN 4 records that always fail
    const { stream, seqs } = await streamWith(1, 4);
    const discarded: OnFailureRecord[] = [];
    const arn = (await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary!.StreamARN!;

    // WHEN
    const { esm, invocations } = await run(
      stream,
      { maximumRetryAttempts: 2, functionName: 'processor', destinationConfig: { onFailure: { destination: (info) => void discarded.push(info) } } },
      (event) => {
        if (payload<Body>(event.Records[0]!).n < 4) throw new Error('boom');
      },
    );
    await esm.idle();
    await putJson(client, stream, [{ key: 'k0', body: { n: 4, key: 'k0' } }]);
    await esm.idle();

    // THEN 1 + 2 invocations of the batch, Lambda's on-failure record, and the next record is processed
    expect(invocations.map((i) => i.ns)).toEqual([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [4]]);
    expect(discarded).toHaveLength(1);
    const [info] = discarded;
    expect(info).toEqual({
      requestContext: {
        requestId: expect.any(String) as unknown,
        functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:processor',
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 3,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: expect.any(String) as unknown,
      KinesisBatchInfo: {
        shardId: 'shardId-000000000000',
        startSequenceNumber: seqs[0],
        endSequenceNumber: seqs[3],
        approximateArrivalOfFirstRecord: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
        approximateArrivalOfLastRecord: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
        batchSize: 4,
        streamArn: arn,
      },
    });
    expect(esm.stats()).toMatchObject({ functionErrors: 3, retries: 2, recordsDiscarded: 4, recordsProcessed: 1 });
  });

  it('discards records older than maximumRecordAgeInSeconds without invoking', async () => {
    // GIVEN records, and a clock two minutes ahead
    const { stream } = await streamWith(1, 3);
    const discarded: OnFailureRecord[] = [];

    // WHEN
    const { esm, invocations } = await run(stream, {
      maximumRecordAgeInSeconds: 60,
      clock: () => Date.now() + 120_000,
      destinationConfig: { onFailure: { destination: (info) => void discarded.push(info) } },
    });
    await esm.idle();

    // THEN
    expect(invocations).toEqual([]);
    expect(discarded.map((d) => [d.requestContext.condition, d.requestContext.approximateInvokeCount, d.KinesisBatchInfo.batchSize])).toEqual([['RecordAgeExceeded', 0, 3]]);
  });

  it('starts at LATEST: records put before start are skipped', async () => {
    const { stream } = await streamWith(2, 20, 4);
    const { esm, invocations } = await run(stream, { startingPosition: 'LATEST' });
    await putJson(client, stream, [{ key: 'k1', body: { n: 100, key: 'k1' } }]);
    await esm.idle();
    expect(invocations.flatMap((i) => i.ns)).toEqual([100]);
  });

  it('follows a reshard: the parent shard is finished before its children are read', async () => {
    // GIVEN records in a shard that is then split, and more records in the children
    const { stream } = await streamWith(1, 30, 30);
    const { Shards } = await client.send(new ListShardsCommand({ StreamName: stream }));
    await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: Shards![0]!.ShardId!, NewStartingHashKey: (2n ** 127n).toString() }));
    await waitForStreamActive(client, stream);
    await putJson(client, stream, Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, body: { n: 30 + i, key: `k${i}` } })));

    // WHEN
    const { esm, invocations } = await run(stream, { batchSize: 7 }, async () => {
      await sleep(5);
    });
    await esm.idle();

    // THEN
    const parent = invocations.filter((i) => i.shardId === 'shardId-000000000000');
    const children = invocations.filter((i) => i.shardId !== 'shardId-000000000000');
    expect(parent.flatMap((i) => i.ns)).toEqual(Array.from({ length: 30 }, (_, n) => n));
    expect(new Set(children.map((i) => i.shardId))).toEqual(new Set(['shardId-000000000001', 'shardId-000000000002']));
    expect(children.flatMap((i) => i.ns).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, n) => 30 + n));
    expect(Math.min(...children.map((i) => i.at))).toBeGreaterThanOrEqual(Math.max(...parent.map((i) => i.at)));
    expect(esm.stats().shards.find((s) => s.shardId === 'shardId-000000000000')!.state).toBe('finished');
  });

  it('stop() waits for the batch in flight and makes no further retries', async () => {
    const { stream } = await streamWith(1, 5);
    let finished = 0;
    const { esm, invocations } = await run(stream, {}, async () => {
      await sleep(300);
      finished++;
      throw new Error('always');
    });
    while (invocations.length === 0) await sleep(5);
    await esm.stop();
    expect(finished).toBe(1);
    await sleep(50);
    expect(invocations).toHaveLength(1);
  });

  it('rejects options Lambda would reject, naming the value and the range', () => {
    const base = { client, streamName: 's', startingPosition: 'TRIM_HORIZON' as const, handler: async () => undefined };
    expect(() => new EventSourceMapping({ ...base, batchSize: 0 })).toThrow(new EventSourceMappingConfigError('batchSize must be an integer between 1 and 10000 inclusive (given 0)'));
    expect(() => new EventSourceMapping({ ...base, maximumRecordAgeInSeconds: 30 })).toThrow('maximumRecordAgeInSeconds must be an integer -1, or between 60 and 604800 inclusive (given 30)');
    expect(() => new EventSourceMapping({ ...base, parallelizationFactor: 2 })).toThrow(/parallelizationFactor > 1 is not supported/);
    expect(() => new EventSourceMapping({ ...base, startingPosition: 'AT_TIMESTAMP' })).toThrow(/startingPositionTimestamp is required/);
  });
});
