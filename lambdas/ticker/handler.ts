import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { PipelineMetrics } from '../adapters/PipelineMetrics';
import { flushRuleMetrics } from '../adapters/RuleMetrics';
import { createRuntime, type Runtime } from '../adapters/runtime';
import { ENV, SERVICES } from '../core/contract';

/**
 * The ticker, on a schedule: for every stream of the pipeline, moves the
 * watermark of idle shards by the wall clock, closes due windows (and so
 * evaluates `final` rules), resolves alerts of groups that went quiet, fires
 * absence rules and republishes transitions whose publish did not complete.
 * Safe to run twice or concurrently with itself and the processor.
 */
export interface TickerDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly runtime: () => Runtime;
}

export interface TickResult {
  readonly streams: Array<{ stream: string; watermark: string | null; windowsClosed: number; published: number }>;
}

export function createTickerHandler(deps: TickerDeps) {
  let runtime: Runtime | undefined;
  const pm = new PipelineMetrics(deps.metrics);
  const base = async (_event: unknown, _context: Context): Promise<TickResult> => {
    runtime ??= deps.runtime();
    const streams: TickResult['streams'] = [];
    const failures: unknown[] = [];
    for (const stream of runtime.pipeline.streams.keys()) {
      try {
        const report = await runtime.engine(stream).advance({ full: true });
        pm.recordAdvance(stream, report);
        const entry = {
          stream,
          watermark: Number.isFinite(report.watermark) ? new Date(report.watermark).toISOString() : null,
          windowsClosed: report.windowsClosed,
          published: report.published.length,
        };
        streams.push(entry);
        deps.logger.info('tick', { ...entry, alerts: report.published.map((t) => ({ alertId: t.alertId, rule: t.rule, state: t.state })) });
      } catch (err) {
        // One stream's failure must not stop the others; the invocation still fails so it is visible and retried.
        deps.logger.error('tick failed', { stream, error: err instanceof Error ? err : String(err) });
        failures.push(err);
      }
    }
    // Windows the tick closed, as rule metrics (also after a stream failed: what closed is published).
    await flushRuleMetrics(runtime.ruleMetrics, (message, extra) => deps.logger.error(message, extra));
    if (failures.length > 0) throw new AggregateError(failures, `ticker: ${failures.length} stream(s) failed; see the logs`);
    return { streams };
  };
  return middy(base).use(injectLambdaContext(deps.logger)).use(logMetrics(deps.metrics));
}

export function tickerDepsFromEnv(env: NodeJS.ProcessEnv = process.env): TickerDeps {
  return {
    logger: new Logger({ serviceName: SERVICES.ticker }),
    metrics: new Metrics({ namespace: env[ENV.metricsNamespace] ?? 'tidewatch', serviceName: SERVICES.ticker }),
    runtime: () => createRuntime(env),
  };
}

export const handler = createTickerHandler(tickerDepsFromEnv());
