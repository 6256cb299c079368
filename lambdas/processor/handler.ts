import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { PipelineMetrics } from '../adapters/PipelineMetrics';
import { flushRuleMetrics } from '../adapters/RuleMetrics';
import { createRuntime, type Runtime } from '../adapters/runtime';
import { ENV, SERVICES } from '../core/contract';
import type { BatchReport } from '../core/Engine';
import { expressionErrors, type ExpressionKind } from '../core/fold';
import type { KinesisLikeRecord } from '../core/types';

/**
 * The processor: invoked by the Kinesis event source mapping with one shard's
 * batch. Thin: records → engine (exactly-once state, alerts) → metrics. A
 * transient failure is reported as a batch item failure at the first record
 * whose effect is not durable, so Lambda retries from there; nothing before it
 * is applied twice (the state's high-water marks see to it).
 */
export interface ProcessorDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Built on the first invocation (reads the pipeline file, wires the clients). */
  readonly runtime: () => Runtime;
  /** The pipeline stream this function handles. */
  readonly stream: () => string;
}

export function toKinesisLike(event: KinesisStreamEvent): Map<string, KinesisLikeRecord[]> {
  const byShard = new Map<string, KinesisLikeRecord[]>();
  for (const r of event.Records) {
    const shardId = r.eventID.slice(0, r.eventID.indexOf(':'));
    const list = byShard.get(shardId) ?? [];
    list.push({
      data: r.kinesis.data,
      partitionKey: r.kinesis.partitionKey,
      sequenceNumber: r.kinesis.sequenceNumber,
      approximateArrivalTimestamp: r.kinesis.approximateArrivalTimestamp,
      shardId,
    });
    byShard.set(shardId, list);
  }
  return byShard;
}

/** Rules that skipped events for a missing groupBy field, for the batch log line. */
function missingGroups(perRule: Readonly<Record<string, { missingGroup: number }>>): { groupFieldMissing?: Record<string, number> } {
  const out: Record<string, number> = {};
  for (const [rule, s] of Object.entries(perRule)) if (s.missingGroup > 0) out[rule] = s.missingGroup;
  return Object.keys(out).length > 0 ? { groupFieldMissing: out } : {};
}

/** Rules whose expressions raised errors, by kind, for the batch log line. */
function withExpressionErrors(perRule: BatchReport['perRule']): { expressionErrors?: Record<string, Partial<Record<ExpressionKind, number>>> } {
  const out: Record<string, Partial<Record<ExpressionKind, number>>> = {};
  for (const [rule, s] of Object.entries(perRule)) {
    const e = expressionErrors(s);
    if (Object.keys(e).length > 0) out[rule] = e;
  }
  return Object.keys(out).length > 0 ? { expressionErrors: out } : {};
}

export function createProcessorHandler(deps: ProcessorDeps) {
  let runtime: Runtime | undefined;
  const { logger, metrics } = deps;
  const pm = new PipelineMetrics(metrics);
  const base = async (event: KinesisStreamEvent, _context: Context): Promise<KinesisStreamBatchResponse> => {
    runtime ??= deps.runtime();
    const stream = deps.stream();
    const engine = runtime.engine(stream);
    const batchItemFailures: KinesisStreamBatchResponse['batchItemFailures'] = [];
    for (const [shardId, records] of toKinesisLike(event)) {
      const report = await engine.processBatch(shardId, records);
      pm.recordBatch(stream, report, runtime.clock.now());
      const rejectedByReason: Record<string, number> = {};
      for (const r of report.rejected) rejectedByReason[r.reason] = (rejectedByReason[r.reason] ?? 0) + 1;
      const summary = {
        stream,
        shardId,
        firstSequence: report.firstSequence,
        lastSequence: report.lastSequence,
        records: report.records,
        events: report.decoded,
        rejected: rejectedByReason,
        ...(report.controlMessages ? { controlMessages: report.controlMessages } : {}),
        ...(report.derivedErrors !== undefined && Object.keys(report.derivedErrors).length > 0 ? { derivedFieldErrors: report.derivedErrors } : {}),
        ...missingGroups(report.perRule),
        ...withExpressionErrors(report.perRule),
        late: report.late,
        keysWritten: report.keysWritten,
        conflicts: report.conflicts,
        alerts: report.published.map((t) => ({ alertId: t.alertId, rule: t.rule, state: t.state })),
        watermark: Number.isFinite(report.watermark) ? new Date(report.watermark).toISOString() : null,
      };
      if (report.retryFrom !== null) {
        logger.error('batch partially applied; Lambda will retry from the reported sequence number', {
          ...summary,
          retryFrom: report.retryFrom,
          error: report.error instanceof Error ? report.error : String(report.error),
        });
        batchItemFailures.push({ itemIdentifier: report.retryFrom });
      } else {
        logger.info('batch applied', summary);
      }
    }
    // Windows the batches closed, as rule metrics (only rules with `metrics:`).
    await flushRuleMetrics(runtime.ruleMetrics, (message, extra) => logger.error(message, extra));
    return { batchItemFailures };
  };
  return middy(base).use(injectLambdaContext(logger)).use(logMetrics(metrics));
}

/** The deployed wiring: everything from the environment the stack sets. */
export function processorDepsFromEnv(env: NodeJS.ProcessEnv = process.env): ProcessorDeps {
  return {
    logger: new Logger({ serviceName: SERVICES.processor }),
    metrics: new Metrics({ namespace: env[ENV.metricsNamespace] ?? 'tidewatch', serviceName: SERVICES.processor }),
    runtime: () => createRuntime(env),
    stream: () => {
      const stream = env[ENV.stream];
      if (!stream) throw new Error(`tidewatch: environment variable ${ENV.stream} is not set: which pipeline stream does this processor handle?`);
      return stream;
    },
  };
}

export const handler = createProcessorHandler(processorDepsFromEnv());
