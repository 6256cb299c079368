/**
 * The rule-test file of `tidewatch test`: promtool's format (`rule_files`,
 * `tests[]`, `interval`, `input_series`, `alert_rule_test` with `eval_time`,
 * `alertname`, `exp_alerts`, `exp_labels`, `exp_annotations`) read for event
 * streams, plus what they need: `input_events`, shards, arrival delays and
 * `alert_transition_test`. The README documents the format; this file reads
 * and validates it, reporting every problem with file:line:column.
 *
 * Times: a duration (`90s`, `1m30s`) is relative to the group's
 * `start_timestamp`; an RFC 3339 string with a time zone is absolute.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { formatDuration, tryParseDuration } from '../../lambdas/core/pipeline';
import { describe, didYouMean } from '../../lambdas/core/pipeline/suggest';
import { YamlSource, type Path } from '../../lambdas/core/pipeline/yamlSource';
import type { EpochMs, JsonObject } from '../../lambdas/core/types';
import { MIN_EVENT_TIME } from '../../lambdas/core/decode';
import { parseSeries, parseValues, type Sample, type Series } from './series';

/** A time as written: relative to the group's start, or absolute. */
export type TimeSpec = { readonly kind: 'relative' | 'absolute'; readonly ms: number };

export interface SeriesInput {
  readonly path: Path;
  readonly text: string;
  readonly series: Series;
  readonly samples: readonly Sample[];
  readonly fields: JsonObject;
  readonly shard?: number;
  readonly arrivalDelayMs?: number;
}

export interface EventInput {
  readonly path: Path;
  readonly time?: TimeSpec;
  readonly arrival?: TimeSpec;
  readonly arrivalDelayMs?: number;
  readonly shard?: number;
  readonly partitionKey?: string;
  /** One of: */
  readonly event?: JsonObject;
  readonly raw?: string;
  /** An NDJSON file (resolved path). */
  readonly file?: string;
}

export interface ExpAlert {
  readonly path: Path;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly values?: Readonly<Record<string, number | null>>;
}

export interface AlertRuleCase {
  readonly path: Path;
  readonly evalTime: TimeSpec;
  readonly alertname: string;
  readonly expAlerts: readonly ExpAlert[];
}

export interface ExpTransition {
  readonly path: Path;
  readonly state: 'firing' | 'resolved';
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly values?: Readonly<Record<string, number | null>>;
  readonly window?: { readonly start: TimeSpec; readonly end: TimeSpec };
  readonly at?: TimeSpec;
}

export interface TransitionCase {
  readonly path: Path;
  readonly alertname: string;
  readonly evalTime?: TimeSpec;
  readonly expTransitions: readonly ExpTransition[];
}

export interface TestGroup {
  readonly path: Path;
  readonly index: number;
  readonly name: string;
  readonly start: EpochMs;
  readonly intervalMs: number;
  readonly stream?: string;
  readonly shards: number;
  readonly partitionKey?: string;
  readonly arrivalDelayMs: number;
  readonly batchWindowMs: number;
  readonly batchSize: number;
  readonly tickEveryMs: number;
  readonly flush: boolean;
  readonly series: readonly SeriesInput[];
  readonly events: readonly EventInput[];
  readonly alertRuleTests: readonly AlertRuleCase[];
  readonly transitionTests: readonly TransitionCase[];
}

export interface TestFile {
  readonly file: string;
  readonly src: YamlSource;
  /** Pipeline files, resolved relative to the test file. */
  readonly ruleFiles: readonly string[];
  readonly fuzzyCompare: boolean;
  readonly groups: readonly TestGroup[];
}

export interface TestFileIssue {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  readonly field: string;
  readonly message: string;
}

export function formatTestIssue(i: TestFileIssue): string {
  let where = i.file;
  if (i.line !== undefined) where += `:${i.line}${i.column !== undefined ? `:${i.column}` : ''}`;
  return `${where}: ${i.field !== '' ? `field "${i.field}": ` : ''}${i.message}`;
}

export class TestFileError extends Error {
  override readonly name = 'TestFileError';
  constructor(readonly issues: readonly TestFileIssue[]) {
    super(issues.map(formatTestIssue).join('\n'));
  }
}

/** promtool's default evaluation interval, which is also the default `interval`. */
export const DEFAULT_INTERVAL_MS = 60_000;
/** promtool starts at the epoch, which tidewatch refuses (event times before 2000 are not plausible): the earliest time it accepts. */
export const DEFAULT_START = MIN_EVENT_TIME;

const TOP_KEYS = ['rule_files', 'evaluation_interval', 'fuzzy_compare', 'tests'];
const GROUP_KEYS = [
  'name',
  'interval',
  'start_timestamp',
  'input_series',
  'input_events',
  'alert_rule_test',
  'alert_transition_test',
  'stream',
  'shards',
  'partition_key',
  'arrival_delay',
  'batch_window',
  'batch_size',
  'tick_interval',
  'flush',
];
const NOT_HERE: Readonly<Record<string, string>> = {
  group_eval_order: 'tidewatch has no rule groups: every rule of a pipeline file is evaluated',
  promql_expr_test: 'tidewatch has no PromQL: check aggregate values with alert_transition_test (exp_values) instead',
  external_labels: 'tidewatch has no external labels: put fixed labels in the rule (labels:)',
  external_url: 'tidewatch templates have no external URL',
};

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

class Reader {
  readonly issues: TestFileIssue[] = [];
  constructor(
    readonly file: string,
    readonly src: YamlSource,
  ) {}

  add(path: Path, message: string, opts: { key?: boolean; offset?: number } = {}): void {
    const at = this.src.position(path, { ...(opts.key ? { key: true } : {}), ...(opts.offset !== undefined ? { offsetInValue: opts.offset } : {}) });
    this.issues.push({ file: this.file, ...(at ? { line: at.line, column: at.column } : {}), field: path.join('.'), message });
  }

  keys(raw: Record<string, unknown>, known: readonly string[], path: Path, what: string): void {
    for (const k of Object.keys(raw)) {
      if (known.includes(k)) continue;
      const hint = NOT_HERE[k];
      this.add([...path, k], hint ? `${k}: ${hint}` : `unknown key${didYouMean(k, known)} (${what} may have: ${known.join(', ')})`, { key: true });
    }
  }

  duration(raw: unknown, path: Path, min = 0): number | undefined {
    const r = tryParseDuration(raw);
    if (!r.ok) return void this.add(path, r.message);
    if (r.value < min) return void this.add(path, `must be at least ${formatDuration(min)} (given ${describe(raw)})`);
    return r.value;
  }

  /** A duration (relative to the start) or an RFC 3339 time (absolute). */
  time(raw: unknown, path: Path): TimeSpec | undefined {
    if (typeof raw === 'string' && /\d{4}-\d{2}-\d{2}T/.test(raw)) {
      const ms = Date.parse(raw);
      if (Number.isNaN(ms) || !/(Z|[+-]\d{2}:\d{2})$/i.test(raw)) return void this.add(path, `expected an RFC 3339 time with a time zone, e.g. 2026-01-01T00:05:00Z (given ${describe(raw)})`);
      return { kind: 'absolute', ms };
    }
    const r = tryParseDuration(raw);
    if (!r.ok) return void this.add(path, `expected a duration from the test's start_timestamp (e.g. 5m, 1m30s) or an RFC 3339 time; ${r.message}`);
    return { kind: 'relative', ms: r.value };
  }

  integer(raw: unknown, path: Path, min: number, max: number): number | undefined {
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) return void this.add(path, `expected a whole number from ${min} to ${max} (given ${describe(raw)})`);
    return raw;
  }

  string(raw: unknown, path: Path, what: string): string | undefined {
    if (typeof raw !== 'string' || raw.trim() === '') return void this.add(path, `expected ${what} (given ${describe(raw)})`);
    return raw;
  }

  bool(raw: unknown, path: Path): boolean | undefined {
    if (typeof raw !== 'boolean') return void this.add(path, `expected true or false (given ${describe(raw)})`);
    return raw;
  }

  list(raw: unknown, path: Path, what: string): unknown[] | undefined {
    if (raw === null || raw === undefined) return [];
    if (!Array.isArray(raw)) return void this.add(path, `expected a list of ${what} (given ${describe(raw)})`);
    return raw;
  }

  /** A map of strings (labels, annotations): YAML numbers and booleans are refused, as promtool refuses them. */
  stringMap(raw: unknown, path: Path, what: string): Record<string, string> | undefined {
    if (raw === null || raw === undefined) return {};
    if (!isMap(raw)) return void this.add(path, `expected a map of ${what} to strings (given ${describe(raw)})`);
    const out: Record<string, string> = {};
    let ok = true;
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== 'string') {
        ok = false;
        this.add([...path, k], `expected a string (given ${describe(v)}); quote values such as '1' or 'true'`);
      } else out[k] = v;
    }
    return ok ? out : undefined;
  }

  values(raw: unknown, path: Path): Record<string, number | null> | undefined {
    if (!isMap(raw)) return void this.add(path, `expected a map of aggregate names to numbers, e.g. { errors: 3, total: 40 } (given ${describe(raw)})`);
    const out: Record<string, number | null> = {};
    let ok = true;
    for (const [k, v] of Object.entries(raw)) {
      if (v === null || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
      else {
        ok = false;
        this.add([...path, k], `expected a number, or null for an aggregate with no value (given ${describe(v)})`);
      }
    }
    return ok ? out : undefined;
  }
}

/** Parses and validates a test file's text. Throws TestFileError with every problem. */
export function parseTestFile(text: string, file: string): TestFile {
  const src = new YamlSource(text);
  if (src.problems.length > 0) throw new TestFileError(src.problems.map((p) => ({ file, line: p.line, column: p.column, field: '', message: p.message })));
  const r = new Reader(file, src);
  const root = src.data;
  if (!isMap(root)) {
    r.add([], `expected a map with rule_files: and tests: (given ${describe(root)})`);
    throw new TestFileError(r.issues);
  }
  r.keys(root, TOP_KEYS, [], 'a test file');
  const ruleFiles: string[] = [];
  const files = Object.hasOwn(root, 'rule_files') ? r.list(root['rule_files'], ['rule_files'], 'pipeline files') : (r.add([], 'rule_files: missing (required): the pipeline files whose rules are tested, relative to this file'), undefined);
  if (files) {
    if (files.length === 0) r.add(['rule_files'], 'name at least one pipeline file');
    files.forEach((f, i) => {
      const name = r.string(f, ['rule_files', i], 'a pipeline file path');
      if (name !== undefined) ruleFiles.push(isAbsolute(name) ? name : join(dirname(file), name));
    });
  }
  const interval = Object.hasOwn(root, 'evaluation_interval') ? r.duration(root['evaluation_interval'], ['evaluation_interval'], 1) : DEFAULT_INTERVAL_MS;
  const fuzzy = Object.hasOwn(root, 'fuzzy_compare') ? r.bool(root['fuzzy_compare'], ['fuzzy_compare']) : false;
  const groups: TestGroup[] = [];
  const tests = Object.hasOwn(root, 'tests') ? r.list(root['tests'], ['tests'], 'test groups') : (r.add([], 'tests: missing (required): a list of test groups'), undefined);
  if (tests?.length === 0) r.add(['tests'], 'the file has no tests');
  tests?.forEach((raw, i) => {
    const g = parseGroup(r, raw, i, interval ?? DEFAULT_INTERVAL_MS, file);
    if (g) groups.push(g);
  });
  if (r.issues.length > 0) throw new TestFileError(r.issues);
  return { file, src, ruleFiles, fuzzyCompare: fuzzy ?? false, groups };
}

function parseGroup(r: Reader, raw: unknown, index: number, defaultInterval: number, file: string): TestGroup | undefined {
  const path: Path = ['tests', index];
  if (!isMap(raw)) return void r.add(path, `expected a test group: a map with input_series/input_events and alert_rule_test (given ${describe(raw)})`);
  const before = r.issues.length;
  r.keys(raw, GROUP_KEYS, path, 'a test group');
  const opt = <T>(key: string, read: (v: unknown, p: Path) => T | undefined): T | undefined => (Object.hasOwn(raw, key) ? read(raw[key], [...path, key]) : undefined);
  const name = opt('name', (v, p) => r.string(v, p, 'a name')) ?? `#${index + 1}`;
  const intervalMs = opt('interval', (v, p) => r.duration(v, p, 1)) ?? defaultInterval;
  let start = DEFAULT_START;
  if (Object.hasOwn(raw, 'start_timestamp')) {
    const v = raw['start_timestamp'];
    const p = [...path, 'start_timestamp'];
    if (typeof v === 'number' && Number.isFinite(v)) start = v * 1000; // promtool: Unix seconds
    else {
      const t = typeof v === 'string' ? r.time(v, p) : (r.add(p, `expected Unix seconds or an RFC 3339 time (given ${describe(v)})`), undefined);
      if (t?.kind === 'relative') r.add(p, 'start_timestamp must be a time (RFC 3339, e.g. 2026-01-01T00:00:00Z, or Unix seconds), not a duration');
      else if (t) start = t.ms;
    }
    if (start < MIN_EVENT_TIME) r.add(p, `tidewatch refuses event times before 2000-01-01 (the default start): give a later start_timestamp`);
  }
  const stream = opt('stream', (v, p) => r.string(v, p, 'the name of a stream of the pipeline'));
  const shards = opt('shards', (v, p) => r.integer(v, p, 1, 64)) ?? 1;
  const partitionKey = opt('partition_key', (v, p) => r.string(v, p, 'a payload field name'));
  const arrivalDelayMs = opt('arrival_delay', (v, p) => r.duration(v, p)) ?? 0;
  const batchWindowMs = opt('batch_window', (v, p) => r.duration(v, p)) ?? 1000;
  const batchSize = opt('batch_size', (v, p) => r.integer(v, p, 1, 10_000)) ?? 1000;
  const tickEveryMs = opt('tick_interval', (v, p) => r.duration(v, p, 1000)) ?? 60_000;
  const flush = opt('flush', (v, p) => r.bool(v, p)) ?? true;
  const shard = (v: unknown, p: Path) => r.integer(v, p, 0, shards - 1);

  const series: SeriesInput[] = [];
  r.list(raw['input_series'], [...path, 'input_series'], 'series')?.forEach((s, i) => {
    const sp: Path = [...path, 'input_series', i];
    if (!isMap(s)) return void r.add(sp, `expected { series: 'name{label="value"}', values: '1+0x10' } (given ${describe(s)})`);
    r.keys(s, ['series', 'values', 'fields', 'shard', 'arrival_delay'], sp, 'a series');
    const text = r.string(s['series'], [...sp, 'series'], 'a series such as status{service="checkout"}');
    const parsed = text === undefined ? undefined : parseSeries(text);
    if (parsed && !parsed.ok) r.add([...sp, 'series'], parsed.message, { offset: parsed.offset });
    const valuesText = typeof s['values'] === 'number' ? String(s['values']) : r.string(s['values'], [...sp, 'values'], "values such as '1+0x10' or '200 200 503'");
    const values = valuesText === undefined ? undefined : parseValues(valuesText);
    if (values && !values.ok) r.add([...sp, 'values'], values.message, { offset: values.offset });
    let fields: JsonObject = {};
    if (Object.hasOwn(s, 'fields')) {
      if (isMap(s['fields'])) fields = s['fields'] as JsonObject;
      else r.add([...sp, 'fields'], `expected a map of payload fields added to every event of the series (given ${describe(s['fields'])})`);
    }
    if (parsed?.ok) {
      for (const l of Object.keys(parsed.series.labels)) if (Object.hasOwn(fields, l)) r.add([...sp, 'fields', l], `"${l}" is also a label of the series: give it once`, { key: true });
      if (Object.hasOwn(fields, parsed.series.name)) r.add([...sp, 'fields', parsed.series.name], `"${parsed.series.name}" is the series name, which holds the sample values: it cannot be a field too`, { key: true });
    }
    const sh = Object.hasOwn(s, 'shard') ? shard(s['shard'], [...sp, 'shard']) : undefined;
    const delay = Object.hasOwn(s, 'arrival_delay') ? r.duration(s['arrival_delay'], [...sp, 'arrival_delay']) : undefined;
    if (parsed?.ok && values?.ok && text !== undefined) {
      series.push({ path: sp, text, series: parsed.series, samples: values.samples, fields, ...(sh !== undefined ? { shard: sh } : {}), ...(delay !== undefined ? { arrivalDelayMs: delay } : {}) });
    }
  });

  const events: EventInput[] = [];
  r.list(raw['input_events'], [...path, 'input_events'], 'events')?.forEach((e, i) => {
    const ep: Path = [...path, 'input_events', i];
    if (!isMap(e)) return void r.add(ep, `expected { time: 30s, event: {...} }, { time: 30s, raw: '...' } or { file: events.ndjson } (given ${describe(e)})`);
    r.keys(e, ['time', 'arrival', 'arrival_delay', 'shard', 'partition_key', 'event', 'raw', 'file'], ep, 'an input event');
    const kinds = ['event', 'raw', 'file'].filter((k) => Object.hasOwn(e, k));
    if (kinds.length !== 1) return void r.add(ep, kinds.length === 0 ? 'give one of event: (a payload), raw: (the record\'s text as is) or file: (an NDJSON file)' : `give only one of ${kinds.join(', ')}`);
    const out: { -readonly [K in keyof EventInput]?: EventInput[K] } = { path: ep };
    if (Object.hasOwn(e, 'time')) out.time = r.time(e['time'], [...ep, 'time']);
    if (Object.hasOwn(e, 'arrival')) out.arrival = r.time(e['arrival'], [...ep, 'arrival']);
    if (Object.hasOwn(e, 'arrival_delay')) out.arrivalDelayMs = r.duration(e['arrival_delay'], [...ep, 'arrival_delay']);
    if (out.arrival && out.arrivalDelayMs !== undefined) r.add([...ep, 'arrival_delay'], 'give arrival: or arrival_delay:, not both');
    if (Object.hasOwn(e, 'shard')) out.shard = shard(e['shard'], [...ep, 'shard']);
    if (Object.hasOwn(e, 'partition_key')) out.partitionKey = r.string(e['partition_key'], [...ep, 'partition_key'], 'a partition key');
    if (kinds[0] === 'event') {
      if (isMap(e['event'])) out.event = e['event'] as JsonObject;
      else r.add([...ep, 'event'], `expected the event's payload as a map (given ${describe(e['event'])})`);
    } else if (kinds[0] === 'raw') {
      if (typeof e['raw'] === 'string') out.raw = e['raw'];
      else r.add([...ep, 'raw'], `expected the record's text (given ${describe(e['raw'])})`);
      if (!out.time && !out.arrival) r.add(ep, 'a raw record needs time: (its arrival, when it has no readable event time) or arrival:');
    } else {
      const f = r.string(e['file'], [...ep, 'file'], 'the path of an NDJSON file, relative to this test file');
      if (f !== undefined) out.file = isAbsolute(f) ? f : join(dirname(file), f);
      if (out.time || out.arrival) r.add(ep, 'a file gives its own event times (and arrival times, for Kinesis records): use arrival_delay to delay its payloads');
    }
    events.push(out as EventInput);
  });

  const alertRuleTests: AlertRuleCase[] = [];
  r.list(raw['alert_rule_test'], [...path, 'alert_rule_test'], 'alert tests')?.forEach((c, i) => {
    const cp: Path = [...path, 'alert_rule_test', i];
    if (!isMap(c)) return void r.add(cp, `expected { eval_time: 5m, alertname: X, exp_alerts: [...] } (given ${describe(c)})`);
    r.keys(c, ['eval_time', 'alertname', 'exp_alerts'], cp, 'an alert_rule_test');
    const evalTime = Object.hasOwn(c, 'eval_time') ? r.time(c['eval_time'], [...cp, 'eval_time']) : (r.add(cp, 'eval_time: missing (required): when to look at the alerts, e.g. 5m after start_timestamp'), undefined);
    const alertname = r.string(c['alertname'], [...cp, 'alertname'], 'the alert name of a rule');
    const expAlerts: ExpAlert[] = [];
    r.list(c['exp_alerts'], [...cp, 'exp_alerts'], 'expected alerts')?.forEach((a, j) => {
      const ap: Path = [...cp, 'exp_alerts', j];
      if (!isMap(a)) return void r.add(ap, `expected { exp_labels: {...}, exp_annotations: {...} } (given ${describe(a)})`);
      r.keys(a, ['exp_labels', 'exp_annotations', 'exp_values'], ap, 'an expected alert');
      const labels = r.stringMap(a['exp_labels'], [...ap, 'exp_labels'], 'label names');
      const annotations = r.stringMap(a['exp_annotations'], [...ap, 'exp_annotations'], 'annotation names');
      const values = Object.hasOwn(a, 'exp_values') ? r.values(a['exp_values'], [...ap, 'exp_values']) : undefined;
      if (labels && annotations) expAlerts.push({ path: ap, labels, annotations, ...(values ? { values } : {}) });
    });
    if (evalTime && alertname !== undefined) alertRuleTests.push({ path: cp, evalTime, alertname, expAlerts });
  });

  const transitionTests: TransitionCase[] = [];
  r.list(raw['alert_transition_test'], [...path, 'alert_transition_test'], 'transition tests')?.forEach((c, i) => {
    const cp: Path = [...path, 'alert_transition_test', i];
    if (!isMap(c)) return void r.add(cp, `expected { alertname: X, exp_transitions: [...] } (given ${describe(c)})`);
    r.keys(c, ['alertname', 'eval_time', 'exp_transitions'], cp, 'an alert_transition_test');
    const alertname = r.string(c['alertname'], [...cp, 'alertname'], 'the alert name of a rule');
    const evalTime = Object.hasOwn(c, 'eval_time') ? r.time(c['eval_time'], [...cp, 'eval_time']) : undefined;
    const exp: ExpTransition[] = [];
    r.list(c['exp_transitions'], [...cp, 'exp_transitions'], 'expected transitions')?.forEach((t, j) => {
      const tp: Path = [...cp, 'exp_transitions', j];
      if (!isMap(t)) return void r.add(tp, `expected { state: firing, exp_labels: {...}, window: { start: 1m, end: 2m }, exp_values: {...} } (given ${describe(t)})`);
      r.keys(t, ['state', 'exp_labels', 'exp_annotations', 'exp_values', 'window', 'at'], tp, 'an expected transition');
      const state = t['state'];
      if (state !== 'firing' && state !== 'resolved') r.add([...tp, 'state'], `expected firing or resolved (given ${describe(state)})`);
      const out: { -readonly [K in keyof ExpTransition]?: ExpTransition[K] } = { path: tp, state: state as 'firing' };
      if (Object.hasOwn(t, 'exp_labels')) out.labels = r.stringMap(t['exp_labels'], [...tp, 'exp_labels'], 'label names');
      if (Object.hasOwn(t, 'exp_annotations')) out.annotations = r.stringMap(t['exp_annotations'], [...tp, 'exp_annotations'], 'annotation names');
      if (Object.hasOwn(t, 'exp_values')) out.values = r.values(t['exp_values'], [...tp, 'exp_values']);
      if (Object.hasOwn(t, 'at')) out.at = r.time(t['at'], [...tp, 'at']);
      if (Object.hasOwn(t, 'window')) {
        const w = t['window'];
        if (!isMap(w) || !Object.hasOwn(w, 'start') || !Object.hasOwn(w, 'end') || Object.keys(w).length !== 2) r.add([...tp, 'window'], `expected { start: <time>, end: <time> } (given ${describe(w)})`);
        else {
          const s = r.time(w['start'], [...tp, 'window', 'start']);
          const e = r.time(w['end'], [...tp, 'window', 'end']);
          if (s && e) out.window = { start: s, end: e };
        }
      }
      exp.push(out as ExpTransition);
    });
    if (alertname !== undefined) transitionTests.push({ path: cp, alertname, ...(evalTime ? { evalTime } : {}), expTransitions: exp });
  });
  if (!Object.hasOwn(raw, 'alert_rule_test') && !Object.hasOwn(raw, 'alert_transition_test')) r.add(path, 'the group tests nothing: add alert_rule_test or alert_transition_test');
  if (series.length === 0 && events.length === 0 && !Object.hasOwn(raw, 'input_series') && !Object.hasOwn(raw, 'input_events')) {
    r.add(path, 'the group has no input: add input_series or input_events (an empty list says "no events" on purpose)');
  }
  if (r.issues.length > before) return undefined;
  return {
    path,
    index,
    name,
    start,
    intervalMs,
    ...(stream !== undefined ? { stream } : {}),
    shards,
    ...(partitionKey !== undefined ? { partitionKey } : {}),
    arrivalDelayMs,
    batchWindowMs,
    batchSize,
    tickEveryMs,
    flush,
    series,
    events,
    alertRuleTests,
    transitionTests,
  };
}

/** A time spec as an absolute time of a group. */
export function resolveTime(t: TimeSpec, group: TestGroup): EpochMs {
  return t.kind === 'absolute' ? t.ms : group.start + t.ms;
}
