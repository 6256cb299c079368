/**
 * The peer users would pick: a Lambda handler built with Powertools for AWS
 * Lambda (TypeScript), configured as its documentation recommends for
 * batch + idempotency: `BatchProcessor(EventType.KinesisDataStreams)` with
 * `processPartialResponse` (partial batch responses), and the record handler
 * wrapped with `makeIdempotent` over a `DynamoDBPersistenceLayer`, its
 * `IdempotencyConfig.eventKeyJmesPath` selecting the producer's event id from
 * the record (so producer duplicates count once too, like tidewatch's dedupe),
 * and the Lambda context registered on each invocation.
 *
 * Per record: a conditional PutItem of the idempotency record (INPROGRESS),
 * the aggregate updates (updates.ts), an UpdateItem marking it COMPLETED.
 * A redelivered record costs the failed PutItem (its stored record comes
 * back with the failure) and nothing else.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { freshTable } from '../dynamo';
import type { ScenarioResult } from '../state';
import { kinesisEvent } from '../../local/esm/lambdaShapes';
import { benchContext } from '../workload';
import { applyRecord, runPeer, type PeerScenario } from './updates';

/** The idempotency key: the event id inside the record's base64 JSON data (Powertools' JMESPath functions). */
export const EVENT_KEY_JMESPATH = 'powertools_json(powertools_base64(kinesis.data)).eventId';

export interface PowertoolsPeerOptions {
  /** Client of both tables (the persistence layer takes it through `awsSdkV3Client`). */
  readonly client: DynamoDBClient;
  /** Aggregates table (pk, sk). */
  readonly table: string;
  /** Idempotency table: partition key `id` (the persistence layer's default key attribute). */
  readonly idempotencyTable: string;
}

export function createPowertoolsHandler(opts: PowertoolsPeerOptions): (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse> {
  const processor = new BatchProcessor(EventType.KinesisDataStreams);
  const persistenceStore = new DynamoDBPersistenceLayer({ tableName: opts.idempotencyTable, awsSdkV3Client: opts.client });
  const config = new IdempotencyConfig({ eventKeyJmesPath: EVENT_KEY_JMESPATH });
  const recordHandler = makeIdempotent(
    async (record: KinesisStreamRecord): Promise<void> => {
      await applyRecord(opts.client, opts.table, record);
    },
    { persistenceStore, config },
  );
  return async (event, context) => {
    config.registerLambdaContext(context);
    return processPartialResponse(event, recordHandler, processor, { context });
  };
}

export async function runPowertools(s: PeerScenario): Promise<ScenarioResult> {
  const table = await freshTable(s.dynalite, 'bench-powertools', 'pk', 'sk');
  const idempotencyTable = await freshTable(s.dynalite, 'bench-idempotency', 'id');
  return runPeer(s, table, { [table]: 'aggregates', [idempotencyTable]: 'idempotency' }, (client) => {
    const handler = createPowertoolsHandler({ client, table, idempotencyTable });
    return async (b) => (await handler(kinesisEvent(b.records), benchContext('powertools-peer'))).batchItemFailures.length;
  });
}
