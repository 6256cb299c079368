import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/** The processor's signature: what Lambda invokes for a Kinesis event source mapping. */
export type KinesisHandler = (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse | void>;

export type StartingPosition = 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';

export type FailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/** What Lambda sends to a Kinesis mapping's on-failure destination (SQS / SNS): metadata, not the records. */
export interface OnFailureRecord {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: FailureCondition;
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: {
    readonly statusCode: number;
    readonly executedVersion: string;
    /** "Unhandled" when the last invocation threw; null when it returned (partial failure) or never ran. */
    readonly functionError: string | null;
  };
  readonly version: '1.0';
  /** ISO-8601 time of the discard. */
  readonly timestamp: string;
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    /** ISO-8601. */
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
}

/**
 * Receives discarded batches. `records` is a local convenience (Lambda's
 * destination only gets the metadata, and you read the records back by
 * sequence number).
 */
export type OnFailureDestination = (record: OnFailureRecord, records: readonly KinesisStreamRecord[]) => void | Promise<void>;

export type LogLevel = 'warn' | 'error';
export type Log = (level: LogLevel, message: string, error?: unknown) => void;

/**
 * Options of the local event source mapping. Names and ranges follow Lambda's
 * CreateEventSourceMapping; the local-only ones are marked as such.
 */
export interface EventSourceMappingOptions {
  readonly client: KinesisClient;
  /** The stream, by ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`) or by `streamName`. */
  readonly eventSourceArn?: string;
  readonly streamName?: string;
  readonly handler: KinesisHandler;
  /** @default 'tidewatch-processor' */
  readonly functionName?: string;
  readonly startingPosition: StartingPosition;
  /** With AT_TIMESTAMP: Unix time in seconds, or a Date. */
  readonly startingPositionTimestamp?: number | Date;
  /** Records per invocation, 1 to 10000. @default 100 */
  readonly batchSize?: number;
  /** Time to gather records before invoking, 0 to 300 seconds. @default 0 */
  readonly maximumBatchingWindowInSeconds?: number;
  /** On a function error, split the batch in two and retry each half (does not consume retries). @default false */
  readonly bisectBatchOnFunctionError?: boolean;
  /** Retries of a failing batch before it is discarded, -1 (infinite) to 10000. @default -1 */
  readonly maximumRetryAttempts?: number;
  /** Records older than this are discarded: -1 (infinite) or 60 to 604800 seconds. @default -1 */
  readonly maximumRecordAgeInSeconds?: number;
  /**
   * `['ReportBatchItemFailures']` makes the runner honour `batchItemFailures`.
   * @default [] (as Lambda: a partial batch response is then ignored, and a warning logged)
   */
  readonly functionResponseTypes?: ReadonlyArray<'ReportBatchItemFailures'>;
  readonly destinationConfig?: { readonly onFailure?: { readonly destination: OnFailureDestination } };
  /** Only 1 is supported locally. @default 1 */
  readonly parallelizationFactor?: number;
  /** Not supported locally (0 or absent). */
  readonly tumblingWindowInSeconds?: number;
  /** Local: delay between GetRecords calls on a shard that returned nothing (ms). @default 200 */
  readonly pollIntervalMs?: number;
  /** Local: how often ListShards looks for new (child) shards (ms). @default 1000 */
  readonly shardDiscoveryIntervalMs?: number;
  /** Local: first delay before retrying a failed batch, doubled per retry up to 5 s (ms). @default 200 */
  readonly retryDelayMs?: number;
  /** Local: reported by `context.getRemainingTimeInMillis()` (not enforced). @default 60 */
  readonly functionTimeoutSeconds?: number;
  /** Local: time source for record age and timestamps (ms). @default Date.now */
  readonly clock?: () => number;
  /** Local: where function errors, discards and Kinesis errors are reported. @default console */
  readonly log?: Log;
  /** @default derived from the ARN / the client's account, else '000000000000' */
  readonly accountId?: string;
  /** The identity Lambda puts in `invokeIdentityArn`. @default arn:aws:iam::ACCOUNT:role/FUNCTION-role */
  readonly invokeIdentityArn?: string;
  /**
   * Local: checkpoints of an earlier mapping (shard id -> last sequence number
   * it was done with, as `checkpoints()` returns them): those shards resume
   * after it instead of at the starting position. Lambda keeps these itself.
   */
  readonly resumeAfter?: Readonly<Record<string, string>>;
}

export interface ShardStats {
  readonly shardId: string;
  readonly state: 'pending' | 'running' | 'finished';
  readonly buffered: number;
  readonly inFlight: boolean;
  /** Sequence number of the last record done with (processed or discarded). */
  readonly checkpoint?: string;
  readonly millisBehindLatest: number;
  readonly invocations: number;
  readonly recordsProcessed: number;
}

export interface EventSourceMappingStats {
  readonly invocations: number;
  /** Invocations that threw. */
  readonly functionErrors: number;
  /** Invocations that returned batchItemFailures (honoured). */
  readonly partialFailures: number;
  /** Invocations that repeated records of a failed invocation (bisected halves are not retries). */
  readonly retries: number;
  readonly bisections: number;
  readonly recordsReceived: number;
  /** Records of successful invocations (and the successful prefix of partial failures). */
  readonly recordsProcessed: number;
  /** Records skipped after retries or age, sent to the on-failure destination if any. */
  readonly recordsDiscarded: number;
  /** Highest MillisBehindLatest over the running shards, from the last GetRecords of each. */
  readonly lagMs: number;
  /** Age of the newest record handed to the function, at invocation time (Lambda's IteratorAge). */
  readonly iteratorAgeMs: number;
  readonly shards: readonly ShardStats[];
}
