import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamo } from '../../local/emulators';
import { createStateTable } from '../../local/stateTable';

export interface LoggedRequest {
  readonly command: string;
  /** The item's partition key (or the query's key value), when there is one. */
  readonly pk: string | undefined;
}

export interface RequestLog {
  readonly requests: LoggedRequest[];
  /** Requests of a command, optionally only those whose partition key starts with a prefix (e.g. 'K#'). */
  count(command: string, pkPrefix?: string): number;
  reset(): void;
}

function pkOf(input: Record<string, unknown>): string | undefined {
  const key = (input['Key'] ?? input['Item']) as Record<string, { S?: string }> | undefined;
  if (key?.['pk']?.S !== undefined) return key['pk'].S;
  const values = input['ExpressionAttributeValues'] as Record<string, { S?: string }> | undefined;
  return values?.[':pk']?.S ?? values?.[':due']?.S;
}

/** A DynamoDB client with a request log and an optional fault injector (runs before the request is sent). */
export function instrumentedClient(endpoint: string, inject?: (command: string, input: Record<string, unknown>) => void): { client: DynamoDBClient; log: RequestLog } {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  const requests: LoggedRequest[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? 'unknown';
      const input = args.input as Record<string, unknown>;
      requests.push({ command: name, pk: pkOf(input) });
      inject?.(name, input);
      return next(args);
    },
    { step: 'initialize', name: 'tidewatchTestLog' },
  );
  return {
    client,
    log: {
      requests,
      count: (command, pkPrefix) => requests.filter((r) => r.command === command && (pkPrefix === undefined || (r.pk ?? '').startsWith(pkPrefix))).length,
      reset: () => {
        requests.length = 0;
      },
    },
  };
}

/** Starts dynalite in memory on a free port (the local emulator); the test stops it. */
export async function startDynalite(): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const dynamo = await startDynamo();
  return { endpoint: dynamo.endpoint, stop: () => dynamo.stop() };
}

let tables = 0;
export async function freshTable(endpoint: string): Promise<string> {
  const name = `tidewatch-test-${process.pid}-${++tables}`;
  const { client } = instrumentedClient(endpoint);
  await createStateTable(client, name);
  client.destroy();
  return name;
}
