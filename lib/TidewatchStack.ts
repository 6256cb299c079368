import { CfnOutput, Stack, Token, type StackProps } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { Construct } from 'constructs';
import { RealtimePipeline, type RealtimePipelineProps } from './RealtimePipeline';
import { TidewatchConfigError } from './validate';

export interface TidewatchStackProps extends StackProps {
  /** The pipeline's settings, without existing streams (see `existingStreamArns`). */
  readonly pipeline: Omit<RealtimePipelineProps, 'existingStreams'>;
  /** Pipeline stream name → ARN of an existing Kinesis stream to read instead of creating one. @default none */
  readonly existingStreamArns?: Readonly<Record<string, string>>;
}

const STREAM_ARN = /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/[A-Za-z0-9_.-]{1,128}$/;

/**
 * The deployable tidewatch stack: one RealtimePipeline, and outputs for what
 * a user needs next (stream names to send to, the topics, the dashboard).
 * Environment-agnostic unless `env` is given: synth needs no credentials.
 */
export class TidewatchStack extends Stack {
  readonly pipeline: RealtimePipeline;

  constructor(scope: Construct, id: string, props: TidewatchStackProps) {
    super(scope, id, {
      description: 'tidewatch: event-time alerting (Kinesis -> Lambda -> DynamoDB -> SNS)',
      ...props,
    });
    const existingStreams: Record<string, kinesis.IStream> = {};
    for (const [name, arn] of Object.entries(props.existingStreamArns ?? {})) {
      if (!Token.isUnresolved(arn) && !STREAM_ARN.test(arn)) {
        throw new TidewatchConfigError(
          `existing stream for "${name}" must be a Kinesis stream ARN such as arn:aws:kinesis:us-east-1:123456789012:stream/telemetry (given ${JSON.stringify(arn)})`,
        );
      }
      existingStreams[name] = kinesis.Stream.fromStreamArn(this, `ExistingStream-${name}`, arn);
    }
    this.pipeline = new RealtimePipeline(this, 'Pipeline', { ...props.pipeline, existingStreams });

    for (const [name, s] of this.pipeline.streams) {
      new CfnOutput(this, `StreamName${name}`, { description: `Kinesis stream of pipeline stream "${name}": send events here`, value: s.stream.streamName });
    }
    new CfnOutput(this, 'AlertTopicArn', { description: 'SNS topic of the alerts', value: this.pipeline.alertTopic.topicArn });
    if (this.pipeline.operationsTopic !== undefined) {
      new CfnOutput(this, 'OperationsTopicArn', { description: 'SNS topic of the pipeline health alarms', value: this.pipeline.operationsTopic.topicArn });
    }
    new CfnOutput(this, 'StateTableName', { description: 'DynamoDB state table (retained on destroy by default)', value: this.pipeline.table.tableName });
    new CfnOutput(this, 'EncryptionKeyArn', {
      description: 'KMS key of the table, alert topic and dead-letter queues (retained with the table by default)',
      value: this.pipeline.encryptionKey.keyArn,
    });
    new CfnOutput(this, 'DashboardUrl', {
      description: 'CloudWatch dashboard',
      value: `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${this.pipeline.dashboard.dashboardName}`,
    });
  }
}
