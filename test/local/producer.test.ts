import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { KinesisClient, type PutRecordsCommandInput, type PutRecordsCommandOutput, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_CREDENTIALS, startKinesis, type KinesisEmulator } from '../../local/emulators';
import { writeRunningPipeline, type RunningPipeline } from '../../local/discovery';
import { silentServer } from '../helpers/servers';
import { fieldKey, InvalidRecordError, Producer, PutRecordsError, runEmit } from '../../local/producer';
import { readAll, sleep, uniqueName } from './helpers';

const THROTTLED = { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard shardId-000000000000' };

/**
 * A real client to kinesis-local with a middleware that records every
 * PutRecords request and answers ProvisionedThroughputExceededException for
 * the records `throttle` picks (those are not sent), as Kinesis does per record.
 */
function recordingClient(endpoint: string, throttle: (entry: PutRecordsRequestEntry, attempt: number) => boolean = () => false) {
  const client = new KinesisClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, requestHandler: new NodeHttpHandler() });
  const requests: string[][] = [];
  const attempts = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PutRecordsCommand') return next(args);
      const input = args.input as PutRecordsCommandInput;
      const entries = input.Records ?? [];
      requests.push(entries.map((e) => e.PartitionKey!));
      const throttled = entries.map((e) => {
        const n = (attempts.get(e.PartitionKey!) ?? 0) + 1;
        attempts.set(e.PartitionKey!, n);
        return throttle(e, n);
      });
      const passed = entries.filter((_, i) => !throttled[i]);
      const real = passed.length > 0 ? await next({ ...args, input: { ...input, Records: passed } }) : undefined;
      const realRecords = [...((real?.output as PutRecordsCommandOutput | undefined)?.Records ?? [])];
      const output: PutRecordsCommandOutput = {
        $metadata: {},
        FailedRecordCount: throttled.filter(Boolean).length + realRecords.filter((r) => r.ErrorCode).length,
        Records: throttled.map((t) => (t ? THROTTLED : realRecords.shift()!)),
      };
      return { ...(real ?? { response: {} }), output } as Awaited<ReturnType<typeof next>>;
    },
    { step: 'initialize', name: 'recordAndThrottle' },
  );
  return { client, requests };
}

const fast = { backoff: { baseMs: 1, maxMs: 5 } } as const;

/** A folder with no .tidewatch/local.json: the CLI finds no running pipeline there. */
const emptyDir = mkdtempSync(path.join(tmpdir(), 'tw-nolocal-'));


describe('producer (against kinesis-local)', () => {
  let kinesis: KinesisEmulator;
  const clients: KinesisClient[] = [];

  beforeAll(async () => {
    kinesis = await startKinesis();
  });

  afterAll(async () => {
    for (const c of clients) c.destroy();
    await kinesis.stop();
  });

  async function stream(shards = 1): Promise<string> {
    const name = uniqueName('producer');
    await kinesis.createStream(name, shards);
    return name;
  }

  function recording(throttle?: (entry: PutRecordsRequestEntry, attempt: number) => boolean) {
    const r = recordingClient(kinesis.endpoint, throttle);
    clients.push(r.client);
    return r;
  }

  it('batches PutRecords at 500 records', async () => {
    const name = await stream();
    const { client, requests } = recording();
    const records = Array.from({ length: 1234 }, (_, n) => ({ n }));

    const summary = await new Producer({ client, streamName: name }).send(records);

    expect(requests.map((r) => r.length)).toEqual([500, 500, 234]);
    expect(summary).toMatchObject({ sent: 1234, retried: 0, failed: 0, invalid: 0, requests: 3 });
    expect(await readAll(kinesis.client(), name)).toHaveLength(1234);
  });

  it('keeps a request within 5 MiB', async () => {
    const name = await stream();
    const { client, requests } = recording();
    const big = 'x'.repeat(880_000); // 5 fit in 5 MiB, 6 do not

    const summary = await new Producer({ client, streamName: name }).send(Array.from({ length: 6 }, (_, n) => ({ n, big })));

    expect(requests.map((r) => r.length)).toEqual([5, 1]);
    expect(summary.sent).toBe(6);
  });

  it('retries only the records that failed, until they are in', async () => {
    // GIVEN 5 of 20 records throttled on their first attempt
    const name = await stream();
    const { client, requests } = recording((e, attempt) => e.PartitionKey!.startsWith('hot') && attempt === 1);
    const records = Array.from({ length: 20 }, (_, n) => ({ n, key: n % 4 === 0 ? `hot-${n}` : `cold-${n}` }));

    // WHEN
    const summary = await new Producer({ client, streamName: name, partitionKey: fieldKey('key'), ...fast }).send(records);

    // THEN the second request carries exactly the throttled ones, and every record is in the stream once
    expect(requests).toHaveLength(2);
    expect(requests[1]).toEqual(['hot-0', 'hot-4', 'hot-8', 'hot-12', 'hot-16']);
    expect(summary).toMatchObject({ sent: 20, retried: 5, failed: 0, requests: 2 });
    const stored = await readAll(kinesis.client(), name);
    expect(stored.map((r) => JSON.parse(Buffer.from(r.Data!).toString()).n).sort((a, b) => a - b)).toEqual(records.map((r) => r.n));
  });

  it('reports a record as failed after maxAttempts, and sends the rest', async () => {
    const name = await stream();
    const { client, requests } = recording((e) => e.PartitionKey === 'k2');
    const records = Array.from({ length: 5 }, (_, n) => ({ key: `k${n}` }));

    const summary = await new Producer({ client, streamName: name, partitionKey: fieldKey('key'), maxAttempts: 3, ...fast }).send(records);

    expect(requests).toEqual([['k0', 'k1', 'k2', 'k3', 'k4'], ['k2'], ['k2']]);
    expect(summary).toMatchObject({ sent: 4, retried: 2, failed: 1 });
    expect(summary.failures).toEqual([{ record: 'record 3', ...{ errorCode: THROTTLED.ErrorCode, errorMessage: THROTTLED.ErrorMessage } }]);
  });

  it('retries a whole request that was throttled, and fails fast on a missing stream', async () => {
    const name = await stream();
    const { client } = recording();
    let throws = 1;
    client.middlewareStack.add(
      (next) => async (args) => {
        if (throws-- > 0) throw Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
        return next(args);
      },
      { step: 'initialize', name: 'throttleRequest', priority: 'high' },
    );

    const summary = await new Producer({ client, streamName: name, ...fast }).send([{ a: 1 }, { a: 2 }]);
    expect(summary).toMatchObject({ sent: 2, retried: 2, failed: 0 });

    const missing = new Producer({ client, streamName: 'no-such-stream', ...fast }).send([{ a: 1 }]);
    await expect(missing).rejects.toBeInstanceOf(PutRecordsError);
    await expect(missing).rejects.toThrow(/^PutRecords to stream no-such-stream failed: ResourceNotFoundException/);
  });

  it('takes the partition key from a field, so one host stays on one shard', async () => {
    const name = await stream(2);
    const client = kinesis.client();
    const hosts = ['web-1', 'web-2', 'web-3', 'web-4'];
    const records = Array.from({ length: 40 }, (_, n) => ({ n, host: hosts[n % 4], meta: { region: 'eu' } }));

    await new Producer({ client, streamName: name, partitionKey: fieldKey('host') }).send(records);

    const stored = await readAll(client, name);
    expect(new Set(stored.map((r) => r.PartitionKey))).toEqual(new Set(hosts));
    for (const host of hosts) expect(new Set(stored.filter((r) => r.PartitionKey === host).map((r) => r.shardId)).size).toBe(1);
    expect(fieldKey('meta.region')({ meta: { region: 'eu' } })).toBe('eu');
    expect(fieldKey('host')({})).toMatch(/^[0-9a-f-]{36}$/); // missing: a random key
  });

  it('rejects a record over 1 MiB naming it, after sending those before it; or skips and counts it', async () => {
    const name = await stream();
    const client = kinesis.client();
    const records = [{ n: 1 }, { n: 2 }, { n: 3, blob: 'x'.repeat(1024 * 1024) }, { n: 4 }];

    await expect(new Producer({ client, streamName: name, describe: (_r, i) => `line ${i + 10}` }).send(records)).rejects.toThrow(
      new InvalidRecordError('line 12', `record is ${1024 * 1024 + '{"n":3,"blob":""}'.length + 36} bytes with its partition key, over Kinesis's limit of 1048576 bytes (1 MiB)`),
    );
    expect(await readAll(client, name)).toHaveLength(2);

    const skipped = await new Producer({ client, streamName: name, invalid: 'skip' }).send(records);
    expect(skipped).toMatchObject({ sent: 3, invalid: 1 });
  });

  it('sends a partial batch when a slow source pauses longer than lingerMs', async () => {
    const name = await stream();
    const { client, requests } = recording();
    async function* slow() {
      yield* [{ n: 1 }, { n: 2 }, { n: 3 }];
      await sleep(300);
      yield* [{ n: 4 }, { n: 5 }];
    }

    await new Producer({ client, streamName: name, lingerMs: 50 }).send(slow());

    expect(requests.map((r) => r.length)).toEqual([3, 2]);
  });

  describe('tidewatch emit', () => {
    async function emit(args: string[], stdin: string | Buffer = '', env: NodeJS.ProcessEnv = {}, endpoint: string | null = kinesis.endpoint) {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let out = '';
      let err = '';
      stdout.on('data', (c: Buffer) => (out += c.toString()));
      stderr.on('data', (c: Buffer) => (err += c.toString()));
      const code = await runEmit([...args, ...(endpoint !== null ? ['--endpoint', endpoint] : [])], { stdin: Readable.from([stdin]), stdout, stderr, env, cwd: emptyDir });
      return { code, out, err };
    }

    const ndjson = ['{"host":"web-1","n":1}', '{"host":"web-2","n":2}', '{"host": oops', '', '{"host":"web-1","n":4}'].join('\n');

    it('stops at a line that is not JSON with exit code 2, naming the line; lines before it are sent', async () => {
      const name = await stream();
      const r = await emit(['--stream', name, '--partition-key', 'host'], ndjson);
      expect(r.code).toBe(2);
      expect(r.err).toContain('line 3: not valid JSON');
      expect(r.err).toContain('--skip-invalid');
      expect(r.out).toBe('');
      expect((await readAll(kinesis.client(), name)).map((x) => x.PartitionKey)).toEqual(['web-1', 'web-2']);
    });

    it('skips bad lines with --skip-invalid, printing each line number and reason, and prints a JSON summary on stdout', async () => {
      const name = await stream();
      const input = ['{"n":1}', '[1,2]', '{"n":', 'null', '{"n":5}', '"text"'].join('\n');
      const r = await emit(['--stream', name, '--skip-invalid', '--json'], input);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ stream: name, sent: 2, retried: 0, failed: 0, invalid: 4 });
      expect(r.err.split('\n').filter((l) => l.includes('skipped'))).toEqual([
        'tidewatch emit: skipped line 2: expected a JSON object, got an array',
        expect.stringMatching(/^tidewatch emit: skipped line 3: not valid JSON \(/) as unknown as string,
        'tidewatch emit: skipped line 4: expected a JSON object, got null',
        'tidewatch emit: skipped line 6: expected a JSON object, got string',
      ]);
    });

    it('sends each JSON line byte for byte: big integers, spacing, key order, escapes and CRLF endings stay as written', async () => {
      const name = await stream();
      const lines = ['{"id": 12345678901234567890, "price": 1.10, "b":2,"a":1}', '{ "text" : "caf\\u00e9 \\"q\\"", "z": [1e3, -0.0] }  ', '{"emoji":"🚀"}'];
      const r = await emit(['--stream', name, '--quiet'], `${lines.join('\r\n')}\r\n`);
      expect(r.code).toBe(0);
      const stored = await readAll(kinesis.client(), name);
      expect(stored.map((x) => Buffer.from(x.Data!).toString('utf8'))).toEqual(lines);
    });

    it('--raw sends every line as it is, JSON or not, even bytes that are not UTF-8', async () => {
      const name = await stream();
      const notUtf8 = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
      const input = Buffer.concat([Buffer.from('not json at all\n{"ok":true}\n'), notUtf8, Buffer.from('\n\n[1]\n')]);
      const refused = await emit(['--stream', name], input);
      expect(refused.code).toBe(2);
      expect(refused.err).toContain('line 1: not valid JSON');
      expect(refused.err).toContain('--raw');
      const r = await emit(['--stream', name, '--raw', '--json'], input);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ sent: 4, invalid: 0 });
      const stored = await readAll(kinesis.client(), name);
      expect(stored.map((x) => Buffer.from(x.Data!).toString('hex'))).toEqual(['not json at all', '{"ok":true}', notUtf8, '[1]'].map((d) => Buffer.from(d).toString('hex')));
    });

    it('--event-time moves every event by the same amount, rewriting only the time field', async () => {
      const name = await stream();
      const input = ['{"ts":"2026-01-01T00:00:00.000Z","big":12345678901234567890,"n":1}', '{"n":2, "ts": "2026-01-01T00:00:30.500Z"}', '{"n":3,"ts":1767225660000}', '{"n":4}'].join('\n');
      const r = await emit(['--stream', name, '--event-time', '2026-11-28T10:00:00Z', '--time-field', 'ts', '--quiet'], input);
      expect(r.code).toBe(0);
      const stored = (await readAll(kinesis.client(), name)).map((x) => Buffer.from(x.Data!).toString('utf8'));
      expect(stored).toEqual([
        '{"ts":"2026-11-28T10:00:00.000Z","big":12345678901234567890,"n":1}',
        '{"n":2, "ts": "2026-11-28T10:00:30.500Z"}',
        `{"n":3,"ts":${Date.parse('2026-11-28T10:01:00Z')}}`,
        '{"n":4}',
      ]);
      expect(r.err).toContain('1 record(s) had no readable "ts" field and were sent unchanged');
      // without a field to set, --event-time says what it needs
      const noField = await emit(['--stream', name, '--event-time', 'now'], input);
      expect(noField.code).toBe(2);
      expect(noField.err).toContain('--event-time needs the event-time field: give --time-field FIELD or --pipeline FILE');
      expect((await emit(['--stream', name, '--event-time', 'yesterday', '--time-field', 'ts'], input)).err).toContain('--event-time takes now, pipeline or an ISO-8601 time');
    });

    it('finds the running local pipeline: its endpoint, its only stream, its event time for --event-time pipeline, and says when events are behind its watermark', async () => {
      // GIVEN a state file as npm start writes it, pointing at this kinesis-local, with one stream
      const name = await stream();
      const dir = mkdtempSync(path.join(tmpdir(), 'tw-emit-'));
      const pipelineFile = path.join(dir, 'p.yaml');
      writeFileSync(pipelineFile, `streams:\n  ${name}: { timestamp: at }\nrules:\n  - alert: Many\n    stream: ${name}\n    window: { tumbling: 1m }\n    aggregate: { n: 'count()' }\n    when: 'n > 100.0'\n`);
      const eventTime = Date.parse('2026-11-28T12:00:00Z');
      const state: RunningPipeline = {
        version: 1,
        pid: process.pid,
        startedAt: new Date().toISOString(),
        pipelineFile,
        dataDir: null,
        region: 'us-east-1',
        endpoints: { kinesis: kinesis.endpoint, dynamodb: 'http://127.0.0.1:1', sns: 'http://127.0.0.1:1' },
        table: 'tidewatch-local-state',
        topicArn: 'arn:aws:sns:us-east-1:000000000000:t',
        streams: [{ name, shards: 1, watermark: eventTime - 5000 }],
        clock: { eventTime, wallTime: Date.now(), rate: 0 },
      };
      writeRunningPipeline(path.join(dir, 'local.json'), state);
      const env = { TIDEWATCH_LOCAL: path.join(dir, 'local.json') };
      const old = '{"at":"2026-01-01T00:00:00Z","n":1}\n';

      // WHEN events from January are sent as they are: a note says they are behind the watermark
      const asIs = await emit([], old, env, null);
      expect(asIs.code).toBe(0);
      expect(asIs.err).toContain(`sending to the local pipeline npm start is running (pid ${process.pid}): stream "${name}" at ${kinesis.endpoint}`);
      expect(asIs.err).toContain(`note: 1 of 1 events (event time 2026-01-01T00:00:00Z) are older than the watermark of "${name}" (2026-11-28T11:59:55Z)`);
      // and stamped at the pipeline's event time, they land where it is
      const stamped = await emit(['--event-time', 'pipeline'], old, env, null);
      expect(stamped.code).toBe(0);
      expect(stamped.err).not.toContain('older than the watermark');
      const stored = (await readAll(kinesis.client(), name)).map((x) => Buffer.from(x.Data!).toString('utf8'));
      expect(stored).toEqual([old.trim(), '{"at":"2026-11-28T12:00:00.000Z","n":1}']);
      // a stream the local pipeline does not have goes to AWS (here: no credentials, no region)
      const elsewhere = await emit(['--stream', 'other-stream'], old, { ...env, AWS_REGION: '' }, null);
      expect(elsewhere.code).not.toBe(0);
      rmSync(dir, { recursive: true, force: true });
    });

    it('fails fast, naming the stream and the endpoint: missing stream, refused connection, an endpoint that never answers', async () => {
      const missing = await emit(['--stream', 'no-such-stream'], '{"n":1}');
      expect(missing.code).toBe(1);
      expect(missing.err).toContain(`stream "no-such-stream" does not exist at ${kinesis.endpoint}: is the pipeline running? (npm start prints its endpoints)`);
      const refused = await emit(['--stream', 's'], '{"n":1}', {}, 'http://127.0.0.1:1');
      expect(refused.code).toBe(1);
      expect(refused.err).toContain('cannot connect to Kinesis at http://127.0.0.1:1 (connection refused)');
      const silent = await silentServer();
      try {
        const started = Date.now();
        const hung = await emit(['--stream', 's', '--request-timeout', '300ms'], '{"n":1}', {}, silent.url);
        expect(hung.code).toBe(1);
        expect(hung.err).toContain(`Kinesis at ${silent.url} did not answer within 300ms (--request-timeout)`);
        expect(Date.now() - started).toBeLessThan(5000);
      } finally {
        await silent.close();
      }
    });

    it('generates telemetry at a rate for a duration', async () => {
      const name = await stream(2);
      const r = await emit(['--stream', name, '--generate', 'telemetry', '--rate', '200', '--duration', '1s', '--seed', '7', '--json', '-k', 'host']);
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.out) as { sent: number; durationMs: number };
      expect(summary.sent).toBeGreaterThanOrEqual(150);
      expect(summary.sent).toBeLessThanOrEqual(210);
      const stored = await readAll(kinesis.client(), name);
      expect(JSON.parse(Buffer.from(stored[0]!.Data!).toString())).toMatchObject({ eventId: expect.stringMatching(/^e-7-/) as unknown, host: stored[0]!.PartitionKey });
    });

    it('answers usage errors with exit code 2, in its own words', async () => {
      expect((await emit([])).code).toBe(2);
      expect((await emit(['--stream', 's', '--duration', '3 days', '--generate', 'telemetry'])).err).toContain('--duration must look like');
      const typo = await emit(['--stream', 's', '--skip-invalids'], '{}');
      expect(typo).toMatchObject({ code: 2 });
      expect(typo.err).toContain('tidewatch emit: unknown option --skip-invalids (did you mean --skip-invalid?)');
      const noValue = await emit(['--stream'], '{}', {}, null);
      expect(noValue.err).toContain('tidewatch emit: -s, --stream needs a value');
      expect((await emit(['--stream', 's', 'a.ndjson', 'b.ndjson'], '{}')).err).toContain('unexpected argument "b.ndjson"');
      expect((await emit(['--stream', 's', '--raw', '--event-time', 'now'], '{}')).err).toContain('--raw sends lines exactly as they are: it does not go with --event-time');
    });

    it('runs through the package bin (tsx launcher) without the AWS SDK notice about Node.js versions', () => {
      const env = { ...process.env };
      delete env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'];
      const help = spawnSync(process.execPath, [path.join(__dirname, '../../bin/tidewatch.cjs'), 'emit', '--help'], { encoding: 'utf8', env });
      expect(help.status).toBe(0);
      expect(help.stdout).toContain('usage: tidewatch emit [--stream NAME]');
      expect(help.stdout).toContain('exit codes: 0 ok, 1 failure');
      // a command that builds AWS clients and fails
      const r = spawnSync(process.execPath, [path.join(__dirname, '../../bin/tidewatch.cjs'), 'emit', '--stream', 's', '--endpoint', 'http://127.0.0.1:1', '/etc/hostname'], { encoding: 'utf8', env, cwd: emptyDir });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('cannot connect to Kinesis at http://127.0.0.1:1');
      expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|will require node/);
    });
  });
});
