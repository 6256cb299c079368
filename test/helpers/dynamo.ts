/**
 * DynamoDB for the tests: dynalite started in the test process, or, when
 * TIDEWATCH_TEST_DYNAMODB_ENDPOINT is set, an existing DynamoDB API
 * (DynamoDB Local, moto, an AWS account). Table names are unique per run;
 * tables made on an existing endpoint are deleted after each test file.
 *
 *   TIDEWATCH_TEST_DYNAMODB_ENDPOINT  e.g. http://localhost:8000 or https://dynamodb.eu-west-1.amazonaws.com
 *   TIDEWATCH_TEST_DYNAMODB_REGION    default $AWS_REGION, else us-east-1
 *   TIDEWATCH_TEST_TABLE_PREFIX       default tidewatch-test
 *
 * Credentials: the SDK's default chain, except on a loopback endpoint
 * without AWS_ACCESS_KEY_ID / AWS_PROFILE, where dummy ones are used.
 */
import { randomBytes } from 'node:crypto';
import { ConditionalCheckFailedException, DeleteTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand, ResourceNotFoundException, UpdateItemCommand, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { stateRequestOf, type StateOperation, type StateRequest } from '../../lambdas/adapters/dynamodb/StateTable';
import type { ItemKind } from '../../lambdas/adapters/dynamodb/tableLayout';
import { startDynamo } from '../../local/emulators';
import { createStateTable } from '../../local/stateTable';

export const TEST_DYNAMODB_ENV = {
  endpoint: 'TIDEWATCH_TEST_DYNAMODB_ENDPOINT',
  region: 'TIDEWATCH_TEST_DYNAMODB_REGION',
  tablePrefix: 'TIDEWATCH_TEST_TABLE_PREFIX',
} as const;

/** The endpoint the tests are pointed at, or undefined (each suite starts dynalite). */
export function externalEndpoint(): string | undefined {
  const v = process.env[TEST_DYNAMODB_ENV.endpoint];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function isLoopback(endpoint: string): boolean {
  try {
    return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

/** Client settings for `endpoint` (region and credentials as the header says). No SDK retries: faults reach the code under test. */
export function testClientConfig(endpoint: string): DynamoDBClientConfig {
  const env = process.env;
  const region = env[TEST_DYNAMODB_ENV.region] ?? env['AWS_REGION'] ?? 'us-east-1';
  const dummy = (externalEndpoint() === undefined || isLoopback(endpoint)) && !env['AWS_ACCESS_KEY_ID'] && !env['AWS_PROFILE'];
  return { endpoint, region, maxAttempts: 1, ...(dummy ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}) };
}

export function testClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient(testClientConfig(endpoint));
}

export interface LoggedRequest {
  readonly command: string;
  /** The state store's tag of the request (undefined: not a state-store request). */
  readonly request: StateRequest | undefined;
  /** Its condition failed (ConditionalCheckFailedException). */
  conditionFailed: boolean;
}

export interface RequestLog {
  readonly requests: LoggedRequest[];
  /** Requests of a command, optionally only those on one item type. */
  count(command: string, item?: ItemKind): number;
  /** Conditional writes whose condition failed, optionally only on one item type. */
  conditionFailures(item?: ItemKind): number;
  reset(): void;
}

export type Injector = (command: string, input: Record<string, unknown>, request: StateRequest | undefined) => void;

/** A DynamoDB client with a request log and an optional fault injector (runs before the request is sent). */
export function instrumentedClient(endpoint: string, inject?: Injector): { client: DynamoDBClient; log: RequestLog } {
  const client = testClient(endpoint);
  const requests: LoggedRequest[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? 'unknown';
      const request = stateRequestOf(context);
      const logged: LoggedRequest = { command: name, request, conditionFailed: false };
      requests.push(logged);
      inject?.(name, args.input as Record<string, unknown>, request);
      try {
        return await next(args);
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) logged.conditionFailed = true;
        throw err;
      }
    },
    { step: 'initialize', name: 'tidewatchTestLog' },
  );
  const on = (r: LoggedRequest, item?: ItemKind) => item === undefined || r.request?.item === item;
  return {
    client,
    log: {
      requests,
      count: (command, item) => requests.filter((r) => r.command === command && on(r, item)).length,
      conditionFailures: (item) => requests.filter((r) => r.conditionFailed && on(r, item)).length,
      reset: () => {
        requests.length = 0;
      },
    },
  };
}

/** Requests of one state-store operation in a log. */
export function operations(log: RequestLog, op: StateOperation): LoggedRequest[] {
  return log.requests.filter((r) => r.request?.op === op);
}

/**
 * Makes a client behave as DynamoDB does on a failed condition where the
 * endpoint does not (dynalite): a write that asked for
 * ReturnValuesOnConditionCheckFailure ALL_OLD gets the stored item with its
 * ConditionalCheckFailedException, read by a second client the request log
 * does not see. Add it after instrumentedClient's log.
 */
export function returnOldItemOnConditionFailure(client: DynamoDBClient, endpoint: string): void {
  const reader = testClient(endpoint);
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        const input = args.input as { TableName?: string; Key?: Record<string, never>; Item?: Record<string, { S?: string }>; ReturnValuesOnConditionCheckFailure?: string };
        if (err instanceof ConditionalCheckFailedException && input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && err.Item === undefined) {
          const key = input.Key ?? (input.Item ? { pk: input.Item['pk'], sk: input.Item['sk'] } : undefined);
          const got = await reader.send(new GetItemCommand({ TableName: input.TableName, Key: key as never, ConsistentRead: true }));
          if (got.Item) err.Item = got.Item;
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'tidewatchReturnOldItem' },
  );
}

export interface TestDynamo {
  readonly endpoint: string;
  /** An existing endpoint (TIDEWATCH_TEST_DYNAMODB_ENDPOINT), not a dynalite of this process. */
  readonly external: boolean;
  stop(): Promise<void>;
}

/** Dynalite in memory on a free port, or the endpoint TIDEWATCH_TEST_DYNAMODB_ENDPOINT names; the test stops it. */
export async function startTestDynamo(): Promise<TestDynamo> {
  const external = externalEndpoint();
  if (external !== undefined) return { endpoint: external, external: true, stop: async () => undefined };
  const dynamo = await startDynamo();
  return { endpoint: dynamo.endpoint, external: false, stop: () => dynamo.stop() };
}

/** @deprecated The name of startTestDynamo before the tests could use another endpoint; it honours TIDEWATCH_TEST_DYNAMODB_ENDPOINT too. */
export const startDynalite = startTestDynamo;

/** Unique per process and run: two runs sharing one endpoint never meet. */
const RUN = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
let tables = 0;
const created: Array<{ endpoint: string; name: string }> = [];

export async function freshTable(endpoint: string): Promise<string> {
  const name = `${process.env[TEST_DYNAMODB_ENV.tablePrefix] ?? 'tidewatch-test'}-${RUN}-${++tables}`;
  const client = testClient(endpoint);
  try {
    await createStateTable(client, name, { timeoutMs: externalEndpoint() === undefined ? 5_000 : 300_000 });
  } finally {
    client.destroy();
  }
  if (externalEndpoint() !== undefined) created.push({ endpoint, name });
  return name;
}

/** Deletes the tables this process made on an existing endpoint (dynalite's go with it). */
export async function dropTestTables(): Promise<void> {
  const list = created.splice(0);
  for (const { endpoint, name } of list) {
    const client = testClient(endpoint);
    try {
      await client.send(new DeleteTableCommand({ TableName: name }));
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
    } finally {
      client.destroy();
    }
  }
}

/**
 * Whether an endpoint returns the stored item with a failed condition when
 * asked (DynamoDB does; dynalite does not): decides how many reads a
 * conflict costs there.
 */
export async function returnsOldItem(endpoint: string, table: string): Promise<boolean> {
  const client = testClient(endpoint);
  const Key = { pk: { S: 'probe' }, sk: { S: 'probe' } };
  try {
    await client.send(new PutItemCommand({ TableName: table, Item: { ...Key, v: { N: '1' } } }));
    await client.send(new UpdateItemCommand({ TableName: table, Key, UpdateExpression: 'SET v = :v', ConditionExpression: 'v = :z', ExpressionAttributeValues: { ':v': { N: '2' }, ':z': { N: '0' } }, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
    return false;
  } catch (err) {
    if (!(err instanceof ConditionalCheckFailedException)) throw err;
    return err.Item !== undefined;
  } finally {
    client.destroy();
  }
}
