import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { PipelineFileBundle } from './PipelineFileBundle';
import { PipelineFunction } from './PipelineFunction';
import { checkDuration, checkInteger } from './validate';

export interface TickerOptions {
  /**
   * How often the ticker runs, 1..60 minutes, whole minutes. It bounds how late
   * an idle stream's windows close and an absence alert fires.
   *
   * @default Duration.minutes(1)
   */
  readonly schedule?: Duration;
  /** Memory in MB, 128..10240. @default 512 */
  readonly memorySize?: number;
  /** Timeout, 1 second..15 minutes, whole seconds. @default Duration.minutes(1) */
  readonly timeout?: Duration;
}

export interface ResolvedTickerOptions {
  readonly schedule: Duration;
  readonly memorySize: number;
  readonly timeout: Duration;
}

/** Applies the defaults and checks every value. */
export function resolveTickerOptions(o: TickerOptions = {}): ResolvedTickerOptions {
  checkDuration('ticker.schedule', o.schedule, Duration.minutes(1), Duration.minutes(60), undefined, 'minutes');
  checkInteger('ticker.memorySize', o.memorySize, 128, 10_240);
  checkDuration('ticker.timeout', o.timeout, Duration.seconds(1), Duration.minutes(15), undefined, 'seconds');
  return {
    schedule: o.schedule ?? Duration.minutes(1),
    memorySize: o.memorySize ?? 512,
    timeout: o.timeout ?? Duration.minutes(1),
  };
}

export interface TickerProps {
  readonly options: ResolvedTickerOptions;
  readonly entry: string;
  readonly pipelineFiles: PipelineFileBundle;
  /** The pipeline's shared environment (no TIDEWATCH_STREAM: the ticker handles every stream). */
  readonly environment: Readonly<Record<string, string>>;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The scheduled ticker: advances the watermark of idle shards by wall clock,
 * closes due windows, evaluates `final` and absence rules. Idempotent, so an
 * overlapping or repeated run is harmless and no reserved concurrency is set.
 */
export class Ticker extends Construct {
  readonly function: PipelineFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: TickerProps) {
    super(scope, id);
    this.function = new PipelineFunction(this, 'Function', {
      entry: props.entry,
      description: 'tidewatch ticker: idle watermarks, window close, absence rules',
      pipelineFiles: props.pipelineFiles,
      environment: props.environment,
      memorySize: props.options.memorySize,
      timeout: props.options.timeout,
      logRetention: props.logRetention,
    });
    // The next tick is the retry: no asynchronous retries of a failed tick.
    this.function.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.rule = new events.Rule(this, 'Schedule', {
      description: 'tidewatch ticker schedule',
      schedule: events.Schedule.rate(props.options.schedule),
      targets: [new targets.LambdaFunction(this.function.function, { retryAttempts: 2, maxEventAge: Duration.minutes(1) })],
    });
  }
}
