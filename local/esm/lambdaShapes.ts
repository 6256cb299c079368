import { randomUUID } from 'node:crypto';
import type { _Record as KinesisRecord } from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { KinesisLikeRecord } from '../../lambdas/core/types';

/** What every record of a mapping shares. */
export interface RecordSource {
  readonly shardId: string;
  readonly region: string;
  readonly eventSourceArn: string;
  readonly invokeIdentityArn: string;
}

/** A Kinesis record as Lambda hands it to the function (field order as Lambda's). */
export function lambdaRecord(r: KinesisLikeRecord, src: Omit<RecordSource, 'shardId'>): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: r.partitionKey,
      sequenceNumber: r.sequenceNumber,
      data: r.data,
      approximateArrivalTimestamp: r.approximateArrivalTimestamp,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${r.shardId}:${r.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: src.invokeIdentityArn,
    awsRegion: src.region,
    eventSourceARN: src.eventSourceArn,
  };
}

/** A record read from Kinesis (GetRecords) as Lambda hands it to the function. */
export function toLambdaRecord(r: KinesisRecord, src: RecordSource): KinesisStreamRecord {
  return lambdaRecord(
    {
      data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
      partitionKey: r.PartitionKey!,
      sequenceNumber: r.SequenceNumber!,
      approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? 0) / 1000,
      shardId: src.shardId,
    },
    src,
  );
}

/** A Kinesis event as an event source mapping in us-east-1, account 123456789012, shapes it (tests and benchmarks). */
export function kinesisEvent(records: readonly KinesisLikeRecord[], streamArn = 'arn:aws:kinesis:us-east-1:123456789012:stream/telemetry'): KinesisStreamEvent {
  const src = { region: 'us-east-1', eventSourceArn: streamArn, invokeIdentityArn: 'arn:aws:iam::123456789012:role/processor' };
  return { Records: records.map((r) => lambdaRecord(r, src)) };
}

export interface FunctionIdentity {
  readonly functionName: string;
  readonly functionArn: string;
  readonly timeoutMs: number;
}

/** A Lambda context for one invocation. */
export function lambdaContext(fn: FunctionIdentity, requestId = randomUUID()): Context {
  const deadline = Date.now() + fn.timeoutMs;
  const unsupported = () => {
    throw new Error('context.done/fail/succeed are not supported: return a value or throw');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: fn.functionArn,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.functionName}`,
    logStreamName: `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]local`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
