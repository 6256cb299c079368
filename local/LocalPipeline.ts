import { resolve } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { createRuntime, type Runtime } from '../lambdas/adapters/runtime';
import type { AlertMessage } from '../lambdas/adapters/SnsAlertPublisher';
import { ENV, SERVICES } from '../lambdas/core/contract';
import { loadPipeline } from '../lambdas/core/pipeline';
import type { Clock, Pipeline } from '../lambdas/core/types';
import { createProcessorHandler } from '../lambdas/processor/handler';
import { createTickerHandler } from '../lambdas/ticker/handler';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startDynamo, startKinesis, startSns, type DynamoEmulator, type KinesisEmulator, type SnsEmulator } from './emulators';
import { EventSourceMapping } from './esm';
import type { KinesisHandler } from './esm/types';
import { createStateTable } from './stateTable';

export interface LocalPipelineOptions {
  /** @default pipelines/sample.yaml */
  readonly pipelineFile?: string;
  /** Shards per stream. @default 2 */
  readonly shards?: number;
  /** Keep DynamoDB state (dynalite) and Kinesis data in this folder; in memory when absent. */
  readonly dataDir?: string;
  /** Event source mapping: records per invocation. @default 500 */
  readonly batchSize?: number;
  /** Event source mapping: whole seconds to gather records (Lambda's MaximumBatchingWindowInSeconds). @default 0 */
  readonly batchingWindowSeconds?: number;
  /** Event source mapping: GetRecords polling interval of an idle shard (ms). @default 100 */
  readonly pollIntervalMs?: number;
  /** The ticker's schedule (ms of the pipeline's clock). @default 60000 */
  readonly tickEveryMs?: number;
  /** The clock the handlers run on. @default the wall clock */
  readonly clock?: Clock;
  /** Real milliseconds per tick of the ticker when the clock runs faster than the wall clock. */
  readonly tickRealMs?: number;
  /** Each alert as SNS delivers it to the local subscriber. */
  readonly onAlert?: (message: AlertMessage, raw: { subject?: string; attributes: Record<string, string> }) => void;
  /** Records the event source mapping gave up on (retries or record age exhausted). */
  readonly onFailure?: (info: unknown) => void;
  /** Tests: wraps the processor handler the runner invokes (e.g. to inject a failure). */
  readonly wrapHandler?: (handler: KinesisHandler) => KinesisHandler;
  /** Handler logs. @default 'SILENT' (the CLI prints alerts, not logs) */
  readonly logLevel?: 'SILENT' | 'ERROR' | 'WARN' | 'INFO' | 'DEBUG';
}

export interface LocalPipeline {
  readonly pipeline: Pipeline;
  readonly kinesis: KinesisEmulator;
  readonly dynamo: DynamoEmulator;
  readonly sns: SnsEmulator;
  readonly tableName: string;
  readonly topicArn: string;
  /** The environment the handlers run with (what the stack sets in AWS, with local endpoints). */
  readonly env: Readonly<Record<string, string>>;
  readonly runtime: Runtime;
  readonly mappings: ReadonlyMap<string, EventSourceMapping>;
  /** Runs the ticker once now. */
  tick(): Promise<void>;
  /** Stops the runners (waiting for batches in flight), the ticker and the emulators. Idempotent. */
  stop(): Promise<void>;
}

function context(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: `local-${Date.now()}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * The whole pipeline on this machine with nothing but Node.js: Kinesis
 * (kinesis-local), DynamoDB (dynalite) and SNS (a local Query-API endpoint),
 * the event source mapping runner invoking the real processor handler, and
 * the real ticker handler on its schedule. The handlers are the deployed code,
 * wired from the same environment variables, with local endpoints.
 */
export async function startLocalPipeline(opts: LocalPipelineOptions = {}): Promise<LocalPipeline> {
  const pipelineFile = resolve(opts.pipelineFile ?? 'pipelines/sample.yaml');
  const pipeline = loadPipeline(pipelineFile);
  const streams = [...pipeline.streams.keys()];
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    const errors: unknown[] = [];
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        errors.push(err);
      }
    }
    stops.length = 0;
    if (errors.length > 0) throw new AggregateError(errors, `stopping the local pipeline: ${errors.length} component(s) failed to stop`);
  };
  try {
    const kinesis = await startKinesis({
      streams: streams.map((name) => ({ name, shards: opts.shards ?? 2 })),
      ...(opts.dataDir ? { persistPath: resolve(opts.dataDir, 'kinesis') } : {}),
    });
    stops.push(() => kinesis.stop());
    const dynamo = await startDynamo(opts.dataDir ? { path: resolve(opts.dataDir, 'dynamodb') } : {});
    stops.push(() => dynamo.stop());
    const sns = await startSns();
    stops.push(() => sns.stop());

    const tableName = 'tidewatch-local-state';
    await createStateTable(dynamo.client(), tableName);
    const topic = await sns.client().send(new CreateTopicCommand({ Name: 'tidewatch-alerts' }));
    const topicArn = topic.TopicArn!;
    if (opts.onAlert) {
      const onAlert = opts.onAlert;
      sns.localEndpoint('tidewatch-cli', (m) => {
        const attributes: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.messageAttributes)) attributes[k] = v.stringValue ?? v.binaryValue ?? '';
        onAlert(JSON.parse(m.message) as AlertMessage, { ...(m.subject !== undefined ? { subject: m.subject } : {}), attributes });
      });
      await sns.client().send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'local', Endpoint: 'tidewatch-cli' }));
    }

    // What the stack sets in AWS, with this machine's endpoints.
    const env: Record<string, string> = {
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_SNS: sns.endpoint,
      [ENV.table]: tableName,
      [ENV.topicArn]: topicArn,
      [ENV.pipelineFile]: pipelineFile,
    };
    // The SDK clients read endpoints and credentials from the process environment, as in Lambda.
    Object.assign(process.env, env);
    const clock = opts.clock;
    const runtime = createRuntime(env, { pipeline, ...(clock ? { clock } : {}) });
    const logLevel = opts.logLevel ?? 'SILENT';
    // No CloudWatch here: metrics are off, and so is Powertools' notice that there were none to flush.
    process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true';
    const quietMetricsLog = { ...console, warn: () => undefined };

    const mappings = new Map<string, EventSourceMapping>();
    for (const stream of streams) {
      const handler = createProcessorHandler({
        logger: new Logger({ serviceName: SERVICES.processor, logLevel }),
        metrics: new Metrics({ namespace: 'tidewatch', serviceName: SERVICES.processor, logger: quietMetricsLog }),
        runtime: () => runtime,
        stream: () => stream,
      });
      const esm = new EventSourceMapping({
        client: kinesis.client(),
        streamName: stream,
        functionName: `tidewatch-processor-${stream}`,
        handler: (opts.wrapHandler ?? ((h) => h))((event, ctx) => handler(event, ctx)),
        startingPosition: 'TRIM_HORIZON',
        batchSize: opts.batchSize ?? 500,
        maximumBatchingWindowInSeconds: opts.batchingWindowSeconds ?? 0,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 10,
        maximumRecordAgeInSeconds: 86_400,
        functionResponseTypes: ['ReportBatchItemFailures'],
        pollIntervalMs: opts.pollIntervalMs ?? 100,
        destinationConfig: { onFailure: { destination: async (info) => opts.onFailure?.(info) } },
      });
      await esm.start();
      stops.push(() => esm.stop());
      mappings.set(stream, esm);
    }

    const ticker = createTickerHandler({
      logger: new Logger({ serviceName: SERVICES.ticker, logLevel }),
      metrics: new Metrics({ namespace: 'tidewatch', serviceName: SERVICES.ticker, logger: quietMetricsLog }),
      runtime: () => runtime,
    });
    let ticking: Promise<unknown> = Promise.resolve();
    const tick = async () => {
      ticking = ticker({}, context('tidewatch-ticker'));
      await ticking;
    };
    const every = opts.tickRealMs ?? opts.tickEveryMs ?? 60_000;
    const timer = setInterval(() => {
      tick().catch((err: unknown) => opts.onFailure?.({ ticker: err instanceof Error ? err.message : String(err) }));
    }, every);
    stops.push(async () => {
      clearInterval(timer);
      await ticking.catch(() => undefined);
    });

    let stopped: Promise<void> | undefined;
    return {
      pipeline,
      kinesis,
      dynamo,
      sns,
      tableName,
      topicArn,
      env,
      runtime,
      mappings,
      tick,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}
