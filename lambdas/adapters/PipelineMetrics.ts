import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS } from '../core/contract';
import type { AdvanceReport, BatchReport } from '../core/Engine';
import { type ExpressionKind, expressionErrors } from '../core/fold';
import type { EpochMs } from '../core/types';

/**
 * The processor's and ticker's metrics in CloudWatch embedded metric format
 * (Powertools Metrics): counts per batch, lags, and per-reason/per-rule
 * breakdowns as single metrics with their own dimensions.
 *
 * Rejected records are counted twice over: `RecordsRejected` with the stream's
 * dimensions only (every batch, 0 included: what the alarm watches, one metric
 * whatever reasons exist), and `RecordsRejected` per `Reason` (the dashboard's
 * breakdown). Nothing here lists the reasons: a reason added to the core shows
 * up in both without a change to this file or to the alarms.
 */
export class PipelineMetrics {
  constructor(private readonly metrics: Metrics) {}

  recordBatch(stream: string, report: BatchReport, now: EpochMs): void {
    const m = this.metrics;
    m.addDimension('Stream', stream);
    m.addMetric(METRICS.recordsIn, MetricUnit.Count, report.records);
    m.addMetric(METRICS.eventsIn, MetricUnit.Count, report.decoded);
    m.addMetric(METRICS.controlMessages, MetricUnit.Count, report.controlMessages ?? 0);
    let derivedErrors = 0;
    for (const n of Object.values(report.derivedErrors ?? {})) derivedErrors += n;
    if (derivedErrors > 0) m.addMetric(METRICS.derivedFieldErrors, MetricUnit.Count, derivedErrors);
    m.addMetric(METRICS.lateRecords, MetricUnit.Count, report.late);
    m.addMetric(METRICS.aggregatesWritten, MetricUnit.Count, report.keysWritten);
    m.addMetric(METRICS.conditionalWriteConflicts, MetricUnit.Count, report.conflicts);
    m.addMetric(METRICS.batchFailures, MetricUnit.Count, report.retryFrom === null ? 0 : 1);
    if (report.minArrivalTime !== null) m.addMetric(METRICS.batchLagMs, MetricUnit.Milliseconds, Math.max(0, now - report.minArrivalTime));
    if (report.maxEventTime !== null) m.addMetric(METRICS.eventTimeLagMs, MetricUnit.Milliseconds, Math.max(0, now - report.maxEventTime));
    m.addMetric(METRICS.recordsRejected, MetricUnit.Count, report.rejected.length);
    const reasons = new Map<string, number>();
    for (const r of report.rejected) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
    for (const [reason, count] of reasons) {
      const single = m.singleMetric();
      single.addDimensions({ Stream: stream, Reason: reason });
      single.addMetric(METRICS.recordsRejected, MetricUnit.Count, count);
    }
    for (const [rule, stats] of Object.entries(report.perRule)) {
      this.recordExpressionErrors(stream, rule, expressionErrors(stats));
      if (!stats.missingGroup) continue;
      const single = m.singleMetric();
      single.addDimensions({ Stream: stream, Rule: rule });
      single.addMetric(METRICS.groupFieldMissing, MetricUnit.Count, stats.missingGroup);
    }
    this.recordAlerts(stream, report.published);
  }

  /** RuleExpressionErrors of one rule, one metric per kind of expression that raised errors (none when there are none). */
  private recordExpressionErrors(stream: string, rule: string, errors: Readonly<Partial<Record<ExpressionKind, number>>>): void {
    for (const [expression, n] of Object.entries(errors)) {
      if (!n) continue;
      const single = this.metrics.singleMetric();
      single.addDimensions({ Stream: stream, Rule: rule, Expression: expression });
      single.addMetric(METRICS.ruleExpressionErrors, MetricUnit.Count, n);
    }
  }

  /** The ticker handles several streams per invocation: each stream's metrics are flushed with its own dimension. */
  recordAdvance(stream: string, report: AdvanceReport): void {
    const m = this.metrics;
    m.addDimension('Stream', stream);
    m.addMetric(METRICS.windowsClosed, MetricUnit.Count, report.windowsClosed);
    for (const [rule, n] of Object.entries(report.conditionErrors)) this.recordExpressionErrors(stream, rule, { when: n });
    for (const [rule, n] of Object.entries(report.stepErrors)) this.recordExpressionErrors(stream, rule, { step: n });
    this.recordAlerts(stream, report.published);
    m.publishStoredMetrics();
  }

  private recordAlerts(stream: string, published: BatchReport['published']): void {
    const counts = new Map<string, { rule: string; severity: string; n: number }>();
    for (const t of published) {
      const k = `${t.rule}\u0000${t.severity}`;
      const c = counts.get(k) ?? { rule: t.rule, severity: t.severity, n: 0 };
      c.n += 1;
      counts.set(k, c);
    }
    for (const c of counts.values()) {
      const single = this.metrics.singleMetric();
      single.addDimensions({ Stream: stream, Rule: c.rule, Severity: c.severity });
      single.addMetric(METRICS.alertsPublished, MetricUnit.Count, c.n);
    }
  }
}
