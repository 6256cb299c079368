import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTopicCommand,
  GetTopicAttributesCommand,
  ListSubscriptionsByTopicCommand,
  ListTopicsCommand,
  PublishCommand,
  SubscribeCommand,
  UnsubscribeCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';
import { startSns, type PublishedMessage, type SnsEmulator } from '../../local/emulators';
import { uniqueName } from './helpers';

/** A raw POST (no keep-alive), for what the SDK cannot send. */
function post(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('local SNS emulator (with @aws-sdk/client-sns)', () => {
  let sns: SnsEmulator;
  let client: SNSClient;
  let now = Date.UTC(2026, 10, 27, 10, 0, 0);

  beforeAll(async () => {
    sns = await startSns({ clock: () => now });
    client = sns.client();
  });

  afterAll(async () => {
    await sns.stop();
  });

  const createTopic = async (name: string, attributes?: Record<string, string>) =>
    (await client.send(new CreateTopicCommand({ Name: name, ...(attributes ? { Attributes: attributes } : {}) }))).TopicArn!;

  it('creates topics idempotently and lists them', async () => {
    // GIVEN / WHEN
    const name = uniqueName('alerts');
    const arn = await createTopic(name);
    const again = await createTopic(name);
    const listed = await client.send(new ListTopicsCommand({}));
    const attrs = await client.send(new GetTopicAttributesCommand({ TopicArn: arn }));

    // THEN
    expect(arn).toBe(`arn:aws:sns:us-east-1:000000000000:${name}`);
    expect(again).toBe(arn);
    expect(listed.Topics?.map((t) => t.TopicArn)).toContain(arn);
    expect(attrs.Attributes).toMatchObject({ TopicArn: arn, Owner: '000000000000' });
  });

  it('delivers a publish with subject and attributes to local subscribers and records it', async () => {
    // GIVEN a topic with an in-process subscription and one made over the API (protocol "local")
    const arn = await createTopic(uniqueName('alerts'));
    const direct: PublishedMessage[] = [];
    const viaApi: PublishedMessage[] = [];
    sns.subscribe(arn, (m) => void direct.push(m));
    const off = sns.localEndpoint('pager', (m) => void viaApi.push(m));
    const sub = await client.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'local', Endpoint: 'pager', ReturnSubscriptionArn: true }));

    // WHEN
    const waiting = sns.waitForMessages(sns.published.length + 1);
    const res = await client.send(
      new PublishCommand({
        TopicArn: arn,
        Subject: '[FIRING] critical HighErrorRate',
        Message: JSON.stringify({ rule: 'HighErrorRate', note: 'a < b & c' }),
        MessageAttributes: {
          severity: { DataType: 'String', StringValue: 'critical' },
          errors: { DataType: 'Number', StringValue: '42' },
        },
      }),
    );

    // THEN
    expect((await waiting).at(-1)!.messageId).toBe(res.MessageId);
    expect(res.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(sub.SubscriptionArn).toMatch(new RegExp(`^${arn}:[0-9a-f-]{36}$`));
    const recorded = sns.published.find((m) => m.messageId === res.MessageId);
    expect(recorded).toEqual({
      messageId: res.MessageId,
      topicArn: arn,
      subject: '[FIRING] critical HighErrorRate',
      message: '{"rule":"HighErrorRate","note":"a < b & c"}',
      messageAttributes: { severity: { dataType: 'String', stringValue: 'critical' }, errors: { dataType: 'Number', stringValue: '42' } },
      timestamp: new Date(now).toISOString(),
    });
    await sns.settled();
    expect(direct.map((m) => m.messageId)).toEqual([res.MessageId]);
    expect(viaApi.map((m) => m.messageId)).toEqual([res.MessageId]);
    const subs = await client.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn }));
    expect(subs.Subscriptions).toHaveLength(2);
    await client.send(new UnsubscribeCommand({ SubscriptionArn: sub.SubscriptionArn! }));
    off();
  });

  it('posts SNS notifications to http subscribers (envelope and raw delivery)', async () => {
    // GIVEN an HTTP endpoint and two subscriptions to it
    const received: Array<{ headers: http.IncomingHttpHeaders; body: string; url: string }> = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body, url: req.url ?? '' });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const arn = await createTopic(uniqueName('alerts'));
      await client.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'http', Endpoint: `${base}/envelope` }));
      await client.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'http', Endpoint: `${base}/raw`, Attributes: { RawMessageDelivery: 'true' } }));

      // WHEN
      const { MessageId } = await client.send(
        new PublishCommand({ TopicArn: arn, Subject: 'hello', Message: 'body text', MessageAttributes: { severity: { DataType: 'String', StringValue: 'info' } } }),
      );
      await sns.settled();

      // THEN
      const envelope = received.find((r) => r.url === '/envelope')!;
      expect(envelope.headers['x-amz-sns-message-type']).toBe('Notification');
      expect(envelope.headers['x-amz-sns-topic-arn']).toBe(arn);
      expect(JSON.parse(envelope.body)).toMatchObject({
        Type: 'Notification',
        MessageId,
        TopicArn: arn,
        Subject: 'hello',
        Message: 'body text',
        MessageAttributes: { severity: { Type: 'String', Value: 'info' } },
      });
      expect(received.find((r) => r.url === '/raw')!.body).toBe('body text');
      expect(sns.deliveryErrors).toEqual([]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('drops duplicates on a FIFO topic within 5 minutes, as SNS does', async () => {
    // GIVEN
    const arn = await createTopic(`${uniqueName('alerts')}.fifo`, { FifoTopic: 'true' });
    const before = sns.published.length;
    const publish = (dedup: string) =>
      client.send(new PublishCommand({ TopicArn: arn, Message: `m-${dedup}`, MessageGroupId: 'HighErrorRate:checkout', MessageDeduplicationId: dedup }));

    // WHEN
    const first = await publish('transition-1');
    const duplicate = await publish('transition-1');
    const other = await publish('transition-2');
    now += 5 * 60_000 + 1; // the deduplication interval has passed
    const later = await publish('transition-1');

    // THEN
    expect(duplicate.MessageId).toBe(first.MessageId);
    expect(duplicate.SequenceNumber).toBe(first.SequenceNumber);
    expect(BigInt(other.SequenceNumber!)).toBeGreaterThan(BigInt(first.SequenceNumber!));
    expect(later.MessageId).not.toBe(first.MessageId);
    const fifo = sns.published.slice(before);
    expect(fifo.map((m) => m.messageDeduplicationId)).toEqual(['transition-1', 'transition-2', 'transition-1']);
    expect(fifo.every((m) => m.messageGroupId === 'HighErrorRate:checkout')).toBe(true);
    expect(sns.duplicates).toBeGreaterThanOrEqual(1);
  });

  it('deduplicates by content on FIFO topics with ContentBasedDeduplication', async () => {
    const arn = await createTopic(`${uniqueName('alerts')}.fifo`, { FifoTopic: 'true', ContentBasedDeduplication: 'true' });
    const a = await client.send(new PublishCommand({ TopicArn: arn, Message: 'same', MessageGroupId: 'g' }));
    const b = await client.send(new PublishCommand({ TopicArn: arn, Message: 'same', MessageGroupId: 'g' }));
    expect(b.MessageId).toBe(a.MessageId);
  });

  it('answers errors in SNS XML that the SDK maps to its exceptions', async () => {
    const fifo = await createTopic(`${uniqueName('alerts')}.fifo`, { FifoTopic: 'true' });
    const standard = await createTopic(uniqueName('alerts'));

    await expect(client.send(new PublishCommand({ TopicArn: `${standard}-missing`, Message: 'x' }))).rejects.toMatchObject({
      name: 'NotFoundException',
      message: 'Topic does not exist',
      $metadata: { httpStatusCode: 404 },
    });
    await expect(client.send(new PublishCommand({ TopicArn: fifo, Message: 'x', MessageDeduplicationId: 'd' }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: 'Invalid parameter: The MessageGroupId parameter is required for FIFO topics',
    });
    await expect(client.send(new PublishCommand({ TopicArn: fifo, Message: 'x', MessageGroupId: 'g' }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('ContentBasedDeduplication') as unknown,
    });
    await expect(client.send(new PublishCommand({ TopicArn: standard, Message: '' }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
    await expect(client.send(new CreateTopicCommand({ Name: 'no-suffix', Attributes: { FifoTopic: 'true' } }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('must end with .fifo') as unknown,
    });
    await expect(client.send(new SubscribeCommand({ TopicArn: standard, Protocol: 'sqs', Endpoint: 'arn:aws:sqs:us-east-1:000000000000:q' }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
  });

  it('answers InvalidAction for an action it does not implement', async () => {
    const { status, text } = await post(sns.endpoint, 'Action=CreatePlatformApplication&Version=2010-03-31');
    expect(status).toBe(400);
    expect(text).toContain('<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">');
    expect(text).toContain('<Code>InvalidAction</Code>');
    expect(text).toMatch(/<RequestId>[0-9a-f-]{36}<\/RequestId>/);
  });
});
