import { Token } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Severity } from '../lambdas/core/types';
import { TidewatchConfigError } from './validate';

/**
 * Message attributes every alert notification carries; subscription filter
 * policies match on them.
 */
export const ALERT_ATTRIBUTES = {
  /** `critical` | `warning` | `info`: the rule's severity. */
  severity: 'severity',
  /** The rule's alert name, e.g. `HighErrorRate`. */
  rule: 'rule',
  /** `firing` | `resolved`: the lifecycle transition. */
  state: 'state',
} as const;

export const SEVERITIES = ['critical', 'warning', 'info'] as const satisfies readonly Severity[];
type MissingSeverity = Exclude<Severity, (typeof SEVERITIES)[number]>;
const severitiesAreComplete: MissingSeverity extends never ? true : MissingSeverity = true;
void severitiesAreComplete;

export type AlertState = 'firing' | 'resolved';
export const ALERT_STATES: readonly AlertState[] = ['firing', 'resolved'];

/**
 * A subscription filter policy on the alert message attributes: a
 * notification is delivered when, for every attribute given, its value is one
 * of those listed. `{ severity: ['critical'] }` delivers only critical alerts.
 */
export interface AlertFilter {
  /** @default every severity */
  readonly severity?: readonly Severity[];
  /** Alert names declared in the pipeline file. @default every rule */
  readonly rule?: readonly string[];
  /** @default both firing and resolved */
  readonly state?: readonly AlertState[];
}

/** Endpoints subscribed to the alert topic at deploy time. */
export interface AlertSubscriptions {
  /** Email addresses; each must confirm the subscription from the mail AWS sends. Standard topics only. @default none */
  readonly emails?: readonly string[];
  /**
   * ARNs of SQS queues. The queue's own policy must allow `sns:SendMessage`
   * from the topic (CDK cannot edit an imported queue), and an SSE-KMS queue's
   * key must allow `sns.amazonaws.com` to use it. @default none
   */
  readonly queueArns?: readonly string[];
  /** HTTPS endpoints; each must confirm the subscription. Standard topics only. @default none */
  readonly httpsUrls?: readonly string[];
  /** Filter applied to every subscription above. @default none: every alert is delivered */
  readonly filter?: AlertFilter;
}

export interface AlertTopicProps {
  /** Encrypts the topic (SSE-KMS). */
  readonly encryptionKey: kms.IKey;
  /**
   * A FIFO topic: notifications per (rule, group) are delivered in order and
   * deduplicated by the alert transition id (`MessageDeduplicationId`;
   * content-based deduplication is off). FIFO topics deliver to SQS queues only.
   *
   * @default false
   */
  readonly fifo?: boolean;
  /** @default none */
  readonly subscriptions?: AlertSubscriptions;
  /** Alert names of the pipeline, to check `subscriptions.filter.rule`. */
  readonly ruleNames: readonly string[];
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const QUEUE_ARN = /^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,75}(\.fifo)?$/;

function checkValues(name: string, given: readonly string[] | undefined, allowed: readonly string[]): void {
  if (given === undefined) return;
  if (given.length === 0) throw new TidewatchConfigError(`alert filter ${name} must list at least one value (allowed: ${allowed.join(', ')})`);
  for (const v of given) {
    if (!Token.isUnresolved(v) && !allowed.includes(v)) {
      throw new TidewatchConfigError(`alert filter ${name} must be one of ${allowed.join(', ')} (given ${JSON.stringify(v)})`);
    }
  }
}

/** The SNS filter policy for an AlertFilter, or undefined when it filters nothing. */
export function alertFilterPolicy(filter: AlertFilter | undefined): Record<string, sns.SubscriptionFilter> | undefined {
  if (filter === undefined) return undefined;
  const policy: Record<string, sns.SubscriptionFilter> = {};
  for (const key of ['severity', 'rule', 'state'] as const) {
    const values = filter[key];
    if (values !== undefined) policy[ALERT_ATTRIBUTES[key]] = sns.SubscriptionFilter.stringFilter({ allowlist: [...values] });
  }
  return Object.keys(policy).length === 0 ? undefined : policy;
}

/** The alert topic: KMS-encrypted, TLS-only, standard or FIFO, with optional subscriptions. */
export class AlertTopic extends Construct {
  readonly topic: sns.Topic;
  readonly fifo: boolean;

  constructor(scope: Construct, id: string, props: AlertTopicProps) {
    super(scope, id);
    this.fifo = props.fifo ?? false;
    const subs = props.subscriptions ?? {};
    AlertTopic.validate(subs, this.fifo, props.ruleNames);

    // enforceSSL gives the topic a policy holding only the TLS-only Deny, which
    // replaces SNS's default policy. Nothing more is needed, deliberately: the
    // only publishers are the stack's processors and ticker, IAM roles of this
    // account whose role policies allow sns:Publish (grantPublish); no AWS
    // service publishes here (the alarms go to the operations topic, the ticker's
    // schedule targets the function), so no service principal is let in.
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'tidewatch alerts',
      masterKey: props.encryptionKey,
      enforceSSL: true,
      ...(this.fifo ? { fifo: true, contentBasedDeduplication: false } : {}),
    });

    const filterPolicy = alertFilterPolicy(subs.filter);
    const options = filterPolicy === undefined ? {} : { filterPolicy };
    for (const email of subs.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email, options));
    }
    for (const url of subs.httpsUrls ?? []) {
      this.topic.addSubscription(new subscriptions.UrlSubscription(url, { ...options, protocol: sns.SubscriptionProtocol.HTTPS }));
    }
    (subs.queueArns ?? []).forEach((arn, i) => {
      const queue = sqs.Queue.fromQueueArn(this, `SubscribedQueue${i}`, arn);
      this.topic.addSubscription(new subscriptions.SqsSubscription(queue, options));
    });
  }

  private static validate(subs: AlertSubscriptions, fifo: boolean, ruleNames: readonly string[]): void {
    for (const email of subs.emails ?? []) {
      if (!Token.isUnresolved(email) && !EMAIL.test(email)) {
        throw new TidewatchConfigError(`alert subscription email must be an email address such as ops@example.com (given ${JSON.stringify(email)})`);
      }
    }
    for (const url of subs.httpsUrls ?? []) {
      if (!Token.isUnresolved(url) && !/^https:\/\/[^\s/]+/.test(url)) {
        throw new TidewatchConfigError(`alert subscription URL must start with https:// (given ${JSON.stringify(url)})`);
      }
    }
    for (const arn of subs.queueArns ?? []) {
      if (!Token.isUnresolved(arn) && !QUEUE_ARN.test(arn)) {
        throw new TidewatchConfigError(`alert subscription queue must be an SQS queue ARN such as arn:aws:sqs:us-east-1:123456789012:alerts (given ${JSON.stringify(arn)})`);
      }
    }
    if (fifo && ((subs.emails?.length ?? 0) > 0 || (subs.httpsUrls?.length ?? 0) > 0)) {
      throw new TidewatchConfigError(
        'a FIFO alert topic delivers to SQS queues only: remove the email and HTTPS subscriptions, or use a standard topic ' +
          `(given ${subs.emails?.length ?? 0} email and ${subs.httpsUrls?.length ?? 0} HTTPS subscriptions)`,
      );
    }
    checkValues('severity', subs.filter?.severity, SEVERITIES);
    checkValues('rule', subs.filter?.rule, ruleNames);
    checkValues('state', subs.filter?.state, ALERT_STATES);
  }
}
