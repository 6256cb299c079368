/**
 * Pipeline file -> compiled Pipeline model (see ../types.ts).
 *
 * YAML (with positions) -> per-field zod validation -> semantic checks (CEL,
 * cross-references, templates) -> Pipeline. Every problem found is collected
 * and thrown together as one PipelineError; nothing is silently ignored.
 */

import { dirname, isAbsolute, join } from 'node:path';
import type { z } from 'zod';
import { ANOMALY_FIELDS, ANOMALY_TEMPLATE_NAMES, compileAnomaly, unknownAnomalyFields, type AnomalySpec } from '../anomaly/rule';
import { isVariableName, regexRisk, tryCompileExpression } from '../expression';
import { parseFieldPath, type FieldPath } from '../fieldPath';
import { compileTimeFormat, NAMED_TIME_FORMATS, type TimeFormat } from '../timeFormat';
import type { AbsenceRule, AggregateSpec, DerivedField, Pipeline, Rule, RuleMetricsSpec, SequenceRule, Severity, StreamInput, StreamSpec, WindowRule, WindowSpec } from '../types';
import { compileAggregate } from './aggregates';
import { formatDuration } from './duration';
import type { PipelineIssue } from './errors';
import { PipelineError } from './errors';
import { compileJsonSchema } from './jsonSchema';
import { compileSequence } from './sequenceRule';
import {
  absenceRuleFields,
  BOUNDS,
  commonRuleFields,
  DEFAULTS,
  duration,
  KEY_ALIASES,
  STREAM_NAME,
  streamFields,
  TOP_LEVEL_KEYS,
  windowRuleFields,
} from './schema';
import { describe, didYouMean } from './suggest';
import { ABSENCE_RESOLVED_TEMPLATE_NAMES, ABSENCE_TEMPLATE_NAMES, COMMON_TEMPLATE_NAMES, malformedPlaceholderOffset, templatePlaceholders, WINDOW_TEMPLATE_NAMES } from './template';
import type { Path } from './yamlSource';
import { MAX_PIPELINE_BYTES, YamlSource } from './yamlSource';

export interface ParseOptions {
  /**
   * Reads a stream's JSON Schema file. Paths are already resolved relative to the
   * pipeline file. Without it, a stream with `schema:` is an error.
   */
  readonly readSchema?: (path: string) => string;
}

/** Where an issue is, and whose it is. */
interface Site {
  readonly rule?: string;
  readonly stream?: string;
  /** Point at the key rather than the value (unknown keys, bad names). */
  readonly key?: boolean;
  /** Offset inside the (one-line) string value, e.g. a CEL error position. */
  readonly offset?: number;
}

class Collector {
  readonly issues: PipelineIssue[] = [];
  constructor(
    readonly file: string,
    readonly src: YamlSource,
  ) {}

  add(path: Path, field: string, message: string, site: Site = {}): void {
    const at = this.src.position(path, { ...(site.key ? { key: true } : {}), ...(site.offset !== undefined ? { offsetInValue: site.offset } : {}) });
    this.issues.push({
      file: this.file,
      ...(at ? { line: at.line, column: at.column } : {}),
      ...(site.rule !== undefined ? { rule: site.rule } : {}),
      ...(site.stream !== undefined ? { stream: site.stream } : {}),
      field,
      message,
    });
  }
}

type Shape = Readonly<Record<string, z.ZodType>>;
type Parsed<S extends Shape> = { -readonly [K in keyof S]?: z.output<S[K]> };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Uint8Array);
}

const has = (o: Record<string, unknown>, k: string): boolean => Object.hasOwn(o, k);

/** Validates the fields of `shape` present in `raw`, each on its own; returns the valid ones. */
function parseFields<S extends Shape>(c: Collector, raw: Record<string, unknown>, shape: S, base: Path, site: Site): Parsed<S> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(shape)) {
    if (!has(raw, key)) continue;
    const r = shape[key]!.safeParse(raw[key]);
    if (r.success) {
      out[key] = r.data;
      continue;
    }
    for (const issue of r.error.issues) {
      const sub = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      const keyProblem = issue.code === 'invalid_key' || (issue.code === 'invalid_format' && sub.length > 0);
      c.add([...base, key, ...sub], [key, ...sub].join('.'), issue.message, { ...site, key: keyProblem });
    }
  }
  return out as Parsed<S>;
}

function reportUnknownKeys(c: Collector, raw: Record<string, unknown>, known: readonly string[], base: Path, site: Site, where: string): void {
  for (const key of Object.keys(raw)) {
    if (known.includes(key)) continue;
    c.add([...base, key], key, `unknown key${didYouMean(key, known, KEY_ALIASES)} (${where} may have: ${known.join(', ')})`, { ...site, key: true });
  }
}

function reportMissing(c: Collector, raw: Record<string, unknown>, required: Readonly<Record<string, string>>, base: Path, site: Site): void {
  for (const [key, hint] of Object.entries(required)) {
    if (!has(raw, key)) c.add(base, key, `missing (required): ${hint}`, site);
  }
}

// ------------------------------------------------------------------ streams

function compileStream(c: Collector, name: string, raw: unknown, opts: ParseOptions): StreamSpec | undefined {
  const base: Path = ['streams', name];
  const site: Site = { stream: name };
  const before = c.issues.length;
  if (!STREAM_NAME.test(name)) {
    c.add(base, '', `a stream name is a letter then letters, digits, _ or - (at most 64) (given ${describe(name)})`, { ...site, key: true });
  }
  if (!isPlainObject(raw)) {
    c.add(base, '', `expected a map such as { timestamp: ts } (given ${describe(raw)})`, site);
    return undefined;
  }
  reportUnknownKeys(c, raw, Object.keys(streamFields), base, site, 'a stream');
  reportMissing(c, raw, { timestamp: 'the field path holding the event time (ISO-8601 string or epoch ms), { field, format }, or $arrival' }, base, site);
  const f = parseFields(c, raw, streamFields, base, site);

  const timestamp = has(raw, 'timestamp') ? compileTimestamp(c, raw.timestamp, base, site) : undefined;
  const input = compileInput(c, raw, f, base, site);
  let idPath: FieldPath | undefined;
  if (f.id !== undefined) {
    const p = parseFieldPath(f.id);
    if (typeof p === 'string') c.add([...base, 'id'], 'id', p, site);
    else if (!p.simple) idPath = p;
  }

  let validate: StreamSpec['validate'];
  let schemaPath: string | undefined;
  if (f.schema !== undefined) {
    schemaPath = isAbsolute(f.schema) ? f.schema : join(dirname(c.file), f.schema);
    if (!opts.readSchema) {
      c.add([...base, 'schema'], 'schema', `cannot read ${schemaPath}: no schema reader was given (use loadPipeline, or pass readSchema)`, site);
    } else {
      let text: string | undefined;
      try {
        text = opts.readSchema(schemaPath);
      } catch (e) {
        c.add([...base, 'schema'], 'schema', `cannot read JSON Schema file ${schemaPath}: ${e instanceof Error ? e.message : String(e)}`, site);
      }
      if (text !== undefined) {
        const compiled = compileJsonSchema(text);
        if (compiled.ok) validate = compiled.validate;
        else c.add([...base, 'schema'], 'schema', `bad JSON Schema file ${schemaPath}: ${compiled.message}`, site);
      }
    }
  }

  if (f.dedupe !== undefined && f.dedupe !== 'off' && f.id === undefined) {
    c.add([...base, 'dedupe'], 'dedupe', 'dedupe needs the stream to declare its event id field (id: <field>)', site);
  }
  if (c.issues.length > before || timestamp === undefined) return undefined;
  const dedupeHorizonMs = f.id === undefined || f.dedupe === 'off' ? null : (f.dedupe ?? DEFAULTS.dedupeHorizonMs);
  return {
    name,
    timestamp,
    dedupeHorizonMs,
    ...(f.id !== undefined ? { idField: f.id } : {}),
    ...(idPath !== undefined ? { idPath } : {}),
    ...input,
    ...(validate ? { validate } : {}),
    ...(schemaPath !== undefined ? { schemaPath } : {}),
    outOfOrdernessMs: f.outOfOrderness ?? DEFAULTS.outOfOrdernessMs,
    maxFutureMs: f.maxFuture ?? DEFAULTS.maxFutureMs,
    idleTimeoutMs: f.idleTimeout ?? DEFAULTS.idleTimeoutMs,
    maxRecordBytes: f.maxRecordSize ?? DEFAULTS.maxRecordBytes,
    ...(f.batching !== undefined ? { batching: f.batching } : {}),
  };
}

const TIMESTAMP_SHAPES = 'a field path (e.g. ts or detail.time), $arrival, or { field: <path>, format: auto | iso | epoch-ms | epoch-s | <pattern> }';

function compileTimestamp(c: Collector, raw: unknown, base: Path, site: Site): StreamSpec['timestamp'] | undefined {
  const path: Path = [...base, 'timestamp'];
  const fieldOf = (value: unknown, at: Path, field: string): FieldPath | undefined => {
    if (typeof value !== 'string' || value.trim() === '') {
      c.add(at, field, `expected ${TIMESTAMP_SHAPES} (given ${describe(value)})`, site);
      return undefined;
    }
    const p = parseFieldPath(value);
    if (typeof p === 'string') {
      c.add(at, field, p, site);
      return undefined;
    }
    return p;
  };
  if (typeof raw === 'string') {
    if (raw === '$arrival') return { kind: 'arrival' };
    if (raw.startsWith('$')) {
      c.add(path, 'timestamp', `unknown special value ${describe(raw)}: the only one is $arrival (Kinesis arrival time)`, site);
      return undefined;
    }
    const p = fieldOf(raw, path, 'timestamp');
    if (p === undefined) return undefined;
    return { kind: 'field', field: raw, ...(p.simple ? {} : { path: p }) };
  }
  if (!isPlainObject(raw)) {
    c.add(path, 'timestamp', `expected ${TIMESTAMP_SHAPES} (given ${describe(raw)})`, site);
    return undefined;
  }
  reportUnknownKeys(c, raw, ['field', 'format'], path, site, 'timestamp');
  if (!has(raw, 'field')) {
    c.add(path, 'timestamp.field', 'missing (required): the field path holding the event time', site);
    return undefined;
  }
  const p = fieldOf(raw.field, [...path, 'field'], 'timestamp.field');
  let format: TimeFormat | undefined;
  if (has(raw, 'format')) {
    if (typeof raw.format !== 'string') {
      c.add([...path, 'format'], 'timestamp.format', `expected one of ${NAMED_TIME_FORMATS.join(' | ')} or a pattern such as "dd/MMM/yyyy:HH:mm:ss Z" (given ${describe(raw.format)})`, site);
      return undefined;
    }
    const r = compileTimeFormat(raw.format);
    if (typeof r === 'string') {
      c.add([...path, 'format'], 'timestamp.format', r, site);
      return undefined;
    }
    format = r;
  }
  if (p === undefined) return undefined;
  return { kind: 'field', field: p.source, ...(p.simple ? {} : { path: p }), ...(format !== undefined && format.kind !== 'auto' ? { format } : {}) };
}

const PARSE_SHAPES = "json | logfmt | { regex: '<pattern with named groups (?<name>...)>' }";

/** framing, parse, kpl, gzip and derived fields of a stream. */
function compileInput(c: Collector, raw: Record<string, unknown>, f: Parsed<typeof streamFields>, base: Path, site: Site): StreamInput {
  const out: { -readonly [K in keyof StreamInput]: StreamInput[K] } = {};
  if (f.framing !== undefined && f.framing !== 'json') out.framing = f.framing;
  if (f.kpl === false) out.kpl = false;
  if (f.gzip === false) out.gzip = false;
  if (has(raw, 'parse')) {
    const at: Path = [...base, 'parse'];
    const p = raw.parse;
    if (p === 'json') {
      // the default
    } else if (p === 'logfmt') out.parse = { kind: 'logfmt' };
    else if (isPlainObject(p) && Object.keys(p).length === 1 && has(p, 'regex')) {
      const source = p.regex;
      if (typeof source !== 'string' || source === '') {
        c.add([...at, 'regex'], 'parse.regex', `expected a regular expression with named groups, e.g. '^(?<level>[A-Z]+) (?<message>.*)$' (given ${describe(source)})`, site);
      } else {
        let regex: RegExp | undefined;
        try {
          regex = new RegExp(source);
        } catch (e) {
          c.add([...at, 'regex'], 'parse.regex', `not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`, site);
        }
        const risk = regex !== undefined ? regexRisk(source) : null;
        if (risk !== null) c.add([...at, 'regex'], 'parse.regex', `unsafe regular expression: ${risk} (patterns that can backtrack exponentially are refused, as in CEL matches)`, site);
        else if (regex !== undefined) {
          const names = [...source.matchAll(/\(\?<([A-Za-z_$][\w$]*)>/g)].map((m) => m[1]!);
          if (names.length === 0) c.add([...at, 'regex'], 'parse.regex', 'the regular expression has no named group: name each field, e.g. (?<status>[0-9]{3})', site);
          else out.parse = { kind: 'regex', source, regex };
        }
      }
    } else {
      const hint = isPlainObject(p) ? didYouMean(Object.keys(p)[0] ?? '', ['regex']) : '';
      c.add(at, 'parse', `expected ${PARSE_SHAPES} (given ${describe(p)}${hint})`, site);
    }
    if (f.framing === 'json-array' && out.parse !== undefined) {
      c.add(at, 'parse', 'framing json-array holds JSON objects: parse must be json (omit it)', site);
    }
  }
  if (f.fields !== undefined) {
    const derived: DerivedField[] = [];
    for (const [name, source] of Object.entries(f.fields)) {
      const at: Path = [...base, 'fields', name];
      if (!isVariableName(name)) {
        c.add(at, `fields.${name}`, `derived field name "${name}" must be usable in expressions: letters, digits and _, not starting with a digit, and not a CEL reserved word or type name`, { ...site, key: true });
        continue;
      }
      if (name === 'cloudwatch' || name === 'event') {
        c.add(at, `fields.${name}`, `"${name}" is reserved (${name === 'event' ? 'the whole payload in expressions' : 'the CloudWatch Logs fields'})`, { ...site, key: true });
        continue;
      }
      const r = tryCompileExpression(source, { what: `stream "${site.stream}" field "${name}"` });
      if (r.ok) derived.push({ name, expression: r.expression });
      else c.add(at, `fields.${name}`, r.message, { ...site, ...(r.offset !== undefined ? { offset: r.offset } : {}) });
    }
    if (derived.length > 0) out.derived = derived;
  }
  return out;
}

// ------------------------------------------------------------------ windows

const WINDOW_SHAPES = '{ tumbling: <duration> } | { hopping: <duration>, every: <duration> } | { session: <duration> }';
const WINDOW_KEYS = ['tumbling', 'hopping', 'every', 'session'];

function compileWindow(c: Collector, raw: unknown, base: Path, site: Site): WindowSpec | undefined {
  const path = [...base, 'window'];
  const keys = isPlainObject(raw) ? Object.keys(raw).sort().join(',') : undefined;
  const shapeError = (): undefined => {
    let hint = '';
    if (isPlainObject(raw)) {
      const unknown = Object.keys(raw).find((k) => !WINDOW_KEYS.includes(k));
      if (unknown !== undefined) hint = didYouMean(unknown, WINDOW_KEYS);
    }
    c.add(path, 'window', `expected one of ${WINDOW_SHAPES} (given ${describe(raw)}${hint})`, { ...site, key: true });
    return undefined;
  };
  if (!isPlainObject(raw)) return shapeError();
  const dur = (key: string, min: number, max: number): number | undefined => {
    const r = duration(min, max).safeParse(raw[key]);
    if (r.success) return r.data;
    c.add([...path, key], `window.${key}`, r.error.issues[0]!.message, site);
    return undefined;
  };
  if (keys === 'tumbling') {
    const size = dur('tumbling', BOUNDS.windowSize.min, BOUNDS.windowSize.max);
    return size === undefined ? undefined : { kind: 'tumbling', sizeMs: size };
  }
  if (keys === 'session') {
    const gap = dur('session', BOUNDS.sessionGap.min, BOUNDS.sessionGap.max);
    return gap === undefined ? undefined : { kind: 'session', gapMs: gap };
  }
  if (keys === 'every,hopping') {
    const size = dur('hopping', BOUNDS.windowSize.min, BOUNDS.windowSize.max);
    const every = dur('every', BOUNDS.hoppingEvery.min, BOUNDS.hoppingEvery.max);
    if (size === undefined || every === undefined) return undefined;
    const s = formatDuration(size);
    const e = formatDuration(every);
    if (every >= size) {
      c.add([...path, 'every'], 'window.every', `every (${e}) must be smaller than the window size (${s}); a hopping window that moves by its whole size is { tumbling: ${s} }`, site);
      return undefined;
    }
    if (size % every !== 0) {
      c.add([...path, 'every'], 'window.every', `every (${e}) must divide the window size (${s}) evenly, so that windows line up (e.g. every: ${formatDuration(largestDivisorAtMost(size, every))})`, site);
      return undefined;
    }
    if (size / every > BOUNDS.maxHopsPerEvent) {
      c.add([...path, 'every'], 'window.every', `a hopping window of ${s} every ${e} puts each event into ${size / every} windows; at most ${BOUNDS.maxHopsPerEvent} are allowed (use a larger every)`, site);
      return undefined;
    }
    return { kind: 'hopping', sizeMs: size, slideMs: every };
  }
  if (keys === 'hopping') {
    c.add(path, 'window', `a hopping window needs every: how far it moves, e.g. { hopping: ${describe(raw.hopping).replace(/"/g, '')}, every: 1m }`, site);
    return undefined;
  }
  return shapeError();
}

/** A "nice" divisor of size not larger than hint, for suggestions: whole seconds/minutes when possible. */
function largestDivisorAtMost(size: number, hint: number): number {
  for (const unit of [60_000, 1_000, 1]) {
    for (let d = Math.floor(hint / unit) * unit; d >= unit; d -= unit) if (size % d === 0) return d;
  }
  return 1;
}

// ------------------------------------------------------------------ metrics

/** Names CloudWatch metric documents reserve: the rule's own dimension and EMF's metadata member. */
const METRIC_RESERVED_NAMES = ['Rule', '_aws'];
const METRICS_SHAPES = 'true, a list of aggregate names such as [errors, total], or { aggregates: [...], maxGroups: 100 }';

/**
 * `metrics:` of a window rule: which aggregates each closed window publishes
 * as CloudWatch metrics (dimensions `Rule` and the group labels), and for how
 * many groups. Names are checked against what CloudWatch accepts.
 */
function compileMetrics(c: Collector, raw: unknown, base: Path, site: Site, aggregateNames: readonly string[], groupBy: readonly string[]): RuleMetricsSpec | undefined {
  const path = [...base, 'metrics'];
  const before = c.issues.length;
  if (raw === false) return undefined;
  let list: unknown = raw;
  let maxGroups: number = DEFAULTS.metricsMaxGroups;
  if (isPlainObject(raw)) {
    for (const key of Object.keys(raw)) {
      if (key !== 'aggregates' && key !== 'maxGroups') c.add([...path, key], `metrics.${key}`, `unknown key${didYouMean(key, ['aggregates', 'maxGroups'])} (metrics may have: aggregates, maxGroups)`, { ...site, key: true });
    }
    list = has(raw, 'aggregates') ? raw.aggregates : true;
    if (has(raw, 'maxGroups')) {
      const m = raw.maxGroups;
      const { min, max } = BOUNDS.metricsMaxGroups;
      if (typeof m !== 'number' || !Number.isInteger(m) || m < min || m > max) {
        c.add([...path, 'maxGroups'], 'metrics.maxGroups', `expected a whole number of groups from ${min} to ${max} (given ${describe(m)})`, site);
      } else maxGroups = m;
    }
  }
  let aggregates: string[] = [];
  if (list === true) aggregates = [...aggregateNames];
  else if (Array.isArray(list) && list.length > 0) {
    list.forEach((name: unknown, i: number) => {
      const at = isPlainObject(raw) ? [...path, 'aggregates', i] : [...path, i];
      const field = isPlainObject(raw) ? `metrics.aggregates.${i}` : `metrics.${i}`;
      if (typeof name !== 'string' || !aggregateNames.includes(name)) {
        c.add(at, field, `${describe(name)} is not an aggregate of this rule${typeof name === 'string' ? didYouMean(name, aggregateNames) : ''} (aggregates: ${aggregateNames.join(', ')})`, site);
      } else if (aggregates.includes(name)) c.add(at, field, `"${name}" is listed twice`, site);
      else aggregates.push(name);
    });
    // The rule's declaration order, whatever the list's.
    aggregates = aggregateNames.filter((n) => aggregates.includes(n));
  } else {
    c.add(isPlainObject(raw) ? [...path, 'aggregates'] : path, isPlainObject(raw) ? 'metrics.aggregates' : 'metrics', `expected ${METRICS_SHAPES} (given ${describe(list)})`, site);
  }
  for (const name of aggregates) {
    if (METRIC_RESERVED_NAMES.includes(name)) c.add(path, 'metrics', `aggregate "${name}" cannot be published: ${METRIC_RESERVED_NAMES.join(' and ')} are reserved in metric documents (rename the aggregate)`, site);
  }
  if (groupBy.length > BOUNDS.metricsGroupLabels) {
    c.add(path, 'metrics', `a metric has at most 30 dimensions in CloudWatch: Rule and ${BOUNDS.metricsGroupLabels} group labels (this rule groups by ${groupBy.length})`, site);
  }
  for (const g of groupBy) {
    // CloudWatch dimension names: 1..255 ASCII characters, not only spaces, no control characters, not starting with ':'.
    if (METRIC_RESERVED_NAMES.includes(g)) c.add(path, 'metrics', `group label "${g}" cannot be a metric dimension: ${METRIC_RESERVED_NAMES.join(' and ')} are reserved`, site);
    else if (!/^[\x20-\x7e]{1,255}$/.test(g) || /["'\\]/.test(g) || g.trim() === '' || g.startsWith(':')) {
      c.add(path, 'metrics', `group label ${describe(g)} cannot be a metric dimension name (1 to 255 printable ASCII characters without quotes or backslashes, not starting with ':')`, site);
    }
  }
  return c.issues.length > before ? undefined : { aggregates, maxGroups };
}

// ------------------------------------------------------------------ rules

const RESERVED_AGGREGATE_NAMES = new Set<string>([...COMMON_TEMPLATE_NAMES, 'window', 'event']);

function ruleLabel(raw: unknown, index: number): string {
  if (isPlainObject(raw) && typeof raw.alert === 'string' && commonRuleFields.alert.safeParse(raw.alert).success) return raw.alert;
  return `#${index + 1}`;
}

function compileRule(c: Collector, raw: unknown, index: number, declaredStreams: ReadonlySet<string>): Rule | undefined {
  const base: Path = ['rules', index];
  const label = ruleLabel(raw, index);
  const site: Site = { rule: label };
  const what = label.startsWith('#') ? `rule ${label}` : `rule "${label}"`;
  const before = c.issues.length;

  if (!isPlainObject(raw)) {
    c.add(base, '', `expected a rule: a map with alert:, stream:, and window: or absent: (given ${describe(raw)})`, site);
    return undefined;
  }

  const windowKeys = Object.keys(windowRuleFields);
  const absenceKeys = Object.keys(absenceRuleFields);
  const allKeys = [...Object.keys(commonRuleFields), ...windowKeys, ...absenceKeys, 'sequence'];
  reportUnknownKeys(c, raw, allKeys, base, site, 'a rule');

  const isAbsence = has(raw, 'absent');
  const isSequence = has(raw, 'sequence');
  if (isSequence) {
    for (const key of [...windowKeys, ...absenceKeys]) {
      if (has(raw, key)) c.add([...base, key], key, `not allowed in a sequence rule (a rule has one of window:, absent: or sequence:); ${key} belongs to ${windowKeys.includes(key) ? 'window' : 'absence'} rules`, { ...site, key: true });
    }
    reportMissing(c, raw, { alert: "the alert's name", stream: 'the stream the rule reads' }, base, site);
  } else if (isAbsence) {
    for (const key of windowKeys) {
      if (has(raw, key)) {
        c.add([...base, key], key, `not allowed in an absence rule (a rule has either window: or absent:, not both); ${key === 'window' ? 'remove window:, or remove absent: to make this a window rule' : `${key} belongs to window rules`}`, { ...site, key: true });
      }
    }
    reportMissing(c, raw, { alert: "the alert's name", stream: 'the stream the rule reads' }, base, site);
  } else {
    reportMissing(
      c,
      raw,
      {
        alert: "the alert's name",
        stream: 'the stream the rule reads',
        window: `one of ${WINDOW_SHAPES} (or absent: <duration> for an absence rule)`,
        aggregate: "named aggregates, e.g. { total: 'count()' }",
        when: "a CEL condition over the aggregates, e.g. 'total > 100.0'",
      },
      base,
      site,
    );
  }

  const common = parseFields(c, raw, commonRuleFields, base, site);

  if (common.stream !== undefined && !declaredStreams.has(common.stream)) {
    c.add([...base, 'stream'], 'stream', `unknown stream "${common.stream}"${didYouMean(common.stream, declaredStreams)} (declared: ${[...declaredStreams].join(', ') || 'none'})`, site);
  }

  let where: WindowRule['where'];
  if (common.where !== undefined) {
    const r = tryCompileExpression(common.where, { what: `${what} where`, result: 'bool' });
    if (r.ok) where = r.expression;
    else c.add([...base, 'where'], 'where', r.message, { ...site, ...(r.offset !== undefined ? { offset: r.offset } : {}) });
  }

  // A sequence's key is `sequence.by` (EQL's `sequence by`), or the rule's groupBy: not both.
  const sequence = isSequence
    ? compileSequence(raw.sequence, what, (path, field, message, opts) => c.add([...base, ...path], field, message, { ...site, ...(opts?.key ? { key: true } : {}), ...(opts?.offset !== undefined ? { offset: opts.offset } : {}) }))
    : undefined;
  if (sequence?.by !== undefined && common.groupBy !== undefined) c.add([...base, 'groupBy'], 'groupBy', 'a sequence rule has its key in sequence.by or in groupBy, not both', { ...site, key: true });
  const groupBy = sequence?.by ?? common.groupBy ?? [];
  groupBy.forEach((g, j) => {
    if (groupBy.indexOf(g) !== j) c.add([...base, 'groupBy', j], `groupBy.${j}`, `"${g}" is listed twice`, site);
    const p = parseFieldPath(g);
    if (typeof p === 'string') c.add([...base, 'groupBy', j], `groupBy.${j}`, p, site);
  });

  const labels = common.labels ?? {};
  for (const key of Object.keys(labels)) {
    if (groupBy.includes(key)) {
      c.add([...base, 'labels', key], `labels.${key}`, `label "${key}" is also a groupBy label: its value would be ambiguous`, { ...site, key: true });
    }
  }

  // names available to templates, built as the rule is compiled
  const templateNames = new Set<string>([...groupBy, ...COMMON_TEMPLATE_NAMES]);
  let rule: Rule | undefined;
  // The fields every rule has, once its name and stream are known.
  const shared = (name: string, stream: string) => ({
    name,
    stream,
    ...(where ? { where } : {}),
    groupBy,
    severity: (common.severity ?? DEFAULTS.severity) as Severity,
    labels,
    annotations: common.annotations ?? {},
    ...(common.resolvedAnnotations !== undefined ? { resolvedAnnotations: common.resolvedAnnotations } : {}),
  });

  if (isSequence) {
    for (const n of sequence?.templateNames ?? []) templateNames.add(n);
    if (sequence !== undefined && common.alert !== undefined && common.stream !== undefined) {
      rule = { type: 'sequence', ...shared(common.alert, common.stream), sequence: sequence.spec } satisfies SequenceRule;
    }
  } else if (isAbsence) {
    const f = parseFields(c, raw, absenceRuleFields, base, site);
    for (const n of ABSENCE_TEMPLATE_NAMES) templateNames.add(n);
    if (f.absent !== undefined && common.alert !== undefined && common.stream !== undefined) {
      rule = {
        type: 'absence',
        ...shared(common.alert, common.stream),
        absentMs: f.absent,
        resolveAfterMs: f.resolveAfter ?? 0,
      } satisfies AbsenceRule;
    }
  } else {
    for (const key of absenceKeys) {
      if (key !== 'absent' && has(raw, key)) c.add([...base, key], key, `${key} belongs to absence rules (rules with absent:)`, { ...site, key: true });
    }
    const f = parseFields(c, raw, windowRuleFields, base, site);
    for (const n of WINDOW_TEMPLATE_NAMES) templateNames.add(n);
    const window = has(raw, 'window') ? compileWindow(c, raw.window, base, site) : undefined;

    // aggregates
    const aggregates: AggregateSpec[] = [];
    const aggregateNames: string[] = [];
    let aggregatesOk = f.aggregate !== undefined;
    if (f.aggregate !== undefined) {
      const entries = Object.entries(f.aggregate);
      if (entries.length === 0) {
        c.add([...base, 'aggregate'], 'aggregate', "at least one aggregate is needed, e.g. { total: 'count()' }", site);
        aggregatesOk = false;
      } else if (entries.length > BOUNDS.aggregatesPerRule) {
        c.add([...base, 'aggregate'], 'aggregate', `at most ${BOUNDS.aggregatesPerRule} aggregates per rule (given ${entries.length})`, site);
      }
      for (const [name, source] of entries) {
        const path = [...base, 'aggregate', name];
        const field = `aggregate.${name}`;
        let nameOk = true;
        if (!isVariableName(name)) {
          nameOk = false;
          c.add(path, field, `aggregate name "${name}" must be usable in when: letters, digits and _, not starting with a digit, and not a CEL reserved word or type name`, { ...site, key: true });
        } else if (RESERVED_AGGREGATE_NAMES.has(name)) {
          nameOk = false;
          c.add(path, field, `aggregate name "${name}" is reserved (${[...RESERVED_AGGREGATE_NAMES].join(', ')})`, { ...site, key: true });
        } else if (groupBy.includes(name)) {
          nameOk = false;
          c.add(path, field, `aggregate name "${name}" is also a groupBy label: rename the aggregate`, { ...site, key: true });
        }
        if (nameOk) {
          aggregateNames.push(name);
          templateNames.add(name);
        }
        if (typeof source !== 'string') {
          c.add(path, field, `expected an aggregate expression such as 'count()' or 'sum(bytes)' (given ${describe(source)})`, site);
          continue;
        }
        const r = compileAggregate(name, source, `${what} aggregate "${name}"`);
        if (r.ok) aggregates.push(r.spec);
        else c.add(path, field, r.message, { ...site, ...(r.offset !== undefined ? { offset: r.offset } : {}) });
      }
    }

    // anomaly detection (anomaly/rule.ts): `anomaly.*` in when, `{{anomaly.*}}` in annotations
    let anomaly: AnomalySpec | undefined;
    const hasAnomaly = has(raw, 'anomaly');
    if (hasAnomaly && aggregatesOk) {
      const r = compileAnomaly(raw.anomaly, { aggregates: aggregateNames, fixedWindows: window === undefined || window.kind !== 'session', early: f.emit === 'early' });
      for (const issue of r.issues) c.add([...base, ...issue.path], issue.field, issue.message, { ...site, ...(issue.key ? { key: true } : {}) });
      anomaly = r.spec;
      if (aggregateNames.includes('anomaly')) c.add([...base, 'aggregate', 'anomaly'], 'aggregate.anomaly', 'aggregate name "anomaly" is reserved in a rule with anomaly: (rename the aggregate)', { ...site, key: true });
    }
    if (hasAnomaly) for (const n of ANOMALY_TEMPLATE_NAMES) templateNames.add(n);

    let when: WindowRule['when'] | undefined;
    if (f.when !== undefined && aggregatesOk) {
      const variables: Record<string, 'double' | 'dyn'> = {};
      for (const n of aggregateNames) variables[n] = 'double';
      for (const g of groupBy) if (isVariableName(g) && !(g in variables)) variables[g] = 'dyn';
      if (hasAnomaly) variables['anomaly'] = 'dyn';
      const r = tryCompileExpression(f.when, { what: `${what} when`, variables, result: 'bool' });
      if (r.ok) when = r.expression;
      else c.add([...base, 'when'], 'when', r.message + (!hasAnomaly && /"anomaly"/.test(r.message) ? ' (anomaly.* needs an anomaly: block on the rule)' : ''), { ...site, ...(r.offset !== undefined ? { offset: r.offset } : {}) });
      if (r.ok && hasAnomaly) {
        for (const u of unknownAnomalyFields(f.when)) c.add([...base, 'when'], 'when', `unknown name "anomaly.${u.name}": anomaly has ${ANOMALY_FIELDS.join(', ')}${didYouMean(u.name, ANOMALY_FIELDS)}`, { ...site, offset: u.offset });
      }
    }

    const metrics = has(raw, 'metrics') && aggregatesOk ? compileMetrics(c, raw.metrics, base, site, aggregateNames, groupBy) : undefined;

    if (common.alert !== undefined && common.stream !== undefined && window && when) {
      rule = {
        type: 'window',
        ...shared(common.alert, common.stream),
        window,
        latenessMs: f.lateness ?? DEFAULTS.latenessMs,
        aggregates,
        when,
        for: f.for ?? DEFAULTS.for,
        emit: f.emit ?? DEFAULTS.emit,
        ...(metrics !== undefined ? { metrics } : {}),
        ...(anomaly !== undefined ? { anomaly } : {}),
      } satisfies WindowRule;
    }
  }

  // annotation templates (resolved ones of absence rules may also say when the group came back)
  const templateMaps: Array<[string, Record<string, string> | undefined, ReadonlySet<string>]> = [
    ['annotations', common.annotations, templateNames],
    ['resolvedAnnotations', common.resolvedAnnotations, isAbsence ? new Set([...templateNames, ...ABSENCE_RESOLVED_TEMPLATE_NAMES]) : templateNames],
  ];
  const builtIn = (COMMON_TEMPLATE_NAMES as readonly string[]).concat(ABSENCE_TEMPLATE_NAMES, ABSENCE_RESOLVED_TEMPLATE_NAMES, WINDOW_TEMPLATE_NAMES);
  for (const [mapName, templates, names] of templateMaps) {
    for (const [key, template] of Object.entries(templates ?? {})) {
      const path = [...base, mapName, key];
      const field = `${mapName}.${key}`;
      const bad = malformedPlaceholderOffset(template);
      if (bad >= 0) {
        c.add(path, field, `malformed placeholder ${JSON.stringify(template.slice(bad, bad + 20))}: write {{name}} (letters, digits, _, - and .)`, { ...site, offset: bad });
      }
      for (const { name, offset } of templatePlaceholders(template)) {
        if (!names.has(name)) {
          const list = [...names];
          const only = (ABSENCE_RESOLVED_TEMPLATE_NAMES as readonly string[]).includes(name) ? ` ({{${name}}} is for resolvedAnnotations of absence rules)` : '';
          c.add(path, field, `unknown name {{${name}}}${only || didYouMean(name, list)} (this rule's templates may use: ${list.join(', ')})`, { ...site, offset });
        } else if (groupBy.includes(name) && builtIn.includes(name)) {
          c.add(path, field, `{{${name}}} is ambiguous: it is both a groupBy label and a built-in name`, { ...site, offset });
        }
      }
    }
  }

  return c.issues.length > before ? undefined : rule;
}

// ------------------------------------------------------------------ pipeline

/** Parses and compiles a pipeline file's text. `file` is used in messages and to resolve schema paths. */
export function parsePipeline(text: string, file: string, opts: ParseOptions = {}): Pipeline {
  if (text.length > MAX_PIPELINE_BYTES) {
    throw new PipelineError([{ file, field: '', message: `the file is too large (${text.length} characters; at most ${MAX_PIPELINE_BYTES})` }]);
  }
  const src = new YamlSource(text);
  if (src.problems.length > 0) {
    throw new PipelineError(src.problems.map((p) => ({ file, line: p.line, column: p.column, field: '', message: p.message })));
  }
  const c = new Collector(file, src);
  const root = src.data;
  if (root === null || root === undefined) {
    c.add([], '', 'the file is empty: expected streams: and rules:');
    throw new PipelineError(c.issues);
  }
  if (!isPlainObject(root)) {
    c.add([], '', `expected a map with streams: and rules: (given ${describe(root)})`);
    throw new PipelineError(c.issues);
  }
  // `x-...` keys are free for YAML anchors (x-defaults: &defaults ...).
  const topLevel = Object.fromEntries(Object.entries(root).filter(([k]) => !k.startsWith('x-')));
  reportUnknownKeys(c, topLevel, TOP_LEVEL_KEYS, [], {}, 'the file');

  const streams = new Map<string, StreamSpec>();
  const declared = new Set<string>();
  if (!has(root, 'streams')) c.add([], 'streams', 'missing (required): declare at least one stream, e.g. streams: { telemetry: { timestamp: ts } }');
  else if (!isPlainObject(root.streams) || Object.keys(root.streams).length === 0) {
    c.add(['streams'], 'streams', `expected a map of stream names to streams, e.g. { telemetry: { timestamp: ts } } (given ${describe(root.streams)})`);
  } else {
    for (const [name, raw] of Object.entries(root.streams)) {
      declared.add(name);
      const s = compileStream(c, name, raw, opts);
      if (s) streams.set(name, s);
    }
  }

  const rules: Rule[] = [];
  if (!has(root, 'rules')) c.add([], 'rules', 'missing (required): a list of alert rules');
  else if (!Array.isArray(root.rules) || root.rules.length === 0) {
    c.add(['rules'], 'rules', `expected a list of alert rules (- alert: ...) (given ${describe(root.rules)})`);
  } else {
    const firstByName = new Map<string, number>();
    root.rules.forEach((raw: unknown, i: number) => {
      const rule = compileRule(c, raw, i, declared);
      if (rule) rules.push(rule);
      const name = isPlainObject(raw) ? raw.alert : undefined;
      if (typeof name !== 'string') return;
      const first = firstByName.get(name);
      if (first === undefined) firstByName.set(name, i);
      else {
        const at = src.position(['rules', first, 'alert']);
        c.add(['rules', i, 'alert'], 'alert', `duplicate alert name "${name}": rule #${first + 1}${at ? ` (line ${at.line})` : ''} already uses it`, { rule: name });
      }
    });
  }

  if (c.issues.length > 0) throw new PipelineError(c.issues);
  return { file, streams: withGroupPaths(streams, rules), rules };
}

/**
 * Each stream with the nested paths its rules group by (`groupBy:
 * [detail.service]`), which decoding copies to the payload under their text
 * (StreamSpec.materialize): the group label is the path as written.
 */
function withGroupPaths(streams: Map<string, StreamSpec>, rules: readonly Rule[]): Map<string, StreamSpec> {
  const out = new Map<string, StreamSpec>();
  for (const [name, spec] of streams) {
    const paths = new Map<string, FieldPath>();
    for (const rule of rules) {
      if (rule.stream !== name) continue;
      for (const g of rule.groupBy) {
        const p = parseFieldPath(g);
        if (typeof p !== 'string' && !p.simple) paths.set(p.source, p);
      }
    }
    out.set(name, paths.size === 0 ? spec : { ...spec, materialize: [...paths.values()] });
  }
  return out;
}
