import type { Context } from 'aws-lambda';

/**
 * A Lambda context for handler tests. Its remaining time is Lambda's longest
 * timeout (15 minutes): middy aborts a handler when the context says time is
 * up, and a fixed minute turned heavy tests into timed tests on a loaded
 * machine (the 20,000-group fuzz batch takes 45-50 s at a load average of 8).
 */
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
    getRemainingTimeInMillis: () => 900_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
