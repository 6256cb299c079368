import { Console } from 'node:console';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { createRuntime, type Runtime } from '../lambdas/adapters/runtime';
import type { AlertMessage } from '../lambdas/adapters/SnsAlertPublisher';
import { ENV, SERVICES } from '../lambdas/core/contract';
import type { AdvanceReport, BatchReport, Engine } from '../lambdas/core/Engine';
import { loadPipeline } from '../lambdas/core/pipeline';
import type { Clock, EpochMs, Pipeline } from '../lambdas/core/types';
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
  /** Where the handlers' log lines go. @default process.stdout (as in Lambda) */
  readonly logStream?: NodeJS.WritableStream;
  /** Aborts the start: what was started is stopped again, and the promise rejects with the signal's reason (an AbortError). */
  readonly signal?: AbortSignal;
  /** Each batch the processor handled, with the engine's report (records, rejected, late by rule, duplicates, watermark). */
  readonly onBatch?: (stream: string, report: BatchReport) => void;
  /** Each run of the ticker over a stream (the watermark it moved to, windows closed). */
  readonly onTick?: (stream: string, report: AdvanceReport) => void;
  /** A ticker invocation that failed. @default onFailure */
  readonly onTickerError?: (error: unknown) => void;
  /**
   * With `dataDir`: called before anything runs with the newest event time the
   * stored state has seen, so that the clock can continue from there.
   */
  readonly onResume?: (storedEventTime: EpochMs) => void;
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
  /** The clock the handlers run on. */
  readonly clock: Clock;
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
 * The runtime the handlers get, reporting what its engines did (the handlers
 * and the engine stay as deployed: this only listens).
 */
function observed(runtime: Runtime, opts: LocalPipelineOptions): Runtime {
  if (!opts.onBatch && !opts.onTick) return runtime;
  const report = (what: string, f: () => void) => {
    try {
      f();
    } catch (err) {
      console.error(`tidewatch: reporting a ${what} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }
  };
  const engines = new Map<string, Engine>();
  return {
    ...runtime,
    engine(stream: string): Engine {
      let e = engines.get(stream);
      if (!e) {
        const inner = runtime.engine(stream);
        e = Object.create(inner) as Engine;
        e.processBatch = async (shardId, records) => {
          const r = await inner.processBatch(shardId, records);
          report('batch', () => opts.onBatch?.(stream, r));
          return r;
        };
        e.advance = async (o) => {
          const r = await inner.advance(o);
          report('tick', () => opts.onTick?.(stream, r));
          return r;
        };
        engines.set(stream, e);
      }
      return e;
    },
  };
}

function logger(serviceName: string, level: NonNullable<LocalPipelineOptions['logLevel']>, stream: NodeJS.WritableStream | undefined): Logger {
  const log = new Logger({ serviceName, logLevel: level });
  // Powertools writes to its own Console on stdout; the local pipeline may want the lines elsewhere
  // (npm start --verbose keeps stdout for alerts).
  if (stream) (log as unknown as { console: Console }).console = new Console({ stdout: stream, stderr: stream });
  return log;
}

/** The event source mappings' checkpoints, kept in the data folder between runs. */
function checkpointsFile(dataDir: string): string {
  return resolve(dataDir, 'checkpoints.json');
}

function readCheckpoints(dataDir: string): Record<string, Record<string, string>> {
  const file = checkpointsFile(dataDir);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string>>;
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${err instanceof Error ? err.message : String(err)}): delete it to read the streams from their start`, { cause: err });
  }
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
  const signal = opts.signal;
  try {
    signal?.throwIfAborted();
    const kinesis = await startKinesis({
      streams: streams.map((name) => ({ name, shards: opts.shards ?? 2 })),
      ...(opts.dataDir ? { persistPath: resolve(opts.dataDir, 'kinesis') } : {}),
      ...(signal ? { signal } : {}),
    });
    stops.push(() => kinesis.stop());
    signal?.throwIfAborted();
    const dynamo = await startDynamo(opts.dataDir ? { path: resolve(opts.dataDir, 'dynamodb') } : {});
    stops.push(() => dynamo.stop());
    const sns = await startSns();
    stops.push(() => sns.stop());
    signal?.throwIfAborted();

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
    // What else in this process reads the environment (as in Lambda) finds this pipeline's endpoints.
    Object.assign(process.env, env);
    const clock = opts.clock;
    // The handlers' clients are this pipeline's own, not built from the environment: an SDK client resolves
    // its endpoint at its first request, and a second pipeline started in the same process (tests run two
    // side by side) would by then have replaced AWS_ENDPOINT_URL_* with its own.
    const runtime = observed(createRuntime(env, { pipeline, dynamodb: dynamo.client(), sns: sns.client(), ...(clock ? { clock } : {}) }), opts);
    const logLevel = opts.logLevel ?? 'SILENT';
    if (opts.dataDir && opts.onResume) {
      let newest = -Infinity;
      for (const stream of streams) {
        for (const p of await runtime.store.listShardProgress(stream)) newest = Math.max(newest, p.maxEventTime);
        newest = Math.max(newest, await runtime.store.getStreamWatermark(stream));
      }
      if (Number.isFinite(newest)) opts.onResume(newest);
    }
    signal?.throwIfAborted();
    const checkpoints = opts.dataDir ? readCheckpoints(opts.dataDir) : {};
    // No CloudWatch here: metrics are off, and so is Powertools' notice that there were none to flush.
    process.env['POWERTOOLS_METRICS_DISABLED'] ??= 'true';
    const quietMetricsLog = { ...console, warn: () => undefined };

    const mappings = new Map<string, EventSourceMapping>();
    if (opts.dataDir) {
      // After the mappings stopped (stops run in reverse): where each shard was, for the next run.
      const file = checkpointsFile(opts.dataDir);
      stops.push(async () => {
        const all: Record<string, Record<string, string>> = { ...checkpoints };
        for (const [stream, esm] of mappings) all[stream] = { ...all[stream], ...esm.checkpoints() };
        writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
      });
    }
    for (const stream of streams) {
      const handler = createProcessorHandler({
        logger: logger(SERVICES.processor, logLevel, opts.logStream),
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
        ...(checkpoints[stream] ? { resumeAfter: checkpoints[stream] } : {}),
      });
      signal?.throwIfAborted();
      await esm.start();
      stops.push(() => esm.stop());
      mappings.set(stream, esm);
    }

    const ticker = createTickerHandler({
      logger: logger(SERVICES.ticker, logLevel, opts.logStream),
      metrics: new Metrics({ namespace: 'tidewatch', serviceName: SERVICES.ticker, logger: quietMetricsLog }),
      runtime: () => runtime,
    });
    let ticking: Promise<unknown> = Promise.resolve();
    const tick = async () => {
      ticking = ticker({}, context('tidewatch-ticker'));
      await ticking;
    };
    const every = opts.tickRealMs ?? opts.tickEveryMs ?? 60_000;
    const onTickerError = opts.onTickerError ?? ((err: unknown) => opts.onFailure?.({ ticker: err instanceof Error ? err.message : String(err) }));
    const timer = setInterval(() => {
      tick().catch(onTickerError);
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
      clock: clock ?? runtime.clock,
      tick,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    // The start failed (or was aborted): stop what was started; the start's error is the one to report.
    await stopAll().catch((stopError: unknown) => {
      if (!(signal?.aborted ?? false)) console.error(`tidewatch: stopping after a failed start: ${stopError instanceof Error ? stopError.message : String(stopError)}`);
    });
    throw err;
  }
}
