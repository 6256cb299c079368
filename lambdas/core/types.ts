import type { AnomalySpec } from './anomaly/rule';
import type { SequenceSpec } from './cep/types';
import type { FieldPath } from './fieldPath';
import type { TimeFormat } from './timeFormat';

/**
 * Shared types of the pure core. Nothing here imports AWS; everything is plain
 * data that can be serialised to JSON (and so to DynamoDB) and back.
 */

/** Milliseconds since the Unix epoch. */
export type EpochMs = number;

/** The clock is injected everywhere in the core: no Date.now() in here. */
export interface Clock {
  now(): EpochMs;
}

/** A value a payload field or an expression may produce. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A compiled, safe expression (CEL). `source` is kept for messages. */
export interface CompiledExpression {
  readonly source: string;
  /** Evaluates against variables; throws ExpressionError on a runtime error. */
  evaluate(vars: Record<string, unknown>): unknown;
  /**
   * True when `evaluate` may be given the raw decoded payload instead of
   * `eventVariables(payload)` (same results), which saves building the scope per event.
   */
  readonly acceptsPayload?: boolean;
}

// ---------------------------------------------------------------- aggregates

export type AggregateKind = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'distinct' | 'percentile';

/**
 * One named aggregate of a rule, e.g. `errors: 'count(status >= 500)'`,
 * `p99: 'percentile(latencyMs, 99)'`, `users: 'distinct(userId)'`.
 */
export interface AggregateSpec {
  readonly name: string;
  readonly kind: AggregateKind;
  /** The value expression (sum/min/max/avg/distinct/percentile) — absent for count. */
  readonly value?: CompiledExpression;
  /** For count(cond): only events where the condition is true are counted. */
  readonly condition?: CompiledExpression;
  /** For percentile: the quantile in (0, 1], e.g. 0.99 for `percentile(x, 99)`. */
  readonly quantile?: number;
  /** The aggregate expression as written, for messages. */
  readonly source: string;
}

/** Serialisable partial state of one aggregate (plain JSON). */
export type PartialState = JsonValue;

// ---------------------------------------------------------------- pipeline

export type TimestampSource =
  | {
      readonly kind: 'field';
      /** The field path as written (messages name it). */
      readonly field: string;
      /** A nested path (see fieldPath.ts); absent when `field` is a top-level name. */
      readonly path?: FieldPath;
      /** How the value is read; absent means `auto` (epoch ms number or ISO-8601 string). */
      readonly format?: TimeFormat;
    }
  | { readonly kind: 'arrival' };

/**
 * How a record's bytes become messages: one JSON object (`json`), a JSON
 * array of objects, newline-delimited lines, or a CloudWatch Logs
 * subscription payload (one message per log event).
 */
export type Framing = 'json' | 'json-array' | 'ndjson' | 'cloudwatch-logs';

/** How a message (a line, a log event's text) becomes an event's fields. */
export type MessageParser =
  | { readonly kind: 'json' }
  | { readonly kind: 'logfmt' }
  | { readonly kind: 'regex'; readonly source: string; readonly regex: RegExp };

/** A per-stream field computed once per event with CEL, e.g. `latencyS: 'latencyMs / 1000.0'`. */
export interface DerivedField {
  readonly name: string;
  readonly expression: CompiledExpression;
}

/** How a stream's records are read; absent fields take the defaults (plain JSON, KPL and gzip detected). */
export interface StreamInput {
  /** @default 'json' */
  readonly framing?: Framing;
  /** @default { kind: 'json' } */
  readonly parse?: MessageParser;
  /** De-aggregate KPL records (detected by their magic bytes). @default true */
  readonly kpl?: boolean;
  /** Decompress gzip records (detected by their magic bytes). @default true */
  readonly gzip?: boolean;
  /** Per-event derived fields, in the order written (a later one may use an earlier one). */
  readonly derived?: readonly DerivedField[];
  /**
   * Nested paths the rules group by (`groupBy: [detail.service]`): each is
   * read once per event and stored on the payload under its text, so the
   * group labels and templates find it by that name.
   */
  readonly materialize?: readonly FieldPath[];
  /** The `id` field as a nested path (absent when `idField` is a top-level name). */
  readonly idPath?: FieldPath;
}

export interface StreamSpec extends StreamInput {
  readonly name: string;
  /** Where event time comes from: a payload field (ISO-8601 string or epoch ms) or the Kinesis arrival time. */
  readonly timestamp: TimestampSource;
  /** Producer's event id field (optional). */
  readonly idField?: string;
  /**
   * With an event id: a record whose id was already seen on the shard with an
   * earlier sequence number (a producer retry) within this horizon of event
   * time counts once. null: no deduplication (`dedupe: off`, or no id field).
   */
  readonly dedupeHorizonMs?: number | null;
  /** Validates a decoded payload; returns null when valid, else a human message. */
  readonly validate?: (payload: unknown) => string | null;
  /** Path of the JSON Schema, for messages. */
  readonly schemaPath?: string;
  /** Allowed out-of-orderness: the watermark is max event time minus this. */
  readonly outOfOrdernessMs: number;
  /** Records whose event time is further than this ahead of the clock are rejected. */
  readonly maxFutureMs: number;
  /** A shard with no records for this long is idle: it no longer holds the stream's watermark back. */
  readonly idleTimeoutMs: number;
  /** Records larger than this (decoded bytes) are rejected. */
  readonly maxRecordBytes: number;
  /**
   * `batching: latency | cost`: the batch size and batching window the CDK
   * construct deploys for the stream when the app does not set them (see
   * lib/batching.ts and docs/DEPLOY.md). Absent: the balanced default.
   */
  readonly batching?: 'latency' | 'cost';
}

export type WindowSpec =
  | { readonly kind: 'tumbling'; readonly sizeMs: number }
  | { readonly kind: 'hopping'; readonly sizeMs: number; readonly slideMs: number }
  | { readonly kind: 'session'; readonly gapMs: number };

export type Severity = 'critical' | 'warning' | 'info';
export type EmitMode = 'early' | 'final';

interface RuleCommon {
  readonly name: string;
  readonly stream: string;
  readonly where?: CompiledExpression;
  readonly groupBy: readonly string[];
  readonly severity: Severity;
  readonly labels: Readonly<Record<string, string>>;
  /** Annotation templates: `{{field}}` is replaced by a group label or aggregate value. */
  readonly annotations: Readonly<Record<string, string>>;
  /**
   * Templates of resolved notifications, by annotation name; a name not given
   * here falls back to `annotations` (for an absence rule, `summary` falls back
   * to a built-in text saying when the group was seen again). @default {}
   */
  readonly resolvedAnnotations?: Readonly<Record<string, string>>;
}

/** A windowed threshold rule. */
export interface WindowRule extends RuleCommon {
  readonly type: 'window';
  readonly window: WindowSpec;
  /** Allowed lateness: a window closes when the watermark passes end + lateness. */
  readonly latenessMs: number;
  readonly aggregates: readonly AggregateSpec[];
  readonly when: CompiledExpression;
  /** Consecutive windows the condition must hold before firing (>= 1). */
  readonly for: number;
  readonly emit: EmitMode;
  /** Publishing each closed window's values as CloudWatch metrics (`metrics:`); absent when off. */
  readonly metrics?: RuleMetricsSpec;
  /** Anomaly detection over one aggregate's windowed series per group (`anomaly:`, see anomaly/rule.ts); absent when off. */
  readonly anomaly?: AnomalySpec;
}

/** What a rule publishes as metrics: named aggregates, for at most `maxGroups` groups per hour of event time. */
export interface RuleMetricsSpec {
  /** Aggregate names, in the order the rule declares them. */
  readonly aggregates: readonly string[];
  /** Groups whose values are published per rule and hour of event time (the cardinality cap). */
  readonly maxGroups: number;
}

/** An absence rule: fires when a group that was seen sends nothing for `absentMs`. */
export interface AbsenceRule extends RuleCommon {
  readonly type: 'absence';
  readonly absentMs: number;
  /**
   * Hysteresis: a firing alert resolves only once the group has been back for
   * this long (event time) without falling silent again for `absentMs`, like
   * Prometheus's `keep_firing_for`. 0: resolves at the first event. @default 0
   */
  readonly resolveAfterMs?: number;
}

/**
 * A sequence rule (complex event processing): ordered steps matched per key
 * (`groupBy`, written `sequence.by`) in event time; see cep/matcher.ts.
 */
export interface SequenceRule extends RuleCommon {
  readonly type: 'sequence';
  readonly sequence: SequenceSpec;
}

export type Rule = WindowRule | AbsenceRule | SequenceRule;

export interface Pipeline {
  /** The file it came from, for messages. */
  readonly file: string;
  readonly streams: ReadonlyMap<string, StreamSpec>;
  readonly rules: readonly Rule[];
}

// ---------------------------------------------------------------- records

/** A Kinesis record as Lambda delivers it (the subset the core needs). */
export interface KinesisLikeRecord {
  /** Base64 of the payload bytes. */
  readonly data: string;
  readonly partitionKey: string;
  /** Decimal string of up to 129 digits. */
  readonly sequenceNumber: string;
  /** Arrival time in epoch **seconds** (fractional), as in Lambda's event. */
  readonly approximateArrivalTimestamp: number;
  /** Shard id, e.g. shardId-000000000000. */
  readonly shardId: string;
}

export type RejectReason =
  | 'bad-base64'
  | 'not-utf8'
  | 'not-json'
  | 'not-object'
  | 'too-large'
  | 'schema'
  | 'no-timestamp'
  | 'bad-timestamp'
  | 'future-timestamp'
  | 'bad-gzip'
  | 'bad-kpl'
  | 'not-array'
  | 'not-cloudwatch-logs'
  | 'no-match';

export interface DecodedEvent {
  readonly payload: JsonObject;
  readonly eventTime: EpochMs;
  readonly arrivalTime: EpochMs;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly eventId?: string;
  /** The event's index among its record's events, for a record split into several (see Rejection.index). */
  readonly index?: number;
}

export interface Rejection {
  readonly reason: RejectReason;
  /** A sentence a person can act on. */
  readonly message: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly arrivalTime: EpochMs;
  /**
   * The record's data exactly as received (base64), so it can be replayed; for
   * a sub-event (`index` set) the sub-event's own bytes, base64 (the KPL user
   * record, the log event's message, the line or the array element).
   */
  readonly data: string;
  /**
   * Set when one sub-event of a record was rejected (the other events of the
   * record still count): its position among the record's events, counted
   * across KPL user records, then lines, array elements or log events.
   */
  readonly index?: number;
}

export type DecodeResult = { readonly ok: true; readonly event: DecodedEvent } | { readonly ok: false; readonly rejection: Rejection };
