/**
 * `npm run bench`: the measures that matter (docs/BENCHMARKS.md), in one run.
 *
 *   1. core throughput vs the decode-only floor (bench/core.ts, bundled and run
 *      as the Lambda runs it: see bundled.ts);
 *   2. state cost: the real processor handler on dynalite (requests by
 *      command, writes and WRUs per event, the floor), beside a Powertools
 *      (BatchProcessor + Idempotency) peer and a naive per-event handler;
 *   3. redelivery: 10% of batches delivered twice;
 *   4. end-to-end latency through the local pipeline (kinesis-local → local
 *      event source mapping → processor → SNS emulator);
 *   5. a cost model in dollars per million events.
 *
 * Prints a table; with `--json`, one JSON object as the last line. Progress
 * goes to stderr. `--write-docs` also rewrites the results block of
 * docs/BENCHMARKS.md and the chart in bench/results/.
 */
import { measureClosing } from './closing';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { ITEM_PREFIX } from '../lambdas/adapters/dynamodb/tableLayout';
import { runBundled } from './bundled';
import { type CoreResult, DEFAULT_CORE_SECONDS, type VariantsResult } from './core';
import { costPerMillion, PRICE_NOTE, PRICES, type CostPerMillion } from './costModel';
import { TEN_PERCENT } from './drive';
import { startDynalite, type Dynalite } from './dynamo';
import { measureE2e, type E2eResult } from './e2e';
import { runNaive } from './peers/naive';
import { runPowertools } from './peers/powertools';
import { peerUpdates } from './peers/updates';
import { renderTable, writeDocs, type Results, type ScenarioSummary } from './report';
import { runTidewatch, type ScenarioResult } from './state';
import { runSweep } from './sweep';
import {
  batchesOf,
  compareTotals,
  buildStateWorkload,
  expectedTotals,
  floorOf,
  peerTotals,
  prefixOf,
  samplePipeline,
  sequencePipeline,
  STATE_WORKLOAD,
  type Batch,
  type Floor,
  type StateWorkload,
} from './workload';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    events: { type: 'string' },
    'variant-events': { type: 'string' },
    'peer-events': { type: 'string' },
    'peer-seconds': { type: 'string', default: '60' },
    'e2e-events': { type: 'string', default: '200' },
    'e2e-rate': { type: 'string', default: '5' },
    'skip-e2e': { type: 'boolean', default: false },
    /** Events of the batching sweep (batch size × batching window). */
    'sweep-events': { type: 'string', default: '10000' },
    'skip-sweep': { type: 'boolean', default: false },
    'skip-closing': { type: 'boolean', default: false },
    'core-seconds': { type: 'string', default: String(DEFAULT_CORE_SECONDS) },
    /** Seconds per run of the core variants (bench:core --variants --rounds 2: the sample, less its anomaly rule, 4 rules, 4 + one sequence rule); 0 skips them. */
    'core-variant-seconds': { type: 'string', default: '8' },
    'write-docs': { type: 'boolean', default: false },
    /** Re-render the table, docs/BENCHMARKS.md and the chart from a saved `--json` output, without measuring. */
    'docs-from': { type: 'string' },
  },
});

/** The processor's deployed defaults (lib/StreamProcessor.ts): 1024 MB, arm64. */
const LAMBDA_MEMORY_MB = 1024;
const PEER_REDELIVERY_BATCH = 100;
const started = performance.now();
const loadSamples: number[] = [];
const sampler = setInterval(() => loadSamples.push(os.loadavg()[0]!), 2000);
sampler.unref();

function progress(message: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${t}s] ${message} (load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
}

/** The three figures of bench/core.ts's `--json` line. */
type CoreLine = Pick<CoreResult, 'coreEventsPerSec' | 'decodeEventsPerSec' | 'ratio'>;

/** bench/core.ts run bundled, in a process of its own; its last output line is the JSON result. */
async function measureCoreBundled(seconds: number): Promise<CoreLine> {
  const out = await runBundled('bench/core.ts', ['--json', '--seconds', String(seconds)], false);
  const last = out.trimEnd().split('\n').pop() ?? '';
  const r = JSON.parse(last) as CoreLine;
  if (![r.coreEventsPerSec, r.decodeEventsPerSec, r.ratio].every((x) => typeof x === 'number' && x > 0)) {
    throw new Error(`bench/core.ts printed no result line (last line: ${last.slice(0, 200)})`);
  }
  return r;
}

/** What bench/core.ts --variants --json prints (core.ts variantsJson). */
export type CoreVariantsLine = Pick<VariantsResult, 'decodeEventsPerSec' | 'rounds' | 'anomalyCost' | 'sequenceCost'> & {
  readonly variants: ReadonlyArray<{ name: string; file: string; rules: number; coreEventsPerSec: number; ratio: number; ratios: number[] }>;
};

/** bench/core.ts --variants run bundled, in a process of its own: the cost of the anomaly rule and of one sequence rule. */
async function measureCoreVariantsBundled(seconds: number): Promise<CoreVariantsLine> {
  const out = await runBundled('bench/core.ts', ['--json', '--variants', '--seconds', String(seconds), '--rounds', '2'], false);
  const last = out.trimEnd().split('\n').pop() ?? '';
  const r = JSON.parse(last) as CoreVariantsLine;
  if (!Array.isArray(r.variants) || r.variants.length === 0 || !r.variants.every((v) => v.coreEventsPerSec > 0 && v.ratio > 0)) {
    throw new Error(`bench/core.ts --variants printed no result line (last line: ${last.slice(0, 200)})`);
  }
  return r;
}

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  progress(`${label} ...`);
  const t = performance.now();
  const out = await f();
  progress(`${label}: done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return out;
}

function eventsOfRounds(rounds: readonly Batch[][]) {
  return rounds.flat().flatMap((b) => b.events);
}

function perEvent(x: Record<string, number>, events: number): Record<string, number> {
  return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v / events]));
}

function summarize(r: ScenarioResult, floor: Floor | null, scale: string): ScenarioSummary {
  const c = r.counter;
  const firstInvocations = r.run.invocationMs.length;
  const wallSeconds = (r.run.wallMs - r.run.redeliveryMs) / 1000;
  return {
    name: r.name,
    correct: r.check.ok,
    scale,
    events: r.events,
    batchSize: r.batchSize,
    invocations: firstInvocations,
    recordsPerInvocation: r.events / firstInvocations,
    requestsPerEvent: c.requests / r.events,
    writesPerEvent: c.writes / r.events,
    readsPerEvent: c.reads / r.events,
    wruPerEvent: (c.wru + c.gsiWru) / r.events,
    tableWruPerEvent: c.wru / r.events,
    gsiWruPerEvent: c.gsiWru / r.events,
    rruPerEvent: c.rru / r.events,
    failedConditionsPerEvent: c.failedConditions / r.events,
    avgItemBytesWritten: Math.round(c.avgItemBytesWritten),
    floorWritesPerEvent: floor ? (floor.aggregates + floor.absence) / floor.records : null,
    paneFloorWritesPerEvent: floor ? (floor.paneAggregates + floor.absence) / floor.records : null,
    floor: floor
      ? {
          aggregatesPerEvent: floor.aggregates / floor.records,
          panesPerEvent: floor.paneAggregates / floor.records,
          absencePerEvent: floor.absence / floor.records,
          byRule: floor.byRule,
          paneByRule: floor.paneByRule,
          batches: floor.batches,
        }
      : null,
    eventsPerSec: r.check.ok ? r.events / wallSeconds : 'WRONG',
    wallSeconds,
    lambdaMsPerEvent: r.run.invocationMs.reduce((a, b) => a + b, 0) / r.events,
    publishes: r.publishes,
    batchItemFailures: r.run.failures,
    byCommand: { ...c.byCommand },
    byKind: { ...c.byKind },
    wruByKind: { ...c.wruByKind },
    writesByPurposePerEvent: perEvent(c.writesByPurpose, r.events),
    wruByPurposePerEvent: perEvent(c.wruByPurpose, r.events),
    avgItemBytesByKind: c.avgItemBytesByKind,
    check: { keys: r.check.keys, mismatches: r.check.mismatches, drift: r.check.drift, examples: r.check.examples },
    ...(r.engine ? { engine: r.engine } : {}),
    ...(r.closedAnomalyWindows !== undefined && r.pipelineHasAnomaly ? { anomaly: anomalyWrites(r) } : {}),
  };
}

/** The anomaly models' writes (M# items): one conditional write per (rule, group) per closed window, none per event. */
function anomalyWrites(r: ScenarioResult): { modelWritesPerEvent: number; modelWrites: number; closedWindows: number } {
  const modelWrites = Object.entries(r.counter.writesByKind).filter(([k]) => k.endsWith(`:${ITEM_PREFIX.model}`)).reduce((n, [, v]) => n + v, 0);
  return { modelWritesPerEvent: modelWrites / r.events, modelWrites, closedWindows: r.closedAnomalyWindows ?? 0 };
}

/** Delivery and request counts of the second deliveries, per event of the whole run. */
function redeliverySummary(r: ScenarioResult, baseline: ScenarioResult | null) {
  const extraDuring = r.run.redeliveryRequests;
  const redeliveredEvents = r.run.redeliveredRecords;
  const extraTotal = baseline ? r.counter.requests - baseline.counter.requests : extraDuring.requests;
  const extraWru = baseline ? r.counter.wru + r.counter.gsiWru - (baseline.counter.wru + baseline.counter.gsiWru) : extraDuring.wru;
  return {
    name: r.name,
    correct: r.check.ok,
    events: r.events,
    batchSize: r.batchSize,
    redeliveredBatches: r.run.redelivered,
    redeliveredEvents,
    extraRequests: extraTotal,
    extraRequestsPerEvent: extraTotal / r.events,
    extraRequestsPerRedeliveredEvent: redeliveredEvents > 0 ? extraTotal / redeliveredEvents : 0,
    extraWruPerEvent: extraWru / r.events,
    requestsDuringRedelivery: extraDuring,
    drift: r.check.drift,
    mismatches: r.check.mismatches,
    expectedSum: r.check.expectedSum,
  };
}

function costInputs(s: ScenarioSummary, w: StateWorkload, publishesPerEvent: number) {
  return {
    wruPerEvent: s.wruPerEvent,
    rruPerEvent: s.rruPerEvent,
    invocationsPerEvent: 1 / s.recordsPerInvocation,
    lambdaMsPerEvent: s.lambdaMsPerEvent,
    memoryMb: LAMBDA_MEMORY_MB,
    publishesPerEvent,
    shards: w.options.shards,
    eventsPerSec: w.options.ratePerSec,
    putUnitsPerEvent: 1,
  };
}

async function main(): Promise<void> {
  if (args['docs-from'] !== undefined) {
    const lines = readFileSync(args['docs-from'], 'utf8').trim().split('\n');
    const results = JSON.parse(lines[lines.length - 1]!) as Results;
    process.stdout.write(renderTable(results));
    progress(`wrote ${writeDocs(results).join(', ')} from ${args['docs-from']}`);
    return;
  }
  const quick = args.quick === true;
  const fullEvents = Number(args.events ?? (quick ? 20_000 : STATE_WORKLOAD.events));
  // 10,000 events make 11 batches of 1,000 over 2 shards: the smallest prefix where "10% of batches" is a whole batch.
  const variantEvents = Number(args['variant-events'] ?? 10_000);
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAtStart: os.loadavg(),
  };
  progress(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`);
  if (machine.loadAtStart[0]! > machine.cores * 0.75) {
    progress(`WARNING: load average ${machine.loadAtStart[0]!.toFixed(2)} on ${machine.cores} cores: other work is running, measurements are noisy`);
  }
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';

  // 1. Core throughput.
  const core = await timed('core throughput (10,000-record batch, bundled)', () => measureCoreBundled(Number(args['core-seconds'])));
  const variantSeconds = Number(args['core-variant-seconds']);
  const coreVariants = variantSeconds > 0 ? await timed('core throughput of the rule variants (bench:core --variants, bundled)', () => measureCoreVariantsBundled(variantSeconds)) : undefined;

  const dynalite: Dynalite = await startDynalite();
  try {
    const full = buildStateWorkload({ ...STATE_WORKLOAD, events: fullEvents });
    const variant = prefixOf(full, variantEvents);
    const withDedupe = samplePipeline(true);
    const noDedupe = samplePipeline(false);
    const expectedOf = (rounds: readonly Batch[][]) => expectedTotals(eventsOfRounds(rounds));
    const workloadNote = `${full.events.toLocaleString('en-US')} events at ${full.options.ratePerSec}/s of event time, ${full.options.groups} groups, ${full.options.shards} shards (partition key: host)`;
    progress(`workload: ${workloadNote}`);

    // 2. tidewatch, the REAL processor handler on dynalite.
    const tw = async (name: string, pipeline: typeof withDedupe, w: StateWorkload, batchSize: number, extra: { redeliver?: (b: Batch) => boolean; cold?: boolean } = {}) => {
      const rounds = batchesOf(w, batchSize);
      const r = await timed(`tidewatch ${name}: ${w.events.toLocaleString('en-US')} events, batch ${batchSize}`, () =>
        runTidewatch({ name, dynalite, pipeline, rounds, batchSize, expected: expectedOf(rounds), ...extra }),
      );
      return { r, floor: floorOf(pipeline, rounds) };
    };
    // Warm-up (JIT of the engine, the SDK, dynalite): a small run, not reported.
    await timed('warm-up (not reported)', () => runTidewatch({ name: 'warm-up', dynalite, pipeline: withDedupe, rounds: batchesOf(prefixOf(full, 10_000), 2_000), batchSize: 2_000, expected: new Map() }));
    const fullScale = `full workload (${full.events.toLocaleString('en-US')} events)`;
    const variantScale = `prefix of ${variant.events.toLocaleString('en-US')} events`;
    const t10 = await tw('batch 10000, dedupe on', withDedupe, full, 10_000);
    const t1 = await tw('batch 1000, dedupe on', withDedupe, full, 1_000);
    const t10off = await tw('batch 10000, dedupe off', noDedupe, full, 10_000);
    const t1v = await tw('batch 1000, dedupe on (prefix)', withDedupe, variant, 1_000);
    const t1voff = await tw('batch 1000, dedupe off (prefix)', noDedupe, variant, 1_000);
    // One sequence rule alone (no window rule): its writes per event (no aggregate totals to check).
    const seqPipeline = sequencePipeline();
    const seqRounds = batchesOf(variant, 1_000);
    const tSeq = {
      r: await timed(`tidewatch one sequence rule: ${variant.events.toLocaleString('en-US')} events, batch 1000`, () =>
        runTidewatch({ name: 'sequence rule only', dynalite, pipeline: seqPipeline, rounds: seqRounds, batchSize: 1_000, expected: new Map() }),
      ),
      floor: floorOf(seqPipeline, seqRounds),
    };

    // 3. Redelivery (tidewatch): 10% of batches twice, to the warm container and to a new one.
    const rWarm = await tw('redelivery warm', withDedupe, variant, 1_000, { redeliver: TEN_PERCENT });
    const rCold = await tw('redelivery cold', withDedupe, variant, 1_000, { redeliver: TEN_PERCENT, cold: true });

    // Peers: their requests per event are fixed per record, so a prefix gives exact per-event figures.
    const peerRequestsPerEvent = (w: StateWorkload) =>
      w.shards.flatMap((s) => s.events).reduce((n, e) => n + peerUpdates(e.payload).length + 2, 0) / w.events;
    const measuredRate = (t10.r.counter.requests + t1.r.counter.requests) / ((t10.r.run.wallMs + t1.r.run.wallMs) / 1000);
    const fullPeerSeconds = (full.events * peerRequestsPerEvent(full)) / measuredRate;
    const peerEvents = Number(
      args['peer-events'] ?? Math.max(500, Math.min(20_000, Math.floor((Number(args['peer-seconds']) * measuredRate) / peerRequestsPerEvent(full) / 2 / 500) * 500)),
    );
    const peerW = prefixOf(full, peerEvents);
    const peerScale = `prefix of ${peerW.events.toLocaleString('en-US')} events (a full-size run would take ~${Math.round(fullPeerSeconds / 60)} min at the ${Math.round(measuredRate)} requests/s dynalite sustains here)`;
    progress(`peers: ${peerScale}`);
    const peerRun = async (batchSize: number) => {
      const rounds = batchesOf(peerW, batchSize);
      const expected = peerTotals(expectedOf(rounds));
      const powertools = await timed(`peer powertools, batch ${batchSize}`, () => runPowertools({ name: `powertools batch ${batchSize}`, dynalite, rounds, batchSize, expected }));
      const naive = await timed(`peer naive, batch ${batchSize}`, () => runNaive({ name: `naive batch ${batchSize}`, dynalite, rounds, batchSize, expected }));
      return { powertools, naive, rounds };
    };
    const p10 = await peerRun(10_000);
    // With a prefix that fits one batch per shard at both sizes, the two runs would be the same run.
    const sameBatches = (a: Batch[][], b: Batch[][]) => a.flat().map((x) => x.records.length).join() === b.flat().map((x) => x.records.length).join();
    const reused = sameBatches(p10.rounds, batchesOf(peerW, 1_000));
    const p1 = reused ? p10 : await peerRun(1_000);
    const peerNote = reused ? `; at this prefix batch sizes 1,000 and 10,000 give the same batches (one per shard), so one run serves both` : '';

    // Peers under redelivery: batches of 100 so that 10% of batches is a whole number of batches.
    const peerRedelivery = async () => {
      const rounds = batchesOf(peerW, PEER_REDELIVERY_BATCH);
      const expected = peerTotals(expectedOf(rounds));
      const dup = rounds.flat().filter(TEN_PERCENT);
      const powertools = await timed('peer powertools under redelivery', () =>
        runPowertools({ name: 'powertools redelivery', dynalite, rounds, batchSize: PEER_REDELIVERY_BATCH, expected, redeliver: TEN_PERCENT }),
      );
      const naive = await timed('peer naive under redelivery', () => runNaive({ name: 'naive redelivery', dynalite, rounds, batchSize: PEER_REDELIVERY_BATCH, expected, redeliver: TEN_PERCENT }));
      // The naive totals equal the expected totals of the events with the redelivered ones counted twice.
      const twice = peerTotals(expectedTotals([...eventsOfRounds(rounds), ...dup.flatMap((b) => b.events)]));
      const naiveMatchesTwice = compareTotals(twice, naive.stored).ok;
      return { powertools, naive, naiveMatchesTwice };
    };
    const pr = await peerRedelivery();

    // 3b. The batching sweep: batch size × batching window (bench/sweep.ts).
    const sweep = args['skip-sweep']
      ? null
      : await runSweep({ dynalite, pipeline: withDedupe, workload: prefixOf(full, Number(args['sweep-events'])), lambdaMemoryMb: LAMBDA_MEMORY_MB, timed });

    // 3c. The cost of closing windows (bench/closing.ts): requests per closed window.
    const closing = args['skip-closing'] ? null : await timed('window closing cost (dense, sparse, at rest)', () => measureClosing(dynalite.endpoint));

    // 4. End-to-end latency.
    const e2e: E2eResult = args['skip-e2e']
      ? { measured: false, reason: 'skipped (--skip-e2e)' }
      : await timed('end-to-end latency (local pipeline)', () => measureE2e({ dynalite, events: Number(args['e2e-events']), ratePerSec: Number(args['e2e-rate']) }));

    // 5. Cost model.
    const s10 = summarize(t10.r, t10.floor, fullScale);
    const s1 = summarize(t1.r, t1.floor, fullScale);
    const pt10 = summarize(p10.powertools, null, peerScale);
    // A reused run is reported under batch 1,000 with that batch size (its batches are the same).
    const as1000 = (x: ScenarioSummary): ScenarioSummary => (reused ? { ...x, batchSize: 1_000, scale: `${x.scale}; the same run as batch 10,000` } : x);
    const pt1 = as1000(summarize(p1.powertools, null, peerScale));
    const publishesPerEvent = (s: ScenarioSummary) => s.publishes / s.events;
    const cost: Record<string, CostPerMillion> = {
      tidewatch: costPerMillion(costInputs(s10, full, publishesPerEvent(s10))),
      powertools: costPerMillion(costInputs({ ...pt10, recordsPerInvocation: s10.recordsPerInvocation }, full, 0)),
      tidewatchBatch1000: costPerMillion(costInputs(s1, full, publishesPerEvent(s1))),
      powertoolsBatch1000: costPerMillion(costInputs({ ...pt1, recordsPerInvocation: s1.recordsPerInvocation }, full, 0)),
    };

    const loads = [...loadSamples, os.loadavg()[0]!];
    const results: Results = {
      machine: {
        ...machine,
        loadAtEnd: os.loadavg(),
        load1mDuringRun: { mean: loads.reduce((a, b) => a + b, 0) / loads.length, max: Math.max(...loads) },
      },
      wallSeconds: (performance.now() - started) / 1000,
      workload: {
        description: workloadNote,
        pipeline: 'pipelines/sample.yaml (dedupe on: the stream declares id: eventId) and a copy with dedupe: off',
        ...full.options,
        events: full.events,
        variantEvents: variant.events,
        peerEvents: peerW.events,
      },
      core: { eventsPerSec: core.coreEventsPerSec, decodeEventsPerSec: core.decodeEventsPerSec, ratio: core.ratio, ...(coreVariants ? { variants: coreVariants } : {}) },
      state: {
        ...s10,
        dedupeOff: summarize(t10off.r, t10off.floor, fullScale),
      },
      peer: { powertools: pt10, naive: summarize(p10.naive, null, peerScale), note: `Powertools peer and naive handler: ${peerScale}${peerNote}` },
      batch1000: {
        state: {
          ...s1,
          dedupeOnPrefix: summarize(t1v.r, t1v.floor, variantScale),
          dedupeOffPrefix: summarize(t1voff.r, t1voff.floor, variantScale),
          sequenceOnlyPrefix: summarize(tSeq.r, tSeq.floor, `${variantScale}; pipeline: the sample stream with one sequence rule (ErrorThenSlow, bench/workload.ts) and no other rule`),
        },
        peer: { powertools: pt1, naive: as1000(summarize(p1.naive, null, peerScale)) },
      },
      redelivery: {
        extraRequestsPerEvent: redeliverySummary(rCold.r, t1v.r).extraRequestsPerEvent,
        note: `10% of batches (every tenth in delivery order) delivered twice, right after the first delivery. tidewatch: ${variantScale}, batch 1000, warm (same container) and cold (a new container takes over the shard, as after a crash; its extra cost is measured against the same run without redelivery). Peers: ${peerW.events.toLocaleString('en-US')}-event prefix in batches of ${PEER_REDELIVERY_BATCH}.`,
        tidewatch: { warm: redeliverySummary(rWarm.r, t1v.r), cold: redeliverySummary(rCold.r, t1v.r) },
        powertools: redeliverySummary(pr.powertools, null),
        naive: { ...redeliverySummary(pr.naive, null), overCountIsExactlyTheRedeliveredRecords: pr.naiveMatchesTwice },
      },
      e2e: e2e.measured ? { p50Ms: e2e.total.p50, p95Ms: e2e.total.p95, p99Ms: e2e.total.p99, ...e2e } : e2e,
      sweep,
      closing,
      cost: { prices: PRICES, note: PRICE_NOTE, lambdaMemoryMb: LAMBDA_MEMORY_MB, perMillionEvents: cost },
    };
    process.stdout.write(renderTable(results));
    if (args['write-docs']) {
      const written = writeDocs(results);
      progress(`wrote ${written.join(', ')}`);
    }
    // Whole numbers from 1,000 up, four significant digits below: plenty for every figure here.
    if (args.json) console.log(JSON.stringify(results, (_k, v: unknown) => (typeof v !== 'number' || Number.isInteger(v) ? v : Math.abs(v) >= 1000 ? Math.round(v) : Number(v.toPrecision(4)))));
  } finally {
    await dynalite.stop();
    clearInterval(sampler);
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
