import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { invalidParameter, SnsApiError, topicNotFound } from './snsQuery';

/** A message attribute as published (DataType String, Number, Binary or String.Array). */
export interface PublishedAttribute {
  readonly dataType: string;
  readonly stringValue?: string;
  /** Base64, as sent on the wire. */
  readonly binaryValue?: string;
}

/** A message the emulator accepted (duplicates on FIFO topics are not recorded). */
export interface PublishedMessage {
  readonly messageId: string;
  readonly topicArn: string;
  readonly message: string;
  readonly subject?: string;
  readonly messageAttributes: Readonly<Record<string, PublishedAttribute>>;
  readonly messageGroupId?: string;
  readonly messageDeduplicationId?: string;
  /** FIFO topics only: increasing per topic, as SNS's 128-bit sequence numbers. */
  readonly sequenceNumber?: string;
  /** ISO-8601 time of acceptance. */
  readonly timestamp: string;
}

export type LocalSubscriber = (message: PublishedMessage) => void | Promise<void>;

export interface Topic {
  readonly arn: string;
  readonly name: string;
  readonly fifo: boolean;
  readonly attributes: ReadonlyMap<string, string>;
}

export interface Subscription {
  readonly arn: string;
  readonly topicArn: string;
  readonly protocol: 'local' | 'http' | 'https';
  readonly endpoint: string;
  readonly rawMessageDelivery: boolean;
}

/** A delivery that did not succeed: a subscriber threw, or an HTTP endpoint failed after retries. */
export interface DeliveryError {
  readonly subscriptionArn: string;
  readonly messageId: string;
  readonly error: string;
}

export interface PublishInput {
  readonly topicArn: string;
  readonly message: string | undefined;
  readonly subject?: string;
  readonly messageAttributes: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly messageGroupId?: string;
  readonly messageDeduplicationId?: string;
}

export interface PublishResult {
  readonly messageId: string;
  readonly sequenceNumber?: string;
  /** True when a FIFO topic dropped the message as a duplicate within the deduplication window. */
  readonly duplicate: boolean;
}

export interface SnsBrokerOptions {
  readonly region: string;
  readonly accountId: string;
  /** FIFO deduplication interval. @default 300000 (5 minutes, as SNS) */
  readonly deduplicationWindowMs?: number;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Base URL of the emulator, for UnsubscribeURL / SigningCertURL in HTTP notifications. */
  readonly endpoint: () => string;
}

const TOPIC_NAME = /^[A-Za-z0-9_-]{1,256}$/;
const FIFO_TOPIC_NAME = /^[A-Za-z0-9_-]{1,251}\.fifo$/;
const MAX_MESSAGE_BYTES = 256 * 1024;
const ATTRIBUTE_TYPES = /^(String|Number|Binary)(\..+)?$/;
const HTTP_ATTEMPTS = 3;
const HTTP_TIMEOUT_MS = 5000;

/**
 * Topics, subscriptions and publishing of the local SNS emulator, without the
 * HTTP front end. Subscriptions are confirmed at once (there is no
 * SubscriptionConfirmation round trip locally).
 */
export class SnsBroker {
  readonly published: PublishedMessage[] = [];
  readonly deliveryErrors: DeliveryError[] = [];
  private readonly topics = new Map<string, Topic>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly localEndpoints = new Map<string, LocalSubscriber>();
  private readonly listeners = new Set<LocalSubscriber>();
  private readonly dedup = new Map<string, Map<string, { at: number; result: PublishResult }>>();
  private readonly sequences = new Map<string, bigint>();
  private readonly inFlight = new Set<Promise<void>>();
  private duplicates = 0;
  private readonly clock: () => number;
  private readonly dedupWindowMs: number;

  constructor(private readonly opts: SnsBrokerOptions) {
    this.clock = opts.clock ?? Date.now;
    this.dedupWindowMs = opts.deduplicationWindowMs ?? 300_000;
  }

  get duplicateCount(): number {
    return this.duplicates;
  }

  createTopic(name: string, attributes: ReadonlyMap<string, string>): Topic {
    const fifo = attributes.get('FifoTopic') === 'true';
    if (fifo && !FIFO_TOPIC_NAME.test(name)) {
      throw invalidParameter('Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.');
    }
    if (!fifo && !TOPIC_NAME.test(name)) throw invalidParameter('Topic Name');
    if (!fifo && attributes.has('ContentBasedDeduplication')) {
      throw invalidParameter('Attributes Reason: ContentBasedDeduplication is only valid for FIFO topics');
    }
    const arn = `arn:aws:sns:${this.opts.region}:${this.opts.accountId}:${name}`;
    const existing = this.topics.get(arn);
    if (existing) {
      for (const [k, v] of attributes) {
        if (existing.attributes.get(k) !== v) throw invalidParameter('Attributes Reason: Topic already exists with different attributes');
      }
      return existing;
    }
    const topic: Topic = { arn, name, fifo, attributes: new Map(attributes) };
    this.topics.set(arn, topic);
    return topic;
  }

  deleteTopic(arn: string): void {
    this.topics.delete(arn);
    for (const [subArn, s] of this.subscriptions) if (s.topicArn === arn) this.subscriptions.delete(subArn);
    this.dedup.delete(arn);
  }

  listTopics(): Topic[] {
    return [...this.topics.values()];
  }

  topic(arn: string): Topic {
    const t = this.topics.get(arn);
    if (!t) throw topicNotFound();
    return t;
  }

  /** Attributes as GetTopicAttributes reports them. */
  topicAttributes(arn: string): Map<string, string> {
    const t = this.topic(arn);
    const subs = this.subscriptionsOf(arn).length;
    return new Map([
      ['TopicArn', t.arn],
      ['Owner', this.opts.accountId],
      ['DisplayName', t.attributes.get('DisplayName') ?? ''],
      ['SubscriptionsConfirmed', String(subs)],
      ['SubscriptionsPending', '0'],
      ['SubscriptionsDeleted', '0'],
      ...[...t.attributes].filter(([k]) => k !== 'DisplayName'),
    ]);
  }

  /** Binds a name to a callback, for `Subscribe(Protocol: 'local', Endpoint: name)` over the API. */
  localEndpoint(name: string, subscriber: LocalSubscriber): () => void {
    this.localEndpoints.set(name, subscriber);
    return () => {
      if (this.localEndpoints.get(name) === subscriber) this.localEndpoints.delete(name);
    };
  }

  subscribe(topicArn: string, protocol: string, endpoint: string, attributes: ReadonlyMap<string, string>): Subscription {
    this.topic(topicArn);
    if (protocol !== 'local' && protocol !== 'http' && protocol !== 'https') {
      throw invalidParameter(`Protocol (${JSON.stringify(protocol)} is not supported by the local SNS emulator; use local, http or https)`);
    }
    if (protocol === 'local' && !this.localEndpoints.has(endpoint)) {
      throw invalidParameter(`Endpoint (no local endpoint named ${JSON.stringify(endpoint)}: register it with sns.localEndpoint(name, callback) first)`);
    }
    if (protocol !== 'local' && !endpoint.startsWith(`${protocol}://`)) {
      throw invalidParameter(`Endpoint (an ${protocol} subscription needs an ${protocol}:// URL, given ${JSON.stringify(endpoint)})`);
    }
    const same = this.subscriptionsOf(topicArn).find((s) => s.protocol === protocol && s.endpoint === endpoint);
    if (same) return same;
    const sub: Subscription = {
      arn: `${topicArn}:${randomUUID()}`,
      topicArn,
      protocol,
      endpoint,
      rawMessageDelivery: attributes.get('RawMessageDelivery') === 'true',
    };
    this.subscriptions.set(sub.arn, sub);
    return sub;
  }

  unsubscribe(subscriptionArn: string): void {
    if (!this.subscriptions.delete(subscriptionArn)) throw new SnsApiError(404, 'NotFound', 'Subscription does not exist');
  }

  subscriptionsOf(topicArn: string): Subscription[] {
    return [...this.subscriptions.values()].filter((s) => s.topicArn === topicArn);
  }

  /** Called for every accepted message, before delivery to subscriptions. */
  onPublish(listener: LocalSubscriber): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(input: PublishInput): PublishResult {
    const topic = this.topic(input.topicArn);
    const message = input.message;
    if (message === undefined || message === '') throw invalidParameter('Empty message');
    if (input.subject !== undefined && (input.subject.length === 0 || input.subject.length > 100 || !/^[\x20-\x7e]+$/.test(input.subject))) {
      throw invalidParameter('Subject');
    }
    const attributes = this.messageAttributes(input.messageAttributes);
    const size = Buffer.byteLength(message) + Object.entries(attributes).reduce((n, [k, a]) => n + k.length + a.dataType.length + (a.stringValue ?? a.binaryValue ?? '').length, 0);
    if (size > MAX_MESSAGE_BYTES) throw invalidParameter('Message too long');

    let dedupId: string | undefined;
    if (topic.fifo) {
      if (!input.messageGroupId) throw invalidParameter('The MessageGroupId parameter is required for FIFO topics');
      dedupId = input.messageDeduplicationId;
      if (!dedupId) {
        if (topic.attributes.get('ContentBasedDeduplication') !== 'true') {
          throw invalidParameter('The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly');
        }
        dedupId = createHash('sha256').update(message).digest('hex');
      }
      const previous = this.dedupEntries(topic.arn).get(dedupId);
      if (previous) {
        this.duplicates++;
        return { ...previous.result, duplicate: true };
      }
    } else if (input.messageDeduplicationId !== undefined) {
      throw invalidParameter('MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type');
    }

    const published: PublishedMessage = {
      messageId: randomUUID(),
      topicArn: topic.arn,
      message,
      ...(input.subject !== undefined ? { subject: input.subject } : {}),
      messageAttributes: attributes,
      ...(input.messageGroupId !== undefined ? { messageGroupId: input.messageGroupId } : {}),
      ...(topic.fifo ? { messageDeduplicationId: dedupId, sequenceNumber: this.nextSequence(topic.arn) } : {}),
      timestamp: new Date(this.clock()).toISOString(),
    };
    const result: PublishResult = { messageId: published.messageId, ...(published.sequenceNumber ? { sequenceNumber: published.sequenceNumber } : {}), duplicate: false };
    if (dedupId !== undefined) this.dedupEntries(topic.arn).set(dedupId, { at: this.clock(), result });
    this.published.push(published);
    for (const listener of this.listeners) this.track(`onPublish:${topic.arn}`, published, async () => listener(published));
    for (const sub of this.subscriptionsOf(topic.arn)) this.track(sub.arn, published, () => this.deliver(sub, published));
    return result;
  }

  /** Resolves when every delivery started so far has finished. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private messageAttributes(raw: ReadonlyMap<string, ReadonlyMap<string, string>>): Record<string, PublishedAttribute> {
    const out: Record<string, PublishedAttribute> = {};
    for (const [name, fields] of raw) {
      if (name.length === 0 || name.length > 256 || /^(AWS\.|Amazon\.)/i.test(name)) throw invalidParameter(`Message attribute name '${name}' is not valid`);
      const dataType = fields.get('DataType') ?? '';
      if (!ATTRIBUTE_TYPES.test(dataType)) {
        throw invalidParameter(`The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`);
      }
      const stringValue = fields.get('StringValue');
      const binaryValue = fields.get('BinaryValue');
      if (dataType.startsWith('Binary') ? binaryValue === undefined : stringValue === undefined) {
        throw invalidParameter(`The message attribute '${name}' must contain non-empty message attribute value for message attribute type '${dataType}'.`);
      }
      if (dataType.startsWith('Number') && !Number.isFinite(Number(stringValue))) {
        throw invalidParameter(`Could not cast message attribute '${name}' value to number.`);
      }
      out[name] = dataType.startsWith('Binary') ? { dataType, binaryValue: binaryValue! } : { dataType, stringValue: stringValue! };
    }
    return out;
  }

  private dedupEntries(topicArn: string): Map<string, { at: number; result: PublishResult }> {
    let m = this.dedup.get(topicArn);
    if (!m) {
      m = new Map();
      this.dedup.set(topicArn, m);
    }
    const cutoff = this.clock() - this.dedupWindowMs;
    for (const [id, e] of m) {
      if (e.at > cutoff) break; // insertion order is time order
      m.delete(id);
    }
    return m;
  }

  private nextSequence(topicArn: string): string {
    const n = (this.sequences.get(topicArn) ?? 10_000_000_000_000_000_000n) + 1n;
    this.sequences.set(topicArn, n);
    return n.toString();
  }

  private track(subscriptionArn: string, message: PublishedMessage, deliver: () => Promise<void> | void): void {
    const p = (async () => {
      try {
        await deliver();
      } catch (err) {
        this.deliveryErrors.push({ subscriptionArn, messageId: message.messageId, error: err instanceof Error ? err.message : String(err) });
      }
    })();
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async deliver(sub: Subscription, m: PublishedMessage): Promise<void> {
    if (sub.protocol === 'local') {
      const target = this.localEndpoints.get(sub.endpoint);
      if (!target) throw new Error(`local endpoint ${JSON.stringify(sub.endpoint)} is no longer registered`);
      await target(m);
      return;
    }
    const body = sub.rawMessageDelivery ? m.message : JSON.stringify(this.notification(sub, m));
    let lastError = '';
    for (let attempt = 1; attempt <= HTTP_ATTEMPTS; attempt++) {
      try {
        const status = await post(sub.endpoint, body, {
          'content-type': 'text/plain; charset=UTF-8',
          'x-amz-sns-message-type': 'Notification',
          'x-amz-sns-message-id': m.messageId,
          'x-amz-sns-topic-arn': m.topicArn,
          'x-amz-sns-subscription-arn': sub.arn,
          ...(sub.rawMessageDelivery ? { 'x-amz-sns-rawdelivery': 'true' } : {}),
        });
        if (status >= 200 && status < 300) return;
        lastError = `HTTP ${status}`;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
    throw new Error(`POST ${sub.endpoint} failed ${HTTP_ATTEMPTS} times (last: ${lastError})`);
  }

  /** The JSON document SNS posts to HTTP/S subscribers (signature fields are placeholders locally). */
  private notification(sub: Subscription, m: PublishedMessage): Record<string, unknown> {
    const base = this.opts.endpoint();
    return {
      Type: 'Notification',
      MessageId: m.messageId,
      ...(m.sequenceNumber ? { SequenceNumber: m.sequenceNumber } : {}),
      TopicArn: m.topicArn,
      ...(m.subject !== undefined ? { Subject: m.subject } : {}),
      Message: m.message,
      Timestamp: m.timestamp,
      SignatureVersion: '1',
      Signature: 'LOCAL',
      SigningCertURL: `${base}/SimpleNotificationService-local.pem`,
      UnsubscribeURL: `${base}/?Action=Unsubscribe&SubscriptionArn=${encodeURIComponent(sub.arn)}`,
      ...(Object.keys(m.messageAttributes).length > 0
        ? {
            MessageAttributes: Object.fromEntries(
              Object.entries(m.messageAttributes).map(([k, a]) => [k, { Type: a.dataType, Value: a.stringValue ?? a.binaryValue }]),
            ),
          }
        : {}),
    };
  }
}

function post(url: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.request(url, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, agent: false, timeout: HTTP_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${HTTP_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
