/**
 * Presentation of `npm run bench`'s results: the console table, the results
 * block of docs/BENCHMARKS.md and a small SVG chart (bench/results/).
 */
import { formatClosing, type ClosingRow } from './closing';
import type { SweepCell, SweepResult } from './sweep';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { CostPerMillion } from './costModel';
import type { E2eResult, Percentiles } from './e2e';

export interface ScenarioSummary {
  readonly name: string;
  readonly correct: boolean;
  readonly scale: string;
  readonly events: number;
  readonly batchSize: number;
  readonly invocations: number;
  readonly recordsPerInvocation: number;
  readonly requestsPerEvent: number;
  readonly writesPerEvent: number;
  readonly readsPerEvent: number;
  /** Table WRUs (from dynalite's consumed capacity) plus estimated index WRUs. */
  readonly wruPerEvent: number;
  readonly tableWruPerEvent: number;
  readonly gsiWruPerEvent: number;
  readonly rruPerEvent: number;
  readonly failedConditionsPerEvent: number;
  readonly avgItemBytesWritten: number;
  /** The per-window floor: one write per (rule, group, window) touched per batch, plus absence states. */
  readonly floorWritesPerEvent: number | null;
  /** The per-pane floor: one write per (rule, group, pane) of a hopping rule touched per batch instead (absent in results saved before panes). */
  readonly paneFloorWritesPerEvent?: number | null;
  readonly floor: { aggregatesPerEvent: number; panesPerEvent?: number; absencePerEvent: number; byRule: Record<string, number>; paneByRule?: Record<string, number>; batches: number } | null;
  /** 'WRONG' when the stored totals differ from the expected ones. */
  readonly eventsPerSec: number | 'WRONG';
  readonly wallSeconds: number;
  readonly lambdaMsPerEvent: number;
  readonly publishes: number;
  readonly batchItemFailures: number;
  readonly byCommand: Record<string, number>;
  readonly byKind: Record<string, number>;
  /** Anomaly model writes (item kind M#) per event, and per (anomaly rule, group) window closed; absent in results saved before they were counted. */
  readonly anomaly?: { readonly modelWritesPerEvent: number; readonly modelWrites: number; readonly closedWindows: number };
  /** WRUs by item kind (`state:index`: the estimated index writes). */
  readonly wruByKind: Record<string, number>;
  /** Writes and WRUs per event by what they are for (aggregates, window closing, alert state, progress, watermark, dedupe; WRUs also index). */
  readonly writesByPurposePerEvent?: Record<string, number>;
  readonly wruByPurposePerEvent?: Record<string, number>;
  readonly avgItemBytesByKind: Record<string, number>;
  readonly check: { keys: number; mismatches: number; drift: Record<string, number>; examples: string[] };
  /** tidewatch: the engine's batch reports, summed. */
  readonly engine?: { late: number; duplicates: number; rejected: number; conflicts: number; retries: number; errors: string[] };
}

export interface RedeliverySummary {
  readonly name: string;
  readonly correct: boolean;
  readonly events: number;
  readonly batchSize: number;
  readonly redeliveredBatches: number;
  readonly redeliveredEvents: number;
  readonly extraRequests: number;
  readonly extraRequestsPerEvent: number;
  readonly extraRequestsPerRedeliveredEvent: number;
  readonly extraWruPerEvent: number;
  readonly drift: Record<string, number>;
  readonly mismatches: number;
  readonly expectedSum: Record<string, number>;
  readonly overCountIsExactlyTheRedeliveredRecords?: boolean;
}

export interface Results {
  readonly machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    node: string;
    platform: string;
    loadAtStart: number[];
    loadAtEnd: number[];
    load1mDuringRun: { mean: number; max: number };
  };
  readonly wallSeconds: number;
  readonly workload: Record<string, unknown> & { description: string; events: number; variantEvents: number; peerEvents: number; shards: number };
  readonly core: {
    eventsPerSec: number;
    decodeEventsPerSec: number;
    ratio: number;
    /** bench:core --variants, in a run of its own (absent in results saved before it, or with --core-variant-seconds 0). */
    variants?: {
      decodeEventsPerSec: number;
      rounds: number;
      variants: ReadonlyArray<{ name: string; file: string; rules: number; coreEventsPerSec: number; ratio: number; ratios: number[] }>;
      anomalyCost: number;
      sequenceCost: number;
    };
  };
  readonly state: ScenarioSummary & { dedupeOff: ScenarioSummary };
  readonly peer: { powertools: ScenarioSummary; naive: ScenarioSummary; note: string };
  readonly batch1000: {
    state: ScenarioSummary & { dedupeOnPrefix: ScenarioSummary; dedupeOffPrefix: ScenarioSummary; sequenceOnlyPrefix?: ScenarioSummary };
    peer: { powertools: ScenarioSummary; naive: ScenarioSummary };
  };
  readonly redelivery: {
    extraRequestsPerEvent: number;
    note: string;
    tidewatch: { warm: RedeliverySummary; cold: RedeliverySummary };
    powertools: RedeliverySummary;
    naive: RedeliverySummary;
  };
  readonly e2e: E2eResult & { p50Ms?: number; p95Ms?: number; p99Ms?: number };
  /** The batching sweep (bench/sweep.ts); null with --skip-sweep. */
  readonly sweep?: SweepResult | null;
  /** DynamoDB requests per closed window (bench/closing.ts); null with --skip-closing. */
  readonly closing?: readonly ClosingRow[] | null;
  readonly cost: { prices: unknown; note: string; lambdaMemoryMb: number; perMillionEvents: Record<string, CostPerMillion> };
}

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
const f3 = (x: number) => x.toFixed(3);
/** A fraction as a percentage with one decimal (negative: the variant measured faster, within the noise). */
const pct1 = (x: number): string => `${(x * 100).toFixed(1)} %`;
const f2 = (x: number) => x.toFixed(2);
const money = (x: number) => `$${x < 0.01 ? x.toFixed(4) : x.toFixed(3)}`;
const pad = (s: string, w: number) => (s.length >= w ? s : s + ' '.repeat(w - s.length));
const lpad = (s: string, w: number) => (s.length >= w ? s : ' '.repeat(w - s.length) + s);

function table(header: string[], rows: string[][], align: Array<'l' | 'r'>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => (align[i] === 'l' ? pad(c, widths[i]!) : lpad(c, widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function markdownTable(header: string[], rows: string[][], align: Array<'l' | 'r'>): string[] {
  return [`| ${header.join(' | ')} |`, `|${align.map((a) => (a === 'l' ? ':---' : '---:')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

interface StateRow {
  readonly label: string;
  readonly s: ScenarioSummary;
}

function stateRows(r: Results): StateRow[] {
  return [
    { label: 'tidewatch, dedupe on', s: r.state },
    { label: 'tidewatch, dedupe off', s: r.state.dedupeOff },
    { label: 'Powertools peer', s: r.peer.powertools },
    { label: 'naive per-event handler', s: r.peer.naive },
    { label: 'tidewatch, dedupe on', s: r.batch1000.state },
    { label: 'tidewatch, dedupe on (prefix)', s: r.batch1000.state.dedupeOnPrefix },
    { label: 'tidewatch, dedupe off (prefix)', s: r.batch1000.state.dedupeOffPrefix },
    ...(r.batch1000.state.sequenceOnlyPrefix ? [{ label: 'tidewatch, one sequence rule only (prefix)', s: r.batch1000.state.sequenceOnlyPrefix }] : []),
    { label: 'Powertools peer', s: r.batch1000.peer.powertools },
    { label: 'naive per-event handler', s: r.batch1000.peer.naive },
  ];
}

const STATE_HEADER = ['scenario', 'batch', 'events', 'writes/ev', 'floor/ev', 'pane floor/ev', 'reads/ev', 'WRU/ev', 'RRU/ev', 'avg item B', 'wall s', 'events/s', 'totals'];
const STATE_ALIGN: Array<'l' | 'r'> = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'];

function stateCells(row: StateRow): string[] {
  const s = row.s;
  return [
    row.label,
    n0(s.batchSize),
    n0(s.events),
    f3(s.writesPerEvent),
    s.floorWritesPerEvent === null ? '' : f3(s.floorWritesPerEvent),
    s.paneFloorWritesPerEvent === null || s.paneFloorWritesPerEvent === undefined ? '' : f3(s.paneFloorWritesPerEvent),
    f3(s.readsPerEvent),
    f3(s.wruPerEvent),
    f3(s.rruPerEvent),
    n0(s.avgItemBytesWritten),
    s.wallSeconds.toFixed(1),
    s.eventsPerSec === 'WRONG' ? 'WRONG' : n0(s.eventsPerSec),
    s.correct ? 'exact' : `WRONG (${s.check.mismatches} keys)`,
  ];
}

function redeliveryRows(r: Results): string[][] {
  const row = (label: string, x: RedeliverySummary) => [
    label,
    n0(x.events),
    `${x.redeliveredBatches} (${n0(x.redeliveredEvents)} rec)`,
    f3(x.extraRequestsPerEvent),
    f2(x.extraRequestsPerRedeliveredEvent),
    f3(x.extraWruPerEvent),
    x.correct ? 'exact' : `WRONG: ${Object.entries(x.drift).filter(([, v]) => v !== 0).map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v} (${f2((100 * v) / (x.expectedSum[k] || 1))}%)`).join(', ')}`,
  ];
  return [
    row('tidewatch, warm container', r.redelivery.tidewatch.warm),
    row('tidewatch, cold container', r.redelivery.tidewatch.cold),
    row('Powertools peer', r.redelivery.powertools),
    row('naive per-event handler', r.redelivery.naive),
  ];
}

const REDELIVERY_HEADER = ['handler', 'events', 'redelivered batches', 'extra req/ev', 'extra req/redelivered rec', 'extra WRU/ev', 'totals'];
const REDELIVERY_ALIGN: Array<'l' | 'r'> = ['l', 'r', 'r', 'r', 'r', 'r', 'l'];

const COST_HEADER = ['per million events', 'Kinesis', 'Lambda req', 'Lambda GB-s', 'DynamoDB WRU', 'DynamoDB RRU', 'SNS', 'total'];
const COST_ALIGN: Array<'l' | 'r'> = ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];

function costRows(r: Results): string[][] {
  const labels: Record<string, string> = {
    tidewatch: 'tidewatch, batch 10,000',
    powertools: 'Powertools peer, batch 10,000',
    tidewatchBatch1000: 'tidewatch, batch 1,000',
    powertoolsBatch1000: 'Powertools peer, batch 1,000',
  };
  return Object.entries(r.cost.perMillionEvents).map(([k, c]) => [labels[k] ?? k, money(c.kinesis), money(c.lambdaRequests), money(c.lambdaCompute), money(c.dynamodbWrites), money(c.dynamodbReads), money(c.sns), money(c.total)]);
}

function e2eLines(e: E2eResult): string[] {
  if (!e.measured) return [`  e2e: not measured (${e.reason})`];
  const p = (x: Percentiles) => `p50 ${n0(x.p50)}  p95 ${n0(x.p95)}  p99 ${n0(x.p99)}  max ${n0(x.max)} ms`;
  return [
    `  ${e.published} of ${e.events} alert-triggering events published (${e.invocations} invocations, ${f2(e.stateRequestsPerEvent)} DynamoDB requests per event)`,
    `  PutRecords -> SNS publish   ${p(e.total)}`,
    `    PutRecords call           ${p(e.put)}`,
    `    poll wait + GetRecords    ${p(e.poll)}   (the runner polls an empty shard every ${e.pollIntervalMs} ms: 0-${e.pollIntervalMs} ms of this; Lambda polls about once per second)`,
    `    processor -> publish      ${p(e.processor)}`,
  ];
}

function loadLine(r: Results): string {
  const m = r.machine;
  const noisy = m.load1mDuringRun.max > m.cores * 0.75 ? `  -- NOISY: load average above ${m.cores * 0.75} on ${m.cores} cores, other work was running` : '';
  return `load average (1/5/15 min) at start ${m.loadAtStart.map(f2).join(' ')}, at end ${m.loadAtEnd.map(f2).join(' ')}; 1-min load during the run mean ${f2(m.load1mDuringRun.mean)}, max ${f2(m.load1mDuringRun.max)}${noisy}`;
}

export function renderTable(r: Results): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`tidewatch benchmark (npm run bench), ${new Date().toISOString()}, ${f2(r.wallSeconds / 60)} min`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}`);
  out.push(loadLine(r));
  out.push(`workload: ${r.workload.description}; sample rules`);
  out.push('');
  out.push('1. Core throughput, one core, 10,000-record batch');
  out.push(`  decode only (base64 + JSON.parse)  ${lpad(n0(r.core.decodeEventsPerSec), 10)} events/s`);
  out.push(`  full core                          ${lpad(n0(r.core.eventsPerSec), 10)} events/s   ratio ${f3(r.core.ratio)}`);
  const cv = r.core.variants;
  if (cv !== undefined) {
    out.push(`  rule variants (bench:core --variants: each in a process of its own, in turn, ${cv.rounds} rounds, best round; best floor ${n0(cv.decodeEventsPerSec)} events/s):`);
    for (const v of cv.variants) out.push(`    ${`${v.name} (${v.rules} rules)`.padEnd(28)} ${lpad(n0(v.coreEventsPerSec), 10)} events/s   ratio ${f3(v.ratio)}   ${v.file}`);
    out.push(`    the anomaly rule costs ${pct1(cv.anomalyCost)} of the ratio; one sequence rule ${pct1(cv.sequenceCost)}`);
  }
  out.push('');
  out.push('2. State cost on dynalite (every DynamoDB request counted; WRU = table WRU from dynalite + index WRU estimated)');
  out.push(...table(STATE_HEADER, stateRows(r).map(stateCells), STATE_ALIGN));
  out.push(`  ${r.peer.note}`);
  out.push('  requests by command and item kind (K# aggregates, D# dedupe, A# alert state, M# anomaly models, P# shard progress, WM# watermark, due# window-closing queries):');
  for (const row of stateRows(r)) {
    out.push(`    ${pad(`${row.label}, batch ${row.s.batchSize}`, 44)} ${Object.entries(row.s.byCommand).map(([k, v]) => `${k.replace('Command', '')} ${n0(v)}`).join(', ')}  |  ${Object.entries(row.s.byKind).map(([k, v]) => `${k} ${n0(v)}`).join(', ')}`);
  }
  for (const row of stateRows(r)) {
    const a = row.s.anomaly;
    if (!a) continue;
    if (a.closedWindows === 0 && a.modelWrites === 0) out.push(`  anomaly rule(s), ${row.label}, batch ${row.s.batchSize}: no window of an anomaly rule closed in this workload: 0 model writes (M#); its aggregates are in K# and the floor`);
    else out.push(`  anomaly rule(s), ${row.label}, batch ${row.s.batchSize}: ${n0(a.modelWrites)} model writes (M#) for ${n0(a.closedWindows)} closed windows of (rule, group): ${f3(a.modelWritesPerEvent * 1000)} per 1,000 events, none per event`);
  }
  out.push('  write request units and average item size written, by item kind:');
  for (const row of stateRows(r)) {
    const kinds = Object.entries(row.s.wruByKind).map(([k, v]) => `${k} ${n0(v)} WRU${row.s.avgItemBytesByKind[k] !== undefined ? ` (${n0(row.s.avgItemBytesByKind[k]!)} B)` : ''}`);
    out.push(`    ${pad(`${row.label}, batch ${row.s.batchSize}`, 44)} ${kinds.join(', ')}`);
  }
  for (const row of stateRows(r)) {
    if (!row.s.correct) {
      out.push(`  WRONG: ${row.label}, batch ${row.s.batchSize}: ${row.s.check.mismatches} of ${row.s.check.keys} keys differ, drift ${JSON.stringify(row.s.check.drift)}; e.g. ${row.s.check.examples.join('; ')}`);
      if (row.s.engine) out.push(`    engine reports: ${JSON.stringify(row.s.engine)}; batch item failures ${row.s.batchItemFailures}`);
    }
  }
  out.push('  writes (and WRUs) per event by purpose:');
  for (const row of stateRows(r)) {
    if (!row.s.writesByPurposePerEvent) continue;
    const w = row.s.wruByPurposePerEvent ?? {};
    out.push(`    ${pad(`${row.label}, batch ${row.s.batchSize}`, 44)} ${purposeCells(row.s.writesByPurposePerEvent, w)}`);
  }
  for (const s of [r.state, r.batch1000.state]) {
    if (s.floor) {
      out.push(`  floor at batch ${n0(s.batchSize)}: ${f3(s.floor.aggregatesPerEvent)} window aggregates + ${f3(s.floor.absencePerEvent)} absence last-seen states per event, over ${s.floor.batches} batches (${Object.entries(s.floor.byRule).map(([k, v]) => `${k} ${n0(v)}`).join(', ')})`);
      if (s.floor.panesPerEvent !== undefined && s.paneFloorWritesPerEvent) {
        out.push(
          `  pane floor at batch ${n0(s.batchSize)}: ${f3(s.floor.panesPerEvent)} aggregates with panes for hopping windows + ${f3(s.floor.absencePerEvent)} absence (${Object.entries(s.floor.paneByRule ?? {}).map(([k, v]) => `${k} ${n0(v)}`).join(', ')}); writes/event ${f3(s.writesPerEvent)} = window floor x${(s.writesPerEvent / (s.floorWritesPerEvent ?? NaN)).toFixed(2)}, pane floor x${(s.writesPerEvent / s.paneFloorWritesPerEvent).toFixed(2)}`,
        );
      }
    }
  }
  out.push('');
  out.push('3. Redelivery: 10% of batches delivered twice');
  out.push(...table(REDELIVERY_HEADER, redeliveryRows(r), REDELIVERY_ALIGN));
  out.push(`  ${r.redelivery.note}`);
  if (r.redelivery.naive.overCountIsExactlyTheRedeliveredRecords) out.push('  naive: its totals equal exactly the totals with every redelivered record counted twice.');
  out.push('');
  if (r.sweep) {
    out.push(`3b. Batching sweep: batch size x batching window (${n0(r.sweep.events)} events, ${n0(r.sweep.recordsPerSecPerShard)} records/s per shard)`);
    out.push(...table(SWEEP_HEADER, sweepRows(r.sweep), SWEEP_ALIGN));
    out.push(`  model: ${r.sweep.model}`);
    out.push('');
  }
  if (r.closing) {
    out.push('3c. Window closing: DynamoDB requests per closed window (bench/closing.ts: dynalite, one shard, one tumbling 1-minute rule, one batch per minute)');
    out.push(...formatClosing(r.closing).trimEnd().split('\n').map((l) => `  ${l}`));
    out.push('');
  }
  out.push('4. End-to-end latency, PutRecords -> SNS publish, local pipeline');
  out.push(...e2eLines(r.e2e));
  out.push('');
  out.push(`5. Cost model, dollars per million events (Lambda arm64 ${r.cost.lambdaMemoryMb} MB at the invocation time measured here; Kinesis provisioned, ${r.workload.shards} shards at 1,000 events/s)`);
  out.push(...table(COST_HEADER, costRows(r), COST_ALIGN));
  out.push(`  ${r.cost.note}`);
  out.push('');
  return out.join('\n') + '\n';
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';
export const DOCS_FILE = 'docs/BENCHMARKS.md';
export const CHART_FILE = 'bench/results/writes-per-event.svg';

/** Rewrites the generated block of docs/BENCHMARKS.md and the chart; returns the files written. */
export function writeDocs(r: Results): string[] {
  mkdirSync(path.dirname(CHART_FILE), { recursive: true });
  writeFileSync(CHART_FILE, chartSvg(r));
  const block = [START, ...markdownResults(r), END].join('\n');
  const doc = existsSync(DOCS_FILE) ? readFileSync(DOCS_FILE, 'utf8') : `# Benchmarks\n\n${START}\n${END}\n`;
  const from = doc.indexOf(START);
  const to = doc.indexOf(END);
  if (from < 0 || to < 0) throw new Error(`${DOCS_FILE}: the markers ${START} and ${END} are missing`);
  writeFileSync(DOCS_FILE, doc.slice(0, from) + block + doc.slice(to + END.length));
  return [DOCS_FILE, CHART_FILE];
}

function markdownResults(r: Results): string[] {
  const m = r.machine;
  const out: string[] = [];
  out.push(`Generated by \`npm run bench -- --write-docs\` on ${new Date().toISOString().slice(0, 10)} (whole run: ${f2(r.wallSeconds / 60)} min).`);
  out.push('');
  out.push(...markdownTable(['machine', ''], [
    ['CPU', m.cpu],
    ['cores', String(m.cores)],
    ['memory', `${m.memoryGiB} GiB`],
    ['Node.js', m.node],
    ['OS', m.platform],
    ['load average', loadLine(r).replace(/^load average /, '')],
  ], ['l', 'l']));
  out.push('');
  out.push(`Workload: ${r.workload.description}; the sample rules.`);
  out.push('');
  out.push('**Core throughput** (one core, 10,000-record batch)');
  out.push('');
  out.push(...markdownTable(['', 'events/s'], [['decode only (base64 + JSON.parse)', n0(r.core.decodeEventsPerSec)], ['full core', n0(r.core.eventsPerSec)], ['ratio', f3(r.core.ratio)]], ['l', 'r']));
  out.push('');
  if (r.core.variants !== undefined) {
    const cv = r.core.variants;
    out.push(`Rule variants (\`bench:core --variants\`: each variant in a process of its own against its own floor, in turn, ${cv.rounds} rounds; best round; best floor ${n0(cv.decodeEventsPerSec)} events/s):`);
    out.push('');
    out.push(...markdownTable(['variant', 'rules', 'events/s', 'ratio', 'pipeline'], cv.variants.map((v) => [v.name, String(v.rules), n0(v.coreEventsPerSec), f3(v.ratio), `\`${v.file}\``]), ['l', 'r', 'r', 'r', 'l']));
    out.push('');
    out.push(`The anomaly rule (ErrorSpike) costs ${pct1(cv.anomalyCost)} of the ratio (sample against sampleNoAnomaly); one sequence rule (DeployThenErrors) ${pct1(cv.sequenceCost)} (base4Seq1 against base4).`);
    out.push('');
  }
  out.push('**State cost** on dynalite');
  out.push('');
  out.push(...markdownTable(STATE_HEADER, stateRows(r).map(stateCells), STATE_ALIGN));
  out.push('');
  out.push(r.peer.note + '.');
  out.push('');
  out.push(`![DynamoDB writes per event](../${CHART_FILE})`);
  out.push('');
  out.push('**Redelivery** (10% of batches delivered twice)');
  out.push('');
  out.push(...markdownTable(REDELIVERY_HEADER, redeliveryRows(r), REDELIVERY_ALIGN));
  out.push('');
  out.push(r.redelivery.note);
  out.push('');
  if (r.sweep) {
    out.push(`**Batching sweep**: batch size × batching window (${n0(r.sweep.events)} events, ${n0(r.sweep.recordsPerSecPerShard)} records/s per shard)`);
    out.push('');
    out.push(...markdownTable(SWEEP_HEADER, sweepRows(r.sweep), SWEEP_ALIGN));
    out.push('');
    out.push(`Model: ${r.sweep.model}.`);
    out.push('');
  }
  out.push('**Writes per event by purpose** (WRUs in parentheses)');
  out.push('');
  out.push(...markdownTable(['', 'batch', 'by purpose'], stateRows(r).filter((row) => row.s.writesByPurposePerEvent).map((row) => [row.label, n0(row.s.batchSize), purposeCells(row.s.writesByPurposePerEvent!, row.s.wruByPurposePerEvent ?? {})]), ['l', 'r', 'l']));
  out.push('');
  out.push('**End-to-end latency** (PutRecords → SNS publish, local pipeline)');
  out.push('');
  if (r.e2e.measured) {
    const e = r.e2e;
    const row = (label: string, x: Percentiles) => [label, n0(x.p50), n0(x.p95), n0(x.p99), n0(x.max)];
    out.push(...markdownTable(['ms', 'p50', 'p95', 'p99', 'max'], [
      row('PutRecords → SNS publish', e.total),
      row('PutRecords call', e.put),
      row(`poll wait + GetRecords (runner polls every ${e.pollIntervalMs} ms)`, e.poll),
      row('processor → publish', e.processor),
    ], ['l', 'r', 'r', 'r', 'r']));
    out.push('');
    out.push(`${e.published} of ${e.events} alert-triggering events, ${e.invocations} invocations.`);
  } else {
    out.push(`e2e: not measured (${r.e2e.reason}).`);
  }
  out.push('');
  out.push(`**Cost model**, dollars per million events (Lambda arm64 ${r.cost.lambdaMemoryMb} MB at the invocation time measured here; Kinesis provisioned, ${r.workload.shards} shards)`);
  out.push('');
  out.push(...markdownTable(COST_HEADER, costRows(r), COST_ALIGN));
  out.push('');
  out.push(r.cost.note + '.');
  return out;
}

const SWEEP_HEADER = ['batch size', 'window', 'records/invocation', 'writes/event', 'WRU/event', '$/M events', 'gather wait mean (model)', 'worst (model)', '+ processing (measured here)'];
const SWEEP_ALIGN: Array<'l' | 'r'> = ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];

function sweepRows(s: SweepResult): string[][] {
  const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${n0(x)} ms`);
  const l = (c: SweepCell) => c.addedLatencyMs;
  return s.cells.map((c) => [n0(c.batchSize), `${c.windowS} s`, n0(c.batch), f3(c.writesPerEvent), f3(c.wruPerEvent), money(c.dollarsPerMillionEvents), ms(l(c).gatherMean), ms(l(c).gatherWorst), ms(l(c).processing)]);
}

function purposeCells(writes: Record<string, number>, wru: Record<string, number>): string {
  const names = [...new Set([...Object.keys(writes), ...Object.keys(wru)])].sort();
  return names.map((k) => `${k} ${(writes[k] ?? 0).toFixed(4)} (${(wru[k] ?? 0).toFixed(4)})`).join(', ');
}

/** Horizontal bars: DynamoDB writes per event, by handler and batch size (linear scale, values printed). */
function chartSvg(r: Results): string {
  const rows: Array<{ label: string; value: number; color: string }> = [
    { label: 'floor, batch 10,000', value: r.state.floorWritesPerEvent ?? 0, color: '#9e9e9e' },
    ...(r.state.paneFloorWritesPerEvent ? [{ label: 'pane floor, batch 10,000', value: r.state.paneFloorWritesPerEvent, color: '#bdbdbd' }] : []),
    { label: 'tidewatch, batch 10,000', value: r.state.writesPerEvent, color: '#1565c0' },
    { label: 'floor, batch 1,000', value: r.batch1000.state.floorWritesPerEvent ?? 0, color: '#9e9e9e' },
    ...(r.batch1000.state.paneFloorWritesPerEvent ? [{ label: 'pane floor, batch 1,000', value: r.batch1000.state.paneFloorWritesPerEvent, color: '#bdbdbd' }] : []),
    { label: 'tidewatch, batch 1,000', value: r.batch1000.state.writesPerEvent, color: '#1565c0' },
    { label: 'naive per-event handler', value: r.peer.naive.writesPerEvent, color: '#ef6c00' },
    { label: 'Powertools peer', value: r.peer.powertools.writesPerEvent, color: '#c62828' },
  ];
  const max = Math.max(...rows.map((x) => x.value));
  const left = 190;
  const width = 420;
  const h = 26;
  const top = 40;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const bars = rows
    .map((x, i) => {
      const y = top + i * h;
      const w = Math.max(1, (x.value / max) * width);
      return `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(x.label)}</text><rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${h - 8}" fill="${x.color}"/><text x="${(left + w + 6).toFixed(1)}" y="${y + 15}">${x.value.toFixed(3)}</text>`;
    })
    .join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 70}" height="${top + rows.length * h + 10}" font-family="sans-serif" font-size="12">
  <text x="10" y="16" font-weight="bold">DynamoDB write requests per event, sample rules</text>
  <text x="10" y="30" font-size="10">${esc(r.workload.description)}; peers on a ${r.workload.peerEvents.toLocaleString('en-US')}-event prefix</text>
  ${bars}
</svg>
`;
}
