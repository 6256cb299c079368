import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { CustomMetrics } from './CustomMetrics';
import { OperationsTopic } from './OperationsTopic';
import type { StreamProcessor } from './StreamProcessor';
import { checkAtLeast, checkDuration } from './validate';

export interface PipelineAlarmOptions {
  /** Create the alarms (and the operations topic). @default true */
  readonly enabled?: boolean;
  /**
   * Alarm when the stream's GetRecords iterator age (how far the processor is
   * behind the stream's tip) stays above this in 3 of 5 minutes; 1 second..7 days.
   *
   * @default Duration.minutes(5)
   */
  readonly iteratorAgeThreshold?: Duration;
  /**
   * Alarm when more than this many records of one stream are rejected
   * (quarantined) within 5 minutes, >= 0. Rejected records never block a shard,
   * but they mean a producer or schema change needs a look.
   *
   * @default 0 (any rejected record)
   */
  readonly rejectedRecordsThreshold?: number;
}

export interface ResolvedAlarmOptions {
  readonly enabled: boolean;
  readonly iteratorAgeThreshold: Duration;
  readonly rejectedRecordsThreshold: number;
}

/** Applies the defaults and checks every value. */
export function resolveAlarmOptions(o: PipelineAlarmOptions = {}): ResolvedAlarmOptions {
  checkDuration('alarms.iteratorAgeThreshold', o.iteratorAgeThreshold, Duration.seconds(1), Duration.days(7));
  checkAtLeast('alarms.rejectedRecordsThreshold', o.rejectedRecordsThreshold, 0);
  return {
    enabled: o.enabled ?? true,
    iteratorAgeThreshold: o.iteratorAgeThreshold ?? Duration.minutes(5),
    rejectedRecordsThreshold: o.rejectedRecordsThreshold ?? 0,
  };
}

export interface PipelineAlarmsProps {
  readonly options: ResolvedAlarmOptions;
  readonly streams: ReadonlyMap<string, StreamProcessor>;
  readonly ticker: lambda.IFunction;
  readonly metrics: CustomMetrics;
  /** Receives every alarm's ALARM and OK transitions. */
  readonly topic: sns.ITopic;
}

const FIVE_MINUTES = Duration.minutes(5);

/**
 * The pipeline's health alarms, each notifying the operations topic when it
 * goes into ALARM and when it returns to OK, and the topic policy statement
 * that lets exactly these alarms publish there.
 *
 * Every alarm reads a bounded number of metrics whatever the pipeline file
 * holds: one metric each (the rejected-records alarm reads the processor's
 * per-stream total, not one metric per rejection reason), within CloudWatch's
 * limits of 10 metrics per metric-math alarm and 30 dimensions per metric.
 */
export class PipelineAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: PipelineAlarmsProps) {
    super(scope, id);
    const action = new actions.SnsAction(props.topic);
    const add = (alarm: cloudwatch.Alarm): void => {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.alarms.push(alarm);
    };
    const o = props.options;

    for (const [name, s] of props.streams) {
      const scope = new Construct(this, name);
      const fn = s.processor.function;
      add(
        new cloudwatch.Alarm(scope, 'IteratorAge', {
          alarmDescription:
            `tidewatch stream "${name}": the processor is more than ${o.iteratorAgeThreshold.toHumanString()} behind the stream. ` +
            'Look at processor errors, throttles and duration on the dashboard; records older than the maximum record age go to the dead-letter queue.',
          metric: s.stream.metricGetRecordsIteratorAgeMilliseconds({ period: Duration.minutes(1), statistic: 'Maximum' }),
          // The metric is in milliseconds.
          threshold: o.iteratorAgeThreshold.toMilliseconds(),
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 3,
          treatMissingData: cloudwatch.TreatMissingData.MISSING,
        }),
      );
      add(
        new cloudwatch.Alarm(scope, 'ProcessorErrors', {
          alarmDescription: `tidewatch stream "${name}": the processor failed (an error escaped the handler; Lambda retries and bisects the batch). See its logs.`,
          metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      add(
        new cloudwatch.Alarm(scope, 'ProcessorThrottles', {
          alarmDescription: `tidewatch stream "${name}": processor invocations were throttled (account or function concurrency limit).`,
          metric: fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      add(
        new cloudwatch.Alarm(scope, 'DeadLetters', {
          alarmDescription:
            `tidewatch stream "${name}": a batch was given up on and its shard and sequence-number range sent to the dead-letter queue. ` +
            'Those records were NOT counted; replay them from the stream while it still retains them (see docs/DEPLOY.md).',
          metric: s.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      add(
        new cloudwatch.Alarm(scope, 'RejectedRecords', {
          alarmDescription:
            `tidewatch stream "${name}": more than ${o.rejectedRecordsThreshold} records rejected in 5 minutes (bad JSON, schema, timestamp...). ` +
            'They are quarantined in the state table with their payload and reason; the dashboard breaks them down by reason and the processor log names it.',
          metric: props.metrics.rejectedTotal(name, FIVE_MINUTES),
          threshold: o.rejectedRecordsThreshold,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    add(
      new cloudwatch.Alarm(this, 'TickerErrors', {
        alarmDescription: 'tidewatch ticker failed: idle streams do not advance, final and absence rules are not evaluated. See its logs.',
        metric: props.ticker.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    add(
      new cloudwatch.Alarm(this, 'TickerThrottles', {
        alarmDescription: 'tidewatch ticker invocations were throttled (account concurrency limit).',
        metric: props.ticker.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    // The topic's policy must name CloudWatch, or these alarms notify no one.
    OperationsTopic.allowAlarmsToPublish(this, props.topic, this.alarms);
  }
}
