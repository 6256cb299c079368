/**
 * End-to-end latency through the local pipeline: PutRecords to kinesis-local
 * → the local event source mapping (local/esm) polls the shard and invokes
 * the REAL processor handler → state in dynalite → publish to the local SNS
 * emulator. Measured per event, from just before its PutRecords call to the
 * moment the SNS emulator accepts the alert it caused.
 *
 * The rule fires once per group (an early rule whose condition holds at the
 * group's first event), and every event carries a new group, so each event
 * causes exactly one publish. Events are sent one per PutRecords call, paced,
 * so each one is measured on its own.
 */
import { existsSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { createRuntime, systemClock } from '../lambdas/adapters/runtime';
import { ENV } from '../lambdas/core/contract';
import { parsePipeline } from '../lambdas/core/pipeline';
import { countingClient, freshStateTable, RequestCounter, type Dynalite } from './dynamo';

export const E2E_PIPELINE = `
streams:
  probes:
    timestamp: ts
    id: eventId
    outOfOrderness: 5s
rules:
  - alert: FirstSeen
    stream: probes
    groupBy: [device]
    window: { tumbling: 1m }
    aggregate:
      total: 'count()'
    when: 'total >= 1.0'
    emit: early
    severity: info
    annotations:
      summary: '{{device}} seen'
`;

/** Files of the local pipeline this part needs (written by another part of the project). */
const LOCAL_PIPELINE_FILES = ['local/esm/EventSourceMapping.ts', 'local/emulators/kinesis.ts', 'local/emulators/sns.ts'];

export interface E2eOptions {
  readonly dynalite: Dynalite;
  /** Alert-triggering events to send. @default 250 */
  readonly events?: number;
  /** Events sent per second (one PutRecords each). @default 20 */
  readonly ratePerSec?: number;
  /** The runner's delay between GetRecords calls on an empty shard (ms). @default 200 (the runner's default) */
  readonly pollIntervalMs?: number;
}

export interface Percentiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export type E2eResult =
  | { readonly measured: false; readonly reason: string }
  | {
      readonly measured: true;
      readonly events: number;
      readonly published: number;
      /** PutRecords call start → SNS emulator accepted the publish (ms). */
      readonly total: Percentiles;
      /** The PutRecords call itself (kinesis-local). */
      readonly put: Percentiles;
      /** PutRecords returned → the processor invoked with the record: the runner's poll wait, GetRecords, batching. */
      readonly poll: Percentiles;
      /** Processor invoked → the alert accepted by SNS: decode, DynamoDB state and alert records, the publish. */
      readonly processor: Percentiles;
      readonly pollIntervalMs: number;
      readonly invocations: number;
      readonly stateRequestsPerEvent: number;
    };

export function percentiles(values: readonly number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function measureE2e(opts: E2eOptions): Promise<E2eResult> {
  const missing = LOCAL_PIPELINE_FILES.filter((f) => !existsSync(f));
  if (missing.length > 0) return { measured: false, reason: `local pipeline not available (missing ${missing.join(', ')})` };
  let local: { emulators: typeof import('../local/emulators'); esm: typeof import('../local/esm') };
  try {
    local = { emulators: await import('../local/emulators'), esm: await import('../local/esm') };
  } catch (err) {
    return { measured: false, reason: `local pipeline not available (${err instanceof Error ? err.message : String(err)})` };
  }
  const count = opts.events ?? 250;
  const rate = opts.ratePerSec ?? 20;
  const pollIntervalMs = opts.pollIntervalMs ?? 200;
  const streamName = `bench-e2e-${process.pid}`;
  const kinesis = await local.emulators.startKinesis({ streams: [{ name: streamName, shards: 1 }] });
  const sns = await local.emulators.startSns();
  let esm: InstanceType<typeof local.esm.EventSourceMapping> | undefined;
  try {
    const topicArn = (await sns.client().send(new CreateTopicCommand({ Name: 'tidewatch-bench-alerts' }))).TopicArn!;
    const publishedAt = new Map<string, number>();
    sns.onPublish((m) => {
      const device = (JSON.parse(m.message) as { group: Record<string, string> }).group['device'];
      if (device !== undefined && !publishedAt.has(device)) publishedAt.set(device, performance.now());
    });
    const table = await freshStateTable(opts.dynalite, 'bench-e2e');
    const counter = new RequestCounter();
    const dynamodb = countingClient(opts.dynalite.endpoint, counter, { [table]: 'state' });
    const pipeline = parsePipeline(E2E_PIPELINE, 'bench/e2e-pipeline.yaml');
    const runtime = createRuntime({ [ENV.table]: table, [ENV.topicArn]: topicArn }, { dynamodb, sns: sns.client(), clock: systemClock, pipeline });
    const { createProcessorHandler } = await import('../lambdas/processor/handler');
    const processor = createProcessorHandler({
      logger: new Logger({ logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'tidewatch-bench', serviceName: 'bench' }),
      runtime: () => runtime,
      stream: () => 'probes',
    });
    // When the invocation that carried each device started.
    const invokedAt = new Map<string, number>();
    let invocations = 0;
    esm = new local.esm.EventSourceMapping({
      client: kinesis.client(),
      streamName,
      startingPosition: 'LATEST',
      batchSize: 100,
      functionResponseTypes: ['ReportBatchItemFailures'],
      pollIntervalMs,
      handler: async (event, context) => {
        const t = performance.now();
        invocations++;
        for (const r of event.Records) {
          const device = (JSON.parse(Buffer.from(r.kinesis.data, 'base64').toString('utf8')) as { device: string }).device;
          invokedAt.set(device, t);
        }
        return processor(event, context);
      },
      log: () => undefined,
    });
    await esm.start();
    const client = kinesis.client();
    // Warm-up (JIT, connections, first table items): not measured.
    for (let i = 0; i < 5; i++) {
      await client.send(new PutRecordsCommand({ StreamName: streamName, Records: [{ PartitionKey: `warm-${i}`, Data: Buffer.from(JSON.stringify({ eventId: `warm-${i}`, ts: Date.now(), device: `warm-${i}` })) }] }));
    }
    await sns.waitForMessages(5, 30_000);
    const sentAt = new Map<string, number>();
    const putAt = new Map<string, number>();
    const puts: Array<Promise<void>> = [];
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const device = `dev-${String(i).padStart(4, '0')}`;
      const data = Buffer.from(JSON.stringify({ eventId: `e2e-${i}`, ts: Date.now(), device }));
      const start = performance.now();
      sentAt.set(device, start);
      puts.push(
        client.send(new PutRecordsCommand({ StreamName: streamName, Records: [{ PartitionKey: device, Data: data }] })).then(() => {
          putAt.set(device, performance.now());
        }),
      );
    }
    await Promise.all(puts);
    await sns.waitForMessages(5 + count, 60_000).catch(() => undefined);
    const total: number[] = [];
    const put: number[] = [];
    const poll: number[] = [];
    const proc: number[] = [];
    for (const [device, start] of sentAt) {
      const end = publishedAt.get(device);
      const returned = putAt.get(device);
      const invoked = invokedAt.get(device);
      if (end === undefined || returned === undefined || invoked === undefined) continue;
      total.push(end - start);
      put.push(returned - start);
      // The record may be polled before PutRecords' response arrives: the poll wait is then 0.
      poll.push(Math.max(0, invoked - returned));
      proc.push(end - Math.max(invoked, returned));
    }
    dynamodb.destroy();
    return {
      measured: true,
      events: count,
      published: total.length,
      total: percentiles(total),
      put: percentiles(put),
      poll: percentiles(poll),
      processor: percentiles(proc),
      pollIntervalMs,
      invocations,
      stateRequestsPerEvent: counter.requests / (count + 5),
    };
  } finally {
    await esm?.stop();
    await sns.stop();
    await kinesis.stop();
  }
}
