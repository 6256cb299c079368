/**
 * The structure of the pipeline file, field by field, as zod schemas. Each field
 * is validated on its own so that one bad field does not hide the others; the
 * compiler (compile.ts) adds what a schema cannot say (cross-references, CEL).
 *
 * Messages are written for people editing YAML: they say what was expected and
 * echo what was given.
 */

import { z } from 'zod';
import { formatByteSize, formatDuration, tryParseByteSize, tryParseDuration } from './duration';
import { describe } from './suggest';

export const DAY = 86_400_000;
export const SECOND = 1_000;
export const MiB = 1024 * 1024;

/** Bounds of every duration and size in the file (inclusive). */
export const BOUNDS = {
  windowSize: { min: SECOND, max: 7 * DAY },
  sessionGap: { min: SECOND, max: DAY },
  hoppingEvery: { min: SECOND, max: 7 * DAY },
  /** Each event falls into size/every hopping windows; this caps that fan-out. */
  maxHopsPerEvent: 60,
  lateness: { min: 0, max: DAY },
  absent: { min: SECOND, max: 7 * DAY },
  resolveAfter: { min: 0, max: 7 * DAY },
  outOfOrderness: { min: 0, max: DAY },
  maxFuture: { min: 0, max: 7 * DAY },
  idleTimeout: { min: SECOND, max: DAY },
  dedupe: { min: SECOND, max: DAY },
  maxRecordSize: { min: 1, max: 10 * MiB },
  for: { min: 1, max: 100 },
  aggregatesPerRule: 20,
  /** Groups a rule may publish as metrics per hour (`metrics: { maxGroups }`). */
  metricsMaxGroups: { min: 1, max: 10_000 },
  /** CloudWatch allows 30 dimensions per metric: `Rule` and up to 29 group labels. */
  metricsGroupLabels: 29,
} as const;

export const DEFAULTS = {
  outOfOrdernessMs: 5 * SECOND,
  maxFutureMs: 5 * 60 * SECOND,
  idleTimeoutMs: 60 * SECOND,
  maxRecordBytes: MiB,
  /** Producer-duplicate horizon when a stream declares an event id. */
  dedupeHorizonMs: 10 * 60 * SECOND,
  latenessMs: 0,
  for: 1,
  emit: 'final',
  severity: 'warning',
  metricsMaxGroups: 100,
} as const;

export const STREAM_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const ALERT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,99}$/;
export const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const given = (input: unknown): string => `(given ${describe(input)})`;

function text(what: string) {
  return z
    .string({ error: (iss) => `expected ${what} ${given(iss.input)}` })
    .refine((s) => s.trim() !== '', { error: `expected ${what}, not an empty string` });
}

/** A duration between min and max (inclusive). */
export function duration(min: number, max: number) {
  return z.unknown().transform((input, ctx) => {
    const r = tryParseDuration(input);
    if (!r.ok) {
      ctx.issues.push({ code: 'custom', message: r.message, input });
      return z.NEVER;
    }
    if (r.value < min || r.value > max) {
      ctx.issues.push({ code: 'custom', message: `must be between ${formatDuration(min)} and ${formatDuration(max)} ${given(input)}`, input });
      return z.NEVER;
    }
    return r.value;
  });
}

/** `off` (or false), or the horizon within which a repeated event id counts once. */
function dedupeHorizon() {
  const inner = duration(BOUNDS.dedupe.min, BOUNDS.dedupe.max);
  return z.unknown().transform((input, ctx): number | 'off' => {
    if (input === 'off' || input === false) return 'off';
    const r = inner.safeParse(input);
    if (!r.success) {
      ctx.issues.push({ code: 'custom', message: `expected off or a duration between ${formatDuration(BOUNDS.dedupe.min)} and ${formatDuration(BOUNDS.dedupe.max)} ${given(input)}`, input });
      return z.NEVER;
    }
    return r.data as number;
  });
}

function byteSize(min: number, max: number) {
  return z.unknown().transform((input, ctx) => {
    const r = tryParseByteSize(input);
    if (!r.ok) {
      ctx.issues.push({ code: 'custom', message: r.message, input });
      return z.NEVER;
    }
    if (r.value < min || r.value > max) {
      ctx.issues.push({ code: 'custom', message: `must be between ${formatByteSize(min)} and ${formatByteSize(max)} ${given(input)}`, input });
      return z.NEVER;
    }
    return r.value;
  });
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: (iss) => `expected one of ${values.join(' | ')} ${given(iss.input)}` });
}

function stringMap(keyWhat: string) {
  return z.record(
    z.string().regex(LABEL_NAME),
    z.string({ error: (iss) => `expected a string ${given(iss.input)}; quote values such as '1' or 'true'` }),
    {
      error: (iss) =>
        iss.code === 'invalid_key'
          ? `${keyWhat} ${describe(iss.input)} must be letters, digits and _ (not starting with a digit)`
          : `expected a map of ${keyWhat}s to strings ${given(iss.input)}`,
    },
  );
}

export const FRAMINGS = ['json', 'json-array', 'ndjson', 'cloudwatch-logs'] as const;

export const streamFields = {
  // A field path or $arrival, or { field, format }: checked by the compiler (shape-dependent messages).
  timestamp: z.unknown(),
  id: text('the field path of the event id, e.g. eventId or detail.id'),
  framing: oneOf(FRAMINGS),
  // json | logfmt | { regex: '...' }: checked by the compiler.
  parse: z.unknown(),
  kpl: z.boolean({ error: (iss) => `expected true (de-aggregate KPL records, the default) or false ${given(iss.input)}` }),
  gzip: z.boolean({ error: (iss) => `expected true (decompress gzip records, the default) or false ${given(iss.input)}` }),
  fields: z.record(
    z.string(),
    z.string({ error: (iss) => `expected a CEL expression as a string, e.g. 'detail.service' or 'latencyMs / 1000.0' ${given(iss.input)}` }),
    { error: (iss) => `expected a map of field names to CEL expressions, e.g. { service: 'detail.service' } ${given(iss.input)}` },
  ),
  schema: text('the path of a JSON Schema file, relative to the pipeline file'),
  outOfOrderness: duration(BOUNDS.outOfOrderness.min, BOUNDS.outOfOrderness.max),
  maxFuture: duration(BOUNDS.maxFuture.min, BOUNDS.maxFuture.max),
  idleTimeout: duration(BOUNDS.idleTimeout.min, BOUNDS.idleTimeout.max),
  maxRecordSize: byteSize(BOUNDS.maxRecordSize.min, BOUNDS.maxRecordSize.max),
  dedupe: dedupeHorizon(),
  /** What the deployed event source mapping favours when the CDK app does not set it (lib/batching.ts). */
  batching: oneOf(['latency', 'cost']),
} as const;

/** Fields every rule may have. */
export const commonRuleFields = {
  alert: z
    .string({ error: (iss) => `expected the alert's name ${given(iss.input)}` })
    .regex(ALERT_NAME, { error: (iss) => `an alert name is a letter then letters, digits, _ or - (at most 100) ${given(iss.input)}` }),
  stream: text('the name of a stream declared under streams:'),
  where: text('a CEL condition on the event, e.g. \'kind == "http"\''),
  groupBy: z.array(text('a field path, e.g. service or detail.service'), { error: (iss) => `expected a list of field paths, e.g. [service] or [detail.service] ${given(iss.input)}` }),
  severity: oneOf(['critical', 'warning', 'info']),
  labels: stringMap('label name'),
  annotations: stringMap('annotation name'),
  resolvedAnnotations: stringMap('annotation name'),
} as const;

/** Fields of window rules only. `window` and `aggregate` are checked by the compiler (shape-dependent messages). */
export const windowRuleFields = {
  window: z.unknown(),
  lateness: duration(BOUNDS.lateness.min, BOUNDS.lateness.max),
  aggregate: z.record(z.string(), z.unknown(), { error: (iss) => `expected a map of names to aggregates, e.g. { total: 'count()' } ${given(iss.input)}` }),
  when: text("a CEL condition over the aggregates, e.g. 'total > 100.0'"),
  for: z.int({
    error: (iss) =>
      `expected a whole number of consecutive windows from ${BOUNDS.for.min} to ${BOUNDS.for.max} ${given(iss.input)}` +
      (typeof iss.input === 'string' ? '; for counts windows, it is not a duration' : ''),
  })
    .min(BOUNDS.for.min, { error: (iss) => `must be at least ${BOUNDS.for.min} ${given(iss.input)}` })
    .max(BOUNDS.for.max, { error: (iss) => `must be at most ${BOUNDS.for.max} ${given(iss.input)}` }),
  emit: oneOf(['early', 'final']),
  /** true, a list of aggregate names, or { aggregates, maxGroups }: checked by the compiler (it needs the aggregates). */
  metrics: z.unknown(),
  /** { of, detector, direction, sensitivity, warmup, ... }: checked by the compiler (anomaly/rule.ts, it needs the aggregates). */
  anomaly: z.unknown(),
} as const;

/** Fields of absence rules only. */
export const absenceRuleFields = {
  absent: duration(BOUNDS.absent.min, BOUNDS.absent.max),
  resolveAfter: duration(BOUNDS.resolveAfter.min, BOUNDS.resolveAfter.max),
} as const;

export const TOP_LEVEL_KEYS = ['streams', 'rules'] as const;

/** Common aliases people type from other tools, mapped to our key. */
export const KEY_ALIASES: Readonly<Record<string, string>> = {
  expr: 'when',
  condition: 'when',
  filter: 'where',
  group_by: 'groupBy',
  by: 'groupBy',
  name: 'alert',
  aggregates: 'aggregate',
  aggregations: 'aggregate',
  ts: 'timestamp',
  timestampField: 'timestamp',
};
