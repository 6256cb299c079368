import type { Context, KinesisStreamEvent } from 'aws-lambda';
import type { KinesisLikeRecord } from '../../lambdas/core/types';

/** A Lambda context for handler tests. */
export function lambdaContext(name = 'tidewatch-processor'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: 'req-test',
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A Kinesis event exactly as Lambda's event source mapping shapes it. */
export function kinesisEvent(records: readonly KinesisLikeRecord[], streamArn = 'arn:aws:kinesis:us-east-1:123456789012:stream/telemetry'): KinesisStreamEvent {
  return {
    Records: records.map((r) => ({
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
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/processor',
      awsRegion: 'us-east-1',
      eventSourceARN: streamArn,
    })),
  };
}
