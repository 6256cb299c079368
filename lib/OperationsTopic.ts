import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
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

/**
 * Where the pipeline's own alarms go (iterator age, errors, dead letters...):
 * kept apart from the alert topic so that people watching service alerts are
 * not paged for the pipeline's health, and the reverse. Encrypted with its own
 * key, whose policy lets CloudWatch alarms publish (an alarm cannot use the
 * AWS-managed aws/sns key).
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
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
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
}
