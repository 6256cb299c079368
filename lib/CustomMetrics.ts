import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Rule } from '../lambdas/core/types';
import { PIPELINE_METRICS, REJECT_REASONS, type MetricEmitter } from './pipelineMetrics';

type MetricKey = keyof typeof PIPELINE_METRICS.metrics;

export interface CustomMetricOptions {
  /** @default 'Sum' */
  readonly statistic?: string;
  /** @default Duration.minutes(1) */
  readonly period?: Duration;
  readonly label?: string;
}

/**
 * CloudWatch metric objects for the handlers' custom metrics, built from
 * `PIPELINE_METRICS` so that the dashboard and the alarms match exactly the
 * dimension sets the handlers emit.
 */
export class CustomMetrics {
  constructor(readonly namespace: string) {}

  /** One metric as emitted by one function. */
  metric(key: MetricKey, emitter: MetricEmitter, dimensions: Record<string, string>, options: CustomMetricOptions = {}): cloudwatch.Metric {
    const spec = PIPELINE_METRICS.metrics[key];
    const dimensionsMap = { [PIPELINE_METRICS.dimensions.service]: PIPELINE_METRICS.services[emitter], ...dimensions };
    const names = Object.keys(dimensionsMap).sort();
    const expected = [...spec.dimensions].sort();
    if (names.join() !== expected.join()) {
      throw new Error(`CustomMetrics: ${spec.name} has dimensions ${expected.join(', ')} (given ${names.join(', ')})`);
    }
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName: spec.name,
      dimensionsMap,
      statistic: options.statistic ?? 'Sum',
      period: options.period ?? Duration.minutes(1),
      ...(options.label !== undefined ? { label: options.label } : {}),
    });
  }

  /** A processor metric of one stream (dimensions service + Stream). */
  processor(key: MetricKey, stream: string, options: CustomMetricOptions = {}): cloudwatch.Metric {
    return this.metric(key, 'processor', { [PIPELINE_METRICS.dimensions.stream]: stream }, options);
  }

  /** A ticker metric of one stream (dimensions service + Stream). */
  ticker(key: MetricKey, stream: string, options: CustomMetricOptions = {}): cloudwatch.Metric {
    return this.metric(key, 'ticker', { [PIPELINE_METRICS.dimensions.stream]: stream }, options);
  }

  /** RecordsRejected of one stream, one metric per reason. */
  rejectedByReason(stream: string, options: CustomMetricOptions = {}): cloudwatch.Metric[] {
    return REJECT_REASONS.map((reason) =>
      this.metric(
        'recordsRejected',
        'processor',
        { [PIPELINE_METRICS.dimensions.stream]: stream, [PIPELINE_METRICS.dimensions.reason]: reason },
        { ...options, label: reason },
      ),
    );
  }

  /**
   * RecordsRejected of one stream, all reasons together: the processor's
   * per-stream total (one metric, however many rejection reasons there are;
   * an alarm on metric math may read at most 10).
   */
  rejectedTotal(stream: string, period: Duration = Duration.minutes(5)): cloudwatch.Metric {
    return this.metric('recordsRejectedTotal', 'processor', { [PIPELINE_METRICS.dimensions.stream]: stream }, { period });
  }

  /**
   * AlertsPublished of one rule: the processor's (early rules) plus the
   * ticker's (final, absence, resolve). `index` keeps the metric ids unique
   * when several rules share a graph.
   */
  alertsPublished(rule: Rule, index = 0, period: Duration = Duration.minutes(1)): cloudwatch.MathExpression {
    const d = PIPELINE_METRICS.dimensions;
    const dims = { [d.stream]: rule.stream, [d.rule]: rule.name, [d.severity]: rule.severity };
    return new cloudwatch.MathExpression({
      expression: `FILL(p${index}, 0) + FILL(t${index}, 0)`,
      usingMetrics: {
        [`p${index}`]: this.metric('alertsPublished', 'processor', dims, { period }),
        [`t${index}`]: this.metric('alertsPublished', 'ticker', dims, { period }),
      },
      period,
      label: `${rule.name} (${rule.severity})`,
    });
  }
}
