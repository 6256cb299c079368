/**
 * The naive handler: for each record, one `UpdateItem ADD` per touched
 * (rule, group, window) (updates.ts), no idempotency. Cheap, and wrong under
 * redelivery: every record of a redelivered batch is counted again.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';
import { drive } from '../drive';
import { countingClient, freshTable, RequestCounter, scanAll, type Dynalite } from '../dynamo';
import type { ScenarioResult } from '../state';
import { compareTotals, kinesisEvent, type Batch, type Totals } from '../workload';
import { applyRecord, eventsOf, peerStoredTotals } from './updates';

export interface NaivePeerOptions {
  readonly client: DynamoDBClient;
  readonly table: string;
  /** Records in flight at once. @default 16 (tidewatch's write concurrency) */
  readonly concurrency?: number;
}

export function createNaiveHandler(opts: NaivePeerOptions): (event: KinesisStreamEvent) => Promise<void> {
  const concurrency = opts.concurrency ?? 16;
  return async (event) => {
    let next = 0;
    const lanes = Array.from({ length: Math.min(concurrency, event.Records.length) }, async () => {
      while (next < event.Records.length) await applyRecord(opts.client, opts.table, event.Records[next++]!);
    });
    await Promise.all(lanes);
  };
}

export interface PeerScenario {
  readonly name: string;
  readonly dynalite: Dynalite;
  readonly rounds: readonly Batch[][];
  readonly batchSize: number;
  /** Expected totals of what the peers compute (peerTotals). */
  readonly expected: Totals;
  readonly redeliver?: (b: Batch) => boolean;
  readonly cold?: boolean;
}

export async function runNaive(s: PeerScenario): Promise<ScenarioResult> {
  const table = await freshTable(s.dynalite, 'bench-naive', 'pk', 'sk');
  const counter = new RequestCounter();
  const clients: DynamoDBClient[] = [];
  const run = await drive({
    rounds: s.rounds,
    redeliver: s.redeliver,
    cold: s.cold,
    counter,
    container: () => {
      const client = countingClient(s.dynalite.endpoint, counter, { [table]: 'aggregates' });
      clients.push(client);
      const handler = createNaiveHandler({ client, table });
      return {
        invoke: async (b) => {
          await handler(kinesisEvent(b.records));
          return 0;
        },
      };
    },
  });
  for (const c of clients) c.destroy();
  await counter.sizeUnsized(s.dynalite.admin);
  const stored = peerStoredTotals(await scanAll(s.dynalite.admin, table));
  return { name: s.name, events: eventsOf(s.rounds), batchSize: s.batchSize, counter, run, publishes: 0, check: compareTotals(s.expected, stored), stored };
}
