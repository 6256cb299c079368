/**
 * `npm run bench:core`: throughput of the pure core on one core.
 *
 * A 10,000-record Kinesis-shaped batch of demo telemetry (the sample pipeline's
 * rules) goes through the whole core — decode, validate, window, aggregate,
 * evaluate, alert lifecycle, with the in-memory state store — and, for the
 * floor, through decode alone (base64 + JSON.parse). Prints events/s of both
 * and their ratio; `--json` prints one JSON object as the last line.
 *
 * Then the same events KPL-aggregated (aws-kinesis-agg, 100 per record), as a
 * KPL producer, Fluent Bit or the Kinesis Agent writes them: the core against
 * its own floor (base64, de-aggregation with the MD5 check, JSON.parse of
 * each user record), for `--kpl-seconds` (default half of `--seconds`; 0 skips it).
 * The workload and the measurement live in workload.ts (`npm run bench` reuses them).
 *
 * `--variants [--rounds R]`: the sample and copies of it less some rules
 * (bench/pipelines/), each as above in a process of its own, in turn, R
 * rounds (default 3), with the cost of the anomaly rule and of one sequence
 * rule (issues 16, 17, 21). `--seconds` is then per variant and round.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { loadPipeline } from '../lambdas/core/pipeline';
import { buildCoreBatch, buildKplBatch, coreRunner, decodeOnly, KPL_EVENTS_PER_RECORD, kplDecodeOnly, measureInterleaved, type PassRates } from './workload';

/** Seconds bench:core alternates the floor and the core by default (`npm run bench` uses it too). */
export const DEFAULT_CORE_SECONDS = 10;

export interface CoreResult {
  readonly coreEventsPerSec: number;
  readonly decodeEventsPerSec: number;
  readonly ratio: number;
  /** Rules of the pipeline measured. */
  readonly rules: number;
  /** Every pass of each: best, median, number of passes. */
  readonly decodePasses: PassRates;
  readonly corePasses: PassRates;
}

/** The decode-only floor and the full core, pass after pass (alternating) for `budgetMs`: the best pass of each. */
export async function measureCore(records: number, budgetMs: number, pipelineFile?: string): Promise<CoreResult> {
  const bench = buildCoreBatch(records, pipelineFile);
  const [decodePasses, corePasses] = await measureInterleaved([decodeOnly, coreRunner(bench)], bench.records, budgetMs);
  const coreEventsPerSec = corePasses!.best;
  const decodeEventsPerSec = decodePasses!.best;
  return { coreEventsPerSec, decodeEventsPerSec, ratio: coreEventsPerSec / decodeEventsPerSec, rules: bench.pipeline.rules.length, decodePasses: decodePasses!, corePasses: corePasses! };
}

/**
 * The variants `--variants` measures: the sample, and the sample less some of
 * its rules (bench/pipelines/), so that the cost of one rule kind is the
 * difference between two of them, measured in the same passes.
 */
export const CORE_VARIANTS: ReadonlyArray<{ readonly name: string; readonly file: string; readonly label: string }> = [
  { name: 'sample', file: 'pipelines/sample.yaml', label: 'the sample (all rules)' },
  { name: 'sampleNoAnomaly', file: 'bench/pipelines/sample-no-anomaly.yaml', label: 'the sample less its anomaly rule (ErrorSpike)' },
  { name: 'base4', file: 'bench/pipelines/sample-base.yaml', label: '4 rules (HighErrorRate, SlowResponses, SessionBurst, HeartbeatMissing)' },
  { name: 'base4Seq1', file: 'bench/pipelines/sample-base-1seq.yaml', label: 'the 4 rules + one sequence rule (DeployThenErrors)' },
];

export interface VariantResult {
  readonly name: string;
  readonly file: string;
  readonly rules: number;
  /** The best core pass over the rounds. */
  readonly coreEventsPerSec: number;
  /** The best round's ratio (best core pass over best decode pass, both of that process). */
  readonly ratio: number;
  /** Every round's ratio, in order. */
  readonly ratios: number[];
}

export interface VariantsResult {
  /** The best decode pass over every run. */
  readonly decodeEventsPerSec: number;
  readonly rounds: number;
  readonly variants: VariantResult[];
  /** Throughput lost to the anomaly rule: 1 - ratio(sample) / ratio(sampleNoAnomaly) (issue 16: at most 0.05). */
  readonly anomalyCost: number;
  /** Throughput lost to one sequence rule: 1 - ratio(base4Seq1) / ratio(base4). */
  readonly sequenceCost: number;
}

/**
 * Each variant measured as bench:core measures one pipeline (floor and core
 * alternating, in a process of its own: rules of other pipelines in the same
 * process would make the core's call sites polymorphic and slow it, measured
 * about 20 % on the 4-rule variant), the variants in turn, `rounds` times.
 * A variant's figure is its best round's ratio to its own floor, so the
 * machine's speed at the time cancels out; the costs compare those ratios.
 */
export function measureVariants(records: number, secondsPerRun: number, rounds: number): VariantsResult {
  const runs = CORE_VARIANTS.map(() => [] as Array<{ core: number; decode: number; ratio: number }>);
  for (let round = 0; round < rounds; round++) {
    CORE_VARIANTS.forEach((v, i) => {
      const args = [...process.execArgv, process.argv[1]!, '--json', '--pipeline', v.file, '--seconds', String(secondsPerRun), '--kpl-seconds', '0', '--records', String(records)];
      const child = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      if (child.status !== 0) throw new Error(`the ${v.name} variant (${v.file}) exited with ${child.signal ?? `code ${String(child.status)}`}`);
      const r = JSON.parse(child.stdout.trimEnd().split('\n').pop()!) as { coreEventsPerSec: number; decodeEventsPerSec: number; ratio: number };
      runs[i]!.push({ core: r.coreEventsPerSec, decode: r.decodeEventsPerSec, ratio: r.coreEventsPerSec / r.decodeEventsPerSec });
    });
  }
  const variants = CORE_VARIANTS.map((v, i) => ({
    name: v.name,
    file: v.file,
    rules: loadPipeline(v.file).rules.length,
    coreEventsPerSec: Math.max(...runs[i]!.map((r) => r.core)),
    ratio: Math.max(...runs[i]!.map((r) => r.ratio)),
    ratios: runs[i]!.map((r) => r.ratio),
  }));
  const ratio = (name: string) => variants.find((v) => v.name === name)!.ratio;
  return {
    decodeEventsPerSec: Math.max(...runs.flat().map((r) => r.decode)),
    rounds,
    variants,
    anomalyCost: 1 - ratio('sample') / ratio('sampleNoAnomaly'),
    sequenceCost: 1 - ratio('base4Seq1') / ratio('base4'),
  };
}

/** The one-line JSON form of a variants run (bench/run.ts reads it). */
export function variantsJson(r: VariantsResult): Record<string, unknown> {
  const milli = (x: number) => Math.round(x * 1000) / 1000;
  return {
    decodeEventsPerSec: Math.round(r.decodeEventsPerSec),
    rounds: r.rounds,
    variants: r.variants.map((v) => ({ name: v.name, file: v.file, rules: v.rules, coreEventsPerSec: Math.round(v.coreEventsPerSec), ratio: milli(v.ratio), ratios: v.ratios.map(milli) })),
    anomalyCost: milli(r.anomalyCost),
    sequenceCost: milli(r.sequenceCost),
  };
}

function printVariants(r: VariantsResult, records: number, seconds: number): void {
  const num = (x: number) => Math.round(x).toLocaleString('en-US').padStart(10);
  console.log(`tidewatch core benchmark, variants: ${records} records per batch, one core, Node ${process.version}`);
  console.log(`  each variant in a process of its own (${seconds} s, floor and core alternating), the variants in turn, ${r.rounds} rounds; best round`);
  for (const v of r.variants) {
    const label = CORE_VARIANTS.find((c) => c.name === v.name)!.label;
    console.log(`  ${`${v.name} (${v.rules} rules)`.padEnd(27)} ${num(v.coreEventsPerSec)} events/s  ratio ${v.ratio.toFixed(3)} (rounds ${v.ratios.map((x) => x.toFixed(3)).join(' ')})  ${label}`);
  }
  console.log(`  best decode pass (base64 + JSON.parse) ${Math.round(r.decodeEventsPerSec).toLocaleString('en-US')} events/s`);
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const ratioOf = (name: string) => r.variants.find((v) => v.name === name)!.ratio;
  console.log(`  the anomaly rule costs ${pct(r.anomalyCost)} of the ratio (issue 16: <= 5 %) ${r.anomalyCost <= 0.05 ? 'MET' : 'NOT MET'}`);
  console.log(`  one sequence rule costs ${pct(r.sequenceCost)}; 4 rules + 1 sequence rule ratio ${ratioOf('base4Seq1').toFixed(3)} (issue 17: >= 0.5) ${ratioOf('base4Seq1') >= 0.5 ? 'MET' : 'NOT MET'}`);
  console.log(`  the sample's ratio ${ratioOf('sample').toFixed(3)} (issue 21: >= 0.6) ${ratioOf('sample') >= 0.6 ? 'MET' : 'NOT MET'}`);
}

export interface KplResult {
  readonly kplEventsPerSec: number;
  readonly kplDecodeEventsPerSec: number;
  readonly kplRatio: number;
  readonly kplRecords: number;
  readonly decodePasses: PassRates;
  readonly corePasses: PassRates;
}

/** The same events KPL-aggregated: the core and its floor (de-aggregate + JSON.parse), alternating for `budgetMs`. */
export async function measureKpl(records: number, budgetMs: number, pipelineFile?: string): Promise<KplResult> {
  const bench = buildCoreBatch(records, pipelineFile);
  const kpl = await buildKplBatch(bench);
  const run = coreRunner(bench);
  const [decodePasses, corePasses] = await measureInterleaved([kplDecodeOnly, run], kpl, budgetMs);
  if (decodePasses!.passes === 0) throw new Error('no KPL pass ran');
  return {
    kplEventsPerSec: corePasses!.best,
    kplDecodeEventsPerSec: decodePasses!.best,
    kplRatio: corePasses!.best / decodePasses!.best,
    kplRecords: kpl.length,
    decodePasses: decodePasses!,
    corePasses: corePasses!,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      records: { type: 'string', default: '10000' },
      seconds: { type: 'string', default: String(DEFAULT_CORE_SECONDS) },
      pipeline: { type: 'string', default: 'pipelines/sample.yaml' },
      'kpl-seconds': { type: 'string' },
      variants: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '3' },
    },
  });
  const N = Number(values.records);
  if (!Number.isInteger(N) || N < 1) throw new Error(`--records must be a whole number of records per batch, 1 or more, got "${values.records}"`);
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number of seconds, got "${values.seconds}"`);
  const kplSeconds = values['kpl-seconds'] === undefined ? seconds / 2 : Number(values['kpl-seconds']);
  if (!(kplSeconds >= 0)) throw new Error(`--kpl-seconds must be 0 (skip) or a positive number of seconds, got "${values['kpl-seconds']}"`);
  if (values.variants) {
    // The variants' own run (the pipeline and KPL options do not apply): the cost of the anomaly and sequence rules.
    const rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a whole number, 1 or more, got "${values.rounds}"`);
    const r = measureVariants(N, seconds, rounds);
    if (!values.json) printVariants(r, N, seconds);
    console.log(JSON.stringify(variantsJson(r)));
    return;
  }
  const { coreEventsPerSec, decodeEventsPerSec, ratio, rules, decodePasses, corePasses } = await measureCore(N, seconds * 1000, values.pipeline!);
  const kpl = kplSeconds > 0 ? await measureKpl(N, kplSeconds * 1000, values.pipeline!) : undefined;
  const round = (x: number) => Math.round(x);
  if (!values.json) {
    const num = (x: number) => round(x).toLocaleString('en-US').padStart(12);
    console.log(`tidewatch core benchmark: ${N} records per batch, ${rules} rules (${values.pipeline}), one core, Node ${process.version}`);
    console.log(`  ${seconds} s of passes, floor and core alternating (${decodePasses.passes} passes each); best pass (median pass)`);
    console.log(`  decode only (base64 + JSON.parse)   ${num(decodeEventsPerSec)} events/s (${round(decodePasses.median).toLocaleString('en-US')})`);
    console.log(`  full core                           ${num(coreEventsPerSec)} events/s (${round(corePasses.median).toLocaleString('en-US')})`);
    console.log(`  ratio                               ${ratio.toFixed(2).padStart(12)}`);
    console.log(`  targets: full core >= 250,000 events/s ${coreEventsPerSec >= 250_000 ? 'MET' : 'NOT MET'}; ratio >= 0.5 ${ratio >= 0.5 ? 'MET' : 'NOT MET'}`);
    if (kpl !== undefined) {
      console.log(`  the same events KPL-aggregated (${KPL_EVENTS_PER_RECORD} per record, ${kpl.kplRecords} records; ${kplSeconds} s, ${kpl.decodePasses.passes} passes each)`);
      console.log(`  de-aggregate + JSON.parse            ${num(kpl.kplDecodeEventsPerSec)} events/s (${round(kpl.decodePasses.median).toLocaleString('en-US')})`);
      console.log(`  full core                           ${num(kpl.kplEventsPerSec)} events/s (${round(kpl.corePasses.median).toLocaleString('en-US')})`);
      console.log(`  ratio                               ${kpl.kplRatio.toFixed(2).padStart(12)}`);
    }
  }
  const milli = (x: number) => Math.round(x * 1000) / 1000;
  console.log(
    JSON.stringify({
      coreEventsPerSec: round(coreEventsPerSec),
      decodeEventsPerSec: round(decodeEventsPerSec),
      ratio: milli(ratio),
      ...(kpl !== undefined ? { kplEventsPerSec: round(kpl.kplEventsPerSec), kplDecodeEventsPerSec: round(kpl.kplDecodeEventsPerSec), kplRatio: milli(kpl.kplRatio) } : {}),
    }),
  );
}

// Run only as a script (`tsx bench/core.ts`), not when imported by run.ts.
if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`bench:core: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
