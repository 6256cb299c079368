/**
 * `npm run bench:core`: throughput of the pure core on one core.
 *
 * A 10,000-record Kinesis-shaped batch of demo telemetry (the sample pipeline's
 * rules) goes through the whole core — decode, validate, window, aggregate,
 * evaluate, alert lifecycle, with the in-memory state store — and, for the
 * floor, through decode alone (base64 + JSON.parse). Prints events/s of both
 * and their ratio; `--json` prints one JSON object as the last line.
 * The workload and the measurement live in workload.ts (`npm run bench` reuses them).
 */
import { parseArgs } from 'node:util';
import { buildCoreBatch, coreRunner, decodeOnly, measureBestInterleaved } from './workload';

export interface CoreResult {
  readonly coreEventsPerSec: number;
  readonly decodeEventsPerSec: number;
  readonly ratio: number;
  /** Rules of the pipeline measured. */
  readonly rules: number;
}

/** The decode-only floor and the full core, pass after pass (alternating) for `budgetMs`: the best pass of each. */
export async function measureCore(records: number, budgetMs: number, pipelineFile?: string): Promise<CoreResult> {
  const bench = buildCoreBatch(records, pipelineFile);
  const [decodeEventsPerSec, coreEventsPerSec] = await measureBestInterleaved([decodeOnly, coreRunner(bench)], bench.records, budgetMs);
  return { coreEventsPerSec, decodeEventsPerSec, ratio: coreEventsPerSec / decodeEventsPerSec, rules: bench.pipeline.rules.length };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      records: { type: 'string', default: '10000' },
      seconds: { type: 'string', default: '4' },
      pipeline: { type: 'string', default: 'pipelines/sample.yaml' },
    },
  });
  const N = Number(values.records);
  const { coreEventsPerSec, decodeEventsPerSec, ratio, rules } = await measureCore(N, Number(values.seconds) * 1000, values.pipeline!);
  const round = (x: number) => Math.round(x);
  if (!values.json) {
    console.log(`tidewatch core benchmark: ${N} records per batch, ${rules} rules (${values.pipeline}), one core, Node ${process.version}`);
    console.log(`  decode only (base64 + JSON.parse)   ${round(decodeEventsPerSec).toLocaleString('en-US').padStart(12)} events/s`);
    console.log(`  full core                           ${round(coreEventsPerSec).toLocaleString('en-US').padStart(12)} events/s`);
    console.log(`  ratio                               ${ratio.toFixed(2).padStart(12)}`);
    console.log(`  targets: full core >= 250,000 events/s ${coreEventsPerSec >= 250_000 ? 'MET' : 'NOT MET'}; ratio >= 0.5 ${ratio >= 0.5 ? 'MET' : 'NOT MET'}`);
  }
  console.log(JSON.stringify({ coreEventsPerSec: round(coreEventsPerSec), decodeEventsPerSec: round(decodeEventsPerSec), ratio: Math.round(ratio * 1000) / 1000 }));
}

// Run only as a script (`tsx bench/core.ts`), not when imported by run.ts.
if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`bench:core: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
