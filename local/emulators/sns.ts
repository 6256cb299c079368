import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SNSClient } from '@aws-sdk/client-sns';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './constants';
import { SnsBroker, type DeliveryError, type LocalSubscriber, type PublishedMessage } from './SnsBroker';
import { errorXml, QueryParams, SnsApiError, successXml, toXml, xmlMap } from './snsQuery';

export type { DeliveryError, LocalSubscriber, PublishedMessage, PublishedAttribute } from './SnsBroker';

export interface SnsEmulatorOptions {
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** FIFO deduplication interval. @default 300000 (5 minutes, as SNS) */
  readonly deduplicationWindowMs?: number;
  /** Time source for timestamps and deduplication. @default Date.now */
  readonly clock?: () => number;
}

export interface SnsEmulator {
  /** `http://127.0.0.1:PORT`: give it to `new SNSClient({ endpoint })` or `AWS_ENDPOINT_URL_SNS`. */
  readonly endpoint: string;
  readonly region: string;
  /** Every accepted message, in order (FIFO duplicates are dropped, as SNS does). */
  readonly published: readonly PublishedMessage[];
  /** Deliveries that failed (a local subscriber threw, an HTTP endpoint did not answer 2xx). */
  readonly deliveryErrors: readonly DeliveryError[];
  /** FIFO publishes dropped as duplicates. */
  readonly duplicates: number;
  /** Calls `listener` for every accepted message; returns an unsubscribe function. */
  onPublish(listener: LocalSubscriber): () => void;
  /** Resolves when every delivery started so far (local callbacks, HTTP posts) has finished. */
  settled(): Promise<void>;
  /** An in-process subscription (protocol "local") to a topic; returns its SubscriptionArn. */
  subscribe(topicArn: string, subscriber: LocalSubscriber): string;
  /** Names a callback so that `Subscribe({ Protocol: 'local', Endpoint: name })` over the API reaches it. */
  localEndpoint(name: string, subscriber: LocalSubscriber): () => void;
  /** Resolves with the published messages once there are at least `count`. */
  waitForMessages(count: number, timeoutMs?: number): Promise<PublishedMessage[]>;
  /** A shared SNS client for this endpoint (HTTP/1.1, dummy credentials); destroyed by `stop()`. */
  client(): SNSClient;
  /** Waits for in-flight deliveries, then closes the server. */
  stop(): Promise<void>;
}

type Handler = (p: QueryParams, broker: SnsBroker) => string | undefined;

const PAGE = 100;

const ACTIONS: Readonly<Record<string, Handler>> = {
  CreateTopic: (p, b) => toXml({ TopicArn: b.createTopic(p.required('Name'), p.map('Attributes')).arn }),
  DeleteTopic: (p, b) => {
    b.deleteTopic(p.required('TopicArn'));
    return undefined;
  },
  ListTopics: (p, b) => {
    const start = Number(p.get('NextToken') ?? '0');
    if (!Number.isInteger(start) || start < 0) throw new SnsApiError(400, 'InvalidParameter', 'Invalid parameter: NextToken');
    const all = b.listTopics();
    const page = all.slice(start, start + PAGE);
    return toXml({ Topics: page.map((t) => ({ TopicArn: t.arn })), NextToken: start + PAGE < all.length ? String(start + PAGE) : undefined });
  },
  GetTopicAttributes: (p, b) => `<Attributes>${xmlMap(b.topicAttributes(p.required('TopicArn')))}</Attributes>`,
  Subscribe: (p, b) =>
    toXml({ SubscriptionArn: b.subscribe(p.required('TopicArn'), p.required('Protocol'), p.get('Endpoint') ?? '', p.map('Attributes')).arn }),
  Unsubscribe: (p, b) => {
    b.unsubscribe(p.required('SubscriptionArn'));
    return undefined;
  },
  ListSubscriptionsByTopic: (p, b) =>
    toXml({
      Subscriptions: b.subscriptionsOf(b.topic(p.required('TopicArn')).arn).map((s) => ({
        SubscriptionArn: s.arn,
        Owner: s.arn.split(':')[4],
        Protocol: s.protocol,
        Endpoint: s.endpoint,
        TopicArn: s.topicArn,
      })),
    }),
  Publish: (p, b) => {
    const topicArn = p.get('TopicArn') ?? p.get('TargetArn');
    if (p.get('PhoneNumber') !== undefined) throw new SnsApiError(400, 'InvalidParameter', 'Invalid parameter: PhoneNumber (SMS is not supported by the local SNS emulator)');
    if (topicArn === undefined) throw new SnsApiError(400, 'InvalidParameter', 'Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter');
    const subject = p.get('Subject');
    const groupId = p.get('MessageGroupId');
    const dedupId = p.get('MessageDeduplicationId');
    const r = b.publish({
      topicArn,
      message: p.get('Message'),
      ...(subject !== undefined ? { subject } : {}),
      messageAttributes: p.structMap('MessageAttributes'),
      ...(groupId !== undefined ? { messageGroupId: groupId } : {}),
      ...(dedupId !== undefined ? { messageDeduplicationId: dedupId } : {}),
    });
    return toXml({ MessageId: r.messageId, SequenceNumber: r.sequenceNumber });
  },
};

/**
 * Starts a local SNS endpoint speaking the Query API the AWS SDK uses
 * (CreateTopic incl. FIFO, Subscribe with "local" callbacks and http(s)
 * endpoints, Publish, ListTopics, GetTopicAttributes, ListSubscriptionsByTopic,
 * Unsubscribe, DeleteTopic). Anything else answers `InvalidAction`.
 */
export async function startSns(opts: SnsEmulatorOptions = {}): Promise<SnsEmulator> {
  const region = opts.region ?? LOCAL_REGION;
  let endpoint = '';
  const broker = new SnsBroker({
    region,
    accountId: opts.accountId ?? '000000000000',
    ...(opts.deduplicationWindowMs !== undefined ? { deduplicationWindowMs: opts.deduplicationWindowMs } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    endpoint: () => endpoint,
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const requestId = randomUUID();
      let status = 200;
      let body: string;
      try {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const params = QueryParams.parse(req.method === 'POST' ? Buffer.concat(chunks).toString('utf8') : '', url.search);
        const action = params.get('Action');
        if (action === undefined) throw new SnsApiError(400, 'MissingAction', 'Missing Action parameter');
        const handler = ACTIONS[action];
        if (!handler) throw new SnsApiError(400, 'InvalidAction', `Could not find operation ${action} for version 2010-03-31`);
        body = successXml(action, requestId, handler(params, broker));
      } catch (err) {
        const apiError = err instanceof SnsApiError ? err : new SnsApiError(500, 'InternalError', err instanceof Error ? err.message : String(err));
        status = apiError.status;
        body = errorXml(apiError, requestId);
      }
      res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  endpoint = `http://${opts.host ?? '127.0.0.1'}:${address.port}`;

  let stopped: Promise<void> | undefined;
  let shared: SNSClient | undefined;
  return {
    endpoint,
    region,
    published: broker.published,
    deliveryErrors: broker.deliveryErrors,
    get duplicates() {
      return broker.duplicateCount;
    },
    onPublish: (listener) => broker.onPublish(listener),
    settled: () => broker.settled(),
    subscribe: (topicArn, subscriber) => {
      const name = `local-${randomUUID()}`;
      broker.localEndpoint(name, subscriber);
      return broker.subscribe(topicArn, 'local', name, new Map()).arn;
    },
    localEndpoint: (name, subscriber) => broker.localEndpoint(name, subscriber),
    waitForMessages: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        if (broker.published.length >= count) return resolve([...broker.published]);
        const timer = setTimeout(() => {
          off();
          reject(new Error(`SNS emulator: expected ${count} published messages within ${timeoutMs} ms, got ${broker.published.length}`));
        }, timeoutMs);
        const off = broker.onPublish(() => {
          if (broker.published.length < count) return;
          clearTimeout(timer);
          off();
          resolve([...broker.published]);
        });
      }),
    client: () => (shared ??= new SNSClient({ endpoint, region, credentials: LOCAL_CREDENTIALS, requestHandler: new NodeHttpHandler() })),
    stop: () =>
      (stopped ??= (async () => {
        await broker.settled();
        shared?.destroy();
        await new Promise<void>((resolve, reject) => {
          server.close((err) => (err ? reject(err) : resolve()));
          server.closeAllConnections();
        });
      })()),
  };
}
