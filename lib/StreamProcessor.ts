import { BATCHING } from './batching';
import { Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, SUPPORTED_PARALLELIZATION_FACTOR } from '../lambdas/core/contract';
import { LogGroupSources, type LogGroupSourceOptions } from './LogGroupSources';
import type { PipelineFileBundle } from './PipelineFileBundle';
import { PipelineFunction } from './PipelineFunction';
import { checkDuration, checkInteger, checkOneOf, TidewatchConfigError } from './validate';

/** Who holds a created stream's encryption key. */
export type StreamEncryptionKind = 'aws-managed' | 'customer-managed';

/**
 * Settings of one pipeline stream: the Kinesis stream (when tidewatch creates
 * it), the event source mapping, and the processor function. Every field is
 * optional; `RealtimePipelineProps.streamDefaults` applies to every stream,
 * `RealtimePipelineProps.streams[name]` to one, field by field.
 */
export interface StreamOptions {
  /**
   * Capacity mode of a created stream. On-demand scales by itself (billed per
   * stream-hour and per GB); provisioned is cheaper at low, steady volume.
   *
   * @default StreamMode.PROVISIONED when `shardCount` is given, else StreamMode.ON_DEMAND
   */
  readonly streamMode?: kinesis.StreamMode;
  /** Shards of a provisioned stream, 1..10000 (your account's shard quota applies). @default 1 */
  readonly shardCount?: number;
  /** How long records stay in a created stream, 24 hours..8760 hours (365 days), whole hours. Beyond 24 h is billed. @default Duration.hours(24) */
  readonly retention?: Duration;
  /**
   * Server-side encryption of a created stream, always KMS: `aws-managed` uses
   * the aws/kinesis key (no key fee, no KMS request charges, no grants needed);
   * `customer-managed` uses the pipeline key (its requests are billed; see
   * docs/DEPLOY.md).
   *
   * @default 'aws-managed'
   */
  readonly encryption?: StreamEncryptionKind;
  /** What `cdk destroy` does with a created stream. Its records are transient; the state lives in the table. @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;

  /** Most records per invocation, 1..10000. @default 10000 (1000 with `batching: latency` in the pipeline file; see lib/batching.ts) */
  readonly batchSize?: number;
  /** Longest wait to fill a batch, 0..300 seconds, whole seconds. @default Duration.seconds(1) (0 with `batching: latency`, 5 s with `batching: cost`) */
  readonly maxBatchingWindow?: Duration;
  /**
   * Where a new event source mapping starts reading: `TRIM_HORIZON` or `LATEST`.
   * TRIM_HORIZON for a stream tidewatch creates: the stream is empty when the
   * mapping is created, so nothing is skipped (records put between the stream's
   * and the mapping's creation are processed, not lost). LATEST for an
   * existing stream: it may hold up to its retention of history, which would be
   * replayed into windows long closed.
   *
   * @default StartingPosition.TRIM_HORIZON for a created stream, StartingPosition.LATEST for an existing one
   */
  readonly startingPosition?: lambda.StartingPosition;
  /** Retries of a failing batch (after bisecting) before it goes to the dead-letter queue, 0..10000. @default 10 */
  readonly retryAttempts?: number;
  /** Records older than this go to the dead-letter queue unprocessed, 60 seconds..7 days, whole seconds. @default Duration.days(1) */
  readonly maxRecordAge?: Duration;
  /**
   * Concurrent batches per shard. Only 1 is supported: the exactly-once state
   * keeps one high-water mark per shard, which concurrent lanes of one shard
   * would break.
   *
   * @default 1
   */
  readonly parallelizationFactor?: number;

  /** Processor memory in MB, 128..10240 (CPU grows with it). @default 1024 */
  readonly memorySize?: number;
  /** Processor timeout, 1 second..15 minutes, whole seconds. @default Duration.minutes(1) */
  readonly timeout?: Duration;

  /**
   * CloudWatch Logs log groups to stream into this stream: a subscription
   * filter each, and the role CloudWatch Logs writes with. Per stream only
   * (not in `streamDefaults`); the stream must have `framing: cloudwatch-logs`
   * in the pipeline file.
   *
   * @default none
   */
  readonly logGroupSources?: LogGroupSourceOptions;
}

/** StreamOptions with every default applied and every value checked. */
export interface ResolvedStreamOptions {
  readonly streamMode: kinesis.StreamMode;
  readonly shardCount: number | undefined;
  readonly retention: Duration;
  readonly encryption: StreamEncryptionKind;
  readonly removalPolicy: RemovalPolicy;
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  readonly startingPosition: lambda.StartingPosition;
  readonly retryAttempts: number;
  readonly maxRecordAge: Duration;
  readonly parallelizationFactor: number;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly logGroupSources: LogGroupSourceOptions | undefined;
}

const STARTING_POSITIONS = [lambda.StartingPosition.TRIM_HORIZON, lambda.StartingPosition.LATEST];

function checkParallelizationFactor(value: number, scope: string): void {
  const why = "tidewatch's exactly-once state keeps one high-water mark per shard, which concurrent lanes of one shard would break";
  if (Token.isUnresolved(value)) {
    throw new TidewatchConfigError(
      `${scope}: parallelizationFactor must be ${SUPPORTED_PARALLELIZATION_FACTOR} (given an unresolved token, ${Token.asString(value)}, which cannot be checked): ${why}`,
    );
  }
  if (value !== SUPPORTED_PARALLELIZATION_FACTOR) {
    throw new TidewatchConfigError(`${scope}: parallelizationFactor must be ${SUPPORTED_PARALLELIZATION_FACTOR} (given ${value}): ${why}`);
  }
}

/**
 * Merges a stream's options over the defaults over the built-in defaults,
 * field by field, and checks every value. Throws TidewatchConfigError naming
 * the stream, the field, the value given and the values allowed.
 */
export function resolveStreamOptions(
  stream: string,
  defaults: StreamOptions,
  overrides: StreamOptions,
  existing: boolean,
  /** The pipeline file's `batching:` for the stream (lib/batching.ts): the batch size and window when the app sets neither. */
  batching?: 'latency' | 'cost',
): ResolvedStreamOptions {
  const o: StreamOptions = { ...defaults, ...stripUndefined(overrides) };
  const preset = BATCHING[batching ?? 'balanced'];
  const scope = `stream "${stream}"`;
  if (defaults.logGroupSources !== undefined) {
    throw new TidewatchConfigError('streamDefaults.logGroupSources: log group sources are set per stream (streams.<name>.logGroupSources), on a stream with framing: cloudwatch-logs');
  }
  const streamMode = o.streamMode ?? (o.shardCount !== undefined ? kinesis.StreamMode.PROVISIONED : kinesis.StreamMode.ON_DEMAND);
  checkOneOf('streamMode', streamMode, [kinesis.StreamMode.ON_DEMAND, kinesis.StreamMode.PROVISIONED], scope);
  if (streamMode === kinesis.StreamMode.ON_DEMAND && o.shardCount !== undefined) {
    throw new TidewatchConfigError(`${scope}: shardCount applies to PROVISIONED streams only (given shardCount ${o.shardCount} with streamMode ON_DEMAND)`);
  }
  checkInteger('shardCount', o.shardCount, 1, 10_000, scope);
  checkDuration('retention', o.retention, Duration.hours(24), Duration.hours(8760), scope, 'hours');
  checkOneOf('encryption', o.encryption, ['aws-managed', 'customer-managed'], scope);
  checkInteger('batchSize', o.batchSize, 1, 10_000, scope);
  checkDuration('maxBatchingWindow', o.maxBatchingWindow, Duration.seconds(0), Duration.seconds(300), scope, 'seconds');
  checkOneOf('startingPosition', o.startingPosition, STARTING_POSITIONS, scope);
  checkInteger('retryAttempts', o.retryAttempts, 0, 10_000, scope);
  checkDuration('maxRecordAge', o.maxRecordAge, Duration.seconds(60), Duration.days(7), scope, 'seconds');
  checkParallelizationFactor(o.parallelizationFactor ?? SUPPORTED_PARALLELIZATION_FACTOR, scope);
  checkInteger('memorySize', o.memorySize, 128, 10_240, scope);
  checkDuration('timeout', o.timeout, Duration.seconds(1), Duration.minutes(15), scope, 'seconds');
  return {
    streamMode,
    shardCount: streamMode === kinesis.StreamMode.PROVISIONED ? (o.shardCount ?? 1) : undefined,
    retention: o.retention ?? Duration.hours(24),
    encryption: o.encryption ?? 'aws-managed',
    removalPolicy: o.removalPolicy ?? RemovalPolicy.DESTROY,
    batchSize: o.batchSize ?? preset.batchSize,
    maxBatchingWindow: o.maxBatchingWindow ?? preset.maxBatchingWindow,
    startingPosition: o.startingPosition ?? (existing ? lambda.StartingPosition.LATEST : lambda.StartingPosition.TRIM_HORIZON),
    retryAttempts: o.retryAttempts ?? 10,
    maxRecordAge: o.maxRecordAge ?? Duration.days(1),
    parallelizationFactor: SUPPORTED_PARALLELIZATION_FACTOR,
    memorySize: o.memorySize ?? 1024,
    timeout: o.timeout ?? Duration.minutes(1),
    logGroupSources: overrides.logGroupSources,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export interface StreamProcessorProps {
  /** The stream's name in the pipeline file (also `TIDEWATCH_STREAM`). */
  readonly pipelineStream: string;
  readonly options: ResolvedStreamOptions;
  /** Use this stream instead of creating one (stream settings in `options` are then ignored). */
  readonly existingStream?: kinesis.IStream;
  /** The pipeline key: dead-letter queue, and the stream when `encryption` is customer-managed. */
  readonly encryptionKey: kms.IKey;
  readonly entry: string;
  readonly pipelineFiles: PipelineFileBundle;
  /** Environment shared by the pipeline's functions; `TIDEWATCH_STREAM` is added. */
  readonly environment: Readonly<Record<string, string>>;
  readonly logRetention: logs.RetentionDays;
}

/**
 * One pipeline stream: the Kinesis stream (created or existing), its
 * processor function, the event source mapping with safe retry settings, and
 * the dead-letter queue that receives batches it gives up on (shard and
 * sequence-number ranges, not the records).
 */
export class StreamProcessor extends Construct {
  readonly stream: kinesis.IStream;
  readonly processor: PipelineFunction;
  readonly deadLetterQueue: sqs.Queue;
  readonly eventSource: KinesisEventSource;
  /** The subscription filters and their role, when the stream has log group sources. */
  readonly logGroupSources?: LogGroupSources;

  constructor(scope: Construct, id: string, props: StreamProcessorProps) {
    super(scope, id);
    const o = props.options;

    this.stream =
      props.existingStream ??
      new kinesis.Stream(this, 'Stream', {
        streamMode: o.streamMode,
        ...(o.shardCount !== undefined ? { shardCount: o.shardCount } : {}),
        retentionPeriod: o.retention,
        ...(o.encryption === 'customer-managed'
          ? { encryption: kinesis.StreamEncryption.KMS, encryptionKey: props.encryptionKey }
          : { encryption: kinesis.StreamEncryption.MANAGED }),
        removalPolicy: o.removalPolicy,
      });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter destination of the event source mapping; nothing consumes it automatically, so it needs no dead-letter queue of its own.',
    });
    if (this.stream instanceof kinesis.Stream && o.encryption === 'customer-managed') {
      Validations.of(this.stream).acknowledge({
        id: 'AwsSolutions-KDS3',
        reason: 'Customer-managed stream encryption was chosen explicitly (encryption: customer-managed); its KMS request cost is documented.',
      });
    }

    this.processor = new PipelineFunction(this, 'Processor', {
      entry: props.entry,
      description: `tidewatch processor of pipeline stream ${props.pipelineStream}`,
      pipelineFiles: props.pipelineFiles,
      environment: { ...props.environment, [ENV.stream]: props.pipelineStream },
      memorySize: o.memorySize,
      timeout: o.timeout,
      logRetention: props.logRetention,
    });

    this.eventSource = new KinesisEventSource(this.stream, {
      startingPosition: o.startingPosition,
      batchSize: o.batchSize,
      maxBatchingWindow: o.maxBatchingWindow,
      bisectBatchOnError: true,
      retryAttempts: o.retryAttempts,
      maxRecordAge: o.maxRecordAge,
      reportBatchItemFailures: true,
      parallelizationFactor: o.parallelizationFactor,
      onFailure: new SqsDlq(this.deadLetterQueue),
    });
    this.processor.function.addEventSource(this.eventSource);

    if (o.logGroupSources !== undefined) {
      this.logGroupSources = new LogGroupSources(this, 'LogGroupSources', {
        ...o.logGroupSources,
        stream: this.stream,
        pipelineStream: props.pipelineStream,
        ...(props.existingStream !== undefined
          ? props.existingStream.encryptionKey !== undefined
            ? { streamKey: props.existingStream.encryptionKey }
            : {}
          : o.encryption === 'customer-managed'
            ? { streamKey: props.encryptionKey }
            : {}),
      });
    }
  }
}
