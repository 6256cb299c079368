import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV } from '../../lambdas/core/contract';
import { loadPipeline } from '../../lambdas/core/pipeline';
import { parseDuration } from '../../lambdas/core/pipeline/duration';
import { startView } from '.';

export const VIEW_USAGE = `serve a live web page of a pipeline's state on 127.0.0.1 (read-only):

  tidewatch view --table NAME [--endpoint URL] [--pipeline FILE] [--port N] [--every DURATION]

  --table NAME        state table (default: $${ENV.table})
  --pipeline FILE     the pipeline file the table belongs to (default pipelines/sample.yaml)
  --endpoint URL      DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB or $AWS_ENDPOINT_URL, else AWS)
  --region REGION
  --port N            port on 127.0.0.1 (default: a free one, printed)
  --every DURATION    how often the table is read (default 2s on 127.0.0.1, 15s otherwise; each read
                      scans the table for the windows of every rule, so it costs read units in AWS)

Runs until Ctrl-C.`;

export interface ViewIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  /** Resolves when the view should stop (Ctrl-C). */
  readonly stopped: Promise<unknown>;
}

/** `tidewatch view …`; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function runView(argv: readonly string[], io: ViewIo): Promise<number> {
  const usage = (msg: string) => {
    io.stderr.write(`tidewatch view: ${msg}\n\n${VIEW_USAGE}\n`);
    return 2;
  };
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        table: { type: 'string' },
        pipeline: { type: 'string', default: 'pipelines/sample.yaml' },
        endpoint: { type: 'string' },
        region: { type: 'string' },
        port: { type: 'string' },
        every: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    // Node's own message, without its hint about positionals.
    return usage(String((e as { message?: unknown }).message ?? e).split('. ')[0]!);
  }
  if (values.help) {
    io.stdout.write(`${VIEW_USAGE}\n`);
    return 0;
  }
  const table = values.table ?? io.env[ENV.table];
  if (!table) return usage(`which table? give --table or set ${ENV.table}`);
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return usage(`--port must be a port number from 0 to 65535 (given ${JSON.stringify(values.port)})`);
  const endpoint = values.endpoint ?? io.env['AWS_ENDPOINT_URL_DYNAMODB'] ?? io.env['AWS_ENDPOINT_URL'];
  const local = endpoint !== undefined && /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(endpoint);
  let every: number;
  try {
    every = values.every === undefined ? (local ? 2000 : 15_000) : parseDuration(values.every);
  } catch (e) {
    return usage(`--every: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (every < 500) return usage(`--every must be at least 500ms (given ${values.every})`);
  const region = values.region ?? io.env['AWS_REGION'] ?? io.env['AWS_DEFAULT_REGION'] ?? (endpoint ? 'us-east-1' : undefined);
  const client = new DynamoDBClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(local && !io.env['AWS_ACCESS_KEY_ID'] && !io.env['AWS_PROFILE'] ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  try {
    const pipeline = loadPipeline(values.pipeline!);
    const view = await startView({
      client,
      table,
      pipeline,
      port,
      intervalMs: every,
      onError: (e) => io.stderr.write(`tidewatch view: reading ${table} failed (retrying): ${e instanceof Error ? e.message : String(e)}\n`),
    });
    io.stdout.write(`tidewatch view: ${view.url}  (table ${table}, read every ${every / 1000} s; Ctrl-C to stop)\n`);
    await io.stopped;
    await view.stop();
    return 0;
  } catch (e) {
    io.stderr.write(`tidewatch view: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    client.destroy();
  }
}
