/**
 * What the peers compute: the part of the sample rules a per-record handler
 * can keep with DynamoDB `UpdateItem ADD` alone (commutative counts):
 *
 * - HighErrorRate: {errors, total} per (service, 1-minute tumbling window);
 * - SlowResponses: {total} per (service, 5-minute window every minute), 5
 *   windows per event.
 *
 * Not computed, because they need a read-modify-write (or a timer) that a
 * per-record ADD cannot do: SlowResponses' p99 (a percentile sketch),
 * SessionBurst (session windows merge; distinct users; max), HeartbeatMissing
 * (absence), and no rule is evaluated and no alert is published at all. The
 * peers' cost is therefore a lower bound for doing what tidewatch does.
 */
import { UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamRecord } from 'aws-lambda';
import { drive } from '../drive';
import { countingClient, RequestCounter, scanAll, type Dynalite } from '../dynamo';
import type { ScenarioResult } from '../state';
import { compareTotals, type Batch, type Totals } from '../workload';

const MINUTE = 60_000;

export interface PeerUpdate {
  readonly pk: string;
  readonly sk: string;
  readonly add: Readonly<Record<string, number>>;
}

/** The aggregate updates one event causes (none for heartbeats). */
export function peerUpdates(payload: Record<string, unknown>): PeerUpdate[] {
  if (payload['kind'] !== 'http' || typeof payload['service'] !== 'string') return [];
  const t = typeof payload['ts'] === 'number' ? payload['ts'] : Date.parse(String(payload['ts']));
  if (!Number.isFinite(t)) return [];
  const service = payload['service'];
  const minute = Math.floor(t / MINUTE) * MINUTE;
  const errors = Number(payload['status']) >= 500 ? 1 : 0;
  // The peers' own table, not tidewatch's layout (its sort keys only happen to look alike).
  // eslint-disable-next-line no-restricted-syntax
  const out: PeerUpdate[] = [{ pk: `HighErrorRate#${service}`, sk: `W#${minute}`, add: { errors, total: 1 } }];
  // eslint-disable-next-line no-restricted-syntax
  for (let k = 0; k < 5; k++) out.push({ pk: `SlowResponses#${service}`, sk: `W#${minute - k * MINUTE}`, add: { total: 1 } });
  return out;
}

/** Applies one Kinesis record: one `UpdateItem ADD` per touched (rule, group, window), concurrently. */
export async function applyRecord(client: DynamoDBClient, table: string, record: KinesisStreamRecord): Promise<void> {
  const payload = JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8')) as Record<string, unknown>;
  await Promise.all(
    peerUpdates(payload).map((u) => {
      const names: Record<string, string> = {};
      const values: Record<string, AttributeValue> = {};
      const parts = Object.entries(u.add).map(([field, n], i) => {
        names[`#f${i}`] = field;
        values[`:v${i}`] = { N: String(n) };
        return `#f${i} :v${i}`;
      });
      return client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { pk: { S: u.pk }, sk: { S: u.sk } },
          UpdateExpression: `ADD ${parts.join(', ')}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    }),
  );
}

/** The peers' stored totals, keyed like expectedTotals (`rule|service|windowStart`). */
export function peerStoredTotals(items: ReadonlyArray<Record<string, AttributeValue>>): Totals {
  const out: Totals = new Map();
  for (const item of items) {
    const pk = item['pk']!.S!;
    const hash = pk.indexOf('#');
    const rule = pk.slice(0, hash);
    const values: Record<string, number> = {};
    for (const f of rule === 'HighErrorRate' ? ['errors', 'total'] : ['total']) values[f] = Number(item[f]?.N ?? '0');
    out.set(`${rule}|${pk.slice(hash + 1)}|${Number(item['sk']!.S!.slice(2))}`, values);
  }
  return out;
}

export function eventsOf(rounds: readonly Batch[][]): number {
  return rounds.flat().reduce((n, b) => n + b.records.length, 0);
}

export interface PeerScenario {
  readonly name: string;
  readonly dynalite: Dynalite;
  readonly rounds: readonly Batch[][];
  readonly batchSize: number;
  /** Expected totals of what the handler keeps (the peers: peerTotals; tidewatch: expectedTotals). */
  readonly expected: Totals;
  readonly redeliver?: (b: Batch) => boolean;
  readonly cold?: boolean;
}

/**
 * Drives a peer handler over a scenario, one counting DynamoDB client per
 * container, then reads the aggregates back from `table` and checks them.
 * `roles` names what each table holds, for the request counts;
 * `container(client)` builds one container's invoke (it returns the number of
 * failed records).
 */
export async function runPeer(
  s: PeerScenario,
  table: string,
  roles: Readonly<Record<string, string>>,
  container: (client: DynamoDBClient) => (b: Batch) => Promise<number>,
): Promise<ScenarioResult> {
  const counter = new RequestCounter();
  const clients: DynamoDBClient[] = [];
  const run = await drive({
    rounds: s.rounds,
    redeliver: s.redeliver,
    cold: s.cold,
    counter,
    container: () => {
      const client = countingClient(s.dynalite.endpoint, counter, roles);
      clients.push(client);
      return { invoke: container(client) };
    },
  });
  for (const c of clients) c.destroy();
  await counter.sizeUnsized(s.dynalite.admin);
  const stored = peerStoredTotals(await scanAll(s.dynalite.admin, table));
  return { name: s.name, events: eventsOf(s.rounds), batchSize: s.batchSize, counter, run, publishes: 0, check: compareTotals(s.expected, stored), stored };
}
