/**
 * DynamoDB for the benchmark: dynalite in a child process (so the emulator
 * and the code measured do not share one event loop), clients that count
 * every request by command and table, with the capacity units dynalite
 * computes the way DynamoDB bills them (one WRU per started KB of the larger
 * of the item before and after a write; one RRU per started 4 KB of a
 * strongly consistent read, half for eventually consistent ones).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DynamoDBClient,
  ScanCommand,
  type AttributeValue,
  type ConsumedCapacity,
} from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { stateRequestOf, type StateRequest } from '../lambdas/adapters/dynamodb/StateTable';
import { aggregateLayout, ATTR, ITEM_PREFIX } from '../lambdas/adapters/dynamodb/tableLayout';
import { createStateTable } from '../local/stateTable';

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);
const READS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand']);

export interface Dynalite {
  readonly endpoint: string;
  /** A client that counts nothing (setup, verification). */
  readonly admin: DynamoDBClient;
  stop(): Promise<void>;
}

/** Starts dynalite (in memory) in a child process on a free port. */
export async function startDynalite(): Promise<Dynalite> {
  const code = `const s=require('dynalite')({createTableMs:0,deleteTableMs:0,updateTableMs:0});s.listen(0,'127.0.0.1',()=>console.log('PORT '+s.address().port));`;
  const child: ChildProcess = spawn(process.execPath, ['-e', code], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.once('exit', (c) => reject(new Error(`dynalite exited with code ${c} before listening`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const admin = plainClient(endpoint);
  return {
    endpoint,
    admin,
    stop: async () => {
      admin.destroy();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
      process.off('exit', kill);
    },
  };
}

export function plainClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: CREDENTIALS,
    maxAttempts: 1,
    // Requests beyond the sockets queue (the Powertools peer starts every record of a batch at once): no warning for that.
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 64 }, socketAcquisitionWarningTimeout: 3_600_000 }),
  });
}

export interface CounterSnapshot {
  readonly requests: number;
  readonly writes: number;
  readonly reads: number;
  readonly wru: number;
  readonly rru: number;
}

/** Request counts of one scenario (all of its clients share one). */
export class RequestCounter {
  readonly byCommand: Record<string, number> = {};
  /** Requests by table and item kind (the partition key's prefix up to '#', e.g. `K#` for aggregate keys). */
  readonly byKind: Record<string, number> = {};
  /** Write requests by item kind (as byKind, writes only: e.g. `<table>:M#`, the anomaly models' one write per closed window). */
  readonly writesByKind: Record<string, number> = {};
  writes = 0;
  reads = 0;
  /** Conditional writes whose condition failed (billed as writes: counted as 1 WRU each, a lower bound). */
  failedConditions = 0;
  /** Write request units as dynalite computes them (table only; see gsiWru). */
  wru = 0;
  rru = 0;
  /** Estimated index writes (tidewatch's byCloseAt index): dynalite does not report index capacity. */
  gsiWru = 0;
  /** WRUs by item kind (as byKind; the index estimate under `<table>:index`). */
  readonly wruByKind: Record<string, number> = {};
  /** Writes by what they are for (tidewatch's request tags: see purposeOf). */
  readonly writesByPurpose: Record<string, number> = {};
  /** tidewatch's writes by state operation (e.g. `aggregate.seal`; failed conditions included). */
  readonly writesByOperation: Record<string, number> = {};
  /** Writes by state-store operation and by the rule (or stream) their item belongs to (the partition key's name after its prefix). */
  readonly writesByOperationAndOwner: Record<string, Record<string, number>> = {};
  /** Write units by what they are for (the index estimate under `index`). */
  readonly wruByPurpose: Record<string, number> = {};
  /** Item sizes written, by item kind: sum and count (bytes). */
  readonly bytesByKind: Record<string, { sum: number; count: number }> = {};
  /** Item sizes of writes whose resulting item the response or request shows (bytes). */
  private sizeSum = 0;
  private sizeCount = 0;
  /** Writes whose item size is looked up in the table afterwards. */
  readonly unsizedWrites: Array<{ table: string; kind: string; key: Record<string, AttributeValue> }> = [];
  private readonly indexed = new Map<string, { due?: string | undefined; close?: string | undefined }>();

  get requests(): number {
    return this.writes + this.reads;
  }

  snapshot(): CounterSnapshot {
    return { requests: this.requests, writes: this.writes, reads: this.reads, wru: this.wru, rru: this.rru };
  }

  noteSize(bytes: number, kind: string): void {
    this.sizeSum += bytes;
    this.sizeCount += 1;
    const k = (this.bytesByKind[kind] ??= { sum: 0, count: 0 });
    k.sum += bytes;
    k.count += 1;
  }

  /** Average item size written per item kind (bytes). */
  get avgItemBytesByKind(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.bytesByKind).map(([k, v]) => [k, Math.round(v.sum / v.count)]));
  }

  get avgItemBytesWritten(): number {
    return this.sizeCount === 0 ? 0 : this.sizeSum / this.sizeCount;
  }

  /** Counts one request (before it is sent). */
  count(command: string, kind: string, purpose?: string, operation?: string, pk?: string): void {
    this.byCommand[command] = (this.byCommand[command] ?? 0) + 1;
    if (operation !== undefined && WRITES.has(command)) {
      this.writesByOperation[operation] = (this.writesByOperation[operation] ?? 0) + 1;
      const owner = pk === undefined ? '?' : (pk.split('#')[1] ?? '?');
      const byOwner = (this.writesByOperationAndOwner[operation] ??= {});
      byOwner[owner] = (byOwner[owner] ?? 0) + 1;
    }
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
    if (WRITES.has(command)) {
      this.writes++;
      this.writesByKind[kind] = (this.writesByKind[kind] ?? 0) + 1;
      if (purpose !== undefined) this.writesByPurpose[purpose] = (this.writesByPurpose[purpose] ?? 0) + 1;
    } else if (READS.has(command)) this.reads++;
  }

  capacity(command: string, consumed: ConsumedCapacity | ConsumedCapacity[] | undefined, kind: string, purpose?: string): void {
    for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
      if (WRITES.has(command)) {
        this.wru += c.CapacityUnits ?? 0;
        this.wruByKind[kind] = (this.wruByKind[kind] ?? 0) + (c.CapacityUnits ?? 0);
        if (purpose !== undefined) this.wruByPurpose[purpose] = (this.wruByPurpose[purpose] ?? 0) + (c.CapacityUnits ?? 0);
      } else this.rru += c.CapacityUnits ?? 0;
    }
  }

  /** A failed conditional write: billed, counted as 1 WRU (the item size is not known). */
  failedCondition(kind: string, purpose?: string): void {
    this.failedConditions += 1;
    this.wru += 1;
    this.wruByKind[kind] = (this.wruByKind[kind] ?? 0) + 1;
    if (purpose !== undefined) this.wruByPurpose[purpose] = (this.wruByPurpose[purpose] ?? 0) + 1;
  }

  /**
   * tidewatch's byCloseAt index (keys duePk, closeAt; small projected items,
   * 1 WRU each): an aggregate item enters it on its first write (1 index
   * write), leaves it when its window is finished (`REMOVE duePk`, 1), and
   * moves when its closeAt changes (2: delete and put). Follows each item's
   * index key through the updates the store sends (their request tags).
   */
  noteIndexWrite(request: StateRequest): void {
    const write = request.write;
    if (request.item !== 'aggregate' || write === undefined) return;
    const id = `${request.key.pk}\u0000${request.key.sk}`;
    const before = this.indexed.get(id) ?? {};
    // A put (a hopping window's registration: core/panes.ts) replaces the whole item.
    const after: { due?: string | undefined; close?: string | undefined } =
      write.kind === 'put' ? { due: write.item[ATTR.duePk] === undefined ? undefined : String(write.item[ATTR.duePk]), close: write.item[ATTR.closeAt] === undefined ? undefined : String(write.item[ATTR.closeAt]) } : { ...before };
    const { set = {}, setIfNotExists = {}, remove = [] } = write.kind === 'update' ? write.update : {};
    if (set[ATTR.duePk] !== undefined) after.due = String(set[ATTR.duePk]);
    if (set[ATTR.closeAt] !== undefined) after.close = String(set[ATTR.closeAt]);
    else if (setIfNotExists[ATTR.closeAt] !== undefined) after.close ??= String(setIfNotExists[ATTR.closeAt]);
    if (remove.includes(ATTR.duePk)) after.due = undefined;
    if (remove.includes(ATTR.closeAt)) after.close = undefined;
    this.indexed.set(id, after);
    const key = (k: { due?: string | undefined; close?: string | undefined }) => (k.due !== undefined && k.close !== undefined ? `${k.due}|${k.close}` : undefined);
    const was = key(before);
    const now = key(after);
    if (was === now) return;
    const units = was !== undefined && now !== undefined ? 2 : 1;
    this.gsiWru += units;
    this.wruByKind['state:index'] = (this.wruByKind['state:index'] ?? 0) + units;
    this.wruByPurpose['index'] = (this.wruByPurpose['index'] ?? 0) + units;
  }

  /** Fills in the sizes of writes that showed no item, from the tables' final contents. */
  async sizeUnsized(admin: DynamoDBClient): Promise<void> {
    const tables = new Map<string, Map<string, number>>();
    for (const w of this.unsizedWrites) {
      let sizes = tables.get(w.table);
      if (!sizes) {
        sizes = new Map();
        for (const item of await scanAll(admin, w.table)) sizes.set(keyString(item), itemSize(item));
        tables.set(w.table, sizes);
      }
      const size = sizes.get(keyString(w.key));
      if (size !== undefined) this.noteSize(size, w.kind);
    }
    this.unsizedWrites.length = 0;
  }
}

function keyString(item: Record<string, AttributeValue>): string {
  // Key attributes of the tables used here: pk (+ sk) for tidewatch and the peers' aggregates, id for Powertools.
  return ['pk', 'sk', 'id'].map((k) => item[k]?.S ?? '').join('\u0000');
}

/** The item kind of a request: tidewatch's by its tag (`K#` aggregates, `due#` window-closing queries, ...), the peers' by the key's prefix. */
function kindOf(table: string, pk: string | undefined, request: StateRequest | undefined): string {
  if (request !== undefined) return `${table}:${request.op === 'aggregate.due' ? aggregateLayout.duePartition('') : ITEM_PREFIX[request.item]}`;
  if (pk === undefined) return table;
  const hash = pk.indexOf('#');
  return hash > 0 && hash <= 3 ? `${table}:${pk.slice(0, hash + 1)}` : table;
}

/**
 * What a tidewatch write is for, from its request tag: `aggregates` (slot
 * and pane writes), `window registration` (the item of a hopping window
 * none of whose panes the container wrote), `window closing` (seal, finish,
 * session bookkeeping, and the fence of a hopping window a close raced a
 * batch on, core/panes.ts), `alert
 * state` (lifecycle steps and their outbox), `progress`, `watermark`,
 * `dedupe`, `quarantine`, `rule metrics`. Undefined for the peers' requests.
 */
export function purposeOf(request: StateRequest | undefined): string | undefined {
  if (request === undefined) return undefined;
  if (request.item === 'aggregate') {
    if (request.op === 'aggregate.apply' || request.op === 'aggregate.lowerCloseAt' || request.op === 'aggregate.paneApply') return 'aggregates';
    // A hopping window none of whose panes this container wrote (core/panes.ts): its item, for the due index.
    if (request.op === 'aggregate.register') return 'window registration';
    return 'window closing';
  }
  // Due buckets: what the closer finds fixed windows by (in place of the due index's entries).
  if (request.item === 'due') return 'due list';
  if (request.item === 'alert') return 'alert state';
  if (request.item === 'metricGroups') return 'rule metrics';
  return request.item;
}

function pkOf(input: Record<string, unknown>): string | undefined {
  const key = (input['Key'] ?? input['Item']) as Record<string, AttributeValue> | undefined;
  if (key?.['pk']?.S !== undefined) return key['pk'].S;
  const values = input['ExpressionAttributeValues'] as Record<string, AttributeValue> | undefined;
  return values?.[':pk']?.S ?? values?.[':due']?.S;
}

/**
 * A DynamoDB client that counts its requests into `counter`, asks dynalite
 * for the consumed capacity of each (ReturnConsumedCapacity TOTAL; the code
 * measured never reads it), and notes item sizes. `tables` maps table names
 * to short labels for the breakdown.
 */
export function countingClient(endpoint: string, counter: RequestCounter, tables: Readonly<Record<string, string>>): DynamoDBClient {
  const client = plainClient(endpoint);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? 'unknown';
      const input = args.input as Record<string, unknown>;
      const table = String(input['TableName'] ?? Object.keys((input['RequestItems'] as object | undefined) ?? {})[0] ?? '?');
      const label = tables[table] ?? table;
      const pk = pkOf(input);
      const request = stateRequestOf(context);
      const kind = kindOf(label, pk, request);
      const purpose = purposeOf(request);
      counter.count(command, kind, purpose, request?.op, pk);
      const measured = WRITES.has(command) || READS.has(command) ? { ...input, ReturnConsumedCapacity: 'TOTAL' } : input;
      try {
        const out = await next({ ...args, input: measured });
        const output = out.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[]; Attributes?: Record<string, AttributeValue> };
        counter.capacity(command, output.ConsumedCapacity, kind, purpose);
        if (command === 'PutItemCommand') {
          counter.noteSize(itemSize(input['Item'] as Record<string, AttributeValue>), kind);
          if (request) counter.noteIndexWrite(request);
        }
        else if (command === 'UpdateItemCommand') {
          const key = input['Key'] as Record<string, AttributeValue>;
          if (input['ReturnValues'] === 'ALL_NEW' && output.Attributes) counter.noteSize(itemSize(output.Attributes), kind);
          else counter.unsizedWrites.push({ table, kind, key });
          if (request) counter.noteIndexWrite(request);
        } else if (command === 'BatchWriteItemCommand') {
          for (const reqs of Object.values(input['RequestItems'] as Record<string, Array<{ PutRequest?: { Item: Record<string, AttributeValue> } }>>)) {
            for (const r of reqs) if (r.PutRequest) counter.noteSize(itemSize(r.PutRequest.Item), kind);
          }
        }
        return out;
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') counter.failedCondition(kind, purpose);
        throw err;
      }
    },
    { step: 'initialize', name: 'benchRequestCounter', override: true },
  );
  return client;
}

export async function scanAll(client: DynamoDBClient, table: string): Promise<Array<Record<string, AttributeValue>>> {
  const items: Array<Record<string, AttributeValue>> = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

let tableCount = 0;
export function tableName(prefix: string): string {
  return `${prefix}-${process.pid}-${++tableCount}`;
}

/** A fresh tidewatch state table (the layout the stack deploys, GSI included). */
export async function freshStateTable(d: Dynalite, prefix = 'bench-tidewatch'): Promise<string> {
  const name = tableName(prefix);
  await createStateTable(d.admin, name);
  return name;
}

/** A fresh table with the given string key attributes (on demand). */
export async function freshTable(d: Dynalite, prefix: string, hash: string, range?: string): Promise<string> {
  const name = tableName(prefix);
  await d.admin.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: hash, AttributeType: 'S' }, ...(range ? [{ AttributeName: range, AttributeType: 'S' as const }] : [])],
      KeySchema: [{ AttributeName: hash, KeyType: 'HASH' }, ...(range ? [{ AttributeName: range, KeyType: 'RANGE' as const }] : [])],
    }),
  );
  return name;
}

/** DynamoDB's item size: attribute names plus values (UTF-8 strings, numbers ~1 byte per 2 digits + 1, nested types with their overhead). */
export function itemSize(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += Buffer.byteLength(name, 'utf8') + valueSize(value);
  return size;
}

function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S, 'utf8');
  if (v.N !== undefined) return numberSize(v.N);
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS !== undefined) return v.SS.reduce((s, x) => s + Buffer.byteLength(x, 'utf8'), 0);
  if (v.NS !== undefined) return v.NS.reduce((s, x) => s + numberSize(x), 0);
  if (v.L !== undefined) return 3 + v.L.reduce((s, x) => s + 1 + valueSize(x), 0);
  if (v.M !== undefined) return 3 + Object.keys(v.M).length + itemSize(v.M);
  return 0;
}

function numberSize(n: string): number {
  const digits = n.replace(/^-/, '').replace(/[eE].*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.max(1, 1 + Math.ceil(digits.length / 2) + (n.startsWith('-') ? 1 : 0));
}
