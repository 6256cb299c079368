import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { InvalidInputError, ProducerError } from './errors';
import { encodeRecords } from './encode';
import { generateTelemetryLive } from './generate';
import { readNdjson } from './ndjson';
import { Producer, type ProducerSummary } from './Producer';

export const EMIT_USAGE = `usage: tidewatch emit --stream NAME [FILE | -] [options]
       tidewatch emit --stream NAME --generate telemetry [--rate N] [--duration 30s] [options]

Sends newline-delimited JSON objects (from FILE, or stdin) or synthetic
telemetry to a Kinesis stream with PutRecords (batches of up to 500 records /
5 MiB; failed records are retried with exponential backoff and full jitter).

options:
  -s, --stream NAME          stream to write to (required)
  -g, --generate telemetry   send the demo's synthetic telemetry instead of reading input
      --rate N               events per second with --generate (default 100)
      --duration D           how long to generate: 30s, 5m, 1h, 500ms (default: until Ctrl-C)
      --seed N               seed of the generator (default: random)
  -k, --partition-key FIELD  use this payload field (a.b for nested) as partition key
                             (default: a random key per record; also when the field is missing)
      --aggregate            KPL-aggregate events into records, as the Kinesis Producer
                             Library, Fluent Bit and the Kinesis Agent do (with aws-kinesis-agg,
                             the AWS-published encoder; tidewatch de-aggregates them)
      --aggregate-events N   events per aggregated record at most (default 100)
      --gzip                 gzip-compress each event (inside the aggregate with --aggregate)
      --skip-invalid         skip and count lines that are not JSON objects and records
                             over 1 MiB (default: stop at the first one, exit code 2)
      --max-attempts N       attempts per record before it counts as failed (default 5)
      --region REGION        AWS region (default: AWS_REGION / the AWS profile;
                             us-east-1 with a custom endpoint)
      --endpoint URL         Kinesis endpoint, e.g. http://127.0.0.1:4566
                             (default: AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, AWS)
      --json                 print the summary as JSON on stdout
  -q, --quiet                no progress lines
  -h, --help                 this help

Progress (every 5 s) and the summary go to stderr; stdout carries only --json.
Credentials: the standard AWS chain; dummy ones for a localhost endpoint when none are set.
Exit codes: 0 all sent, 1 some records failed or an error, 2 invalid input or usage, 130 interrupted.`;

export interface EmitIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
  /** Aborts the run gracefully (what Ctrl-C does): stop reading, send what is buffered, report. */
  readonly signal?: AbortSignal;
  /** Progress line period (ms). @default 5000 */
  readonly progressIntervalMs?: number;
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new UsageError(`--duration must look like 500ms, 30s, 5m or 1h (given ${JSON.stringify(text)})`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

function positiveNumber(name: string, text: string, integer: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${name} must be a positive ${integer ? 'integer' : 'number'} (given ${JSON.stringify(text)})`);
  }
  return n;
}

/** `host`, or `a.b.c` for a nested field; missing or empty values give a random key. */
export function fieldKey(field: string): (record: object) => string {
  const path = field.split('.');
  return (record) => {
    let v: unknown = record;
    for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
    if (v === undefined || v === null || v === '') return randomUUID();
    return typeof v === 'string' ? v : JSON.stringify(v);
  };
}

function isLocal(endpoint: string): boolean {
  try {
    return ['localhost', '127.0.0.1', '[::1]', '0.0.0.0'].includes(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

export function kinesisClientFor(args: { endpoint?: string; region?: string }, env: NodeJS.ProcessEnv): KinesisClient {
  const endpoint = args.endpoint ?? env['AWS_ENDPOINT_URL_KINESIS'] ?? env['AWS_ENDPOINT_URL'];
  if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) throw new UsageError(`--endpoint must be an http:// or https:// URL (given ${JSON.stringify(endpoint)})`);
  const region = args.region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? (endpoint !== undefined ? 'us-east-1' : undefined);
  const noCredentials = !env['AWS_ACCESS_KEY_ID'] && !env['AWS_PROFILE'];
  const config: KinesisClientConfig = {
    ...(region !== undefined ? { region } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    // kinesis-local's plain port speaks HTTP/1.1 only.
    ...(endpoint?.startsWith('http://') ? { requestHandler: new NodeHttpHandler() } : {}),
    ...(endpoint !== undefined && isLocal(endpoint) && noCredentials ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  };
  return new KinesisClient(config);
}

function line(s: ProducerSummary, invalid: number): string {
  const rate = s.recordsPerSecond.toLocaleString('en-US');
  return `${s.sent} sent, ${s.retried} retried, ${s.failed} failed${invalid > 0 ? `, ${invalid} invalid skipped` : ''}, ${rate} records/s`;
}

/** `tidewatch emit …`: returns the exit code. */
export async function runEmit(argv: readonly string[], io: EmitIo): Promise<number> {
  const err = (text: string) => io.stderr.write(`${text}\n`);
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        stream: { type: 'string', short: 's' },
        generate: { type: 'string', short: 'g' },
        rate: { type: 'string', default: '100' },
        duration: { type: 'string' },
        seed: { type: 'string' },
        'partition-key': { type: 'string', short: 'k' },
        'skip-invalid': { type: 'boolean', default: false },
        aggregate: { type: 'boolean', default: false },
        'aggregate-events': { type: 'string' },
        gzip: { type: 'boolean', default: false },
        'max-attempts': { type: 'string', default: '5' },
        region: { type: 'string' },
        endpoint: { type: 'string' },
        json: { type: 'boolean', default: false },
        quiet: { type: 'boolean', short: 'q', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    err(`tidewatch emit: ${e instanceof Error ? e.message : String(e)}\n\n${EMIT_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${EMIT_USAGE}\n`);
    return 0;
  }

  let client: KinesisClient | undefined;
  let producer: Producer | undefined;
  let invalidLines = 0;
  const interrupted = io.signal;
  let timer: NodeJS.Timeout | undefined;
  try {
    if (values.stream === undefined || values.stream === '') throw new UsageError('--stream is required');
    if (values.generate !== undefined && values.generate !== 'telemetry') throw new UsageError(`--generate supports only "telemetry" (given ${JSON.stringify(values.generate)})`);
    if (values.generate !== undefined && positionals.length > 0) throw new UsageError('give either an input file or --generate, not both');
    if (positionals.length > 1) throw new UsageError(`one input file at most (given ${positionals.length})`);
    const maxAttempts = positiveNumber('--max-attempts', values['max-attempts'], true);
    const file = positionals[0];
    const stdinIsTty = (io.stdin as Readable & { isTTY?: boolean }).isTTY === true;
    if (values.generate === undefined && (file === undefined || file === '-') && stdinIsTty) {
      throw new UsageError('no input: give an NDJSON file, pipe NDJSON on stdin, or use --generate telemetry');
    }

    const lines = new WeakMap<object, number>();
    let records: AsyncIterable<object>;
    if (values.generate !== undefined) {
      const rate = positiveNumber('--rate', values.rate, false);
      const durationMs = values.duration !== undefined ? parseDuration(values.duration) : undefined;
      const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
      if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer (given ${JSON.stringify(values.seed)})`);
      records = generateTelemetryLive({ rate, seed, ...(durationMs !== undefined ? { durationMs } : {}), ...(interrupted ? { signal: interrupted } : {}) });
    } else {
      if (file !== undefined && file !== '-') {
        await access(file).catch((e: unknown) => {
          throw new UsageError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
        });
      }
      const input = file === undefined || file === '-' ? io.stdin : createReadStream(file);
      // Ctrl-C: stop reading; what was read is still sent.
      interrupted?.addEventListener('abort', () => input.destroy(), { once: true });
      const skipped: InvalidInputError[] = [];
      const parsed = readNdjson(input, {
        skipInvalid: values['skip-invalid'],
        onInvalid: (e) => {
          invalidLines++;
          if (skipped.length < 10) err(`tidewatch emit: skipped ${e.message}`);
          skipped.push(e);
        },
      });
      records = (async function* () {
        for await (const { record, line } of parsed) {
          if (interrupted?.aborted) return;
          lines.set(record, line);
          yield record;
        }
      })();
    }

    if (values['aggregate-events'] !== undefined && !values.aggregate) throw new UsageError('--aggregate-events needs --aggregate');
    const aggregateEvents = values['aggregate-events'] !== undefined ? positiveNumber('--aggregate-events', values['aggregate-events'], true) : 100;
    if (aggregateEvents > 10_000) throw new UsageError(`--aggregate-events must be at most 10000 (given ${aggregateEvents})`);
    let events = 0;
    if (values.aggregate || values.gzip) {
      const counted = records;
      const keyOf = values['partition-key'] !== undefined ? fieldKey(values['partition-key']) : () => randomUUID();
      records = encodeRecords(
        (async function* () {
          for await (const r of counted) {
            events++;
            yield r;
          }
        })(),
        { ...(values.aggregate ? { aggregate: { maxEvents: aggregateEvents } } : {}), gzip: values.gzip, partitionKey: keyOf },
      );
    }

    client = kinesisClientFor({ ...(values.endpoint !== undefined ? { endpoint: values.endpoint } : {}), ...(values.region !== undefined ? { region: values.region } : {}) }, io.env);
    producer = new Producer({
      client,
      streamName: values.stream,
      ...(values['partition-key'] !== undefined ? { partitionKey: fieldKey(values['partition-key']) } : {}),
      maxAttempts,
      invalid: values['skip-invalid'] ? 'skip' : 'throw',
      describe: (record, index) => (lines.has(record) ? `line ${lines.get(record)}` : `record ${index + 1}`),
    });
    if (!values.quiet) {
      const p = producer;
      timer = setInterval(() => err(`tidewatch emit: ${line(p.progress(), invalidLines + p.progress().invalid)}`), io.progressIntervalMs ?? 5000);
    }
    const summary = await producer.send(records);
    clearInterval(timer);
    const invalid = invalidLines + summary.invalid;
    for (const f of summary.failures) err(`tidewatch emit: failed ${f.record}: ${f.errorCode} ${f.errorMessage}`);
    if (values.json) {
      const { failures, ...counts } = summary;
      io.stdout.write(`${JSON.stringify({ stream: values.stream, ...counts, invalid, ...(values.aggregate || values.gzip ? { events } : {}), failures })}\n`);
    } else {
      err(`tidewatch emit: done in ${(summary.durationMs / 1000).toFixed(1)} s to ${values.stream}: ${line(summary, invalid)}`);
      if (values.aggregate) err(`tidewatch emit: ${events} events in ${summary.sent + summary.failed} KPL aggregated records${values.gzip ? ' (each event gzip-compressed)' : ''}`);
      else if (values.gzip) err(`tidewatch emit: ${events} events, each a gzip-compressed record`);
    }
    if (summary.failed > 0) return 1;
    if (interrupted?.aborted && !(values.generate !== undefined && values.duration === undefined)) return 130;
    return 0;
  } catch (e) {
    clearInterval(timer);
    if (e instanceof UsageError) {
      err(`tidewatch emit: ${e.message}\n\nRun 'tidewatch emit --help' for the options.`);
      return 2;
    }
    const sent = producer ? ` (${line(producer.progress(), invalidLines + producer.progress().invalid)} before stopping)` : '';
    if (e instanceof ProducerError && (e.name === 'InvalidInputError' || e.name === 'InvalidRecordError')) {
      err(`tidewatch emit: ${e.message}${sent}\nUse --skip-invalid to skip such records and go on.`);
      return 2;
    }
    err(`tidewatch emit: ${e instanceof Error ? e.message : String(e)}${sent}`);
    return 1;
  } finally {
    client?.destroy();
  }
}
