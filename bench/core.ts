/**
 * `npm run bench:core`: throughput of the pure core on one core.
 *
 * A 10,000-record Kinesis-shaped batch of demo telemetry (the sample pipeline's
 * rules) goes through the whole core — decode, validate, window, aggregate,
 * evaluate, alert lifecycle, with the in-memory state store — and, for the
 * floor, through decode alone (base64 + JSON.parse). Prints events/s of both
 * and their ratio; `--json` prints one JSON object as the last line.
 */
import { parseArgs } from 'node:util';
import { Engine } from '../lambdas/core/Engine';
import { InMemoryStateStore } from '../lambdas/core/InMemoryStateStore';
import { loadPipeline } from '../lambdas/core/pipeline';
import type { KinesisLikeRecord } from '../lambdas/core/types';
import { defaultIncident, generateTelemetry } from '../local/demo/telemetry';
import { SequenceCounter, toKinesisRecords } from '../local/records';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    records: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '4' },
    pipeline: { type: 'string', default: 'pipelines/sample.yaml' },
  },
});
const N = Number(values.records);
const budgetMs = Number(values.seconds) * 1000;
const pipeline = loadPipeline(values.pipeline!);
const stream = [...pipeline.streams.keys()][0]!;

// One shard's batch: 10,000 events at 1,000 events/s of event time, incident included.
const start = Date.UTC(2026, 10, 27, 10, 0, 0);
const generated = generateTelemetry({ seed: 7, start, durationMs: Math.ceil(N / 1000) * 1000 + 60_000, ratePerSec: 1000, incident: defaultIncident(start - 120_000) }).slice(0, N);
const records: KinesisLikeRecord[] = toKinesisRecords(
  generated.map((g) => g.event as unknown as Record<string, unknown>),
  { shardCount: 1, partitionKeyField: 'host', sequences: new SequenceCounter(), arrivalOf: (_p, i) => generated[i]!.arrival },
);
const clock = { now: () => start + 10 * 60_000 };

function decodeOnly(batch: readonly KinesisLikeRecord[]): number {
  let n = 0;
  for (const r of batch) {
    const o = JSON.parse(Buffer.from(r.data, 'base64').toString('utf8')) as Record<string, unknown>;
    if (o['ts'] !== undefined) n++;
  }
  return n;
}

async function core(batch: readonly KinesisLikeRecord[]): Promise<number> {
  const engine = new Engine({ pipeline, stream, store: new InMemoryStateStore(), clock, publish: async () => undefined });
  const report = await engine.processBatch(batch[0]!.shardId, batch);
  if (report.retryFrom !== null) throw new Error(`core failed: ${String(report.error)}`);
  return report.decoded;
}

/** Runs `fn` repeatedly for about `ms` after a warm-up; returns the best events/s of the runs. */
async function measure(fn: (b: readonly KinesisLikeRecord[]) => number | Promise<number>, ms: number): Promise<number> {
  for (let i = 0; i < 3; i++) await fn(records);
  let best = 0;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const t = performance.now();
    const n = await fn(records);
    const rate = n / ((performance.now() - t) / 1000);
    if (rate > best) best = rate;
  }
  return best;
}

async function main(): Promise<void> {
  const decodeEventsPerSec = await measure(decodeOnly, budgetMs / 2);
  const coreEventsPerSec = await measure(core, budgetMs / 2);
  const ratio = coreEventsPerSec / decodeEventsPerSec;
  const round = (x: number) => Math.round(x);
  if (!values.json) {
    console.log(`tidewatch core benchmark: ${N} records per batch, ${pipeline.rules.length} rules (${values.pipeline}), one core, Node ${process.version}`);
    console.log(`  decode only (base64 + JSON.parse)   ${round(decodeEventsPerSec).toLocaleString('en-US').padStart(12)} events/s`);
    console.log(`  full core                           ${round(coreEventsPerSec).toLocaleString('en-US').padStart(12)} events/s`);
    console.log(`  ratio                               ${ratio.toFixed(2).padStart(12)}`);
    console.log(`  targets: full core >= 250,000 events/s ${coreEventsPerSec >= 250_000 ? 'MET' : 'NOT MET'}; ratio >= 0.5 ${ratio >= 0.5 ? 'MET' : 'NOT MET'}`);
  }
  console.log(JSON.stringify({ coreEventsPerSec: round(coreEventsPerSec), decodeEventsPerSec: round(decodeEventsPerSec), ratio: Math.round(ratio * 1000) / 1000 }));
}

main().catch((err: unknown) => {
  console.error(`bench:core: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
