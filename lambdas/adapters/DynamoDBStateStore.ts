import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { StateProtocol } from '../core/state/StateProtocol';
import { AggregateRepository } from './dynamodb/AggregateRepository';
import { AlertRepository } from './dynamodb/AlertRepository';
import { DedupeRepository } from './dynamodb/DedupeRepository';
import { ModelRepository } from './dynamodb/ModelRepository';
import { ProgressRepository } from './dynamodb/ProgressRepository';
import { SequenceRepository } from './dynamodb/SequenceRepository';
import { QuarantineRepository } from './dynamodb/QuarantineRepository';
import { StateTable } from './dynamodb/StateTable';

export interface DynamoDBStateStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** How long state outlives its window (TTL). @default 7 days */
  readonly retentionMs?: number;
  /** How long quarantined records are kept. @default 14 days */
  readonly quarantineMs?: number;
  /** Aggregate keys whose state is cached between batches. @default 50000 */
  readonly cacheSize?: number;
  /** Attempts of a conditional write before giving up (the batch is retried). @default 8 */
  readonly maxAttempts?: number;
  /** Items per page of queries (tests use small pages to exercise paging). @default DynamoDB's own pages of up to 1 MB */
  readonly pageSize?: number;
}

/**
 * The StateStore on DynamoDB: the core's state protocol over one repository
 * per item type (lambdas/adapters/dynamodb/), all on one table whose layout
 * is tableLayout.ts. Every versioned or HWM-guarded write goes through the
 * one conditional-write primitive (StateTable.write).
 */
export class DynamoDBStateStore extends StateProtocol {
  /** The table's requests (and their tags), for inspection tools. */
  readonly table: StateTable;

  constructor(opts: DynamoDBStateStoreOptions) {
    const table = new StateTable({ client: opts.client, tableName: opts.tableName, ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}), ...(opts.maxAttempts !== undefined ? { maxBatchAttempts: opts.maxAttempts } : {}) });
    super(
      {
        aggregates: new AggregateRepository(table, { ...(opts.retentionMs !== undefined ? { retentionMs: opts.retentionMs } : {}), ...(opts.cacheSize !== undefined ? { cacheSize: opts.cacheSize } : {}) }),
        alerts: new AlertRepository(table),
        progress: new ProgressRepository(table),
        dedupe: new DedupeRepository(table),
        quarantine: new QuarantineRepository(table, opts.quarantineMs !== undefined ? { retentionMs: opts.quarantineMs } : {}),
        models: new ModelRepository(table),
        sequences: new SequenceRepository(table, { ...(opts.retentionMs !== undefined ? { retentionMs: opts.retentionMs } : {}), ...(opts.cacheSize !== undefined ? { cacheSize: opts.cacheSize } : {}) }),
      },
      opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {},
    );
    this.table = table;
  }
}
