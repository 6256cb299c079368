import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ENV, RULE_METRICS } from '../lambdas/core/contract';
import type { Pipeline } from '../lambdas/core/types';
import { AlertTopic, type AlertSubscriptions } from './AlertTopic';
import { CustomMetrics } from './CustomMetrics';
import { OperationsTopic } from './OperationsTopic';
import { PipelineAlarms, resolveAlarmOptions, type PipelineAlarmOptions } from './PipelineAlarms';
import { checkDashboardSize, dashboardWidgetCount, PipelineDashboard } from './PipelineDashboard';
import { ruleSectionsWidgetCount } from './RuleDashboardSection';
import { PipelineFileBundle } from './PipelineFileBundle';
import { PROJECT_ROOT, type PipelineFunction } from './PipelineFunction';
import { PIPELINE_METRICS } from './pipelineMetrics';
import { StateTable, type StateTableOptions } from './StateTable';
import { resolveStreamOptions, StreamProcessor, type ResolvedStreamOptions, type StreamOptions } from './StreamProcessor';
import { resolveTickerOptions, Ticker, type TickerOptions } from './Ticker';
import { checkInteger, TidewatchConfigError } from './validate';

export interface RealtimePipelineProps {
  /**
   * The pipeline file (streams and alert rules), absolute or relative to the
   * working directory. It is loaded and validated at synth (an invalid file
   * throws a `PipelineError` naming file:line:col, rule and field), and copied
   * with the JSON Schemas it references into each function bundle.
   */
  readonly pipelineFile: string;
  /** Options of every stream (Kinesis, event source mapping, processor). @default the defaults documented on StreamOptions */
  readonly streamDefaults?: StreamOptions;
  /** Options of one stream, by pipeline stream name, over `streamDefaults` field by field. @default none */
  readonly streams?: Readonly<Record<string, StreamOptions>>;
  /**
   * Existing Kinesis streams to read instead of creating them, by pipeline
   * stream name (e.g. `kinesis.Stream.fromStreamArn(...)`; pass
   * `fromStreamAttributes` with its `encryptionKey` when it is encrypted with a
   * customer-managed key, so the processor is granted decrypt).
   *
   * @default none: one stream is created per pipeline stream
   */
  readonly existingStreams?: Readonly<Record<string, kinesis.IStream>>;
  /** @default the defaults documented on TickerOptions */
  readonly ticker?: TickerOptions;
  /**
   * The KMS key of the state table (when customer-managed), the alert topic,
   * the dead-letter queues and customer-managed streams.
   *
   * @default a new key with yearly rotation, retained when the table is
   */
  readonly encryptionKey?: kms.IKey;
  /** @default customer-managed encryption, RemovalPolicy.RETAIN */
  readonly stateTable?: StateTableOptions;
  /**
   * A FIFO alert topic (ordered per rule and group, deduplicated by alert
   * transition id); it delivers to SQS queues only.
   *
   * @default false
   */
  readonly fifoTopic?: boolean;
  /**
   * Hopping rules list the older windows of a group's first pane in the due buckets instead of
   * writing an item for each (issue 21: 0.008 writes/event less on the benchmark). `false` registers
   * them with an item, as versions before this one did: set it before rolling back past this version
   * (docs/DEPLOY.md, "Rolling out"). `false` sets `TIDEWATCH_LIST_HOPPING_WINDOWS=false`.
   *
   * @default true
   */
  readonly listHoppingWindows?: boolean;
  /** Subscriptions to the alert topic, with an optional filter on severity, rule and state. @default none */
  readonly alertSubscriptions?: AlertSubscriptions;
  /** @default alarms on, iterator age > 5 minutes, any rejected record */
  readonly alarms?: PipelineAlarmOptions;
  /**
   * Where alarms notify. A topic of this stack is given the policy statement
   * that lets the alarms publish; an imported one cannot be changed (synth
   * warns), so its own policy, and its key's when encrypted, must let
   * cloudwatch.amazonaws.com publish.
   *
   * @default a new KMS-encrypted topic, when alarms are enabled
   */
  readonly operationsTopic?: sns.ITopic;
  /** Emails subscribed to the new operations topic (ignored with `operationsTopic`, or when alarms are disabled). @default none */
  readonly operationsEmails?: readonly string[];
  /**
   * CloudWatch namespace of the handlers' custom metrics: 1..255 characters of
   * letters, digits and . - _ / # :, not starting with `AWS/`.
   *
   * @default 'tidewatch'
   */
  readonly metricsNamespace?: string;
  /**
   * CloudWatch namespace of the rules' values (rules with `metrics:` in the
   * pipeline file), same rules as `metricsNamespace`.
   *
   * @default 'tidewatch/rules'
   */
  readonly ruleMetricsNamespace?: string;
  /** Days a quarantined (rejected) record is kept in the state table, 1..3650. @default 14 */
  readonly quarantineDays?: number;
  /** Payload fields replaced by "[redacted]" in logs. @default none */
  readonly redactFields?: readonly string[];
  /** Retention of the functions' log groups. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** The processor handler (exports `handler`). @default lambdas/processor/handler.ts of this repository */
  readonly processorEntry?: string;
  /** The ticker handler (exports `handler`). @default lambdas/ticker/handler.ts of this repository */
  readonly tickerEntry?: string;
}

const NAMESPACE = /^[A-Za-z0-9._\-/#: ]{1,255}$/;

/**
 * A tidewatch pipeline from its pipeline file: per declared stream a Kinesis
 * stream, a processor function with its event source mapping and dead-letter
 * queue; one state table, one alert topic, a scheduled ticker, a dashboard,
 * and health alarms to an operations topic. Permissions come only from grants.
 */
export class RealtimePipeline extends Construct {
  /** The validated pipeline. */
  readonly pipeline: Pipeline;
  readonly encryptionKey: kms.IKey;
  readonly table: dynamodb.Table;
  readonly alertTopic: sns.Topic;
  /** Pipeline stream name → its stream, processor, event source and dead-letter queue. */
  readonly streams: ReadonlyMap<string, StreamProcessor>;
  readonly ticker: Ticker;
  readonly dashboard: cloudwatch.Dashboard;
  /** Undefined when alarms are disabled. */
  readonly operationsTopic?: sns.ITopic;
  /** Empty when alarms are disabled. */
  readonly alarms: readonly cloudwatch.Alarm[];
  readonly metricsNamespace: string;
  readonly ruleMetricsNamespace: string;

  constructor(scope: Construct, id: string, props: RealtimePipelineProps) {
    super(scope, id);

    // Validate everything before creating anything (bundling is the slow part).
    const pipelineFiles = PipelineFileBundle.load(props.pipelineFile);
    this.pipeline = pipelineFiles.pipeline;
    const streamNames = [...this.pipeline.streams.keys()];
    const resolved = this.resolveStreams(props, streamNames);
    const tickerOptions = resolveTickerOptions(props.ticker);
    const ruleSections = ruleSectionsWidgetCount(this.pipeline.rules);
    checkDashboardSize(streamNames.length, dashboardWidgetCount(streamNames.length, this.pipeline.rules.length, ruleSections), ruleSections);
    const alarmOptions = resolveAlarmOptions(props.alarms);
    this.metricsNamespace = props.metricsNamespace ?? PIPELINE_METRICS.defaultNamespace;
    checkNamespace(this.metricsNamespace);
    this.ruleMetricsNamespace = props.ruleMetricsNamespace ?? RULE_METRICS.defaultNamespace;
    checkNamespace(this.ruleMetricsNamespace, 'ruleMetricsNamespace');
    const quarantineDays = props.quarantineDays ?? 14;
    checkInteger('quarantineDays', quarantineDays, 1, 3650);
    const processorEntry = props.processorEntry ?? join(PROJECT_ROOT, 'lambdas', 'processor', 'handler.ts');
    const tickerEntry = props.tickerEntry ?? join(PROJECT_ROOT, 'lambdas', 'ticker', 'handler.ts');
    for (const [what, entry] of [['processor', processorEntry], ['ticker', tickerEntry]] as const) {
      if (!existsSync(entry)) throw new TidewatchConfigError(`${what} handler not found: ${relative(process.cwd(), entry)}`);
    }

    const tableOptions = props.stateTable ?? {};
    const tableRetained = (tableOptions.removalPolicy ?? RemovalPolicy.RETAIN) !== RemovalPolicy.DESTROY;
    this.encryptionKey =
      props.encryptionKey ??
      new kms.Key(this, 'Key', {
        description: 'tidewatch pipeline data: state table, alert topic, dead-letter queues',
        enableKeyRotation: true,
        // The retained table is unreadable without its key: keep them together.
        removalPolicy: tableRetained && (tableOptions.encryption ?? 'customer-managed') === 'customer-managed' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
        pendingWindow: Duration.days(7),
      });

    this.table = new StateTable(this, 'StateTable', { ...tableOptions, encryptionKey: this.encryptionKey }).table;
    const alertTopic = new AlertTopic(this, 'AlertTopic', {
      encryptionKey: this.encryptionKey,
      fifo: props.fifoTopic ?? false,
      ...(props.alertSubscriptions !== undefined ? { subscriptions: props.alertSubscriptions } : {}),
      ruleNames: this.pipeline.rules.map((r) => r.name),
    });
    this.alertTopic = alertTopic.topic;
    if (alarmOptions.enabled) {
      this.operationsTopic = props.operationsTopic ?? new OperationsTopic(this, 'OperationsTopic', { emails: props.operationsEmails ?? [] }).topic;
    }

    const redact = props.redactFields ?? [];
    const environment: Record<string, string> = {
      [ENV.table]: this.table.tableName,
      [ENV.topicArn]: this.alertTopic.topicArn,
      [ENV.fifoTopic]: String(alertTopic.fifo),
      [ENV.pipelineFile]: pipelineFiles.runtimePath,
      [ENV.metricsNamespace]: this.metricsNamespace,
      [ENV.ruleMetricsNamespace]: this.ruleMetricsNamespace,
      [ENV.quarantineDays]: String(quarantineDays),
      ...(redact.length > 0 ? { [ENV.redactFields]: redact.join(',') } : {}),
      ...(props.listHoppingWindows === false ? { [ENV.listHoppingWindows]: 'false' } : {}),
    };
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    const streams = new Map<string, StreamProcessor>();
    for (const name of streamNames) {
      const existing = props.existingStreams?.[name];
      const s = new StreamProcessor(this, `Stream-${name}`, {
        pipelineStream: name,
        options: resolved.get(name)!,
        ...(existing !== undefined ? { existingStream: existing } : {}),
        encryptionKey: this.encryptionKey,
        entry: processorEntry,
        pipelineFiles,
        environment,
        logRetention,
      });
      this.table.grantReadWriteData(s.processor.function);
      this.alertTopic.grantPublish(s.processor.function);
      streams.set(name, s);
    }
    this.streams = streams;

    this.ticker = new Ticker(this, 'Ticker', { options: tickerOptions, entry: tickerEntry, pipelineFiles, environment, logRetention });
    this.table.grantReadWriteData(this.ticker.function.function);
    this.alertTopic.grantPublish(this.ticker.function.function);
    this.acknowledgeTableIndexGrants([...[...streams.values()].map((s) => s.processor), this.ticker.function]);

    const metrics = new CustomMetrics(this.metricsNamespace);
    this.dashboard = new PipelineDashboard(this, 'Dashboard', {
      streams,
      ticker: this.ticker.function.function,
      table: this.table,
      rules: this.pipeline.rules,
      metrics,
      iteratorAgeThreshold: alarmOptions.iteratorAgeThreshold,
      ruleMetricsNamespace: this.ruleMetricsNamespace,
    }).dashboard;
    this.alarms =
      this.operationsTopic === undefined
        ? []
        : new PipelineAlarms(this, 'Alarms', {
            options: alarmOptions,
            streams,
            ticker: this.ticker.function.function,
            metrics,
            topic: this.operationsTopic,
          }).alarms;
  }

  /** `table.grantReadWriteData` covers `<table ARN>/index/*`; cdk-nag names the finding by the table's logical id. */
  private acknowledgeTableIndexGrants(functions: readonly PipelineFunction[]): void {
    const logicalId = Stack.of(this.table).getLogicalId(this.table.node.defaultChild as CfnElement);
    for (const fn of functions) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/index/*]`,
        reason:
          "table.grantReadWriteData also grants the state table's indexes (<table ARN>/index/*): the ticker queries the byCloseAt index. " +
          'The wildcard covers indexes of this one table only.',
      });
    }
  }

  private resolveStreams(props: RealtimePipelineProps, streamNames: readonly string[]): Map<string, ResolvedStreamOptions> {
    for (const [prop, map] of [['streams', props.streams], ['existingStreams', props.existingStreams]] as const) {
      for (const key of Object.keys(map ?? {})) {
        if (!streamNames.includes(key)) {
          throw new TidewatchConfigError(
            `${prop} names stream "${key}", which ${props.pipelineFile} does not declare (streams declared: ${streamNames.join(', ')})`,
          );
        }
      }
    }
    const resolved = new Map(
      streamNames.map((name) => [
        name,
        resolveStreamOptions(name, props.streamDefaults ?? {}, props.streams?.[name] ?? {}, props.existingStreams?.[name] !== undefined, this.pipeline.streams.get(name)?.batching),
      ]),
    );
    for (const [name, o] of resolved) {
      const framing = this.pipeline.streams.get(name)?.framing ?? 'json';
      if (o.logGroupSources !== undefined && framing !== 'cloudwatch-logs') {
        throw new TidewatchConfigError(
          `stream "${name}" has logGroupSources, but ${props.pipelineFile} reads it as framing ${framing}: CloudWatch Logs writes gzip subscription payloads, so the stream needs framing: cloudwatch-logs (and a parse: for its text lines)`,
        );
      }
    }
    return resolved;
  }
}

function checkNamespace(ns: string, prop = 'metricsNamespace'): void {
  if (Token.isUnresolved(ns)) return;
  if (!NAMESPACE.test(ns) || ns.startsWith('AWS/')) {
    throw new TidewatchConfigError(
      `${prop} must be 1 to 255 letters, digits, spaces or . - _ / # : and not start with AWS/ (given ${JSON.stringify(ns)})`,
    );
  }
}
