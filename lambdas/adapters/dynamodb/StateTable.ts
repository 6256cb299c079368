import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  paginateQuery,
  paginateScan,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { TidewatchError } from '../../core/errors';
import { compile, type Condition, type UpdateSpec } from './expressions';
import type { ItemKind, NativeItem, StateOperation, TableKey } from './tableLayout';

export type { StateOperation } from './tableLayout';

/**
 * The state table's requests, in one place: strongly consistent reads,
 * paginated queries and scans (the SDK's paginators), batched puts, and the
 * one conditional-write primitive every versioned or HWM-guarded write goes
 * through ({@link StateTable.write}).
 *
 * Every request carries a {@link StateRequest} tag on its middleware context:
 * which item type, which operation, which key, and for writes what is
 * written. Metrics, tests, the chaos harness and the benchmark read it with
 * {@link stateRequestOf} in a client middleware instead of parsing request
 * text; the request itself is what DynamoDB receives, unchanged.
 */

/** What is written, as the repositories state it. */
export type WriteSpec =
  | { readonly kind: 'update'; readonly update: UpdateSpec; readonly condition?: Condition; readonly returnNew?: boolean; readonly returnOld?: boolean }
  | { readonly kind: 'put'; readonly item: NativeItem; readonly condition?: Condition }
  | { readonly kind: 'delete'; readonly condition?: Condition };

export interface StateRequest {
  readonly item: ItemKind;
  readonly op: StateOperation;
  /** The item's key; for queries and scans, the partition (sk absent). */
  readonly key: { readonly pk: string; readonly sk?: string };
  /** Conditional writes: what is written. */
  readonly write?: WriteSpec;
  /** The strongly consistent read after a failed condition, when the API did not return the item with the failure. */
  readonly reread?: true;
}

const TAG = Symbol.for('tidewatch.stateRequest');

/** The tag of a state-store request, from a client middleware's context (undefined: not a state-store request). */
export function stateRequestOf(context: object): StateRequest | undefined {
  return (context as { [TAG]?: StateRequest })[TAG];
}

interface Taggable {
  readonly middlewareStack: { add(mw: unknown, options: { step: 'initialize'; priority: 'high'; name: string }): void };
}

function tagged<C extends Taggable>(command: C, request: StateRequest): C {
  command.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: Record<symbol, unknown>) => (args: unknown) => {
      context[TAG] = request;
      return next(args);
    },
    { step: 'initialize', priority: 'high', name: 'tidewatchStateRequest' },
  );
  return command;
}

export type WriteOutcome =
  /** Written; `attributes` is the item after the write (returnNew), or the attributes it changed as they were before (returnOld), when asked for. */
  | { readonly ok: true; readonly attributes: NativeItem | undefined }
  /** The condition failed; `current` is the item as it is (undefined: absent, or not fetched with `onConflict: 'ignore'`). */
  | { readonly ok: false; readonly current: NativeItem | undefined };

export interface StateTableOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Items per page of queries and scans (their Limit). @default DynamoDB's own pages of up to 1 MB */
  readonly pageSize?: number;
  /** Attempts of a batch write while DynamoDB leaves items unprocessed (throttling). @default 8 */
  readonly maxBatchAttempts?: number;
}

export interface QuerySpec {
  /** The index to query (default: the table). */
  readonly index?: string;
  readonly keyCondition: Condition;
  readonly filter?: Condition;
  /** Strongly consistent (tables only; index queries are eventually consistent on DynamoDB). */
  readonly consistent?: boolean;
}

export class StateTable {
  readonly client: DynamoDBClient;
  readonly name: string;
  private readonly pageSize: number | undefined;
  private readonly maxBatchAttempts: number;

  constructor(opts: StateTableOptions) {
    this.client = opts.client;
    this.name = opts.tableName;
    this.pageSize = opts.pageSize;
    this.maxBatchAttempts = opts.maxBatchAttempts ?? 8;
  }

  /** A strongly consistent read of one item. */
  async get(item: ItemKind, op: StateOperation, key: TableKey, reread?: true): Promise<NativeItem | undefined> {
    const out = await this.client.send(
      tagged(new GetItemCommand({ TableName: this.name, Key: marshall(key), ConsistentRead: true }), { item, op, key, ...(reread ? { reread } : {}) }),
    );
    return out.Item ? unmarshall(out.Item) : undefined;
  }

  /** Every item a query returns, page after page. */
  async query(item: ItemKind, op: StateOperation, partition: string, q: QuerySpec): Promise<NativeItem[]> {
    const request: StateRequest = { item, op, key: { pk: partition } };
    const items: NativeItem[] = [];
    const pages = paginateQuery(
      { client: this.client, ...(this.pageSize !== undefined ? { pageSize: this.pageSize } : {}), withCommand: (c) => tagged(c as unknown as Taggable, request) as never },
      { TableName: this.name, ...(q.index !== undefined ? { IndexName: q.index } : {}), ...(q.consistent ? { ConsistentRead: true } : {}), ...compile({ keyCondition: q.keyCondition, ...(q.filter ? { filter: q.filter } : {}) }) },
    );
    for await (const page of pages) for (const i of page.Items ?? []) items.push(unmarshall(i));
    return items;
  }

  /** Every item of the table that passes `filter`, page after page (inspection only: a scan reads the whole table). */
  async scan(item: ItemKind, op: StateOperation, partitionPrefix: string, filter: Condition): Promise<NativeItem[]> {
    const request: StateRequest = { item, op, key: { pk: partitionPrefix } };
    const items: NativeItem[] = [];
    const pages = paginateScan(
      { client: this.client, ...(this.pageSize !== undefined ? { pageSize: this.pageSize } : {}), withCommand: (c) => tagged(c as unknown as Taggable, request) as never },
      { TableName: this.name, ...compile({ filter }) },
    );
    for await (const page of pages) for (const i of page.Items ?? []) items.push(unmarshall(i));
    return items;
  }

  /** Puts items 25 to a request, retrying UnprocessedItems with exponential backoff and full jitter; never ignores them. */
  async batchPut(item: ItemKind, op: StateOperation, items: readonly NativeItem[]): Promise<void> {
    for (let i = 0; i < items.length; i += 25) {
      const slice = items.slice(i, i + 25);
      let pending: WriteRequest[] = slice.map((it) => ({ PutRequest: { Item: marshall(it) } }));
      const key = { pk: String(slice[0]!['pk']) };
      for (let attempt = 1; pending.length > 0; attempt++) {
        const out = await this.client.send(tagged(new BatchWriteItemCommand({ RequestItems: { [this.name]: pending } }), { item, op, key }));
        pending = out.UnprocessedItems?.[this.name] ?? [];
        if (pending.length === 0) break;
        if (attempt >= this.maxBatchAttempts) {
          throw new TidewatchError(`state table: ${pending.length} ${item} items still unprocessed after ${attempt} attempts (throttled); the batch will be retried`);
        }
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt) * Math.random()));
      }
    }
  }

  /**
   * The conditional-write primitive: one UpdateItem or PutItem whose
   * condition guards it. When the condition fails:
   *
   * - `onConflict: 'current'`: the item as it is comes back, so the caller
   *   can decide again. DynamoDB returns it with the failure
   *   (ReturnValuesOnConditionCheckFailure ALL_OLD, no extra request); an API
   *   that does not (dynalite) costs one strongly consistent read. A missing
   *   item (DynamoDB returns nothing either) is read too: that is rare.
   * - `onConflict: 'ignore'`: the refusal is the answer (an idempotent mark,
   *   a register already ahead): no item, no read.
   *
   * Any other error is thrown as it is (throttling, 5xx: the caller's batch
   * is retried).
   */
  async write(item: ItemKind, op: StateOperation, key: TableKey, spec: WriteSpec, onConflict: 'current' | 'ignore'): Promise<WriteOutcome> {
    const request: StateRequest = { item, op, key, write: spec };
    const returnOld = onConflict === 'current' ? ({ ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } as const) : {};
    try {
      if (spec.kind === 'update') {
        const out = await this.client.send(
          tagged(
            new UpdateItemCommand({
              TableName: this.name,
              Key: marshall(key),
              ...compile({ update: spec.update, ...(spec.condition ? { condition: spec.condition } : {}) }),
              ...(spec.returnNew ? { ReturnValues: 'ALL_NEW' as const } : spec.returnOld ? { ReturnValues: 'UPDATED_OLD' as const } : {}),
              ...returnOld,
            }),
            request,
          ),
        );
        return { ok: true, attributes: out.Attributes ? unmarshall(out.Attributes) : undefined };
      }
      if (spec.kind === 'delete') {
        await this.client.send(tagged(new DeleteItemCommand({ TableName: this.name, Key: marshall(key), ...compile(spec.condition ? { condition: spec.condition } : {}), ...returnOld }), request));
        return { ok: true, attributes: undefined };
      }
      await this.client.send(
        tagged(
          new PutItemCommand({ TableName: this.name, Item: marshall(spec.item, { removeUndefinedValues: true }), ...compile(spec.condition ? { condition: spec.condition } : {}), ...returnOld }),
          request,
        ),
      );
      return { ok: true, attributes: undefined };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      if (onConflict === 'ignore') return { ok: false, current: undefined };
      if (err.Item !== undefined) return { ok: false, current: unmarshall(err.Item) };
      return { ok: false, current: await this.get(item, op, key, true) };
    }
  }
}
