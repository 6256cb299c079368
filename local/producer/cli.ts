import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { loadPipeline } from '../../lambdas/core/pipeline';
import type { Pipeline, StreamSpec } from '../../lambdas/core/types';
import { clientConfig, CliError, EXIT, EXIT_CODES_HELP, explainAwsError, parseCommandLine, resolveTarget, resolveTimeouts, TIMEOUT_HELP, TIMEOUT_OPTIONS, UsageError, type Target } from '../cli';
import { discoverRunningPipeline, pipelineEventTime, type RunningPipeline } from '../discovery';
import { encodeRecords } from './encode';
import { InvalidInputError, InvalidRecordError, ProducerError, PutRecordsError } from './errors';
import { EventTimeShifter, eventTimeOf, parseEventTimeOption, type EventTimeAnchor } from './eventTime';
import { generateTelemetryLive } from './generate';
import { parseJsonLine, readLines } from './ndjson';
import { EncodedRecord, Producer, type ProducerSummary } from './Producer';

export const EMIT_USAGE = `usage: tidewatch emit [--stream NAME] [FILE | -] [options]
       tidewatch emit [--stream NAME] --generate telemetry [--rate N] [--duration 30s] [options]

Sends newline-delimited JSON (from FILE, or stdin) or synthetic telemetry to a
Kinesis stream with PutRecords (batches of up to 500 records / 5 MiB; failed
records are retried with exponential backoff and full jitter). Each line is
sent exactly as it is in the file (its bytes, not a re-serialisation), without
its line terminator; blank lines are skipped.

While npm start runs in this folder, emit finds it (.tidewatch/local.json, or
$TIDEWATCH_LOCAL): --endpoint is then not needed for its streams, and --stream
not when it has one stream.

options:
  -s, --stream NAME          stream to write to (required unless the running local pipeline has one stream)
  -g, --generate telemetry   send the demo's synthetic telemetry instead of reading input
      --rate N               events per second of event time with --generate (default 100)
      --duration D           how long to generate: 30s, 5m, 1h, 500ms (default: until Ctrl-C)
      --seed N               seed of the generator (default: random)
      --event-time WHEN      stamp the events relative to WHEN: now (the wall clock), pipeline
                             (the running local pipeline's event time: events then land in its
                             open windows) or an ISO-8601 time. The first event gets that time,
                             the others keep their distance to it; only the event-time field
                             changes. With --generate: where generated time starts.
      --time-field FIELD     the event-time field for --event-time (default: the stream's
                             timestamp: field in the pipeline file)
      --pipeline FILE        pipeline file, for the stream's event-time field (default: the
                             running local pipeline's)
  -k, --partition-key FIELD  use this payload field (a.b for nested) as partition key
                             (default: a random key per record; also when the field is missing)
      --aggregate            KPL-aggregate events into records, as the Kinesis Producer
                             Library, Fluent Bit and the Kinesis Agent do (with aws-kinesis-agg,
                             the AWS-published encoder; tidewatch de-aggregates them)
      --aggregate-events N   events per aggregated record at most (default 100)
      --gzip                 gzip-compress each event (inside the aggregate with --aggregate)
      --raw                  send every line byte for byte, JSON or not (test records for the
                             quarantine: not-json, not-utf8, ...)
      --skip-invalid         skip lines that are not JSON objects and records over 1 MiB, printing
                             each one's line number and reason (default: stop at the first one,
                             exit code 2)
      --max-attempts N       attempts per record before it counts as failed (default 5)
      --region REGION        AWS region (default: AWS_REGION / the AWS profile;
                             us-east-1 with a custom endpoint)
      --endpoint URL         Kinesis endpoint, e.g. http://127.0.0.1:4566 (default:
                             AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, the running local
                             pipeline for its streams, else AWS)
${TIMEOUT_HELP}
      --json                 print the summary as JSON on stdout
  -q, --quiet                no progress lines
  -h, --help                 this help

Progress (every 5 s) and the summary go to stderr; stdout carries only --json.
Credentials: the standard AWS chain; dummy ones for a localhost endpoint when none are set.
${EXIT_CODES_HELP}`;

export interface EmitIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
  /** Where to look for a running local pipeline (.tidewatch/local.json). @default process.cwd() */
  readonly cwd?: string;
  /** Aborts the run gracefully (what Ctrl-C does): stop reading, send what is buffered, report. */
  readonly signal?: AbortSignal;
  /** Progress line period (ms). @default 5000 */
  readonly progressIntervalMs?: number;
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

/**
 * A Kinesis client for the CLI: endpoint from the argument, else
 * AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL, else `fallbackEndpoint` (the
 * running local pipeline), else AWS; HTTP/1.1 with connect and request timeouts.
 */
export function kinesisClientFor(
  args: { endpoint?: string; region?: string; connectTimeout?: string; requestTimeout?: string; fallbackEndpoint?: string },
  env: NodeJS.ProcessEnv,
): { client: KinesisClient; target: Target } {
  const timeouts = resolveTimeouts({ 'connect-timeout': args.connectTimeout, 'request-timeout': args.requestTimeout }, env);
  const target = resolveTarget('KINESIS', { endpoint: args.endpoint, region: args.region, timeouts, fallbackEndpoint: args.fallbackEndpoint }, env);
  return { client: new KinesisClient(clientConfig(target, env)), target };
}

function line(s: ProducerSummary, invalid: number): string {
  const rate = s.recordsPerSecond.toLocaleString('en-US');
  return `${s.sent} sent, ${s.retried} retried, ${s.failed} failed${invalid > 0 ? `, ${invalid} invalid skipped` : ''}, ${rate} records/s`;
}

const OPTIONS = {
  stream: { type: 'string', short: 's' },
  generate: { type: 'string', short: 'g' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  seed: { type: 'string' },
  'event-time': { type: 'string' },
  'time-field': { type: 'string' },
  pipeline: { type: 'string' },
  'partition-key': { type: 'string', short: 'k' },
  raw: { type: 'boolean' },
  aggregate: { type: 'boolean' },
  'aggregate-events': { type: 'string' },
  gzip: { type: 'boolean' },
  'skip-invalid': { type: 'boolean' },
  'max-attempts': { type: 'string' },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  ...TIMEOUT_OPTIONS,
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

const clock = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');

/** Event times of what was sent, compared with the running pipeline's watermark and clock when known. */
class TimeCheck {
  count = 0;
  belowWatermark = 0;
  tooFarAhead = 0;
  min = Infinity;
  max = -Infinity;

  constructor(
    private readonly field: string,
    private readonly watermark: number | null,
    private readonly futureLimit: () => number | null,
  ) {}

  see(record: object): void {
    const t = eventTimeOf(record, this.field);
    if (t === undefined) return;
    this.count++;
    if (t < this.min) this.min = t;
    if (t > this.max) this.max = t;
    if (this.watermark !== null && t < this.watermark) this.belowWatermark++;
    const limit = this.futureLimit();
    if (limit !== null && t > limit) this.tooFarAhead++;
  }
}

/** `tidewatch emit …`: returns the exit code. */
export async function runEmit(argv: readonly string[], io: EmitIo): Promise<number> {
  const err = (text: string) => io.stderr.write(`${text}\n`);
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseCommandLine('tidewatch emit', argv, OPTIONS, 1));
  } catch (e) {
    err(`tidewatch emit: ${e instanceof Error ? e.message : String(e)}\n\nRun 'tidewatch emit --help' for the options.`);
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout.write(`${EMIT_USAGE}\n`);
    return EXIT.ok;
  }

  let client: KinesisClient | undefined;
  let target: Target | undefined;
  let producer: Producer | undefined;
  let invalidLines = 0;
  const interrupted = io.signal;
  let timer: NodeJS.Timeout | undefined;
  let streamName = values.stream ?? '';
  try {
    const discovery = discoverRunningPipeline(io.env, io.cwd);
    const running: RunningPipeline | undefined = discovery.status === 'running' ? discovery.state : undefined;
    if (values.stream === undefined || values.stream === '') {
      if (running && running.streams.length === 1) streamName = running.streams[0]!.name;
      else if (running) throw new UsageError(`--stream is required: the running local pipeline has streams ${running.streams.map((x) => x.name).join(', ')}`);
      else throw new UsageError('--stream is required');
    }
    if (values.generate !== undefined && values.generate !== 'telemetry') throw new UsageError(`--generate supports only "telemetry" (given ${JSON.stringify(values.generate)})`);
    if (values.generate !== undefined && positionals.length > 0) throw new UsageError('give either an input file or --generate, not both');
    if (values.generate !== undefined && values.raw) throw new UsageError('--raw sends lines of an input file: it does not go with --generate');
    if (values.raw && values['event-time'] !== undefined) throw new UsageError('--raw sends lines exactly as they are: it does not go with --event-time');
    if (values.raw && values['skip-invalid']) throw new UsageError('--raw sends every line, JSON or not: --skip-invalid has nothing to skip');
    const maxAttempts = positiveNumber('--max-attempts', values['max-attempts'] ?? '5', true);
    const anchor: EventTimeAnchor | undefined = values['event-time'] !== undefined ? parseEventTimeOption(values['event-time']) : undefined;
    const file = positionals[0];
    const stdinIsTty = (io.stdin as Readable & { isTTY?: boolean }).isTTY === true;
    if (values.generate === undefined && (file === undefined || file === '-') && stdinIsTty) {
      throw new UsageError('no input: give an NDJSON file, pipe NDJSON on stdin, or use --generate telemetry');
    }

    // The local pipeline serves the streams it declares, unless an endpoint is given.
    const local = running !== undefined && running.streams.some((x) => x.name === streamName) ? running : undefined;
    ({ client, target } = kinesisClientFor(
      {
        ...(values.endpoint !== undefined ? { endpoint: values.endpoint } : {}),
        ...(values.region !== undefined ? { region: values.region } : {}),
        ...(values['connect-timeout'] !== undefined ? { connectTimeout: values['connect-timeout'] } : {}),
        ...(values['request-timeout'] !== undefined ? { requestTimeout: values['request-timeout'] } : {}),
        ...(local ? { fallbackEndpoint: local.endpoints.kinesis } : {}),
      },
      io.env,
    ));
    const usesLocal = local !== undefined && target.endpoint === local.endpoints.kinesis;
    if (usesLocal && !values.quiet) err(`tidewatch emit: sending to the local pipeline npm start is running (pid ${local.pid}): stream "${streamName}" at ${target.endpoint}`);

    // The stream's event-time field and limits, from the pipeline file (given, or the running one's).
    const pipelineFile = values.pipeline ?? (usesLocal ? local.pipelineFile : undefined);
    let spec: StreamSpec | undefined;
    if (pipelineFile !== undefined && (anchor !== undefined || usesLocal)) {
      let pipeline: Pipeline | undefined;
      try {
        pipeline = loadPipeline(pipelineFile);
      } catch (e) {
        if (values.pipeline !== undefined) throw new UsageError(e instanceof Error ? e.message : String(e));
      }
      spec = pipeline?.streams.get(streamName);
      if (pipeline && !spec && values.pipeline !== undefined) throw new UsageError(`stream "${streamName}" is not declared in ${pipelineFile} (streams: ${[...pipeline.streams.keys()].join(', ')})`);
    }
    const timeField = values['time-field'] ?? (spec?.timestamp.kind === 'field' ? spec.timestamp.field : undefined);
    let anchorTime: (() => number) | undefined;
    let speed = 1;
    if (anchor !== undefined) {
      if (timeField === undefined) {
        throw new UsageError(
          spec?.timestamp.kind === 'arrival'
            ? `stream "${streamName}" takes its event time from the Kinesis arrival time ($arrival): there is no field for --event-time to set`
            : '--event-time needs the event-time field: give --time-field FIELD or --pipeline FILE (or run npm start in this folder)',
        );
      }
      if (anchor.kind === 'now') anchorTime = () => Date.now();
      else if (anchor.kind === 'at') {
        // A file's first event gets exactly that time; generated time starts there and runs with the wall clock.
        let origin: number | undefined;
        // One clock reading per call: the first call must give exactly anchor.time (reading the clock twice
        // could put the origin a millisecond after "now" and the first event a millisecond early).
        anchorTime = () => {
          const now = Date.now();
          origin ??= now;
          return anchor.time + (now - origin);
        };
      } else {
        if (!running) throw new UsageError(`--event-time pipeline needs a running local pipeline, and none was found (${discovery.path}${discovery.status === 'stale' ? ` is left from pid ${discovery.state.pid}, which has exited` : ' does not exist'}): start it with npm start, or give --event-time now or an ISO time`);
        // The running pipeline's clock, re-read every 2 s (it slows down when the pipeline falls behind).
        let state = running;
        let readAt = Date.now();
        speed = Math.max(state.clock.rate, 0.001);
        anchorTime = () => {
          if (Date.now() - readAt > 2000) {
            readAt = Date.now();
            const again = discoverRunningPipeline(io.env, io.cwd);
            if (again.status === 'running') state = again.state;
          }
          return pipelineEventTime(state);
        };
      }
    }

    const rate = positiveNumber('--rate', values.rate ?? '100', false);
    const durationMs = values.duration !== undefined ? parseDuration(values.duration) : undefined;
    const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
    if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer (given ${JSON.stringify(values.seed)})`);
    if (file !== undefined && file !== '-') {
      await access(file).catch((e: unknown) => {
        throw new UsageError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
      });
    }

    // Preflight: a missing stream or an endpoint that does not answer fails here, in seconds.
    try {
      await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    } catch (e) {
      const name = e instanceof Error ? e.name : '';
      // A producer's credentials may allow PutRecords only: then the first PutRecords tells.
      if (name !== 'AccessDeniedException' && name !== 'AccessDenied') throw new CliError(explainAwsError(e, { service: 'Kinesis', target, resource: `stream "${streamName}"` }), { cause: e });
    }

    const localStream = usesLocal ? local.streams.find((x) => x.name === streamName) : undefined;
    const check =
      timeField !== undefined && usesLocal
        ? new TimeCheck(timeField, localStream?.watermark ?? null, () => (spec ? pipelineEventTime(local) + spec.maxFutureMs : null))
        : undefined;

    const lines = new WeakMap<object, number>();
    let records: AsyncIterable<object>;
    let shifter: EventTimeShifter | undefined;
    if (values.generate !== undefined) {
      const generated = generateTelemetryLive({
        rate,
        seed,
        ...(durationMs !== undefined ? { durationMs } : {}),
        ...(interrupted ? { signal: interrupted } : {}),
        ...(anchorTime !== undefined ? { clock: anchorTime, speed } : {}),
      });
      records = check
        ? (async function* () {
            for await (const e of generated) {
              check.see(e);
              yield e;
            }
          })()
        : generated;
    } else {
      const input = file === undefined || file === '-' ? io.stdin : createReadStream(file);
      // Ctrl-C: stop reading; what was read is still sent.
      interrupted?.addEventListener('abort', () => input.destroy(), { once: true });
      if (anchorTime !== undefined && timeField !== undefined) shifter = new EventTimeShifter(timeField, anchorTime);
      const raw = values.raw === true;
      const skipInvalid = values['skip-invalid'] === true;
      const keyField = values['partition-key'];
      const s = shifter;
      records = (async function* () {
        for await (const l of readLines(input)) {
          if (interrupted?.aborted) return;
          let record: EncodedRecord;
          if (raw) {
            // The partition key can still come from a JSON line's field.
            const parsed = keyField !== undefined ? parseJsonLine(l) : undefined;
            record = EncodedRecord.raw(l.bytes, parsed && 'record' in parsed ? parsed.record : undefined);
          } else {
            const parsed = parseJsonLine(l);
            if ('error' in parsed) {
              if (!skipInvalid) throw parsed.error;
              invalidLines++;
              err(`tidewatch emit: skipped ${parsed.error.message}`);
              continue;
            }
            const bytes = s?.shift(l.bytes, parsed.record) ?? l.bytes;
            check?.see(s ? (JSON.parse(bytes.toString('utf8')) as object) : parsed.record);
            record = EncodedRecord.raw(bytes, parsed.record);
          }
          lines.set(record, l.line);
          yield record;
        }
      })();
    }

    if (values['aggregate-events'] !== undefined && values.aggregate !== true) throw new UsageError('--aggregate-events needs --aggregate');
    const aggregateEvents = values['aggregate-events'] !== undefined ? positiveNumber('--aggregate-events', values['aggregate-events'], true) : 100;
    if (aggregateEvents > 10_000) throw new UsageError(`--aggregate-events must be at most 10000 (given ${aggregateEvents})`);
    const encoding = values.aggregate === true || values.gzip === true;
    let events = 0;
    if (encoding) {
      const counted = records;
      const keyOf = values['partition-key'] !== undefined ? fieldKey(values['partition-key']) : () => randomUUID();
      records = encodeRecords(
        (async function* () {
          for await (const r of counted) {
            events++;
            yield r;
          }
        })(),
        { ...(values.aggregate === true ? { aggregate: { maxEvents: aggregateEvents } } : {}), gzip: values.gzip === true, partitionKey: keyOf },
      );
    }

    producer = new Producer({
      client,
      streamName,
      ...(values['partition-key'] !== undefined ? { partitionKey: fieldKey(values['partition-key']) } : {}),
      maxAttempts,
      invalid: values['skip-invalid'] ? 'skip' : 'throw',
      describe: (record, index) => (lines.has(record) ? `line ${lines.get(record)}` : `record ${index + 1}`),
      onInvalid: (e) => err(`tidewatch emit: skipped ${e.message}`),
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
      io.stdout.write(`${JSON.stringify({ stream: streamName, ...counts, invalid, ...(encoding ? { events } : {}), failures })}\n`);
    } else {
      err(`tidewatch emit: done in ${(summary.durationMs / 1000).toFixed(1)} s to ${streamName}: ${line(summary, invalid)}`);
      if (values.aggregate === true) err(`tidewatch emit: ${events} events in ${summary.sent + summary.failed} KPL aggregated records${values.gzip === true ? ' (each event gzip-compressed)' : ''}`);
      else if (values.gzip === true) err(`tidewatch emit: ${events} events, each a gzip-compressed record`);
    }
    if (shifter && shifter.unchanged > 0) err(`tidewatch emit: ${shifter.unchanged} record(s) had no readable "${timeField}" field and were sent unchanged`);
    if (check && check.count > 0 && !values.quiet) {
      const span = check.min === check.max ? clock(check.min) : `${clock(check.min)} .. ${clock(check.max)}`;
      if (check.belowWatermark > 0 && localStream?.watermark != null) {
        err(
          `tidewatch emit: note: ${check.belowWatermark} of ${check.count} events (event time ${span}) are older than the watermark of "${streamName}" (${clock(localStream.watermark)}): ` +
            `those whose windows have closed are counted as late, not aggregated (npm start shows the late counts). To land in open windows, stamp them with --event-time pipeline.`,
        );
      }
      if (check.tooFarAhead > 0) {
        err(`tidewatch emit: note: ${check.tooFarAhead} of ${check.count} events are more than maxFuture ahead of the pipeline's event time (${clock(pipelineEventTime(local!))}): they are quarantined as future-timestamp. Stamp them with --event-time pipeline.`);
      }
    }
    if (summary.failed > 0) return EXIT.failure;
    if (interrupted?.aborted && !(values.generate !== undefined && values.duration === undefined)) return EXIT.interrupted;
    return EXIT.ok;
  } catch (e) {
    clearInterval(timer);
    const sent = producer ? ` (${line(producer.progress(), invalidLines + producer.progress().invalid)} before stopping)` : '';
    if (e instanceof UsageError) {
      err(`tidewatch emit: ${e.message}\n\nRun 'tidewatch emit --help' for the options.`);
      return EXIT.usage;
    }
    if (e instanceof InvalidInputError || e instanceof InvalidRecordError) {
      err(`tidewatch emit: ${e.message}${sent}\nUse --skip-invalid to skip such records and go on${e instanceof InvalidInputError ? ', or --raw to send every line as it is' : ''}.`);
      return EXIT.usage;
    }
    if (e instanceof CliError) {
      err(`tidewatch emit: ${e.message}${sent}`);
      return e.exitCode;
    }
    if (e instanceof PutRecordsError && target) {
      err(`tidewatch emit: ${explainAwsError(e.cause, { service: 'Kinesis', target, resource: `stream "${streamName}"` })}${sent}`);
      return EXIT.failure;
    }
    err(`tidewatch emit: ${e instanceof ProducerError || !(e instanceof Error) ? String(e instanceof Error ? e.message : e) : target ? explainAwsError(e, { service: 'Kinesis', target }) : e.message}${sent}`);
    return EXIT.failure;
  } finally {
    client?.destroy();
  }
}
