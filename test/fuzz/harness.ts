/**
 * A processor "container" for the hostile-input tests: the real processor and
 * ticker handlers on a fresh dynalite table, an SNS client mocked with
 * aws-sdk-client-mock, and a DynamoDB middleware that checks what dynalite
 * does not: DynamoDB's key limits in UTF-8 bytes (partition key 2048 bytes,
 * sort key 1024 bytes; dynalite counts characters).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { QueryCommand, ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { KinesisStreamBatchResponse } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { ATTR, itemBytes, LIMITS, quarantineLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { createRuntime, type Runtime } from '../../lambdas/adapters/runtime';
import { ENV } from '../../lambdas/core/contract';
import type { KinesisLikeRecord, Pipeline } from '../../lambdas/core/types';
import { createProcessorHandler } from '../../lambdas/processor/handler';
import { createTickerHandler } from '../../lambdas/ticker/handler';
import { freshTable, instrumentedClient } from '../helpers/dynamo';
import { kinesisEvent } from '../../local/esm/lambdaShapes';
import { lambdaContext } from '../helpers/lambda';

process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';

export const MINUTE = 60_000;
export const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
/** The processor's clock: 10 minutes after T0. */
export const NOW = T0 + 10 * MINUTE;
export const MAX_ITEM_BYTES = LIMITS.itemBytes;
export const SHARD = 'shardId-000000000000';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, trace: () => undefined };

/** Records with growing sequence numbers (56 digits unless `width` says otherwise) on one shard. */
export function records(datas: readonly string[], width = 56, arrivalMs = NOW): KinesisLikeRecord[] {
  const base = 10n ** BigInt(width - 1);
  return datas.map((data, i) => ({
    data,
    partitionKey: `pk-${i}`,
    sequenceNumber: (base + BigInt(i) * 7n).toString(),
    approximateArrivalTimestamp: arrivalMs / 1000,
    shardId: SHARD,
  }));
}

export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** DynamoDB's item size (attribute names and values in UTF-8 bytes), as the table layout counts it. */
export { itemBytes };

export interface Quarantined {
  readonly reason: string;
  readonly data: string;
  readonly chunks: number;
}

export interface Harness {
  readonly table: string;
  readonly client: DynamoDBClient;
  readonly runtime: Runtime;
  readonly clock: { t: number; now(): number };
  /** Requests whose key breaks DynamoDB's byte limits. */
  readonly keyViolations: string[];
  readonly published: () => number;
  /** The alert messages published so far (rule, state, group, window start). */
  readonly messages: () => string[];
  process(batch: readonly KinesisLikeRecord[]): Promise<{ batchItemFailures: string[]; thrown?: unknown }>;
  tick(): Promise<{ thrown?: unknown }>;
  quarantined(): Promise<Map<string, Quarantined>>;
  scan(): Promise<Array<Record<string, AttributeValue>>>;
}

function keyCheck(violations: string[]) {
  return (command: string, input: Record<string, unknown>) => {
    const keys: Array<Record<string, AttributeValue> | undefined> = [input['Key'] as Record<string, AttributeValue> | undefined];
    if (command === 'PutItemCommand') keys.push(input['Item'] as Record<string, AttributeValue>);
    for (const k of keys) {
      if (!k) continue;
      const pk = k[ATTR.pk]?.S;
      const sk = k[ATTR.sk]?.S;
      if (pk !== undefined && Buffer.byteLength(pk, 'utf8') > 2048) violations.push(`${command}: partition key of ${Buffer.byteLength(pk, 'utf8')} bytes (limit 2048): ${JSON.stringify(pk.slice(0, 40))}…`);
      if (sk !== undefined && Buffer.byteLength(sk, 'utf8') > 1024) {
        violations.push(`${command}: sort key of ${Buffer.byteLength(sk, 'utf8')} bytes (limit 1024) under ${JSON.stringify(pk)}: ${JSON.stringify(sk.slice(0, 40))}…`);
      }
    }
  };
}

export async function harness(endpoint: string, pipeline: Pipeline, stream = 'telemetry'): Promise<Harness> {
  const table = await freshTable(endpoint);
  const keyViolations: string[] = [];
  const { client } = instrumentedClient(endpoint, keyCheck(keyViolations));
  const sns = new SNSClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const mock = mockClient(sns);
  mock.on(PublishCommand).resolves({ MessageId: 'm-1' });
  const clock = {
    t: NOW,
    now() {
      return this.t;
    },
  };
  const runtime = createRuntime({ [ENV.table]: table, [ENV.topicArn]: 'arn:aws:sns:us-east-1:123456789012:fuzz' }, { dynamodb: client, sns, clock, pipeline });
  const logger = new Logger({ logLevel: 'SILENT' });
  const metrics = new Metrics({ namespace: 'tidewatch-fuzz', serviceName: 'fuzz', logger: quiet });
  const processor = createProcessorHandler({ logger, metrics, runtime: () => runtime, stream: () => stream });
  const ticker = createTickerHandler({ logger, metrics, runtime: () => runtime });
  const scan = async () => {
    const items: Array<Record<string, AttributeValue>> = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start, ConsistentRead: true }));
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  };
  return {
    table,
    client,
    runtime,
    clock,
    keyViolations,
    published: () => mock.commandCalls(PublishCommand).length,
    messages: () =>
      mock.commandCalls(PublishCommand).map((c) => {
        const m = JSON.parse(c.args[0].input.Message ?? '{}') as { rule: string; state: string; group: unknown; window: { start: string } };
        return `${m.rule} ${m.state} ${JSON.stringify(m.group)} ${m.window.start}`;
      }),
    async process(batch) {
      try {
        const res = (await processor(kinesisEvent(batch), lambdaContext())) as KinesisStreamBatchResponse;
        return { batchItemFailures: res.batchItemFailures.map((f) => f.itemIdentifier ?? '') };
      } catch (thrown) {
        return { batchItemFailures: [], thrown };
      }
    },
    async tick() {
      try {
        await ticker({}, lambdaContext('tidewatch-ticker'));
        return {};
      } catch (thrown) {
        return { thrown };
      }
    },
    async quarantined() {
      const items: Array<Record<string, AttributeValue>> = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const out = await client.send(
          new QueryCommand({ TableName: table, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: { '#pk': ATTR.pk }, ExpressionAttributeValues: { ':pk': { S: quarantineLayout.partition(stream) } }, ExclusiveStartKey: start }),
        );
        items.push(...(out.Items ?? []));
        start = out.LastEvaluatedKey;
      } while (start);
      // Joined here independently of the layout's own decoder (a missing chunk shows in the data).
      const bySk = new Map(items.map((i) => [i[ATTR.sk]!.S!, i]));
      const out = new Map<string, Quarantined>();
      for (const item of items) {
        if (item[ATTR.reason]?.S === undefined) continue;
        const chunks = Number(item[ATTR.chunks]?.N ?? '1');
        let data = item[ATTR.data]?.S ?? '';
        for (let c = 1; c < chunks; c++) data += bySk.get(`${item[ATTR.sk]!.S}#${c}`)?.[ATTR.data]?.S ?? '\u0000MISSING CHUNK\u0000';
        out.set(item[ATTR.sequenceNumber]!.S!, { reason: item[ATTR.reason]!.S!, data, chunks });
      }
      return out;
    },
    scan,
  };
}

/** Runs the garbage collector (exposed at run time, so no node flag is needed). */
export function collectGarbage(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const v8 = require('node:v8') as typeof import('node:v8');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vm = require('node:vm') as typeof import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}
