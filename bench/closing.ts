/**
 * The cost of closing windows (issue 19): DynamoDB requests per closed window, by operation, when
 * the processor closes the windows of a workload whose groups are dense (an event in every window)
 * or sparse (an event in every fifth window: holes the closer must confirm and seal), and the same
 * with one event per window, so that the rule never holds and the groups stay at rest (quiet close). dynalite, one
 * shard, one tumbling rule; the due index is immediate on dynalite, so this is the cost with no
 * lag (with lag, the holes the lag makes cost like the sparse groups' holes).
 *
 *   npm run bench:closing        (npm run bench runs it too, and reports it in its table and JSON)
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
export interface ClosingRow {
  readonly name: string;
  readonly groups: number;
  readonly minutes: number;
  /** An event in every `every`th window of a group. */
  readonly every: number;
  /** Events per window with events (4: the rule holds; 1: it never does, the groups stay at rest). */
  readonly perWindow: number;
  readonly windowsClosed: number;
  readonly transitions: number;
  /** DynamoDB requests per closed window, by operation (the state layer's request tags). */
  readonly perClosedWindow: Readonly<Record<string, number>>;
  readonly requestsPerClosedWindow: number;
}

async function run(endpoint: string, name: string, groups: number, minutes: number, every: number, perWindow = 4): Promise<ClosingRow> {
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
  client.destroy();
  const perClosedWindow: Record<string, number> = {};
  for (const [op, n] of [...counts].sort(([a], [b]) => a.localeCompare(b))) perClosedWindow[op] = n / closed;
  return { name, groups, minutes, every, perWindow, windowsClosed: closed, transitions: published, perClosedWindow, requestsPerClosedWindow: [...counts.values()].reduce((a, b) => a + b, 0) / closed };
}

const SHOWN = ['aggregate.sealAndFinish', 'aggregate.seal', 'aggregate.finish', 'alert.read', 'aggregate.windows', 'aggregate.sealEmpty', 'aggregate.read', 'alert.record'];

/** One line per workload: requests per closed window by operation. */
export function formatClosing(rows: readonly ClosingRow[]): string {
  return rows
    .map((r) => {
      const per = (op: string) => (r.perClosedWindow[op] ?? 0).toFixed(3);
      return `${r.name.padEnd(7)} groups ${r.groups}, ${r.minutes} min, event every ${r.every} min, ${r.perWindow} per window: ${r.windowsClosed} windows closed, ${r.transitions} transitions; per closed window: ${SHOWN.map((op) => `${op} ${per(op)}`).join(', ')}, all requests ${r.requestsPerClosedWindow.toFixed(3)}\n`;
    })
    .join('');
}

/**
 * The four workloads: dense and sparse groups whose rule holds in every window with events, and the
 * same with one event per window (the rule never holds: groups at rest close quietly, closing.ts).
 */
export async function measureClosing(endpoint: string): Promise<ClosingRow[]> {
  return [
    await run(endpoint, 'dense', 50, 30, 1),
    await run(endpoint, 'sparse', 50, 30, 5),
    await run(endpoint, 'quiet', 50, 30, 1, 1),
    await run(endpoint, 'quietSp', 50, 30, 5, 1),
  ];
}

function rec(seq: bigint, body: object): KinesisLikeRecord {
  return { data: Buffer.from(JSON.stringify(body)).toString('base64'), partitionKey: 'p', sequenceNumber: (10n ** 50n + seq).toString(), approximateArrivalTimestamp: T0 / 1000, shardId: 'shardId-0' };
}

async function main() {
  const dynamo = await startDynalite();
  try {
    process.stdout.write(formatClosing(await measureClosing(dynamo.endpoint)));
  } finally {
    await dynamo.stop();
  }
}

// `npm run bench` imports measureClosing; run directly, this prints the table.
if (process.argv[1] !== undefined && /closing\.ts$/.test(process.argv[1])) void main();
