/**
 * Runs the rule tests of a test file (testFile.ts) on the engine (replay.ts).
 *
 * How inputs become records, per test group:
 * - `input_series`: sample k of a series (k = 0, 1, …) is one event at event
 *   time start + k × interval, whose payload is the series' `fields`, its
 *   labels (strings) and the series name holding the sample's value (a
 *   number); `_` is a step without an event. The stream's event-time field
 *   is set to that time (ISO-8601) and, when the stream declares an event id
 *   and the event has none, a unique id is generated.
 * - `input_events`: each event as given, at `time` (written into the
 *   event-time field; or the event's own field when `time` is absent), or a
 *   raw text, or the lines of an NDJSON file (payloads or Kinesis records).
 * - Arrival: `arrival`, else event time + `arrival_delay` (the event's, the
 *   series', else the group's; default 0). Records are played in arrival
 *   order; records of the same millisecond keep the order they are listed in
 *   (series first, sample by sample, then input_events).
 * - Shards: `shard:` when given, else the shard the `partition_key` field
 *   hashes to (as Kinesis does), else shard 0.
 *
 * What is checked:
 * - `alert_rule_test` (promtool's): the alerts firing at `eval_time`, i.e.
 *   those whose last transition published by then (virtual arrival time:
 *   every batch invoked and every tick run by then) is `firing`. An alert's
 *   labels are its group labels, the rule's `labels` and `severity`
 *   (promtool users keep severity in labels); `exp_labels` and
 *   `exp_annotations` must match exactly, as in promtool, and `exp_values`
 *   (tidewatch) when given. An empty `exp_alerts` means "not firing".
 * - `alert_transition_test` (tidewatch): the transitions of `alertname`
 *   published by `eval_time`, or by the end of the input (after the flush:
 *   see replay.ts) when it has none, one for one, in any order; each expected
 *   one compares the fields it gives.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import { formatDuration, formatIssue, loadPipeline, PipelineError } from '../../lambdas/core/pipeline';
import { didYouMean } from '../../lambdas/core/pipeline/suggest';
import type { EpochMs, JsonObject, KinesisLikeRecord, Pipeline, StreamSpec } from '../../lambdas/core/types';
import { classifyLine, eventTimeOf, RecordMaker } from './records';
import { messageOf } from './cli/common';
import { Replay } from './replay';
import { formatTestIssue, parseTestFile, resolveTime, TestFileError, type AlertRuleCase, type ExpAlert, type ExpTransition, type TestFile, type TestFileIssue, type TestGroup, type TransitionCase } from './testFile';

export interface CaseOutcome {
  /** e.g. `alert_rule_test #1: HighErrorRate at 2m`. */
  readonly title: string;
  readonly passed: boolean;
  /** The failure's explanation and diff, line by line. */
  readonly details: readonly string[];
}

export interface GroupOutcome {
  readonly name: string;
  readonly cases: readonly CaseOutcome[];
  /** A problem that kept the group from running (its cases count as failed). */
  readonly error?: string;
}

export interface FileOutcome {
  readonly file: string;
  /** Problems that kept the file from running (bad YAML, a pipeline that does not load, …). */
  readonly errors: readonly string[];
  readonly groups: readonly GroupOutcome[];
  readonly passed: number;
  readonly failed: number;
}

export interface RunOptions {
  /** Only the groups whose name matches. */
  readonly run?: RegExp;
  readonly readFile?: (path: string) => string;
}

interface Published {
  readonly t: AlertTransition;
  readonly clock: EpochMs;
  readonly afterInput: boolean;
}

export async function runTestFile(file: string, opts: RunOptions = {}): Promise<FileOutcome> {
  const read = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const fail = (errors: string[]): FileOutcome => ({ file, errors, groups: [], passed: 0, failed: 1 });
  let text: string;
  try {
    text = read(file);
  } catch (e) {
    return fail([`${file}: cannot read the test file: ${messageOf(e)}`]);
  }
  let tf: TestFile;
  try {
    tf = parseTestFile(text, file);
  } catch (e) {
    if (e instanceof TestFileError) return fail(e.issues.map(formatTestIssue));
    throw e;
  }
  const pipelines: Pipeline[] = [];
  const errors: string[] = [];
  for (const f of tf.ruleFiles) {
    try {
      pipelines.push(loadPipeline(f, read));
    } catch (e) {
      if (e instanceof PipelineError) errors.push(...e.issues.map(formatIssue));
      else throw e;
    }
  }
  if (errors.length > 0) return fail(errors);
  const issues = crossCheck(tf, pipelines);
  if (issues.length > 0) return fail(issues.map(formatTestIssue));

  const groups: GroupOutcome[] = [];
  for (const g of tf.groups) {
    if (opts.run && !opts.run.test(g.name)) continue;
    groups.push(await runGroup(tf, g, pipelines, read));
  }
  const cases = groups.flatMap((g) => g.cases);
  const passed = cases.filter((c) => c.passed).length;
  return { file, errors: [], groups, passed, failed: cases.length - passed };
}

/** The stream a group's inputs go to. */
function streamOf(g: TestGroup, pipelines: readonly Pipeline[]): string | undefined {
  if (g.stream !== undefined) return g.stream;
  const names = new Set(pipelines.flatMap((p) => [...p.streams.keys()]));
  return names.size === 1 ? [...names][0] : undefined;
}

/** What only the pipelines can tell: alert names and streams exist. */
function crossCheck(tf: TestFile, pipelines: readonly Pipeline[]): TestFileIssue[] {
  const issues: TestFileIssue[] = [];
  const add = (path: readonly (string | number)[], message: string) => {
    const at = tf.src.position(path);
    issues.push({ file: tf.file, ...(at ? { line: at.line, column: at.column } : {}), field: path.join('.'), message });
  };
  const streams = new Set(pipelines.flatMap((p) => [...p.streams.keys()]));
  for (const g of tf.groups) {
    const stream = streamOf(g, pipelines);
    if (g.stream !== undefined && !streams.has(g.stream)) add([...g.path, 'stream'], `unknown stream "${g.stream}"${didYouMean(g.stream, streams)} (the rule files declare: ${[...streams].join(', ')})`);
    else if (stream === undefined) add(g.path, `the rule files declare several streams (${[...streams].join(', ')}): say which one the inputs go to with stream:`);
    const names = new Set(pipelines.flatMap((p) => p.rules.filter((r) => stream === undefined || r.stream === stream).map((r) => r.name)));
    for (const c of [...g.alertRuleTests, ...g.transitionTests]) {
      if (!names.has(c.alertname)) add([...c.path, 'alertname'], `no rule "${c.alertname}" reads stream ${stream ?? '?'} in ${tf.ruleFiles.join(', ')}${didYouMean(c.alertname, names)} (rules: ${[...names].join(', ') || 'none'})`);
    }
  }
  return issues;
}

interface PendingInput {
  readonly text?: string;
  readonly record?: Parameters<RecordMaker['record']>[0];
  readonly arrival: EpochMs;
  readonly shard?: number;
  readonly partitionKey?: string;
}

/** The group's inputs as records of `stream`, in arrival order. Throws an Error naming the input on bad input. */
export function groupRecords(g: TestGroup, stream: StreamSpec, read: (path: string) => string): KinesisLikeRecord[] {
  const pending: PendingInput[] = [];
  const ts = stream.timestamp.kind === 'field' ? stream.timestamp.field : undefined;
  const withTime = (payload: JsonObject, t: EpochMs, id: string): JsonObject => {
    const out: JsonObject = { ...payload };
    if (ts !== undefined) out[ts] = new Date(t).toISOString();
    if (stream.idField !== undefined && !Object.hasOwn(out, stream.idField)) out[stream.idField] = id;
    return out;
  };
  const longest = Math.max(0, ...g.series.map((s) => s.samples.length));
  for (let k = 0; k < longest; k++) {
    g.series.forEach((s, si) => {
      const v = s.samples[k];
      if (v === undefined || v === null) return;
      const t = g.start + k * g.intervalMs;
      if (ts !== undefined && (Object.hasOwn(s.fields, ts) || Object.hasOwn(s.series.labels, ts))) throw new InputError(s.path, `"${ts}" is the stream's event-time field: the series sets it from the sample's time`);
      const payload = withTime({ ...s.fields, ...s.series.labels, [s.series.name]: v }, t, `t${g.index + 1}-s${si + 1}-${k}`);
      pending.push({ text: JSON.stringify(payload), arrival: t + (s.arrivalDelayMs ?? g.arrivalDelayMs), ...(s.shard !== undefined ? { shard: s.shard } : {}) });
    });
  }
  g.events.forEach((e, i) => {
    const delay = e.arrivalDelayMs ?? g.arrivalDelayMs;
    const base = { ...(e.shard !== undefined ? { shard: e.shard } : {}), ...(e.partitionKey !== undefined ? { partitionKey: e.partitionKey } : {}) };
    const arrivalOf = (eventTime: EpochMs) => (e.arrival ? resolveTime(e.arrival, g) : eventTime + delay);
    if (e.event !== undefined) {
      let t: EpochMs;
      let payload: JsonObject;
      if (e.time !== undefined) {
        if (ts !== undefined && Object.hasOwn(e.event, ts)) throw new InputError(e.path, `give time: or the event's "${ts}" field, not both`);
        t = resolveTime(e.time, g);
        payload = withTime(e.event, t, `t${g.index + 1}-e${i + 1}`);
      } else {
        const text = JSON.stringify(e.event);
        const own = eventTimeOf(text, stream);
        if (own === null) throw new InputError(e.path, ts === undefined ? 'the stream takes event time from arrival ($arrival): give time: (the arrival)' : `give time: or an event-time field "${ts}" the engine can read`);
        t = own;
        payload = { ...e.event };
        if (stream.idField !== undefined && !Object.hasOwn(payload, stream.idField)) payload[stream.idField] = `t${g.index + 1}-e${i + 1}`;
      }
      pending.push({ text: JSON.stringify(payload), arrival: ts === undefined ? t : arrivalOf(t), ...base });
    } else if (e.raw !== undefined) {
      const t = e.time ? resolveTime(e.time, g) : resolveTime(e.arrival!, g);
      pending.push({ text: e.raw, arrival: e.arrival ? resolveTime(e.arrival, g) : t + delay, ...base });
    } else if (e.file !== undefined) {
      let content: string;
      try {
        content = read(e.file);
      } catch (err) {
        throw new InputError(e.path, `cannot read ${e.file}: ${messageOf(err)}`);
      }
      let last = g.start;
      content.split('\n').forEach((raw, n) => {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line.trim() === '') return;
        let kind;
        try {
          kind = classifyLine(line);
        } catch (err) {
          throw new InputError(e.path, `${e.file}:${n + 1}: ${messageOf(err)}`);
        }
        if (kind.kind === 'record') {
          pending.push({ record: kind, arrival: kind.arrival });
          last = kind.arrival;
          return;
        }
        const t = eventTimeOf(line, stream);
        // A line without a readable event time is rejected by the engine; it arrives with the line before it.
        last = t === null ? last : t + delay;
        pending.push({ text: line, arrival: last, ...base });
      });
    }
  });
  const order = pending.map((p, i) => ({ p, i })).sort((a, b) => a.p.arrival - b.p.arrival || a.i - b.i);
  const maker = new RecordMaker({ shards: g.shards, ...(g.partitionKey !== undefined ? { partitionKey: g.partitionKey } : {}) });
  return order.map(({ p }) => {
    if (p.record) return maker.record(p.record);
    return maker.payload(p.text!, p.arrival, { ...(p.shard !== undefined ? { shard: p.shard } : {}), ...(p.partitionKey !== undefined ? { partitionKey: p.partitionKey } : {}) });
  });
}

/** A problem with one input of a group, pointing at it. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly path: readonly (string | number)[],
    message: string,
  ) {
    super(message);
  }
}

async function runGroup(tf: TestFile, g: TestGroup, pipelines: readonly Pipeline[], read: (path: string) => string): Promise<GroupOutcome> {
  const streamName = streamOf(g, pipelines)!;
  const published: Published[] = [];
  const checkpoints = [...new Set([...g.alertRuleTests.map((c) => resolveTime(c.evalTime, g)), ...g.transitionTests.flatMap((c) => (c.evalTime ? [resolveTime(c.evalTime, g)] : []))])].sort((a, b) => a - b);
  try {
    for (const pipeline of pipelines) {
      const stream = pipeline.streams.get(streamName);
      if (!stream) continue;
      const records = groupRecords(g, stream, read);
      const replay = new Replay({
        pipeline,
        stream: streamName,
        batchWindowMs: g.batchWindowMs,
        batchSize: g.batchSize,
        tickEveryMs: g.tickEveryMs,
        onTransition: (t, at) => published.push({ t, clock: at.clock, afterInput: at.afterInput }),
      });
      let next = 0;
      for (const cp of checkpoints) {
        while (next < records.length && records[next]!.approximateArrivalTimestamp * 1000 <= cp) {
          const p = replay.push(records[next++]!);
          if (p) await p;
        }
        // Time passes to the checkpoint even after the last record (ticks run: absence rules notice silence).
        await replay.runUntil(cp);
      }
      while (next < records.length) {
        const p = replay.push(records[next++]!);
        if (p) await p;
      }
      await replay.finish({ flush: g.flush });
    }
  } catch (e) {
    if (e instanceof InputError) {
      const at = tf.src.position(e.path);
      const where = `${tf.file}${at ? `:${at.line}:${at.column}` : ''}`;
      const error = `${where}: field "${e.path.join('.')}": ${e.message}`;
      return { name: g.name, error, cases: [...g.alertRuleTests, ...g.transitionTests].map((c) => ({ title: caseTitle(c, g), passed: false, details: [error] })) };
    }
    throw e;
  }
  // Published by t: the transitions carry the virtual time they were published at.
  const upTo = (t: EpochMs) => published.filter((p) => p.clock <= t);
  const fuzzy = tf.fuzzyCompare;
  const cases: CaseOutcome[] = [];
  for (const c of g.alertRuleTests) cases.push(checkAlerts(c, g, upTo(resolveTime(c.evalTime, g)), fuzzy));
  for (const c of g.transitionTests) cases.push(checkTransitions(c, g, c.evalTime ? upTo(resolveTime(c.evalTime, g)) : published, fuzzy));
  return { name: g.name, cases };
}

function caseTitle(c: AlertRuleCase | TransitionCase, g: TestGroup): string {
  const kind = 'expAlerts' in c ? 'alert_rule_test' : 'alert_transition_test';
  const index = Number(c.path[c.path.length - 1]) + 1;
  const when = c.evalTime ? ` at ${timeText(resolveTime(c.evalTime, g), g)}` : ' by the end of the input';
  return `${kind} #${index}: ${c.alertname}${when}`;
}

/** A time as the test writer wrote it: an offset from the start (`1m30s`), with the absolute time. */
export function timeText(t: EpochMs, g: TestGroup): string {
  const d = t - g.start;
  return d >= 0 ? `${d === 0 ? '0s' : formatDuration(d)} (${new Date(t).toISOString()})` : new Date(t).toISOString();
}

function offsetText(t: EpochMs, g: TestGroup): string {
  const d = t - g.start;
  return d >= 0 ? (d === 0 ? '0s' : formatDuration(d)) : new Date(t).toISOString();
}

/** An alert's label set: group labels (null ones absent, as Prometheus drops empty labels), the rule's labels, severity. */
export function alertLabels(t: AlertTransition): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(t.group)) if (v !== null && v !== '') out[k] = v;
  return { ...out, ...t.labels, severity: t.severity };
}

const sortKeys = <T>(o: Readonly<Record<string, T>>): Record<string, T> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function mapText(o: Readonly<Record<string, unknown>>): string {
  return `{${Object.entries(sortKeys(o)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
}

function valuesEqual(exp: Readonly<Record<string, number | null>>, got: Readonly<Record<string, number | null>>, fuzzy: boolean): boolean {
  const keys = new Set([...Object.keys(exp), ...Object.keys(got)]);
  for (const k of keys) {
    const a = exp[k];
    const b = got[k];
    if (a === undefined || b === undefined) return false;
    if (a === b) continue;
    if (a === null || b === null) return false;
    // fuzzy_compare (promtool): ignore a difference in the last bits of the mantissa.
    if (!fuzzy || Math.abs(a - b) > Math.max(Math.abs(a), Math.abs(b)) * 4 * Number.EPSILON) return false;
  }
  return true;
}

interface ActualAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly values: Readonly<Record<string, number | null>>;
}

function alertText(a: { labels: Readonly<Record<string, string>>; annotations: Readonly<Record<string, string>>; values?: Readonly<Record<string, number | null>> | undefined }): string {
  return `labels ${mapText(a.labels)} annotations ${mapText(a.annotations)}${a.values ? ` values ${mapText(a.values)}` : ''}`;
}

/** Pairs expected items with actual ones (each used once), most specific expectations first. */
function pair<E, A>(exp: readonly E[], got: readonly A[], matches: (e: E, a: A) => boolean, specificity: (e: E) => number): { missing: E[]; unexpected: A[] } {
  const used = new Set<number>();
  const missing: E[] = [];
  const order = exp.map((e, i) => ({ e, i })).sort((a, b) => specificity(b.e) - specificity(a.e) || a.i - b.i);
  const unmatched: Array<{ e: E; i: number }> = [];
  for (const { e, i } of order) {
    const j = got.findIndex((a, k) => !used.has(k) && matches(e, a));
    if (j < 0) unmatched.push({ e, i });
    else used.add(j);
  }
  missing.push(...unmatched.sort((a, b) => a.i - b.i).map((x) => x.e));
  return { missing, unexpected: got.filter((_, k) => !used.has(k)) };
}

function checkAlerts(c: AlertRuleCase, g: TestGroup, published: readonly Published[], fuzzy: boolean): CaseOutcome {
  const last = new Map<string, AlertTransition>();
  for (const { t } of published) if (t.rule === c.alertname) last.set(t.alertId, t);
  const got: ActualAlert[] = [...last.values()].filter((t) => t.state === 'firing').map((t) => ({ labels: alertLabels(t), annotations: { ...t.annotations }, values: t.values }));
  const matches = (e: ExpAlert, a: ActualAlert) => isDeepStrictEqual(sortKeys(e.labels), sortKeys(a.labels)) && isDeepStrictEqual(sortKeys(e.annotations), sortKeys(a.annotations)) && (e.values === undefined || valuesEqual(e.values, a.values, fuzzy));
  const { missing, unexpected } = pair(c.expAlerts, got, matches, (e) => (e.values ? 1 : 0));
  const title = caseTitle(c, g);
  if (missing.length === 0 && unexpected.length === 0) return { title, passed: true, details: [] };
  const details = [
    `alertname: ${c.alertname}, time: ${timeText(resolveTime(c.evalTime, g), g)}`,
    `  exp:${c.expAlerts.length === 0 ? ' [] (not firing)' : ''}`,
    ...c.expAlerts.map((e) => `    ${alertText(e)}`),
    `  got:${got.length === 0 ? ' [] (not firing)' : ''}`,
    ...got.map((a) => `    ${alertText({ ...a, values: a.values })}`),
    '  diff (- expected, + got):',
    ...missing.flatMap((e) => [`  - ${alertText(e)}`, ...nearMiss(e, got)]),
    ...unexpected.map((a) => `  + ${alertText({ ...a, values: a.values })}`),
  ];
  return { title, passed: false, details };
}

/** For an expected alert with no match, what differs in an actual alert with the same labels. */
function nearMiss(e: ExpAlert, got: readonly ActualAlert[]): string[] {
  const same = got.find((a) => isDeepStrictEqual(sortKeys(e.labels), sortKeys(a.labels)));
  if (!same) return [];
  const diffs: string[] = [];
  for (const k of new Set([...Object.keys(e.annotations), ...Object.keys(same.annotations)])) {
    if (e.annotations[k] !== same.annotations[k]) diffs.push(`annotation ${k}: expected ${JSON.stringify(e.annotations[k] ?? null)}, got ${JSON.stringify(same.annotations[k] ?? null)}`);
  }
  if (e.values) for (const k of new Set([...Object.keys(e.values), ...Object.keys(same.values)])) if (e.values[k] !== same.values[k]) diffs.push(`${k}: expected ${JSON.stringify(e.values[k] ?? '(none)')}, got ${JSON.stringify(same.values[k] ?? '(none)')}`);
  return diffs.length > 0 ? [`      (an alert with these labels fires, but ${diffs.join('; ')})`] : [];
}

function transitionText(t: AlertTransition, g: TestGroup, afterInput: boolean): string {
  return `${t.state.padEnd(8)} labels ${mapText(alertLabels(t))} window [${offsetText(t.window.start, g)}, ${offsetText(t.window.end, g)}) at ${offsetText(t.at, g)} values ${mapText(t.values)}${afterInput ? ' (end-of-input flush)' : ''}`;
}

function expTransitionText(e: ExpTransition, g: TestGroup): string {
  const parts = [e.state.padEnd(8)];
  if (e.labels) parts.push(`labels ${mapText(e.labels)}`);
  if (e.window) parts.push(`window [${offsetText(resolveTime(e.window.start, g), g)}, ${offsetText(resolveTime(e.window.end, g), g)})`);
  if (e.at) parts.push(`at ${offsetText(resolveTime(e.at, g), g)}`);
  if (e.values) parts.push(`values ${mapText(e.values)}`);
  if (e.annotations) parts.push(`annotations ${mapText(e.annotations)}`);
  return parts.join(' ');
}

function checkTransitions(c: TransitionCase, g: TestGroup, published: readonly Published[], fuzzy: boolean): CaseOutcome {
  const got = published.filter((p) => p.t.rule === c.alertname);
  const matches = (e: ExpTransition, p: Published) => {
    const t = p.t;
    if (e.state !== t.state) return false;
    if (e.labels && !isDeepStrictEqual(sortKeys(e.labels), sortKeys(alertLabels(t)))) return false;
    if (e.annotations && !isDeepStrictEqual(sortKeys(e.annotations), sortKeys(t.annotations))) return false;
    if (e.values && !valuesEqual(e.values, t.values, fuzzy)) return false;
    if (e.window && (resolveTime(e.window.start, g) !== t.window.start || resolveTime(e.window.end, g) !== t.window.end)) return false;
    if (e.at && resolveTime(e.at, g) !== t.at) return false;
    return true;
  };
  const specificity = (e: ExpTransition) => [e.labels, e.annotations, e.values, e.window, e.at].filter((x) => x !== undefined).length;
  const { missing, unexpected } = pair(c.expTransitions, got, matches, specificity);
  const title = caseTitle(c, g);
  if (missing.length === 0 && unexpected.length === 0) return { title, passed: true, details: [] };
  const details = [
    `alertname: ${c.alertname}, transitions ${c.evalTime ? `published by ${timeText(resolveTime(c.evalTime, g), g)}` : 'by the end of the input'}`,
    `  exp:${c.expTransitions.length === 0 ? ' [] (none)' : ''}`,
    ...c.expTransitions.map((e) => `    ${expTransitionText(e, g)}`),
    `  got:${got.length === 0 ? ' [] (none)' : ''}`,
    ...got.map((p) => `    ${transitionText(p.t, g, p.afterInput)}`),
    '  diff (- expected, + got):',
    ...missing.map((e) => `  - ${expTransitionText(e, g)}`),
    ...unexpected.map((p) => `  + ${transitionText(p.t, g, p.afterInput)}`),
  ];
  return { title, passed: false, details };
}
