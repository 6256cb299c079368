import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import dynalite from 'dynalite';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './constants';

export interface DynamoEmulatorOptions {
  /** LevelDB folder to keep tables in across restarts. @default in memory */
  readonly path?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** How long tables stay CREATING / DELETING / UPDATING. @default 0 */
  readonly tableStateMs?: number;
}

export interface DynamoEmulator {
  /** `http://127.0.0.1:PORT`: give it to `new DynamoDBClient({ endpoint })` or `AWS_ENDPOINT_URL_DYNAMODB`. */
  readonly endpoint: string;
  readonly region: string;
  /** A shared DynamoDB client for this endpoint (HTTP/1.1, dummy credentials); destroyed by `stop()`. */
  client(): DynamoDBClient;
  /** Closes the server and the store (idempotent). */
  stop(): Promise<void>;
}

/**
 * Starts dynalite (DynamoDB on LevelDB) in this process. Not implemented by
 * dynalite: transactions (TransactWriteItems / TransactGetItems),
 * UpdateTimeToLive, streams.
 */
export async function startDynamo(opts: DynamoEmulatorOptions = {}): Promise<DynamoEmulator> {
  const stateMs = opts.tableStateMs ?? 0;
  const server = dynalite({
    ...(opts.path !== undefined ? { path: opts.path } : {}),
    createTableMs: stateMs,
    deleteTableMs: stateMs,
    updateTableMs: stateMs,
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const endpoint = `http://${host}:${(server.address() as AddressInfo).port}`;
  let stopped: Promise<void> | undefined;
  let shared: DynamoDBClient | undefined;
  return {
    endpoint,
    region: LOCAL_REGION,
    client: () => (shared ??= new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, requestHandler: new NodeHttpHandler() })),
    stop: () =>
      (stopped ??= new Promise<void>((resolve, reject) => {
        shared?.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      })),
  };
}
