/**
 * Names shared by the infrastructure (lib/), the handlers and the local
 * runtime: environment variables and the state table's layout. Changing one
 * is a breaking change for deployed stacks.
 */

/** Environment variables the handlers read (besides the standard AWS_* ones). */
export const ENV = {
  /** Name of the DynamoDB state table. */
  table: 'TIDEWATCH_TABLE',
  /** ARN of the SNS alert topic. */
  topicArn: 'TIDEWATCH_TOPIC_ARN',
  /** Path of the pipeline file, absolute or relative to the working directory (in Lambda: the bundle). */
  pipelineFile: 'TIDEWATCH_PIPELINE_FILE',
  /** The pipeline stream a processor function handles (one processor per stream). */
  stream: 'TIDEWATCH_STREAM',
  /** CloudWatch namespace of the custom metrics. @default tidewatch */
  metricsNamespace: 'TIDEWATCH_METRICS_NAMESPACE',
  /** CloudWatch namespace of the rules' values (rules with `metrics:`). @default tidewatch/rules */
  ruleMetricsNamespace: 'TIDEWATCH_RULE_METRICS_NAMESPACE',
  /** Days a quarantined record is kept. @default 14 */
  quarantineDays: 'TIDEWATCH_QUARANTINE_DAYS',
  /**
   * Comma-separated payload fields whose values never appear in messages (logs
   * carry no payload values at all; rejection reasons quote at most the event-time
   * field, replaced by "[redacted]" when listed here).
   */
  redactFields: 'TIDEWATCH_REDACT_FIELDS',
  /** Set to "true" when the topic is FIFO. */
  fifoTopic: 'TIDEWATCH_FIFO_TOPIC',
  /**
   * Set to "true" to list the older windows of a hopping rule's panes for the closer instead of registering
   * their items (issue 21, cost: EngineOptions.listOlderWindows). Only once every function runs a closer that
   * closes a window with no item: code before it judges such a window empty. @default false (register)
   */
  listHoppingWindows: 'TIDEWATCH_LIST_HOPPING_WINDOWS',
} as const;

/** The state table: one table, generic keys. */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** TTL attribute (epoch seconds). */
  ttlAttribute: 'expiresAt',
  /** Sparse index of aggregate keys not yet closed, by close time. */
  dueIndex: { name: 'byCloseAt', partitionKey: 'duePk', sortKey: 'closeAt' },
  /** Attributes projected into the due index. */
  dueIndexAttributes: ['rule', 'groupKey', 'windowStart', 'windowEnd'],
} as const;

/** Lambda's ParallelizationFactor: the high-water marks are per shard, so one lane per shard. */
export const SUPPORTED_PARALLELIZATION_FACTOR = 1;

/** Custom metrics (CloudWatch embedded metric format) the processor and ticker emit; all carry the `Stream` dimension. */
export const METRICS = {
  recordsIn: 'RecordsIn',
  /** Per stream (the total), and per `Reason` (a RejectReason). */
  recordsRejected: 'RecordsRejected',
  lateRecords: 'LateRecords',
  /** User events decoded (several per KPL aggregate or CloudWatch Logs record). */
  eventsIn: 'EventsIn',
  /** CloudWatch Logs CONTROL_MESSAGE records, acknowledged. */
  controlMessages: 'ControlMessages',
  /** Dimension `Rule`: events skipped for a missing groupBy field. */
  groupFieldMissing: 'GroupFieldMissing',
  /**
   * Dimensions `Rule`, `Expression` (where, aggregate, when, step): a rule's expressions that raised an
   * error (a `where` or step condition judged false, an aggregate argument taken as no value, a `when` as
   * "does not hold").
   */
  ruleExpressionErrors: 'RuleExpressionErrors',
  derivedFieldErrors: 'DerivedFieldErrors',
  aggregatesWritten: 'AggregatesWritten',
  conditionalWriteConflicts: 'ConditionalWriteConflicts',
  /** Dimensions `Rule`, `Severity`. */
  alertsPublished: 'AlertsPublished',
  batchLagMs: 'BatchLagMs',
  eventTimeLagMs: 'EventTimeLagMs',
  windowsClosed: 'WindowsClosed',
  batchFailures: 'BatchFailures',
} as const;

/**
 * Rule values (rules with `metrics:`, lambdas/adapters/RuleMetrics.ts): one
 * metric per published aggregate, named after it, with dimensions `Rule` and
 * the rule's group labels, in their own namespace; and `RuleValuesDropped`
 * (dimensions `Rule`, `Reason`) for what was not published.
 */
export const RULE_METRICS = {
  defaultNamespace: 'tidewatch/rules',
  dimensions: { rule: 'Rule', reason: 'Reason' },
  dropped: 'RuleValuesDropped',
  /** The statistic that a repeated identical value leaves unchanged. */
  statistic: 'Maximum',
} as const;

/** Powertools `serviceName` of each function: the `service` dimension of its metrics (the dashboard and alarms match on it). */
export const SERVICES = { processor: 'tidewatch-processor', ticker: 'tidewatch-ticker' } as const;
