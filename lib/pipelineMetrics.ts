/**
 * The custom metrics the dashboard and alarms read: namespace, names,
 * dimensions and who emits them. The handlers emit them in CloudWatch embedded
 * metric format (lambdas/adapters/PipelineMetrics.ts, Powertools Metrics); a
 * CloudWatch metric is identified by its namespace, name and *every*
 * dimension, so a dashboard line matches only if the emitter uses exactly the
 * dimension set written here.
 *
 * Names come from `METRICS` in lambdas/core/contract.ts (one source of truth);
 * this file adds what the infrastructure must know besides the names. No
 * aws-cdk-lib import here: it is plain data.
 */
import { METRICS, SERVICES } from '../lambdas/core/contract';
import type { RejectReason } from '../lambdas/core/types';

/** Which function emits a metric: its Powertools `serviceName`, which becomes the `service` dimension. */
export type MetricEmitter = 'processor' | 'ticker';

export interface PipelineMetricSpec {
  /** The metric name (from `METRICS`). */
  readonly name: string;
  readonly unit: 'Count' | 'Milliseconds';
  /** The functions that emit it; each one's `service` dimension value is in `PIPELINE_METRICS.services`. */
  readonly emittedBy: readonly MetricEmitter[];
  /** The complete dimension set, `service` included. */
  readonly dimensions: readonly string[];
  readonly description: string;
}

/** Every reason a record is rejected (the `Reason` dimension of RecordsRejected); the compiler checks it is complete. */
export const REJECT_REASONS = [
  'bad-base64',
  'not-utf8',
  'not-json',
  'not-object',
  'too-large',
  'schema',
  'no-timestamp',
  'bad-timestamp',
  'future-timestamp',
  'bad-gzip',
  'bad-kpl',
  'not-array',
  'not-cloudwatch-logs',
  'no-match',
] as const satisfies readonly RejectReason[];

// Compile-time completeness check: fails to type-check if a RejectReason is missing above.
type MissingRejectReason = Exclude<RejectReason, (typeof REJECT_REASONS)[number]>;
const rejectReasonsAreComplete: MissingRejectReason extends never ? true : MissingRejectReason = true;
void rejectReasonsAreComplete;

const D = { service: 'service', stream: 'Stream', reason: 'Reason', rule: 'Rule', severity: 'Severity', expression: 'Expression' } as const;

/**
 * The metric contract between the handlers and the dashboard/alarms.
 *
 * Namespace: `TIDEWATCH_METRICS_NAMESPACE` (default `tidewatch`).
 * Every metric carries `Stream` (the pipeline stream name) and Powertools'
 * `service` default dimension (`tidewatch-processor` or `tidewatch-ticker`).
 */
export const PIPELINE_METRICS = {
  defaultNamespace: 'tidewatch',
  /** Powertools `serviceName` of each function = value of the `service` dimension. */
  services: SERVICES satisfies Record<MetricEmitter, string>,
  dimensions: D,
  metrics: {
    recordsIn: {
      name: METRICS.recordsIn,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'Records received in a batch (accepted or not).',
    },
    recordsRejected: {
      name: METRICS.recordsRejected,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream, D.reason],
      description: 'Records quarantined, by reason (one of REJECT_REASONS); emitted only for reasons seen in the batch.',
    },
    recordsRejectedTotal: {
      name: METRICS.recordsRejected,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description:
        'Records quarantined, all reasons together (the same metric name without the Reason dimension); every batch, 0 included. ' +
        'The rejected-records alarm watches this one metric, so it does not grow with the number of reasons.',
    },
    lateRecords: {
      name: METRICS.lateRecords,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'Records that arrived after their window closed.',
    },
    aggregatesWritten: {
      name: METRICS.aggregatesWritten,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'Aggregate items written (DynamoDB writes, before conflict retries).',
    },
    conditionalWriteConflicts: {
      name: METRICS.conditionalWriteConflicts,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'Conditional writes that failed their high-water-mark condition (redeliveries).',
    },
    batchFailures: {
      name: METRICS.batchFailures,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'Batches partially applied and reported as a batch item failure (Lambda retries them).',
    },
    batchLagMs: {
      name: METRICS.batchLagMs,
      unit: 'Milliseconds',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'Processing time minus the oldest Kinesis arrival time in the batch.',
    },
    eventTimeLagMs: {
      name: METRICS.eventTimeLagMs,
      unit: 'Milliseconds',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'Processing time minus the newest event time in the batch.',
    },
    windowsClosed: {
      name: METRICS.windowsClosed,
      unit: 'Count',
      emittedBy: ['ticker'],
      dimensions: [D.service, D.stream],
      description: 'Windows the ticker closed.',
    },
    alertsPublished: {
      name: METRICS.alertsPublished,
      unit: 'Count',
      emittedBy: ['processor', 'ticker'],
      dimensions: [D.service, D.stream, D.rule, D.severity],
      description: 'Alert transitions published to the alert topic, per rule and severity.',
    },
    eventsIn: {
      name: METRICS.eventsIn,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'User events decoded from the batch (a KPL aggregate or a CloudWatch Logs record holds several).',
    },
    controlMessages: {
      name: METRICS.controlMessages,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'CloudWatch Logs CONTROL_MESSAGE records (sent when a subscription is created): acknowledged, never quarantined.',
    },
    groupFieldMissing: {
      name: METRICS.groupFieldMissing,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream, D.rule],
      description: "Events a rule skipped because one of its groupBy fields is missing (never merged into a null group).",
    },
    ruleExpressionErrors: {
      name: METRICS.ruleExpressionErrors,
      unit: 'Count',
      emittedBy: ['processor', 'ticker'],
      dimensions: [D.service, D.stream, D.rule, D.expression],
      description:
        "A rule's expressions that raised an error, by `Expression`: `where` and sequence `step` conditions (judged false), `aggregate` arguments (no value), `when` (judged not to hold). Emitted only when there are some.",
    },
    derivedFieldErrors: {
      name: METRICS.derivedFieldErrors,
      unit: 'Count',
      emittedBy: ['processor'],
      dimensions: [D.service, D.stream],
      description: 'Derived-field expressions that failed on an event (the field is left missing).',
    },
  } satisfies Record<string, PipelineMetricSpec>,
} as const;
