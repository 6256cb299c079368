/**
 * `npm start`: the whole tidewatch pipeline on this machine — Kinesis
 * (kinesis-local), DynamoDB (dynalite), SNS (local endpoint), the event source
 * mapping runner invoking the real processor Lambda handler, and the ticker —
 * fed by a demo producer with an injected incident. Alerts print as SNS
 * delivers them.
 *
 *   npm start                      # until Ctrl-C
 *   npm start -- --for 60s         # stop after a minute
 *   npm start -- --json            # one JSON object per alert per line
 *   npm start -- --speed 1         # event time at wall-clock pace (default 6x)
 *   npm start -- --simulate        # no emulators: the engine on virtual time, in memory
 */
import { parseArgs } from 'node:util';

// The SDK's notice that releases after January 2027 need Node.js 22 is for us (the lock file pins a
// version that runs on 20), not for someone watching the demo.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
import { loadPipeline } from '../lambdas/core/pipeline';
import { parseDuration } from '../lambdas/core/pipeline/duration';
import { defaultIncident, generateTelemetry } from '../local/demo/telemetry';
import { runLiveDemo, warpedClock } from '../local/demo/live';
import { alertJson, formatAlert, formatAlertMessage } from '../local/format';
import { startLocalPipeline } from '../local/LocalPipeline';
import { Producer } from '../local/producer';
import { SequenceCounter, toKinesisRecords } from '../local/records';
import { simulate } from '../local/simulate';
import { startView, type ViewServer } from '../local/view';

const USAGE = `usage: npm start -- [options]
  --for DURATION     stop after this long (e.g. 60s, 5m); default: until Ctrl-C
  --json             one JSON object per alert per line on stdout (progress goes to stderr)
  --speed N          event time runs N times faster than the wall clock (default 6: minute
                     windows and the 2-minute absence rule show within a minute); 1 = real time
  --rate N           HTTP events per second of event time (default 20)
  --incident-after D event time before the incident starts (default 30s)
  --seed N           demo data seed (default 42)
  --pipeline FILE    pipeline file (default pipelines/sample.yaml)
  --data DIR         keep DynamoDB and Kinesis state in DIR (default: in memory)
  --no-view          no live web page (by default one is served on 127.0.0.1; its URL is printed at start)
  --simulate         run the engine over a recorded stream on virtual time, in memory, no emulators
  --minutes N        with --simulate: minutes of event time (default 12)`;

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number (given ${String(v)})`);
  return v;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      for: { type: 'string' },
      speed: { type: 'string', default: '6' },
      rate: { type: 'string', default: '20' },
      'incident-after': { type: 'string', default: '30s' },
      seed: { type: 'string', default: '42' },
      pipeline: { type: 'string', default: 'pipelines/sample.yaml' },
      data: { type: 'string' },
      simulate: { type: 'boolean', default: false },
      'no-view': { type: 'boolean', default: false },
      minutes: { type: 'string', default: '12' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const color = process.stdout.isTTY === true && !values.json;
  const info = (line: string) => (values.json ? console.error(line) : console.log(line));
  if (values.simulate) return runSimulation(values.pipeline!, Number(values.seed), positive('--minutes', Number(values.minutes)), values.json === true, color);

  const speed = positive('--speed', Number(values.speed));
  const rate = positive('--rate', Number(values.rate));
  const seed = Number(values.seed);
  const incidentAfterMs = parseDuration(values['incident-after']!);
  const forMs = values.for === undefined ? undefined : parseDuration(values.for);
  const clock = warpedClock(speed);

  info(`tidewatch: starting the local pipeline (kinesis-local, dynalite, local SNS, event source mapping, ticker)…`);
  let alerts = 0;
  let view: ViewServer | undefined;
  const pipeline = await startLocalPipeline({
    pipelineFile: values.pipeline!,
    ...(values.data ? { dataDir: values.data } : {}),
    clock,
    tickEveryMs: 60_000,
    tickRealMs: Math.max(1000, 60_000 / speed),
    onAlert: (m) => {
      alerts += 1;
      view?.alert(m);
      console.log(values.json ? JSON.stringify(m) : formatAlertMessage(m, { color }));
    },
    onFailure: (f) => console.error(`tidewatch: event source mapping gave up on a batch: ${JSON.stringify(f)}`),
  });
  const stream = [...pipeline.pipeline.streams.keys()][0]!;
  info(`  Kinesis  ${pipeline.kinesis.endpoint}  stream "${stream}" (2 shards)`);
  info(`  DynamoDB ${pipeline.dynamo.endpoint}  table ${pipeline.tableName}${values.data ? ` (state in ${values.data})` : ''}`);
  info(`  SNS      ${pipeline.sns.endpoint}  topic ${pipeline.topicArn}`);
  if (!values['no-view']) {
    view = await startView({ client: pipeline.dynamo.client(), table: pipeline.tableName, pipeline: pipeline.pipeline, clock, onError: (e) => console.error(`tidewatch: live view: ${e instanceof Error ? e.message : String(e)}`) });
    info(`  view     ${view.url}  (live web page; --no-view turns it off)`);
  }
  info(`  event time runs ${speed}x the wall clock; demo producer: ${rate} requests/s of event time, incident ${values['incident-after']} in`);
  info(`  (checkout errors spike, search latency rises, host web-4 goes silent)${forMs ? `; stopping after ${values.for}` : '; Ctrl-C to stop'}\n`);

  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = forMs === undefined ? undefined : setTimeout(stop, forMs);
  const producer = new Producer({ client: pipeline.kinesis.client(), streamName: stream, partitionKey: (r) => String((r as { host?: string }).host ?? 'none') });
  let announced = false;
  let result: { sent: number; failed: number };
  try {
    result = await runLiveDemo({
      producer,
      clock,
      ratePerSec: rate,
      seed,
      incidentAfterMs,
      signal: abort.signal,
      onChunk: (_s, incident) => {
        if (!announced && clock.now() >= incident.at) {
          announced = true;
          info(`${new Date(incident.at).toISOString().slice(11, 19)}  -- incident starts --`);
        }
      },
    });
  } finally {
    if (timer) clearTimeout(timer);
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    info('\ntidewatch: stopping…');
    await view?.stop();
    await pipeline.stop();
  }
  info(`tidewatch: ${result.sent} events sent${result.failed ? `, ${result.failed} failed` : ''}, ${alerts} alert notifications received`);
  return 0;
}

async function runSimulation(file: string, seed: number, minutes: number, json: boolean, color: boolean): Promise<number> {
  const pipeline = loadPipeline(file);
  const stream = [...pipeline.streams.keys()][0]!;
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
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`tidewatch: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
