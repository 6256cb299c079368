/**
 * `npm start`: runs the tidewatch engine over a built-in sample stream of
 * telemetry with an injected incident, and prints the alerts it sends.
 *
 *   npm start                 # readable lines
 *   npm start -- --json       # one JSON object per alert per line
 *   npm start -- --seed 7 --pipeline pipelines/sample.yaml
 */
import { parseArgs } from 'node:util';
import { loadPipeline } from '../lambdas/core/pipeline';
import { defaultIncident, generateTelemetry } from '../local/demo/telemetry';
import { alertJson, formatAlert } from '../local/format';
import { SequenceCounter, toKinesisRecords } from '../local/records';
import { simulate } from '../local/simulate';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      seed: { type: 'string', default: '42' },
      pipeline: { type: 'string', default: 'pipelines/sample.yaml' },
      minutes: { type: 'string', default: '12' },
      rate: { type: 'string', default: '40' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm start -- [--json] [--seed N] [--pipeline FILE] [--minutes N] [--rate EVENTS_PER_SEC]');
    return;
  }
  const seed = Number(values.seed);
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  for (const [name, v] of [['--seed', seed], ['--minutes', minutes], ['--rate', rate]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number (given ${String(v)})`);
  }
  const pipeline = loadPipeline(values.pipeline!);
  const stream = [...pipeline.streams.keys()][0]!;
  // The sample stream starts `minutes` ago, on a minute boundary.
  const start = Math.floor((Date.now() - minutes * 60_000) / 60_000) * 60_000;
  const incident = defaultIncident(start);
  const events = generateTelemetry({ seed, start, durationMs: minutes * 60_000, ratePerSec: rate, incident });
  const records = toKinesisRecords(
    events.map((a) => a.event as unknown as Record<string, unknown>),
    { shardCount: 2, partitionKeyField: 'host', sequences: new SequenceCounter(), arrivalOf: (_p, i) => events[i]!.arrival },
  );
  if (!values.json) {
    console.log(`tidewatch demo: ${events.length} events over ${minutes} min of event time from ${new Date(start).toISOString()}, 2 shards, pipeline ${values.pipeline}`);
    console.log(`incident at ${new Date(incident.at).toISOString()}: ${incident.errorService} errors spike, ${incident.slowService} latency rises, ${incident.silentHost} goes silent\n`);
  }
  const color = process.stdout.isTTY === true;
  const result = await simulate({
    pipeline,
    stream,
    records,
    // Long enough after the last event for the last minutes' windows to close, short of
    // the absence timeout (the demo stream ending is not an outage).
    drainMs: 100_000,
    onAlert: (t) => console.log(values.json ? alertJson(t) : formatAlert(t, { color })),
  });
  if (!values.json) {
    console.log(`\n${result.alerts.length} alert notifications; ${result.batches} batches, ${result.rejected} records rejected, ${result.late} late`);
  }
}

main().catch((err: unknown) => {
  console.error(`tidewatch: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
