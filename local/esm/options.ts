import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { EventSourceMappingConfigError } from './errors';
import type { EventSourceMappingOptions, KinesisHandler, Log, OnFailureDestination, StartingPosition } from './types';

/** Options with defaults applied and ranges checked. */
export interface ResolvedOptions {
  readonly client: KinesisClient;
  readonly streamName: string;
  readonly eventSourceArn?: string;
  readonly handler: KinesisHandler;
  readonly functionName: string;
  readonly startingPosition: StartingPosition;
  readonly startingPositionTimestamp?: Date;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  readonly bisect: boolean;
  readonly maximumRetryAttempts: number;
  readonly maximumRecordAgeMs: number;
  readonly reportBatchItemFailures: boolean;
  readonly onFailure?: OnFailureDestination;
  readonly pollIntervalMs: number;
  readonly shardDiscoveryIntervalMs: number;
  readonly retryDelayMs: number;
  readonly functionTimeoutMs: number;
  readonly clock: () => number;
  readonly log: Log;
  readonly accountId?: string;
  readonly invokeIdentityArn?: string;
  readonly resumeAfter: Readonly<Record<string, string>>;
}

const STREAM_ARN = /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/([A-Za-z0-9_.-]{1,128})$/;

const consoleLog: Log = (level, message, error) => {
  const detail = error === undefined ? '' : `: ${error instanceof Error ? error.message : String(error)}`;
  (level === 'error' ? console.error : console.warn)(`[esm] ${message}${detail}`);
};

function range(name: string, value: number | undefined, min: number, max: number, fallback: number, extra?: number): number {
  if (value === undefined) return fallback;
  const ok = Number.isInteger(value) && ((value >= min && value <= max) || value === extra);
  if (!ok) {
    const allowed = extra === undefined ? `between ${min} and ${max} inclusive` : `${extra}, or between ${min} and ${max} inclusive`;
    throw new EventSourceMappingConfigError(`${name} must be an integer ${allowed} (given ${value})`);
  }
  return value;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new EventSourceMappingConfigError(`${name} must be a number >= 0 (given ${value})`);
  return value;
}

export function resolveOptions(o: EventSourceMappingOptions): ResolvedOptions {
  let streamName = o.streamName;
  if (o.eventSourceArn !== undefined) {
    const m = STREAM_ARN.exec(o.eventSourceArn);
    if (!m) throw new EventSourceMappingConfigError(`eventSourceArn must be a Kinesis stream ARN, arn:aws:kinesis:REGION:ACCOUNT:stream/NAME (given ${JSON.stringify(o.eventSourceArn)})`);
    if (streamName !== undefined && streamName !== m[1]) {
      throw new EventSourceMappingConfigError(`streamName ${JSON.stringify(streamName)} does not match eventSourceArn ${JSON.stringify(o.eventSourceArn)}`);
    }
    streamName = m[1];
  }
  if (streamName === undefined || streamName === '') throw new EventSourceMappingConfigError('give eventSourceArn or streamName');
  if (!['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'].includes(o.startingPosition)) {
    throw new EventSourceMappingConfigError(`startingPosition must be TRIM_HORIZON, LATEST or AT_TIMESTAMP (given ${JSON.stringify(o.startingPosition)})`);
  }
  let timestamp: Date | undefined;
  if (o.startingPosition === 'AT_TIMESTAMP') {
    if (o.startingPositionTimestamp === undefined) throw new EventSourceMappingConfigError('startingPositionTimestamp is required with startingPosition AT_TIMESTAMP');
    timestamp = o.startingPositionTimestamp instanceof Date ? o.startingPositionTimestamp : new Date(o.startingPositionTimestamp * 1000);
    if (Number.isNaN(timestamp.getTime())) throw new EventSourceMappingConfigError(`startingPositionTimestamp is not a valid time (given ${String(o.startingPositionTimestamp)})`);
  } else if (o.startingPositionTimestamp !== undefined) {
    throw new EventSourceMappingConfigError(`startingPositionTimestamp is only valid with startingPosition AT_TIMESTAMP (given startingPosition ${o.startingPosition})`);
  }
  const parallelization = range('parallelizationFactor', o.parallelizationFactor, 1, 10, 1);
  if (parallelization !== 1) {
    throw new EventSourceMappingConfigError(`parallelizationFactor > 1 is not supported by the local event source mapping (given ${parallelization}); tidewatch's exactly-once state needs one lane per shard`);
  }
  if (o.tumblingWindowInSeconds !== undefined && o.tumblingWindowInSeconds !== 0) {
    throw new EventSourceMappingConfigError(`tumblingWindowInSeconds is not supported by the local event source mapping (given ${o.tumblingWindowInSeconds})`);
  }
  const responseTypes = o.functionResponseTypes ?? [];
  for (const t of responseTypes) {
    if (t !== 'ReportBatchItemFailures') throw new EventSourceMappingConfigError(`functionResponseTypes may only contain ReportBatchItemFailures (given ${JSON.stringify(t)})`);
  }
  const age = range('maximumRecordAgeInSeconds', o.maximumRecordAgeInSeconds, 60, 604_800, -1, -1);
  return {
    client: o.client,
    streamName,
    ...(o.eventSourceArn !== undefined ? { eventSourceArn: o.eventSourceArn } : {}),
    handler: o.handler,
    functionName: o.functionName ?? 'tidewatch-processor',
    startingPosition: o.startingPosition,
    ...(timestamp ? { startingPositionTimestamp: timestamp } : {}),
    batchSize: range('batchSize', o.batchSize, 1, 10_000, 100),
    batchingWindowMs: range('maximumBatchingWindowInSeconds', o.maximumBatchingWindowInSeconds, 0, 300, 0) * 1000,
    bisect: o.bisectBatchOnFunctionError ?? false,
    maximumRetryAttempts: range('maximumRetryAttempts', o.maximumRetryAttempts, 0, 10_000, -1, -1),
    maximumRecordAgeMs: age === -1 ? -1 : age * 1000,
    reportBatchItemFailures: responseTypes.includes('ReportBatchItemFailures'),
    ...(o.destinationConfig?.onFailure ? { onFailure: o.destinationConfig.onFailure.destination } : {}),
    pollIntervalMs: nonNegative('pollIntervalMs', o.pollIntervalMs, 200),
    shardDiscoveryIntervalMs: nonNegative('shardDiscoveryIntervalMs', o.shardDiscoveryIntervalMs, 1000),
    retryDelayMs: nonNegative('retryDelayMs', o.retryDelayMs, 200),
    functionTimeoutMs: nonNegative('functionTimeoutSeconds', o.functionTimeoutSeconds, 60) * 1000,
    clock: o.clock ?? Date.now,
    log: o.log ?? consoleLog,
    ...(o.accountId !== undefined ? { accountId: o.accountId } : {}),
    ...(o.invokeIdentityArn !== undefined ? { invokeIdentityArn: o.invokeIdentityArn } : {}),
    resumeAfter: o.resumeAfter ?? {},
  };
}
