/**
 * The naive handler: for each record, one `UpdateItem ADD` per touched
 * (rule, group, window) (updates.ts), no idempotency. Cheap, and wrong under
 * redelivery: every record of a redelivered batch is counted again.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';
import { freshTable } from '../dynamo';
import type { ScenarioResult } from '../state';
import { kinesisEvent } from '../../local/esm/lambdaShapes';
import { applyRecord, runPeer, type PeerScenario } from './updates';

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

export async function runNaive(s: PeerScenario): Promise<ScenarioResult> {
  const table = await freshTable(s.dynalite, 'bench-naive', 'pk', 'sk');
  return runPeer(s, table, { [table]: 'aggregates' }, (client) => {
    const handler = createNaiveHandler({ client, table });
    return async (b) => {
      await handler(kinesisEvent(b.records));
      return 0;
    };
  });
}
