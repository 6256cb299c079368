/**
 * `npm run bench:anomaly`: every registered anomaly detector, with its
 * DEFAULT options, over the seeded labelled corpus (bench/anomaly/corpus.ts);
 * precision, recall, median detection delay and false positives per 1,000
 * windows on the anomaly-free series (rules in bench/anomaly/score.ts: an
 * alert is a window with score > 0.99), overall and per anomaly kind.
 *
 *   npm run bench:anomaly                    # tables on stdout
 *   npm run bench:anomaly -- --seed 7        # another corpus
 *   npm run bench:anomaly -- --json          # one JSON object
 *   npm run bench:anomaly -- --write-docs    # the tables into docs/BENCHMARKS.md, the chart into docs/anomaly.svg
 *
 * Each window is scored (`verdict`) before it is learned (`apply`), as the
 * engine does at window close; missing windows are skipped (not learned, not
 * scored).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DETECTORS, detectorNamed } from '../../lambdas/core/anomaly/detectors';
import { type AnomalyOptions, type AnomalyVerdict, DEFAULT_ANOMALY_OPTIONS } from '../../lambdas/core/anomaly/types';
import { ANOMALY_KINDS, generateCorpus, type LabelledSeries } from './corpus';
import { ALERT_SCORE, type Score, scoreRuns, type SeriesRun, TOLERANCE } from './score';

interface Trace {
  readonly verdicts: readonly (AnomalyVerdict | null)[];
  readonly run: SeriesRun;
  readonly stateBytes: number;
}

function runSeries(detector: string, series: LabelledSeries, o: AnomalyOptions): Trace {
  const d = detectorNamed(detector);
  let state = d.empty;
  const verdicts: (AnomalyVerdict | null)[] = [];
  const alerts: number[] = [];
  let scored = 0;
  let stateBytes = 0;
  series.values.forEach((x, i) => {
    if (x === null) {
      verdicts.push(null);
      return;
    }
    const t = series.startMs + i * series.stepMs;
    const v = d.verdict(state, t, x, o);
    verdicts.push(v);
    if (!v.warming) scored++;
    if (v.score > ALERT_SCORE) alerts.push(i);
    state = d.apply(state, t, x, o);
    if (i % 97 === 0) stateBytes = Math.max(stateBytes, Buffer.byteLength(d.serialise(state)));
  });
  stateBytes = Math.max(stateBytes, Buffer.byteLength(d.serialise(state)));
  return { verdicts, run: { anomalies: series.anomalies, alerts, scored }, stateBytes };
}

interface DetectorResult {
  readonly detector: string;
  readonly score: Score;
  readonly windows: number;
  readonly microsPerWindow: number;
  readonly maxStateBytes: number;
  readonly perSeries: readonly { name: string; alerts: number; intervals: number; detected: number }[];
}

function evaluate(detector: string, corpus: readonly LabelledSeries[], o: AnomalyOptions = DEFAULT_ANOMALY_OPTIONS): { result: DetectorResult; traces: Trace[] } {
  const started = process.hrtime.bigint();
  const traces = corpus.map((s) => runSeries(detector, s, o));
  const micros = Number(process.hrtime.bigint() - started) / 1000;
  const windows = corpus.reduce((a, s) => a + s.values.filter((v) => v !== null).length, 0);
  const perSeries = corpus.map((s, k) => {
    const one = scoreRuns([traces[k]!.run]);
    return { name: s.name, alerts: one.alerts, intervals: one.intervals, detected: one.detected };
  });
  return {
    result: {
      detector,
      score: scoreRuns(traces.map((t) => t.run)),
      windows,
      microsPerWindow: micros / windows,
      maxStateBytes: Math.max(...traces.map((t) => t.stateBytes)),
      perSeries,
    },
    traces,
  };
}

const pct = (x: number | null): string => (x === null ? 'n/a' : `${(100 * x).toFixed(1)} %`);
const num = (x: number | null, digits = 1): string => (x === null ? 'n/a' : x.toFixed(digits));

function tables(results: readonly DetectorResult[], corpus: readonly LabelledSeries[], seed: number): string {
  const clean = corpus.filter((s) => s.anomalies.length === 0).length;
  const intervals = corpus.reduce((a, s) => a + s.anomalies.length, 0);
  const lines: string[] = [];
  lines.push(`Corpus seed ${seed}: ${corpus.length} series (${corpus.length - clean} with ${intervals} labelled anomalies, ${clean} anomaly-free), `
    + `${results[0]?.windows.toLocaleString('en-US')} windows with a value. Default options; alert = score > ${ALERT_SCORE}; tolerance ${TOLERANCE} windows after an interval.`);
  lines.push('');
  lines.push('| detector | precision | recall | median delay (windows) | false positives / 1,000 windows (anomaly-free) | alerts | µs per window | largest state |');
  lines.push('|:---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const s = r.score;
    lines.push(`| ${r.detector} | ${pct(s.precision)} (${s.truePositives}/${s.alerts}) | ${pct(s.recall)} (${s.detected}/${s.intervals}) | ${num(s.medianDelay)} | ${num(s.falsePositivesPer1000, 2)} (${s.cleanAlerts} in ${s.cleanWindows.toLocaleString('en-US')}) | ${s.alerts} | ${num(r.microsPerWindow, 2)} | ${r.maxStateBytes.toLocaleString('en-US')} B |`);
  }
  lines.push('');
  lines.push('Recall (and median delay in windows) by anomaly kind:');
  lines.push('');
  lines.push(`| detector | ${ANOMALY_KINDS.join(' | ')} |`);
  lines.push(`|:---|${ANOMALY_KINDS.map(() => '---:').join('|')}|`);
  for (const r of results) {
    const cells = ANOMALY_KINDS.map((k) => {
      const ks = r.score.byKind[k];
      return ks ? `${ks.detected}/${ks.intervals} (${num(ks.medianDelay, 0)})` : '–';
    });
    lines.push(`| ${r.detector} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  lines.push('Per series: alerts, and intervals detected / labelled:');
  lines.push('');
  lines.push(`| series | description | ${results.map((r) => r.detector).join(' | ')} |`);
  lines.push(`|:---|:---|${results.map(() => '---:').join('|')}|`);
  corpus.forEach((s, k) => {
    const cells = results.map((r) => {
      const p = r.perSeries[k]!;
      return p.intervals ? `${p.alerts} alerts, ${p.detected}/${p.intervals}` : `${p.alerts} alerts`;
    });
    lines.push(`| ${s.name} | ${s.description} | ${cells.join(' | ')} |`);
  });
  return lines.join('\n');
}

/** Not the defaults: what the sensitivity trades, for a reader choosing it (the default is 4). */
const SWEEP = [3, 4, 5];

interface SweepRow { readonly detector: string; readonly sensitivity: number; readonly score: Score }

function sweep(corpus: readonly LabelledSeries[]): SweepRow[] {
  return Object.keys(DETECTORS).flatMap((detector) => SWEEP.map((sensitivity) => ({
    detector, sensitivity, score: evaluate(detector, corpus, { ...DEFAULT_ANOMALY_OPTIONS, sensitivity }).result.score,
  })));
}

function sweepTable(rows: readonly SweepRow[]): string {
  const lines = ['Sensitivity sweep (all other options default; the default is 4):', '',
    '| detector | sensitivity | precision | recall | false positives / 1,000 windows (anomaly-free) | level-shift recall | spike + dip recall |',
    '|:---|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const k = r.score.byKind;
    const sd = (k.spike?.detected ?? 0) + (k.dip?.detected ?? 0);
    const sdN = (k.spike?.intervals ?? 0) + (k.dip?.intervals ?? 0);
    lines.push(`| ${r.detector} | ${r.sensitivity} | ${pct(r.score.precision)} | ${pct(r.score.recall)} | ${num(r.score.falsePositivesPer1000, 2)} | ${k['level-shift']?.detected ?? 0}/${k['level-shift']?.intervals ?? 0} | ${sd}/${sdN} |`);
  }
  return lines.join('\n');
}

/** One series with the expected value, the band, the labelled intervals and the alerts: pure SVG text. */
export function chartSvg(series: LabelledSeries, trace: Trace, detector: string, from: number, to: number): string {
  const W = 960;
  const H = 360;
  const L = 56;
  const R = 16;
  const T = 40;
  const B = 40;
  const idx = Array.from({ length: to - from }, (_, k) => from + k);
  const ys: number[] = [];
  for (const i of idx) {
    const x = series.values[i];
    const v = trace.verdicts[i];
    if (x !== null && x !== undefined) ys.push(x);
    if (v && !v.warming) ys.push(v.lower, v.upper);
  }
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  const pad = (hi - lo) * 0.05 || 1;
  lo -= pad;
  hi += pad;
  const px = (i: number): number => L + ((i - from) / Math.max(1, to - from - 1)) * (W - L - R);
  const py = (y: number): number => T + (1 - (y - lo) / (hi - lo)) * (H - T - B);
  const f = (x: number): string => x.toFixed(1);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${L}" y="18" font-size="14" font-weight="bold">${series.name}: ${series.description} — detector ${detector} (default options)</text>`);
  out.push(`<text x="${L}" y="33" fill="#555">windows ${from}–${to - 1} of ${series.values.length}, ${series.stepMs / 60000}-minute windows; band = expected ± sensitivity × spread; alert = score &gt; ${ALERT_SCORE}</text>`);
  // labelled intervals
  for (const a of series.anomalies) {
    if (a.end < from || a.start >= to) continue;
    const x0 = px(Math.max(a.start, from)) - 2;
    const x1 = px(Math.min(a.end, to - 1)) + 2;
    out.push(`<rect x="${f(x0)}" y="${T}" width="${f(Math.max(2, x1 - x0))}" height="${H - T - B}" fill="#f6c343" fill-opacity="0.35"><title>${a.kind} ${a.start}–${a.end}</title></rect>`);
  }
  // band and expected value, in runs of consecutive scored windows
  const runs: number[][] = [];
  let cur: number[] = [];
  for (const i of idx) {
    const v = trace.verdicts[i];
    if (v && !v.warming) cur.push(i);
    else if (cur.length) {
      runs.push(cur);
      cur = [];
    }
  }
  if (cur.length) runs.push(cur);
  for (const r of runs) {
    const up = r.map((i) => `${f(px(i))},${f(py(trace.verdicts[i]!.upper))}`);
    const down = [...r].reverse().map((i) => `${f(px(i))},${f(py(trace.verdicts[i]!.lower))}`);
    out.push(`<polygon points="${[...up, ...down].join(' ')}" fill="#8fb8e8" fill-opacity="0.45" stroke="none"/>`);
    out.push(`<polyline points="${r.map((i) => `${f(px(i))},${f(py(trace.verdicts[i]!.expected))}`).join(' ')}" fill="none" stroke="#1f5fa8" stroke-width="1.2"/>`);
  }
  // the values, broken at missing windows
  let seg: string[] = [];
  const segs: string[][] = [];
  for (const i of idx) {
    const x = series.values[i];
    if (x === null || x === undefined) {
      if (seg.length) segs.push(seg);
      seg = [];
    } else seg.push(`${f(px(i))},${f(py(x))}`);
  }
  if (seg.length) segs.push(seg);
  for (const s of segs) out.push(`<polyline points="${s.join(' ')}" fill="none" stroke="#333" stroke-width="0.8"/>`);
  // alerts
  for (const i of trace.run.alerts) {
    if (i < from || i >= to) continue;
    out.push(`<circle cx="${f(px(i))}" cy="${f(py(series.values[i]!))}" r="4" fill="none" stroke="#d62728" stroke-width="2"><title>alert at window ${i}, score ${trace.verdicts[i]!.score.toFixed(4)}</title></circle>`);
  }
  // axes
  out.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#999"/>`);
  out.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#999"/>`);
  for (let k = 0; k <= 4; k++) {
    const y = lo + ((hi - lo) * k) / 4;
    out.push(`<text x="${L - 6}" y="${f(py(y) + 4)}" text-anchor="end" fill="#555">${y.toFixed(0)}</text>`);
  }
  for (let k = 0; k <= 6; k++) {
    const i = Math.round(from + ((to - 1 - from) * k) / 6);
    out.push(`<text x="${f(px(i))}" y="${H - B + 16}" text-anchor="middle" fill="#555">${i}</text>`);
  }
  // legend
  const lx = W - R - 430;
  const ly = H - 10;
  out.push(`<polyline points="${lx},${ly - 4} ${lx + 18},${ly - 4}" stroke="#333"/><text x="${lx + 22}" y="${ly}">value</text>`);
  out.push(`<polyline points="${lx + 70},${ly - 4} ${lx + 88},${ly - 4}" stroke="#1f5fa8"/><text x="${lx + 92}" y="${ly}">expected</text>`);
  out.push(`<rect x="${lx + 155}" y="${ly - 10}" width="18" height="10" fill="#8fb8e8" fill-opacity="0.45"/><text x="${lx + 177}" y="${ly}">band</text>`);
  out.push(`<rect x="${lx + 215}" y="${ly - 10}" width="18" height="10" fill="#f6c343" fill-opacity="0.35"/><text x="${lx + 237}" y="${ly}">labelled anomaly</text>`);
  out.push(`<circle cx="${lx + 352}" cy="${ly - 4}" r="4" fill="none" stroke="#d62728" stroke-width="2"/><text x="${lx + 360}" y="${ly}">alert</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

const START_MARK = '<!-- bench:anomaly:start -->';
const END_MARK = '<!-- bench:anomaly:end -->';

function writeDocs(text: string, svg: string): void {
  const file = join('docs', 'BENCHMARKS.md');
  const doc = readFileSync(file, 'utf8');
  const a = doc.indexOf(START_MARK);
  const b = doc.indexOf(END_MARK);
  if (a < 0 || b < a) throw new Error(`bench:anomaly: ${file} has no ${START_MARK} … ${END_MARK} markers`);
  writeFileSync(file, `${doc.slice(0, a + START_MARK.length)}\n${text}\n${doc.slice(b)}`);
  writeFileSync(join('docs', 'anomaly.svg'), svg);
  console.error(`bench:anomaly: wrote ${file} and docs/anomaly.svg`);
}

function main(): void {
  const { values } = parseArgs({ options: { seed: { type: 'string', default: '1' }, json: { type: 'boolean', default: false }, 'write-docs': { type: 'boolean', default: false } } });
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`bench:anomaly: --seed must be a non-negative integer (given ${values.seed})`);
  const corpus = generateCorpus(seed);
  const evaluated = Object.keys(DETECTORS).map((name) => ({ name, ...evaluate(name, corpus) }));
  const results = evaluated.map((e) => e.result);
  if (values.json) {
    console.log(JSON.stringify({ seed, alertScore: ALERT_SCORE, tolerance: TOLERANCE, options: DEFAULT_ANOMALY_OPTIONS, cpu: cpus()[0]?.model, node: process.version, series: corpus.length, results }));
  } else {
    console.log(tables(results, corpus, seed));
  }
  if (values['write-docs']) {
    const chartName = 'daily-contextual';
    const k = corpus.findIndex((s) => s.name === chartName);
    const seasonal = evaluated.find((e) => e.name === 'seasonal') ?? evaluated[0]!;
    const series = corpus[k]!;
    const first = series.anomalies[0]!;
    const from = Math.max(0, first.start - 500);
    const svg = chartSvg(series, seasonal.traces[k]!, seasonal.name, from, Math.min(series.values.length, from + 1000));
    writeDocs(`${tables(results, corpus, seed)}\n\n${sweepTable(sweep(corpus))}`, svg);
  }
}

main();
