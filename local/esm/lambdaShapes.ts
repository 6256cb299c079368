import { randomUUID } from 'node:crypto';
import type { _Record as KinesisRecord } from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamRecord } from 'aws-lambda';

/** What every record of a mapping shares. */
export interface RecordSource {
  readonly shardId: string;
  readonly region: string;
  readonly eventSourceArn: string;
  readonly invokeIdentityArn: string;
}

/** A Kinesis record as Lambda hands it to the function (field order as Lambda's). */
export function toLambdaRecord(r: KinesisRecord, src: RecordSource): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: r.PartitionKey!,
      sequenceNumber: r.SequenceNumber!,
      data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
      approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? 0) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${src.shardId}:${r.SequenceNumber!}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: src.invokeIdentityArn,
    awsRegion: src.region,
    eventSourceARN: src.eventSourceArn,
  };
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
