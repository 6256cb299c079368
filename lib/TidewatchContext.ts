/**
 * CDK context keys (`cdk deploy -c key=value`, or `context` in cdk.json) and
 * their translation into RealtimePipelineProps. On the command line every
 * value is a string; in cdk.json numbers, booleans, lists and objects may be
 * written as such. Ranges are checked by the constructs, with the prop name.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { tryParseDuration } from '../lambdas/core/pipeline';
import type { Severity } from '../lambdas/core/types';
import type { AlertFilter, AlertState } from './AlertTopic';
import type { RealtimePipelineProps } from './RealtimePipeline';
import type { StateTableEncryption } from './StateTable';
import type { StreamEncryptionKind, StreamOptions } from './StreamProcessor';
import { TidewatchConfigError } from './validate';

/** Every context key tidewatch reads. docs/DEPLOY.md has the table. */
export const CONTEXT_KEYS = {
  pipelineFile: 'tidewatch:pipelineFile',
  stackName: 'tidewatch:stackName',
  nag: 'tidewatch:nag',
  // streams (defaults for every stream)
  streamMode: 'tidewatch:streamMode',
  shardCount: 'tidewatch:shardCount',
  retention: 'tidewatch:retention',
  streamEncryption: 'tidewatch:streamEncryption',
  existingStreams: 'tidewatch:existingStreams',
  streams: 'tidewatch:streams',
  // event source mapping and processor
  batchSize: 'tidewatch:batchSize',
  maxBatchingWindow: 'tidewatch:maxBatchingWindow',
  startingPosition: 'tidewatch:startingPosition',
  retryAttempts: 'tidewatch:retryAttempts',
  maxRecordAge: 'tidewatch:maxRecordAge',
  parallelizationFactor: 'tidewatch:parallelizationFactor',
  processorMemorySize: 'tidewatch:processorMemorySize',
  processorTimeout: 'tidewatch:processorTimeout',
  // ticker
  tickerSchedule: 'tidewatch:tickerSchedule',
  // state table
  tableEncryption: 'tidewatch:tableEncryption',
  tableRemovalPolicy: 'tidewatch:tableRemovalPolicy',
  // alerts
  fifoTopic: 'tidewatch:fifoTopic',
  alertEmails: 'tidewatch:alertEmails',
  alertQueueArns: 'tidewatch:alertQueueArns',
  alertHttpsUrls: 'tidewatch:alertHttpsUrls',
  alertFilter: 'tidewatch:alertFilter',
  // alarms
  alarms: 'tidewatch:alarms',
  opsEmails: 'tidewatch:opsEmails',
  iteratorAgeAlarm: 'tidewatch:iteratorAgeAlarm',
  rejectedRecordsAlarm: 'tidewatch:rejectedRecordsAlarm',
  // handlers
  metricsNamespace: 'tidewatch:metricsNamespace',
  ruleMetricsNamespace: 'tidewatch:ruleMetricsNamespace',
  quarantineDays: 'tidewatch:quarantineDays',
  redactFields: 'tidewatch:redactFields',
  listHoppingWindows: 'tidewatch:listHoppingWindows',
  logRetentionDays: 'tidewatch:logRetentionDays',
} as const;

export const DEFAULT_PIPELINE_FILE = 'pipelines/sample.yaml';
export const DEFAULT_STACK_NAME = 'Tidewatch';

/** What the app needs from the context. */
export interface TidewatchSettings {
  readonly stackName: string;
  /** Run cdk-nag's AwsSolutions checks at synth. */
  readonly nag: boolean;
  readonly pipeline: Omit<RealtimePipelineProps, 'existingStreams'>;
  /** Pipeline stream name → ARN of an existing Kinesis stream. */
  readonly existingStreamArns: Readonly<Record<string, string>>;
}

type Get = (key: string) => unknown;

function fail(key: string, expected: string, value: unknown): never {
  throw new TidewatchConfigError(`context ${key} must be ${expected} (given ${JSON.stringify(value)})`);
}

function str(key: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') fail(key, 'a non-empty string', v);
  return v.trim();
}

function num(key: string, v: unknown, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) fail(key, integer ? 'an integer' : 'a number', v);
  return n;
}

function bool(key: string, v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  return fail(key, 'true or false', v);
}

/** The largest unit that represents the duration exactly, so messages and templates read naturally. */
function toDuration(ms: number): Duration {
  for (const [unit, make] of [
    [86_400_000, Duration.days],
    [3_600_000, Duration.hours],
    [60_000, Duration.minutes],
    [1000, Duration.seconds],
  ] as const) {
    if (ms % unit === 0) return make(ms / unit);
  }
  return Duration.millis(ms);
}

function duration(key: string, v: unknown): Duration | undefined {
  if (v === undefined) return undefined;
  const parsed = tryParseDuration(v);
  if (!parsed.ok) throw new TidewatchConfigError(`context ${key}: ${parsed.message} (given ${JSON.stringify(v)})`);
  return toDuration(parsed.value);
}

function oneOf<T>(key: string, v: unknown, values: Readonly<Record<string, T>>): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string' && Object.hasOwn(values, v)) return values[v];
  return fail(key, `one of ${Object.keys(values).join(', ')}`, v);
}

/** A list: a JSON array, or a comma-separated string. */
function list(key: string, v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  let items: unknown = v;
  if (typeof v === 'string') items = v.trim().startsWith('[') ? parseJson(key, v) : v.split(',');
  if (!Array.isArray(items) || !items.every((i) => typeof i === 'string')) fail(key, 'a comma-separated list or a JSON array of strings', v);
  return items.map((i) => i.trim()).filter((i) => i !== '');
}

function parseJson(key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TidewatchConfigError(`context ${key} is not valid JSON: ${e instanceof Error ? e.message : String(e)} (given ${JSON.stringify(text)})`);
  }
}

/** A JSON object (written as such in cdk.json, or as a JSON string). */
function object(key: string, v: unknown): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  const o = typeof v === 'string' ? parseJson(key, v) : v;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail(key, 'a JSON object', v);
  return o as Record<string, unknown>;
}

const STREAM_MODES = { 'on-demand': kinesis.StreamMode.ON_DEMAND, provisioned: kinesis.StreamMode.PROVISIONED };
const STARTING_POSITIONS = { TRIM_HORIZON: lambda.StartingPosition.TRIM_HORIZON, LATEST: lambda.StartingPosition.LATEST };
const STREAM_ENCRYPTIONS: Record<StreamEncryptionKind, StreamEncryptionKind> = { 'aws-managed': 'aws-managed', 'customer-managed': 'customer-managed' };
const TABLE_ENCRYPTIONS: Record<StateTableEncryption, StateTableEncryption> = { 'customer-managed': 'customer-managed', 'aws-managed': 'aws-managed' };
const REMOVAL_POLICIES = { retain: RemovalPolicy.RETAIN, destroy: RemovalPolicy.DESTROY };

/** Context field names → StreamOptions, for `tidewatch:streams` (per stream) and the global keys (every stream). */
const STREAM_FIELDS = {
  streamMode: (k: string, v: unknown) => oneOf(k, v, STREAM_MODES),
  shardCount: (k: string, v: unknown) => num(k, v, true),
  retention: duration,
  encryption: (k: string, v: unknown) => oneOf(k, v, STREAM_ENCRYPTIONS),
  batchSize: (k: string, v: unknown) => num(k, v, true),
  maxBatchingWindow: duration,
  startingPosition: (k: string, v: unknown) => oneOf(k, v, STARTING_POSITIONS),
  retryAttempts: (k: string, v: unknown) => num(k, v, true),
  maxRecordAge: duration,
  parallelizationFactor: (k: string, v: unknown) => num(k, v, true),
  memorySize: (k: string, v: unknown) => num(k, v, true),
  timeout: duration,
} satisfies { [F in Exclude<keyof StreamOptions, 'removalPolicy' | 'logGroupSources'>]-?: (key: string, v: unknown) => StreamOptions[F] | undefined };

/** `tidewatch:streams.<name>.logGroupSources`: { logGroups: [names] or "a,b", filterPattern?: string }. Per stream only. */
function logGroupSources(key: string, v: unknown): StreamOptions['logGroupSources'] {
  const o = object(key, v);
  if (o === undefined) return undefined;
  for (const f of Object.keys(o)) if (f !== 'logGroups' && f !== 'filterPattern') fail(key, 'an object with logGroups and, optionally, filterPattern', o);
  const logGroups = list(`${key}.logGroups`, o['logGroups']);
  if (logGroups === undefined || logGroups.length === 0) fail(`${key}.logGroups`, 'a non-empty list of log group names', o['logGroups']);
  const pattern = o['filterPattern'];
  if (pattern !== undefined && typeof pattern !== 'string') fail(`${key}.filterPattern`, "a CloudWatch Logs filter pattern (a string; '' for every event)", pattern);
  return { logGroups: logGroups!, ...(pattern !== undefined ? { filterPattern: pattern as string } : {}) };
}

type StreamField = keyof typeof STREAM_FIELDS;

function streamOptions(read: (field: StreamField) => { key: string; value: unknown }): StreamOptions {
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(STREAM_FIELDS) as StreamField[]) {
    const { key, value } = read(field);
    const parsed = STREAM_FIELDS[field](key, value);
    if (parsed !== undefined) out[field] = parsed;
  }
  return out as StreamOptions;
}

const GLOBAL_STREAM_KEYS: Record<StreamField, string> = {
  streamMode: CONTEXT_KEYS.streamMode,
  shardCount: CONTEXT_KEYS.shardCount,
  retention: CONTEXT_KEYS.retention,
  encryption: CONTEXT_KEYS.streamEncryption,
  batchSize: CONTEXT_KEYS.batchSize,
  maxBatchingWindow: CONTEXT_KEYS.maxBatchingWindow,
  startingPosition: CONTEXT_KEYS.startingPosition,
  retryAttempts: CONTEXT_KEYS.retryAttempts,
  maxRecordAge: CONTEXT_KEYS.maxRecordAge,
  parallelizationFactor: CONTEXT_KEYS.parallelizationFactor,
  memorySize: CONTEXT_KEYS.processorMemorySize,
  timeout: CONTEXT_KEYS.processorTimeout,
};

function perStream(get: Get): Record<string, StreamOptions> | undefined {
  const key = CONTEXT_KEYS.streams;
  const all = object(key, get(key));
  if (all === undefined) return undefined;
  const out: Record<string, StreamOptions> = {};
  for (const [stream, raw] of Object.entries(all)) {
    const fields = object(`${key}.${stream}`, raw)!;
    for (const f of Object.keys(fields)) {
      if (!Object.hasOwn(STREAM_FIELDS, f) && f !== 'logGroupSources') fail(`${key}.${stream}`, `an object with fields among ${[...Object.keys(STREAM_FIELDS), 'logGroupSources'].join(', ')}`, { [f]: fields[f] });
    }
    const sources = logGroupSources(`${key}.${stream}.logGroupSources`, fields['logGroupSources']);
    out[stream] = { ...streamOptions((field) => ({ key: `${key}.${stream}.${field}`, value: fields[field] })), ...(sources !== undefined ? { logGroupSources: sources } : {}) };
  }
  return out;
}

function alertFilter(get: Get): AlertFilter | undefined {
  const key = CONTEXT_KEYS.alertFilter;
  const o = object(key, get(key));
  if (o === undefined) return undefined;
  const filter: { severity?: Severity[]; rule?: string[]; state?: AlertState[] } = {};
  for (const [attr, v] of Object.entries(o)) {
    if (attr !== 'severity' && attr !== 'rule' && attr !== 'state') {
      fail(key, 'an object with keys among severity, rule, state, e.g. {"severity":["critical"]}', o);
    }
    const values = list(`${key}.${attr}`, v)!;
    // Values are checked against the allowed ones (and the pipeline's rule names) by AlertTopic.
    if (attr === 'severity') filter.severity = values as Severity[];
    else if (attr === 'state') filter.state = values as AlertState[];
    else filter.rule = values;
  }
  return filter;
}

function stringMap(key: string, v: unknown): Record<string, string> {
  const o = object(key, v) ?? {};
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') fail(`${key}.${k}`, 'a string', val);
  }
  return o as Record<string, string>;
}

const LOG_RETENTION_DAYS = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number' && v !== logs.RetentionDays.INFINITE);

/** Reads every tidewatch context key; throws TidewatchConfigError naming the key on a malformed value. */
export function settingsFromContext(get: Get): TidewatchSettings {
  const K = CONTEXT_KEYS;
  const logDays = num(K.logRetentionDays, get(K.logRetentionDays), true);
  if (logDays !== undefined && !LOG_RETENTION_DAYS.includes(logDays)) fail(K.logRetentionDays, `one of ${LOG_RETENTION_DAYS.join(', ')}`, get(K.logRetentionDays));

  const tableEncryption = oneOf(K.tableEncryption, get(K.tableEncryption), TABLE_ENCRYPTIONS);
  const tableRemovalPolicy = oneOf(K.tableRemovalPolicy, get(K.tableRemovalPolicy), REMOVAL_POLICIES);
  const emails = list(K.alertEmails, get(K.alertEmails));
  const queueArns = list(K.alertQueueArns, get(K.alertQueueArns));
  const httpsUrls = list(K.alertHttpsUrls, get(K.alertHttpsUrls));
  const filter = alertFilter(get);
  const schedule = duration(K.tickerSchedule, get(K.tickerSchedule));
  const iteratorAge = duration(K.iteratorAgeAlarm, get(K.iteratorAgeAlarm));
  const rejected = num(K.rejectedRecordsAlarm, get(K.rejectedRecordsAlarm), false);
  const alarmsEnabled = bool(K.alarms, get(K.alarms));
  const opsEmails = list(K.opsEmails, get(K.opsEmails));
  const fifo = bool(K.fifoTopic, get(K.fifoTopic));
  const namespace = str(K.metricsNamespace, get(K.metricsNamespace));
  const ruleNamespace = str(K.ruleMetricsNamespace, get(K.ruleMetricsNamespace));
  const quarantineDays = num(K.quarantineDays, get(K.quarantineDays), true);
  const redact = list(K.redactFields, get(K.redactFields));
  const listHopping = bool(K.listHoppingWindows, get(K.listHoppingWindows));
  const streams = perStream(get);

  const pipeline: Omit<RealtimePipelineProps, 'existingStreams'> = {
    pipelineFile: str(K.pipelineFile, get(K.pipelineFile)) ?? DEFAULT_PIPELINE_FILE,
    streamDefaults: streamOptions((field) => ({ key: GLOBAL_STREAM_KEYS[field], value: get(GLOBAL_STREAM_KEYS[field]) })),
    ...(streams !== undefined ? { streams } : {}),
    ...(schedule !== undefined ? { ticker: { schedule } } : {}),
    ...(tableEncryption !== undefined || tableRemovalPolicy !== undefined
      ? {
          stateTable: {
            ...(tableEncryption !== undefined ? { encryption: tableEncryption } : {}),
            ...(tableRemovalPolicy !== undefined ? { removalPolicy: tableRemovalPolicy } : {}),
          },
        }
      : {}),
    ...(fifo !== undefined ? { fifoTopic: fifo } : {}),
    ...(emails || queueArns || httpsUrls || filter
      ? {
          alertSubscriptions: {
            ...(emails ? { emails } : {}),
            ...(queueArns ? { queueArns } : {}),
            ...(httpsUrls ? { httpsUrls } : {}),
            ...(filter ? { filter } : {}),
          },
        }
      : {}),
    alarms: {
      ...(alarmsEnabled !== undefined ? { enabled: alarmsEnabled } : {}),
      ...(iteratorAge !== undefined ? { iteratorAgeThreshold: iteratorAge } : {}),
      ...(rejected !== undefined ? { rejectedRecordsThreshold: rejected } : {}),
    },
    ...(opsEmails ? { operationsEmails: opsEmails } : {}),
    ...(namespace !== undefined ? { metricsNamespace: namespace } : {}),
    ...(ruleNamespace !== undefined ? { ruleMetricsNamespace: ruleNamespace } : {}),
    ...(quarantineDays !== undefined ? { quarantineDays } : {}),
    ...(redact ? { redactFields: redact } : {}),
    ...(listHopping !== undefined ? { listHoppingWindows: listHopping } : {}),
    ...(logDays !== undefined ? { logRetention: logDays as logs.RetentionDays } : {}),
  };
  return {
    stackName: str(K.stackName, get(K.stackName)) ?? DEFAULT_STACK_NAME,
    nag: bool(K.nag, get(K.nag)) ?? true,
    pipeline,
    existingStreamArns: stringMap(K.existingStreams, get(K.existingStreams)),
  };
}
