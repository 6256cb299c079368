import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { ENV } from '../core/contract';
import { Engine } from '../core/Engine';
import { loadPipeline } from '../core/pipeline';
import type { Clock, Pipeline } from '../core/types';
import { DynamoDBStateStore } from './DynamoDBStateStore';
import { DynamoDBGroupAdmission } from './MetricGroupRegistry';
import { RuleMetrics } from './RuleMetrics';
import { SnsAlertPublisher } from './SnsAlertPublisher';

/**
 * The one place where AWS clients are wired. Endpoints come only from the
 * standard AWS configuration (AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB,
 * AWS_ENDPOINT_URL_SNS, …), so the same bundle runs in AWS, LocalStack and locally.
 */
export interface Runtime {
  readonly pipeline: Pipeline;
  readonly store: DynamoDBStateStore;
  readonly publisher: SnsAlertPublisher;
  readonly clock: Clock;
  /**
   * Rule values as CloudWatch metrics (EMF on stdout), for rules with `metrics:`;
   * null when no rule has them; collects nothing while POWERTOOLS_METRICS_DISABLED=true (as Powertools).
   * Handlers flush it after each batch and tick.
   */
  readonly ruleMetrics: RuleMetrics | null;
  /** One engine per pipeline stream, built on first use. */
  engine(stream: string): Engine;
}

export const systemClock: Clock = { now: () => Date.now() };

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new Error(`tidewatch: environment variable ${name} is not set (the stack sets it; locally, npm start does)`);
  return v;
}

export interface RuntimeOverrides {
  readonly dynamodb?: DynamoDBClient;
  readonly sns?: SNSClient;
  readonly clock?: Clock;
  readonly pipeline?: Pipeline;
}

export function createRuntime(env: NodeJS.ProcessEnv = process.env, overrides: RuntimeOverrides = {}): Runtime {
  const pipeline = overrides.pipeline ?? loadPipeline(env[ENV.pipelineFile] ?? 'pipeline/pipeline.yaml');
  const dynamodb = overrides.dynamodb ?? new DynamoDBClient({});
  const store = new DynamoDBStateStore({
    client: dynamodb,
    tableName: required(env, ENV.table),
    quarantineMs: Number(env[ENV.quarantineDays] ?? '14') * 86_400_000,
  });
  const publisher = new SnsAlertPublisher({
    client: overrides.sns ?? new SNSClient({}),
    topicArn: required(env, ENV.topicArn),
    fifo: env[ENV.fifoTopic] === 'true',
  });
  const clock = overrides.clock ?? systemClock;
  const redactFields = (env[ENV.redactFields] ?? '').split(',').map((f) => f.trim()).filter((f) => f !== '');
  const engines = new Map<string, Engine>();
  const wanted = pipeline.rules.some((r) => r.type === 'window' && r.metrics !== undefined);
  const ruleMetrics = wanted
    ? new RuleMetrics({
        pipeline,
        namespace: env[ENV.ruleMetricsNamespace] || undefined,
        admission: new DynamoDBGroupAdmission({ client: dynamodb, tableName: required(env, ENV.table) }),
        // Not console.log: Lambda's console prefixes each line, and an EMF document must be the whole log event.
        write: (line) => void process.stdout.write(`${line}\n`),
        clock,
        // Powertools' switch, read when windows close (the local pipeline sets it after building the runtime).
        disabled: () => (env['POWERTOOLS_METRICS_DISABLED'] ?? process.env['POWERTOOLS_METRICS_DISABLED']) === 'true',
      })
    : null;
  return {
    pipeline,
    store,
    publisher,
    clock,
    ruleMetrics,
    engine(stream: string): Engine {
      let e = engines.get(stream);
      if (!e) {
        e = new Engine({
          pipeline,
          stream,
          store,
          clock,
          publish: publisher.publish,
          redactFields,
          // Listed unless switched off ("false": registered with an item, as the code before did; before a rollback past this version).
          listOlderWindows: env[ENV.listHoppingWindows] !== 'false',
          ...(ruleMetrics ? { onWindowClosed: ruleMetrics.collect } : {}),
        });
        engines.set(stream, e);
      }
      return e;
    },
  };
}
