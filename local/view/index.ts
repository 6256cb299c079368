import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock, Pipeline } from '../../lambdas/core/types';
import { ViewServer } from './ViewServer';
import { ViewSource } from './ViewSource';

export { ViewServer } from './ViewServer';
export { ViewSource } from './ViewSource';

export interface StartViewOptions {
  readonly client: DynamoDBClient;
  readonly table: string;
  readonly pipeline: Pipeline;
  /** The pipeline's clock (the demo's runs faster than the wall clock). @default the wall clock */
  readonly clock?: Clock;
  /** @default 0: a free port */
  readonly port?: number;
  /** @default 1000 */
  readonly intervalMs?: number;
  readonly onError?: (err: unknown) => void;
}

/** Starts the live view of a pipeline's state table on 127.0.0.1; resolves once it serves (its `url` is set). */
export async function startView(opts: StartViewOptions): Promise<ViewServer> {
  const source = new ViewSource({ client: opts.client, table: opts.table, pipeline: opts.pipeline, ...(opts.clock ? { clock: opts.clock } : {}) });
  const server = new ViewServer({
    source,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.intervalMs !== undefined ? { intervalMs: opts.intervalMs } : {}),
    ...(opts.onError ? { onError: opts.onError } : {}),
  });
  await server.start();
  return server;
}
