/**
 * `npm run test:localstack`: the deployed stack, end to end, in LocalStack.
 *
 * Runs only when a LocalStack endpoint answers (AWS_ENDPOINT_URL, default
 * http://localhost:4566). Exit codes: 0 it ran and passed, 1 it ran and
 * failed, 77 skipped (no LocalStack answered; 77 is the "skipped" code of
 * automake and meson test harnesses), so a CI job that means to run it cannot
 * pass without running it. `-- --allow-skip` makes a skip exit 0, still
 * printing `skipped`.
 * Deploys the CDK stack with cdklocal (scripts/localstack-deploy.sh), subscribes
 * an SQS queue to the alert topic, sends an error burst with the producer
 * library (what `tidewatch emit` uses), and waits for the HighErrorRate alert
 * on the queue.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Producer } from '../../local/producer';

/** The exit code of a run that did not happen. */
const SKIPPED = 77;
const allowSkip = process.argv.slice(2).includes('--allow-skip');
const unknown = process.argv.slice(2).filter((a) => a !== '--allow-skip');

// The same endpoint, region and account as scripts/localstack-deploy.sh: cdklocal deploys with
// test/test (LocalStack's account 000000000000) whatever credentials the shell holds.
const endpoint = process.env['AWS_ENDPOINT_URL'] ?? 'http://localhost:4566';
const region = process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

async function localstackAnswers(): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  if (unknown.length > 0) {
    console.error(`test:localstack: unknown argument ${JSON.stringify(unknown[0])} (the only option is --allow-skip)`);
    return 2;
  }
  if (!(await localstackAnswers())) {
    console.log(
      `test:localstack: skipped: no LocalStack endpoint answered at ${endpoint}/_localstack/health (start one with: docker compose -f localstack/docker-compose.yml up -d)` +
        (allowSkip ? '; exit code 0 because of --allow-skip' : `; exit code ${SKIPPED} (give --allow-skip to exit 0)`),
    );
    return allowSkip ? 0 : SKIPPED;
  }
  console.log(`test:localstack: LocalStack at ${endpoint}; deploying the stack with cdklocal…`);
  execFileSync('bash', ['scripts/localstack-deploy.sh'], { stdio: 'inherit', env: { ...process.env, AWS_ENDPOINT_URL: endpoint, AWS_REGION: region } });
  const outputs = JSON.parse(readFileSync('cdk.out/localstack-outputs.json', 'utf8')) as Record<string, Record<string, string>>;
  const stack = Object.values(outputs)[0]!;
  const streamName = Object.entries(stack).find(([k]) => k.startsWith('StreamName'))![1];
  const topicArn = stack['AlertTopicArn']!;

  const config = { endpoint, region, credentials };
  const sqs = new SQSClient(config);
  const sns = new SNSClient(config);
  const kinesis = new KinesisClient({ ...config, requestHandler: new NodeHttpHandler() });
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: `tidewatch-e2e-${Date.now()}` }));
  const queueUrl = queue.QueueUrl!;
  try {
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
    const queueArn = attrs.Attributes!['QueueArn']!;
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: { Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: queueArn }] }) },
      }),
    );
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn, Attributes: { RawMessageDelivery: 'true' } }));

    // 40 checkout requests, 30% failing, in the current minute: HighErrorRate (early) must fire.
    const now = Date.now();
    const events = Array.from({ length: 40 }, (_, i) => ({ eventId: `ls-${now}-${i}`, ts: new Date(now - 20_000 + i * 100).toISOString(), kind: 'http', service: 'checkout', host: 'web-1', status: i % 10 < 3 ? 503 : 200, latencyMs: 50 }));
    const summary = await new Producer({ client: kinesis, streamName, partitionKey: () => 'web-1' }).send(events);
    console.log(`test:localstack: sent ${summary.sent} events to ${streamName}; waiting for the alert on the queue…`);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 10, MaxNumberOfMessages: 10 }));
      for (const m of got.Messages ?? []) {
        const body = JSON.parse(m.Body!) as { rule?: string; state?: string; group?: Record<string, string> };
        if (body.rule === 'HighErrorRate' && body.state === 'firing' && body.group?.['service'] === 'checkout') {
          console.log('test:localstack: HighErrorRate fired for checkout, delivered through SNS to SQS');
          console.log('1 passed, 0 failed');
          return 0;
        }
      }
    }
    console.error('test:localstack: no HighErrorRate alert on the queue within 120 s');
    console.log('0 passed, 1 failed');
    return 1;
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch((err: unknown) => console.error(`test:localstack: could not delete the test queue: ${String(err)}`));
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`test:localstack: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
