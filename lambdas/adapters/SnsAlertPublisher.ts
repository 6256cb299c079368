import { createHash } from 'node:crypto';
import { PublishCommand, type PublishCommandInput, type SNSClient } from '@aws-sdk/client-sns';
import type { AlertTransition } from '../core/lifecycle';

export interface SnsAlertPublisherOptions {
  readonly client: SNSClient;
  readonly topicArn: string;
  /** FIFO topic: the transition id becomes MessageDeduplicationId and the group MessageGroupId. */
  readonly fifo?: boolean;
}

/** The JSON body subscribers receive. Stable field names: this is a public contract. */
export interface AlertMessage {
  readonly version: 1;
  readonly alertId: string;
  readonly transitionId: string;
  readonly rule: string;
  readonly state: 'firing' | 'resolved';
  readonly severity: string;
  readonly group: Readonly<Record<string, string | null>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly window: { readonly start: string; readonly end: string };
  readonly values: Readonly<Record<string, number | null>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly at: string;
  /** Anomaly rules only: the window's verdict (score in [0, 1], expected value, band, warming up). */
  readonly anomaly?: { readonly score: number; readonly expected: number; readonly lower: number; readonly upper: number; readonly warming: boolean };
  /** Sequence rules only: the match (its id, its events' ids, times and steps, the bound fields per step). */
  readonly sequence?: {
    readonly matchId: string;
    readonly events: ReadonlyArray<{ readonly id: string; readonly time: string; readonly step: number }>;
    readonly bindings: ReadonlyArray<Readonly<Record<string, unknown>>>;
  };
}

export function alertMessage(t: AlertTransition): AlertMessage {
  return {
    version: 1,
    alertId: t.alertId,
    transitionId: t.transitionId,
    rule: t.rule,
    state: t.state,
    severity: t.severity,
    group: t.group,
    labels: t.labels,
    window: { start: new Date(t.window.start).toISOString(), end: new Date(t.window.end).toISOString() },
    values: t.values,
    annotations: t.annotations,
    at: new Date(t.at).toISOString(),
    ...(t.anomaly ? { anomaly: { score: t.anomaly.score, expected: t.anomaly.expected, lower: t.anomaly.lower, upper: t.anomaly.upper, warming: t.anomaly.warming } } : {}),
    ...(t.sequence === undefined
      ? {}
      : { sequence: { matchId: t.sequence.matchId, events: t.sequence.events.map((e) => ({ id: e.id, time: new Date(e.time).toISOString(), step: e.step })), bindings: t.sequence.bindings } }),
  };
}

/** A short human subject: SNS allows 100 printable ASCII characters, no line breaks. */
export function alertSubject(t: AlertTransition): string {
  const group = Object.values(t.group).filter((v) => v !== null).join(',');
  const raw = `[${t.state.toUpperCase()}] ${t.severity} ${t.rule}${group ? ` ${group}` : ''}`;
  const ascii = raw.replace(/[^\x20-\x7e]/g, '?');
  return ascii.length <= 100 ? ascii : `${ascii.slice(0, 97)}...`;
}

/** FIFO message group: one ordered sequence per (rule, group), at most 128 characters. */
export function messageGroupId(t: AlertTransition): string {
  const raw = `${t.rule}:${Object.values(t.group).join(',')}`.replace(/[^\x21-\x7e]/g, '_');
  return raw.length <= 128 ? raw : `${raw.slice(0, 95)}#${createHash('sha256').update(raw).digest('hex').slice(0, 32)}`;
}

/**
 * The transition as the outbox records it (JSON in the alert item): a republish after a crash or a lost
 * response reads it back from there, so the first publish is made from the same form (issue 19: every
 * publish of a transition id has the same bytes, whichever path or container publishes it). JSON drops
 * undefined fields and turns non-finite numbers into null; a live object could differ from its record.
 */
export function asRecorded(t: AlertTransition): AlertTransition {
  return JSON.parse(JSON.stringify(t)) as AlertTransition;
}

/** The SNS Publish input of a transition: a pure function of the recorded transition (and the topic). */
export function publishInput(topicArn: string, transition: AlertTransition, fifo = false): PublishCommandInput {
  const t = asRecorded(transition);
  return {
    TopicArn: topicArn,
    Subject: alertSubject(t),
    Message: JSON.stringify(alertMessage(t)),
    MessageAttributes: {
      severity: { DataType: 'String', StringValue: t.severity },
      rule: { DataType: 'String', StringValue: t.rule },
      state: { DataType: 'String', StringValue: t.state },
    },
    ...(fifo ? { MessageGroupId: messageGroupId(t), MessageDeduplicationId: t.transitionId } : {}),
  };
}

/** Publishes alert transitions to SNS. Errors propagate: the transition stays in the outbox and is retried. */
export class SnsAlertPublisher {
  constructor(private readonly opts: SnsAlertPublisherOptions) {}

  readonly publish = async (t: AlertTransition): Promise<void> => {
    await this.opts.client.send(new PublishCommand(publishInput(this.opts.topicArn, t, this.opts.fifo === true)));
  };
}
