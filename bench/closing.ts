/**
 * The cost of closing windows (issue 19): DynamoDB requests per closed window, by operation, when
 * the processor closes the windows of a workload whose groups are dense (an event in every window)
 * or sparse (an event in every fifth window: holes the closer must confirm and seal), and the same
 * with one event per window, so that the rule never holds and the groups stay at rest (quiet close). dynalite, one
 * shard, one tumbling rule; the due index is immediate on dynalite, so this is the cost with no
 * lag (with lag, the holes the lag makes cost like the sparse groups' holes).
 *
 *   npx tsx bench/closing.ts
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStateStore } from '../lambdas/adapters/DynamoDBStateStore';
import { stateRequestOf } from '../lambdas/adapters/dynamodb/StateTable';
import { Engine } from '../lambdas/core/Engine';
import { parsePipeline } from '../lambdas/core/pipeline';
import type { KinesisLikeRecord } from '../lambdas/core/types';
import { createStateTable } from '../local/stateTable';
import { startDynalite } from './dynamo';

const M = 60_000;
const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const PIPELINE = parsePipeline(
  `
streams:
  s: { timestamp: ts, outOfOrderness: 0s, idleTimeout: 1h }
rules:
  - alert: Busy
    stream: s
    groupBy: [g]
    window: { tumbling: 1m }
    aggregate: { n: 'count()' }
    when: 'n >= 3.0'
    emit: final
`,
  'closing.yaml',
);

/** `perWindow`: events per group in a window with events (4: the rule holds; 1: it does not, the group stays at rest and closes quietly). */
async function run(endpoint: string, name: string, groups: number, minutes: number, every: number, perWindow = 4) {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  const table = `closing-${name}-${Date.now()}`;
  await createStateTable(client, table);
  const counts = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const op = stateRequestOf(context)?.op ?? 'untagged';
      counts.set(op, (counts.get(op) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'count' },
  );
  const engine = new Engine({ pipeline: PIPELINE, stream: 's', store: new DynamoDBStateStore({ client, tableName: table }), clock: { now: () => T0 + (minutes + 5) * M }, publish: async () => undefined });
  let seq = 1n;
  let published = 0;
  // One batch per minute of event time: every group's events of that minute (dense: 4 events, holds; sparse: every `every`th minute).
  for (let m = 0; m <= minutes + 2; m++) {
    const records: KinesisLikeRecord[] = [];
    for (let g = 0; g < groups; g++) {
      const n = m > minutes ? 0 : (m + g) % every === 0 ? perWindow : 0;
      for (let i = 0; i < n; i++) records.push(rec(seq++, { g: `g${g}`, ts: T0 + m * M + i * 1000 }));
    }
    records.push(rec(seq++, { g: 'clock', ts: T0 + m * M + 59_000 }));
    const r = await engine.processBatch('shardId-0', records);
    if (r.error) throw r.error;
    published += r.published.length;
  }
  // A window is closed by a finish, or by a quiet close's seal-and-finish (one write, closing.ts).
  const closed = (counts.get('aggregate.finish') ?? 0) + (counts.get('aggregate.sealAndFinish') ?? 0);
  const per = (op: string) => ((counts.get(op) ?? 0) / closed).toFixed(3);
  console.log(
    `${name.padEnd(7)} groups ${groups}, ${minutes} min, event every ${every} min: ${closed} windows closed, ${published} transitions; per closed window: ` +
      `aggregate.sealAndFinish ${per('aggregate.sealAndFinish')}, aggregate.seal ${per('aggregate.seal')}, aggregate.finish ${per('aggregate.finish')}, alert.read ${per('alert.read')}, aggregate.windows ${per('aggregate.windows')}, aggregate.sealEmpty ${per('aggregate.sealEmpty')}, aggregate.read ${per('aggregate.read')}, alert.record ${per('alert.record')}, ` +
      `all requests ${([...counts.values()].reduce((a, b) => a + b, 0) / closed).toFixed(3)}`,
  );
  client.destroy();
}

function rec(seq: bigint, body: object): KinesisLikeRecord {
  return { data: Buffer.from(JSON.stringify(body)).toString('base64'), partitionKey: 'p', sequenceNumber: (10n ** 50n + seq).toString(), approximateArrivalTimestamp: T0 / 1000, shardId: 'shardId-0' };
}

async function main() {
  const dynamo = await startDynalite();
  try {
    await run(dynamo.endpoint, 'dense', 50, 30, 1);
    await run(dynamo.endpoint, 'sparse', 50, 30, 5);
    // Groups at rest (closing.ts): the rule never holds, every closed window costs one write (quiet close).
    await run(dynamo.endpoint, 'quiet', 50, 30, 1, 1);
    await run(dynamo.endpoint, 'quietSp', 50, 30, 5, 1);
  } finally {
    await dynamo.stop();
  }
}

void main();
