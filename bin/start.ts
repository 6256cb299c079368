/**
 * `npm start`: the whole tidewatch pipeline on this machine — Kinesis
 * (kinesis-local), DynamoDB (dynalite), SNS (local endpoint), the event source
 * mapping runner invoking the real processor Lambda handler, and the ticker.
 * With the sample pipeline, a demo producer sends telemetry with an injected
 * incident; with your own pipeline, nothing is sent but your events. Alerts
 * print as SNS delivers them, and every few seconds what happened to every
 * record, stream by stream.
 *
 *   npm start                                   # the demo, until Ctrl-C
 *   npm start -- --for 60s                      # stop after a minute
 *   npm start --silent -- --json | jq .         # one JSON object per alert per line
 *   npm start -- --pipeline mine.yaml --input payments=mine.ndjson
 *   npm start -- --simulate                     # no emulators: the engine on virtual time, in memory
 */
import '../local/cli/quietSdk';
import { createReadStream, existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { loadPipeline, PipelineError } from '../lambdas/core/pipeline';
import { formatDuration, tryParseDuration } from '../lambdas/core/pipeline/duration';
import type { Pipeline } from '../lambdas/core/types';
import { Accounting, clockTime } from '../local/Accounting';
import { CliError, EXIT, EXIT_CODES_HELP, parseCommandLine, UsageError } from '../local/cli';
import { runLiveDemo } from '../local/demo/live';
import { PacedClock } from '../local/demo/PacedClock';
import { startPacer, type Pacer } from '../local/demo/pacing';
import { defaultIncident, generateTelemetry } from '../local/demo/telemetry';
import { removeRunningPipeline, STATE_FILE_ENV, stateFilePath, writeRunningPipeline, type RunningPipeline } from '../local/discovery';
import { alertJson, formatAlert, formatAlertMessage } from '../local/format';
import { startLocalPipeline, type LocalPipeline } from '../local/LocalPipeline';
import { EncodedRecord, parseJsonLine, Producer, readLines } from '../local/producer';
import { SequenceCounter, toKinesisRecords } from '../local/records';
import { simulate } from '../local/simulate';
import { startView, type ViewServer } from '../local/view';

const SAMPLE = resolve(__dirname, '../pipelines/sample.yaml');

const USAGE = `usage: npm start -- [options]        (npm start --silent -- … keeps npm's own lines off stdout)

  --pipeline FILE       pipeline file (default pipelines/sample.yaml)
  --input STREAM=FILE   send the NDJSON events of FILE to STREAM, each line as it is, with its own event
                        times (history is fine); repeatable; plain --input FILE when the pipeline has one
                        stream. Lines that are not JSON objects are skipped, each reported.
  --demo, --no-demo     the demo producer (telemetry with an incident, into stream "telemetry"); on by
                        default for the sample pipeline only
  --speed N             event time runs N times faster than the wall clock (default 6 with the demo, so
                        that minute windows and the 2-minute absence rule show within a minute; else 1).
                        With the demo it slows down by itself when the pipeline falls behind.
  --for DURATION        stop after this long (e.g. 60s, 5m); default: until Ctrl-C (a second Ctrl-C forces it)
  --json                one JSON object per alert per line on stdout; everything else goes to stderr
  --status-every D      print the event time, watermarks and per-stream counts this often (default 10s; 0: at the end only)
  --no-view             no live web page (by default one is served on 127.0.0.1; its URL is printed at start)
  --verbose             also print the processor's and ticker's log lines (one JSON object per batch) on stderr
  --data DIR            keep DynamoDB and Kinesis state in DIR (default: in memory); a rerun continues where
                        it stopped: event time after the stored watermark, each shard after its last record
  --rate N              demo: HTTP events per second of event time (default 20)
  --incident-after D    demo: event time before the incident starts (default 30s)
  --seed N              demo data seed (default 42)
  --simulate            run the engine over a recorded demo stream on virtual time, in memory, no emulators
  --minutes N           with --simulate: minutes of event time (default 12)

While it runs, 'npx tidewatch emit|windows|alerts|quarantine' in this folder find it by themselves
(.tidewatch/local.json; elsewhere: export ${STATE_FILE_ENV}=<the path npm start prints>).

${EXIT_CODES_HELP}`;

const OPTIONS = {
  pipeline: { type: 'string' },
  input: { type: 'string', multiple: true },
  demo: { type: 'boolean' },
  'no-demo': { type: 'boolean' },
  speed: { type: 'string' },
  for: { type: 'string' },
  json: { type: 'boolean' },
  'status-every': { type: 'string' },
  verbose: { type: 'boolean' },
  'no-view': { type: 'boolean' },
  data: { type: 'string' },
  rate: { type: 'string' },
  'incident-after': { type: 'string' },
  seed: { type: 'string' },
  simulate: { type: 'boolean' },
  minutes: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function positive(name: string, text: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${name} must be a positive number (given ${JSON.stringify(text)})`);
  return v;
}

function duration(name: string, text: string, allowZero = false): number {
  const r = tryParseDuration(text);
  if (!r.ok) throw new UsageError(`${name}: ${r.message}`);
  if (!allowZero && r.value <= 0) throw new UsageError(`${name} must be longer than 0 (given ${JSON.stringify(text)})`);
  return r.value;
}

function load(file: string): Pipeline {
  try {
    return loadPipeline(file);
  } catch (err) {
    if (err instanceof PipelineError) throw new UsageError(err.message);
    throw err;
  }
}

interface Input {
  readonly stream: string;
  readonly file: string;
}

function parseInputs(given: readonly string[], pipeline: Pipeline): Input[] {
  const streams = [...pipeline.streams.keys()];
  return given.map((arg) => {
    const eq = arg.indexOf('=');
    let stream: string;
    let file: string;
    if (eq > 0 && pipeline.streams.has(arg.slice(0, eq))) {
      stream = arg.slice(0, eq);
      file = arg.slice(eq + 1);
    } else if (eq > 0 && !existsSync(arg)) {
      throw new UsageError(`--input ${arg}: no stream "${arg.slice(0, eq)}" in ${pipeline.file} (streams: ${streams.join(', ')})`);
    } else if (streams.length === 1) {
      stream = streams[0]!;
      file = arg;
    } else {
      throw new UsageError(`--input ${arg}: which stream? ${pipeline.file} has ${streams.join(', ')}: write --input STREAM=${arg}`);
    }
    if (!existsSync(file)) throw new UsageError(`--input ${arg}: cannot read ${file}: no such file`);
    return { stream, file };
  });
}

async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseCommandLine('npm start', argv, OPTIONS);
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const json = values.json === true;
  const color = process.stdout.isTTY === true && !json;
  const info = (line: string) => (json ? console.error(line) : console.log(line));
  const pipelineFile = resolve(values.pipeline ?? 'pipelines/sample.yaml');
  if (values.simulate) return runSimulation(pipelineFile, Number(values.seed ?? '42'), positive('--minutes', values.minutes ?? '12'), json, color);

  const pipeline = load(pipelineFile);
  const streams = [...pipeline.streams.keys()];
  if (values.demo && values['no-demo']) throw new UsageError('give --demo or --no-demo, not both');
  const demo = values.demo === true || (values['no-demo'] !== true && pipelineFile === SAMPLE);
  if (demo && !pipeline.streams.has('telemetry')) {
    throw new UsageError(`the demo sends telemetry to a stream named "telemetry", and ${basename(pipelineFile)} has ${streams.join(', ')}: leave out --demo (your pipeline runs without it), or send your events with --input`);
  }
  const inputs = parseInputs(values.input ?? [], pipeline);
  const speed = positive('--speed', values.speed ?? (demo ? '6' : '1'));
  const rate = positive('--rate', values.rate ?? '20');
  const seed = Number(values.seed ?? '42');
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer (given ${JSON.stringify(values.seed)})`);
  const incidentAfterMs = duration('--incident-after', values['incident-after'] ?? '30s', true);
  const forMs = values.for === undefined ? undefined : duration('--for', values.for);
  const statusEveryMs = duration('--status-every', values['status-every'] ?? '10s', true);
  const dataDir = values.data !== undefined ? resolve(values.data) : undefined;
  const clock = new PacedClock(speed);
  const accounting = new Accounting(pipeline, clock);
  const statePath = stateFilePath();

  // Ctrl-C / SIGTERM: stop in order (producers, the event source mapping, the emulators). A second one,
  // more than 0.5 s later (a terminal's Ctrl-C may reach us twice, directly and through npm), forces it.
  const stop = new AbortController();
  let stopAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stop.signal.aborted) {
      stopAt = Date.now();
      stop.abort(new Error(signal));
      return;
    }
    if (Date.now() - stopAt < 500) return;
    process.stderr.write('\ntidewatch: forced to stop (the emulators are killed)\n');
    removeRunningPipeline(statePath);
    process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A signal that came while Node was still loading the program (bin/signals.mjs kept it).
  const early = (globalThis as { [k: symbol]: { signals: NodeJS.Signals[]; release(): void } | undefined })[Symbol.for('tidewatch.earlySignals')];
  early?.release();
  if (early && early.signals.length > 0) onSignal(early.signals[0]!);
  const timer = forMs === undefined ? undefined : setTimeout(() => stop.abort(new Error('--for')), forMs);

  info(`tidewatch: starting the local pipeline (kinesis-local, dynalite, local SNS, event source mapping, ticker) for ${basename(pipelineFile)}…`);
  let alerts = 0;
  let view: ViewServer | undefined;
  let resumedFrom: number | undefined;
  let local: LocalPipeline;
  try {
    local = await startLocalPipeline({
      pipelineFile,
      ...(dataDir ? { dataDir } : {}),
      clock,
      signal: stop.signal,
      tickEveryMs: 60_000,
      tickRealMs: Math.max(1000, 60_000 / speed),
      logLevel: values.verbose ? 'INFO' : 'SILENT',
      logStream: process.stderr,
      onAlert: (m) => {
        alerts += 1;
        view?.alert(m);
        console.log(json ? JSON.stringify(m) : formatAlertMessage(m, { color }));
      },
      onBatch: (stream, report) => {
        for (const note of accounting.onBatch(stream, report)) info(note);
      },
      onTick: (stream, report) => accounting.onTick(stream, report),
      onResume: (t) => {
        resumedFrom = t;
        clock.jumpTo(t + 1000);
      },
      onFailure: (f) => console.error(`tidewatch: the event source mapping gave up on records after their retries: ${JSON.stringify(f)}`),
      onTickerError: (err) => console.error(`tidewatch: the ticker failed (it runs again on its schedule): ${err instanceof Error ? err.message : String(err)}`),
    });
  } catch (err) {
    clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (stop.signal.aborted) {
      info('tidewatch: stopped before the pipeline was ready');
      return EXIT.ok;
    }
    throw err;
  }

  const running = (): RunningPipeline => ({
    version: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    pipelineFile,
    dataDir: dataDir ?? null,
    region: local.kinesis.region,
    endpoints: { kinesis: local.kinesis.endpoint, dynamodb: local.dynamo.endpoint, sns: local.sns.endpoint },
    table: local.tableName,
    topicArn: local.topicArn,
    streams: streams.map((name) => ({ name, shards: 2, watermark: accounting.watermark(name) })),
    clock: { eventTime: clock.now(), wallTime: Date.now(), rate: clock.rate },
  });
  let pacer: Pacer | undefined;
  let status: NodeJS.Timeout | undefined;
  let refresh: NodeJS.Timeout | undefined;
  const producers: Array<Promise<unknown>> = [];
  let sent = 0;
  let failed = 0;
  const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[0m` : s);
  const printStatus = () => {
    const now = clock.now();
    const pace = clock.rate === speed ? `${speed}x the wall clock` : `slowed to ${Number(clock.rate.toFixed(2))}x of ${speed}x: the pipeline is behind`;
    info(dim(`${clockTime(now, now)}  event time (${pace})`));
    for (const l of accounting.lines()) info(dim(`          ${l}`));
  };
  try {
    if (dataDir) for (const name of streams) accounting.seedWatermark(name, await local.runtime.store.getStreamWatermark(name));
    writeRunningPipeline(statePath, running());
    info(`  Kinesis  ${local.kinesis.endpoint}  ${streams.map((s) => `stream "${s}"`).join(', ')} (2 shards${streams.length > 1 ? ' each' : ''})`);
    info(`  DynamoDB ${local.dynamo.endpoint}  table ${local.tableName}${dataDir ? ` (state in ${dataDir})` : ''}`);
    info(`  SNS      ${local.sns.endpoint}  topic ${local.topicArn}`);
    if (values['no-view'] !== true) {
      view = await startView({ client: local.dynamo.client(), table: local.tableName, pipeline: local.pipeline, clock, onError: (e) => console.error(`tidewatch: live view: ${e instanceof Error ? e.message : String(e)}`) });
      info(`  view     ${view.url}  (live web page; --no-view turns it off)`);
    }
    const now = clock.now();
    info(`  event time ${new Date(now).toISOString()}, ${speed === 1 ? 'the wall clock' : `running ${speed}x the wall clock`}${resumedFrom !== undefined ? ` (continuing after the stored state's ${new Date(resumedFrom).toISOString()})` : ''}`);
    for (const name of streams) {
      const wm = accounting.watermark(name);
      info(`  ${name}: watermark ${wm === null ? 'none yet (no events)' : new Date(wm).toISOString()}`);
    }
    if (demo) {
      info(`  demo producer: ${rate} requests/s of event time into "telemetry", incident ${formatDuration(incidentAfterMs)} in`);
      info(`  (checkout errors spike, search latency rises, host web-4 goes silent)`);
    } else if (inputs.length === 0) {
      info(`  no demo: send your events with  npx tidewatch emit ${streams.length > 1 ? '--stream NAME ' : ''}FILE.ndjson  (--event-time pipeline stamps them at this event time)`);
    }
    info(`  inspect: npx tidewatch alerts | windows --rule RULE | quarantine list  (they find this pipeline: ${statePath})`);
    info(`  ${forMs !== undefined ? `stopping after ${formatDuration(forMs)}; ` : ''}Ctrl-C to stop\n`);

    refresh = setInterval(() => writeRunningPipeline(statePath, running()), 2000);
    if (statusEveryMs > 0) status = setInterval(printStatus, statusEveryMs);

    if (demo) {
      pacer = startPacer({
        clock,
        processed: () => accounting.processedEventTime('telemetry'),
        quiet: () => accounting.quietFor('telemetry'),
        onChange: ({ slowed, rate: r, lagMs }) =>
          info(
            slowed
              ? `tidewatch: the pipeline is ${formatDuration(Math.round(lagMs / 1000) * 1000)} of event time behind the demo: its clock slows to ${Number(r.toFixed(2))}x (of ${speed}x) until the pipeline catches up`
              : `tidewatch: the pipeline caught up: event time runs at ${speed}x again`,
          ),
      });
      const producer = new Producer({ client: local.kinesis.client(), streamName: 'telemetry', partitionKey: (r) => String((r as { host?: string }).host ?? 'none') });
      let announced = false;
      producers.push(
        runLiveDemo({
          producer,
          clock,
          ratePerSec: rate,
          seed,
          incidentAfterMs,
          signal: stop.signal,
          onChunk: (_s, incident) => {
            if (!announced && clock.now() >= incident.at) {
              announced = true;
              info(`${new Date(incident.at).toISOString().slice(11, 19)}  -- incident starts --`);
            }
          },
        }).then((r) => {
          sent += r.sent;
          failed += r.failed;
        }),
      );
    }
    for (const input of inputs) {
      producers.push(
        sendInput(local, input, stop.signal, (line) => info(line)).then((r) => {
          sent += r.sent;
          failed += r.failed;
        }),
      );
    }
    await new Promise<void>((done) => {
      if (stop.signal.aborted) done();
      else stop.signal.addEventListener('abort', () => done(), { once: true });
    });
  } finally {
    clearTimeout(timer);
    info('\ntidewatch: stopping…');
    // Producers first (each finishes the request it is in), then the pipeline: mappings, ticker, emulators.
    const stopped = await Promise.allSettled(producers);
    pacer?.stop();
    clearInterval(status);
    clearInterval(refresh);
    try {
      try {
        await view?.stop();
      } finally {
        await local.stop();
      }
    } finally {
      removeRunningPipeline(statePath);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    for (const r of stopped) if (r.status === 'rejected') console.error(`tidewatch: a producer failed: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
  }
  for (const l of accounting.lines()) info(`tidewatch: ${l}`);
  info(`tidewatch: ${sent} events sent${failed ? `, ${failed} failed` : ''}, ${alerts} alert notifications received`);
  return EXIT.ok;
}

/** Sends the lines of an NDJSON file as they are (valid JSON objects only), in file order. */
async function sendInput(local: LocalPipeline, input: Input, signal: AbortSignal, say: (line: string) => void): Promise<{ sent: number; failed: number }> {
  const stream = createReadStream(input.file);
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  const spec = local.pipeline.streams.get(input.stream)!;
  const field = spec.timestamp.kind === 'field' ? spec.timestamp.field : undefined;
  let first = Infinity;
  let last = -Infinity;
  let skipped = 0;
  const name = basename(input.file);
  async function* records() {
    for await (const l of readLines(stream)) {
      if (signal.aborted) return;
      const parsed = parseJsonLine(l);
      if ('error' in parsed) {
        skipped++;
        say(`tidewatch: ${name} ${parsed.error.message}: not sent`);
        continue;
      }
      if (field !== undefined) {
        const v = (parsed.record as Record<string, unknown>)[field];
        const t = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
        if (Number.isFinite(t)) {
          first = Math.min(first, t);
          last = Math.max(last, t);
        }
      }
      yield EncodedRecord.raw(l.bytes, parsed.record);
    }
  }
  try {
    // One partition key per file: its records stay on one shard, in file order. (Spread over shards, a
    // replay of history would run ahead on the shard processed first, and the stream's watermark with it:
    // the other shard's records would then be late.)
    const key = `input:${name}`;
    const summary = await new Producer({ client: local.kinesis.client(), streamName: input.stream, partitionKey: () => key }).send(records());
    const times = Number.isFinite(first) ? ` (event time ${new Date(first).toISOString()} .. ${new Date(last).toISOString()})` : '';
    say(`tidewatch: ${input.stream}: ${summary.sent} events sent from ${name}${times}${skipped > 0 ? `, ${skipped} lines skipped` : ''}${summary.failed > 0 ? `, ${summary.failed} failed` : ''}${signal.aborted ? ' (stopped)' : ''}`);
    return { sent: summary.sent, failed: summary.failed };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function runSimulation(file: string, seed: number, minutes: number, json: boolean, color: boolean): Promise<number> {
  const pipeline = load(file);
  if (!pipeline.streams.has('telemetry')) throw new UsageError(`--simulate replays the demo's telemetry into a stream named "telemetry", and ${basename(file)} has ${[...pipeline.streams.keys()].join(', ')}`);
  const stream = 'telemetry';
  // The sample stream starts `minutes` ago, on a minute boundary.
  const start = Math.floor((Date.now() - minutes * 60_000) / 60_000) * 60_000;
  const incident = defaultIncident(start);
  const events = generateTelemetry({ seed, start, durationMs: minutes * 60_000, ratePerSec: 40, incident });
  const records = toKinesisRecords(
    events.map((a) => a.event as unknown as Record<string, unknown>),
    { shardCount: 2, partitionKeyField: 'host', sequences: new SequenceCounter(), arrivalOf: (_p, i) => events[i]!.arrival },
  );
  if (!json) {
    console.log(`tidewatch simulation: ${events.length} events over ${minutes} min of event time from ${new Date(start).toISOString()}, 2 shards, in memory`);
    console.log(`incident at ${new Date(incident.at).toISOString()}: ${incident.errorService} errors spike, ${incident.slowService} latency rises, ${incident.silentHost} goes silent\n`);
  }
  const result = await simulate({
    pipeline,
    stream,
    records,
    // Long enough after the last event for the last minutes' windows to close, short of the absence timeout.
    drainMs: 100_000,
    onAlert: (t) => console.log(json ? alertJson(t) : formatAlert(t, { color })),
  });
  if (!json) console.log(`\n${result.alerts.length} alert notifications; ${result.batches} batches, ${result.rejected} records rejected, ${result.late} late`);
  return EXIT.ok;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`tidewatch: ${err.message}\n\nRun 'npm start -- --help' for the options.`);
      process.exit(EXIT.usage);
    }
    console.error(`tidewatch: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(err instanceof CliError ? err.exitCode : EXIT.failure);
  },
);
