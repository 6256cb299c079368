import { Annotations, ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { TidewatchConfigError } from './validate';

export interface OperationsTopicProps {
  /** Email addresses told when an alarm changes state; each must confirm. @default none */
  readonly emails?: readonly string[];
}

/** CloudWatch's service principal: alarms publish to SNS as this principal, not as an IAM identity of the account. */
const CLOUDWATCH = 'cloudwatch.amazonaws.com';

/**
 * Alarm ARNs named one by one in the topic policy's `aws:SourceArn` condition,
 * at most (5 per stream and 2: up to 11 streams). SNS caps a topic policy at
 * 30 KB (Amazon SNS Developer Guide, "Amazon SNS API permissions: Actions and
 * resources reference", Policy quotas); an alarm ARN is about 60 bytes plus the
 * name CloudFormation generates (stack name, logical id, 13 characters: up to
 * ~240 with a long stack name and a 64-character stream name), so 60 of them
 * stay under 18 KB. Beyond that the condition matches any alarm of this
 * account in this region (`arn:…:cloudwatch:<region>:<account>:alarm:*`).
 */
export const MAX_ALARM_ARNS_IN_POLICY = 60;

/**
 * Where the pipeline's own alarms go (iterator age, errors, dead letters...):
 * kept apart from the alert topic so that people watching service alerts are
 * not paged for the pipeline's health, and the reverse. Encrypted with its own
 * key, whose policy lets CloudWatch alarms publish (an alarm cannot use the
 * AWS-managed aws/sns key).
 *
 * `enforceSSL` gives the topic a policy (AWS::SNS::TopicPolicy), and a topic
 * policy replaces SNS's default one, which is what let CloudWatch publish:
 * without `allowAlarmsToPublish` the alarms change state and deliver nothing
 * ("not authorized to perform: SNS:Publish" in the alarm history).
 */
export class OperationsTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: OperationsTopicProps = {}) {
    super(scope, id);
    for (const email of props.emails ?? []) {
      if (!Token.isUnresolved(email) && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        throw new TidewatchConfigError(`operations email must be an email address such as ops@example.com (given ${JSON.stringify(email)})`);
      }
    }
    this.key = new kms.Key(this, 'Key', {
      description: 'tidewatch: operations topic (pipeline alarms)',
      enableKeyRotation: true,
      // Nothing is stored under this key once messages are delivered.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // SNS encrypts each message that CloudWatch publishes with this key, on
    // CloudWatch's behalf (SNS guide, "Enable compatibility between event
    // sources from AWS services and encrypted topics"). No condition keys: the
    // key serves this one topic, whose policy already admits only this
    // account's alarms, and a condition the KMS request does not carry would
    // silently drop every notification.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal(CLOUDWATCH)],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'tidewatch operations',
      masterKey: this.key,
      enforceSSL: true,
    });
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
  }

  /**
   * Lets these CloudWatch alarms publish to `topic`: an Allow of `sns:Publish`
   * for cloudwatch.amazonaws.com, only on behalf of this account
   * (`aws:SourceAccount`) and only for these alarms (`aws:SourceArn`), the
   * confused-deputy conditions the SNS and IAM guides recommend for service
   * principals. It joins the TLS-only Deny in the same policy (CDK's
   * `addToResourcePolicy` adds to the policy `enforceSSL` created); the Deny
   * still applies, and CloudWatch publishes over TLS.
   *
   * Returns false, with a warning on `scope`, when the topic is imported and
   * its policy cannot be changed here: that topic's own policy (and its KMS key
   * policy, when encrypted) must then let CloudWatch publish.
   */
  static allowAlarmsToPublish(scope: Construct, topic: sns.ITopic, alarms: readonly cloudwatch.IAlarm[]): boolean {
    if (alarms.length === 0) return true;
    const stack = Stack.of(scope);
    const sourceArn =
      alarms.length <= MAX_ALARM_ARNS_IN_POLICY
        ? { ArnEquals: { 'aws:SourceArn': alarms.map((a) => a.alarmArn) } }
        : { ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) } };
    const result = topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowPipelineAlarmsToPublish',
        effect: iam.Effect.ALLOW,
        principals: [new iam.ServicePrincipal(CLOUDWATCH)],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account }, ...sourceArn },
      }),
    );
    if (!result.statementAdded) {
      Annotations.of(scope).addWarningV2(
        'tidewatch:operationsTopicPolicy',
        `the operations topic ${topic.topicArn} is imported, so its policy is not managed here: it must allow sns:Publish for ${CLOUDWATCH} ` +
          '(and, when it is KMS-encrypted, its key must let that principal use kms:Decrypt and kms:GenerateDataKey*), or the alarms notify no one',
      );
    }
    return result.statementAdded;
  }
}
