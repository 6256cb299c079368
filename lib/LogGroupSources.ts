import { Arn, ArnFormat, Names, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { TidewatchConfigError } from './validate';

/**
 * CloudWatch Logs log groups streamed into a pipeline stream: one subscription
 * filter per log group, writing to the stream through one role that
 * CloudWatch Logs assumes. The stream's pipeline file entry must read
 * CloudWatch Logs payloads (`framing: cloudwatch-logs`).
 */
export interface LogGroupSourceOptions {
  /** Log group names (or log groups), in this account and region; at most 2 subscription filters per log group are allowed by CloudWatch Logs. */
  readonly logGroups: ReadonlyArray<string | logs.ILogGroup>;
  /**
   * CloudWatch Logs filter pattern: which events are sent. `''` sends every
   * event (tidewatch's `where:` can filter further).
   *
   * @default '' (every event)
   */
  readonly filterPattern?: string;
}

export interface LogGroupSourcesProps extends LogGroupSourceOptions {
  readonly stream: kinesis.IStream;
  /** The stream's customer-managed key, when it has one (CloudWatch Logs then needs kms:GenerateDataKey on it). */
  readonly streamKey?: kms.IKey;
  /** For messages. */
  readonly pipelineStream: string;
}

/** A log group name as CloudWatch Logs allows it: 1..512 of letters, digits and _ - / . # */
const LOG_GROUP_NAME = /^[\w\-/.#]{1,512}$/;

/**
 * The subscription filters and their role. Least privilege: the role can be
 * assumed by CloudWatch Logs only for log groups of this account and region
 * (aws:SourceArn and aws:SourceAccount, against the confused deputy), and it
 * may only kinesis:PutRecord to this one stream (what CloudWatch Logs calls),
 * plus kms:GenerateDataKey on the stream's key when that key is customer-managed.
 */
export class LogGroupSources extends Construct {
  readonly role: iam.Role;
  readonly filters: readonly logs.SubscriptionFilter[];

  constructor(scope: Construct, id: string, props: LogGroupSourcesProps) {
    super(scope, id);
    const where = `stream "${props.pipelineStream}" logGroupSources`;
    if (props.logGroups.length === 0) throw new TidewatchConfigError(`${where}: logGroups is empty: name at least one log group, or omit logGroupSources`);
    const seen = new Set<string>();
    for (const g of props.logGroups) {
      if (typeof g !== 'string' || Token.isUnresolved(g)) continue;
      if (!LOG_GROUP_NAME.test(g)) throw new TidewatchConfigError(`${where}: ${JSON.stringify(g)} is not a log group name (1 to 512 letters, digits and _ - / . #)`);
      if (seen.has(g)) throw new TidewatchConfigError(`${where}: log group ${JSON.stringify(g)} is listed twice`);
      seen.add(g);
    }
    const stack = Stack.of(this);
    const anyLogGroup = Arn.format({ service: 'logs', resource: 'log-group', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack);
    this.role = new iam.Role(this, 'CloudWatchLogsRole', {
      description: `CloudWatch Logs writes subscribed log events to the tidewatch stream ${props.pipelineStream}`,
      assumedBy: new iam.ServicePrincipal('logs.amazonaws.com').withConditions({
        StringLike: { 'aws:SourceArn': anyLogGroup },
        StringEquals: { 'aws:SourceAccount': stack.account },
      }),
    });
    const policy = new iam.Policy(this, 'PutRecord', {
      statements: [
        new iam.PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [props.stream.streamArn] }),
        ...(props.streamKey ? [new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [props.streamKey.keyArn] })] : []),
      ],
    });
    policy.attachToRole(this.role);
    const destination: logs.ILogSubscriptionDestination = { bind: () => ({ arn: props.stream.streamArn, role: this.role }) };
    const pattern = props.filterPattern ?? '';
    this.filters = props.logGroups.map((g, i) => {
      const logGroup = typeof g === 'string' ? logs.LogGroup.fromLogGroupName(this, `LogGroup${i}`, g) : g;
      const filter = new logs.SubscriptionFilter(this, `Filter${i}`, {
        logGroup,
        destination,
        filterPattern: logs.FilterPattern.literal(pattern),
        filterName: `tidewatch-${props.pipelineStream}-${Names.uniqueResourceName(this, { maxLength: 40 })}-${i}`,
      });
      // CloudWatch Logs checks that it can write (a CONTROL_MESSAGE) when the filter is created: the policy must exist first.
      filter.node.addDependency(policy);
      return filter;
    });
  }
}
