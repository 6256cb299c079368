import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV } from '../../lambdas/core/contract';
import { loadPipeline } from '../../lambdas/core/pipeline';
import { tryParseDuration } from '../../lambdas/core/pipeline/duration';
import { CliError, clientConfig, EXIT, EXIT_CODES_HELP, explainAwsError, isLocalEndpoint, parseCommandLine, resolveTarget, resolveTimeouts, TIMEOUT_HELP, TIMEOUT_OPTIONS, UsageError } from '../cli';
import { discoverRunningPipeline, type RunningPipeline } from '../discovery';
import { Inspector } from '../inspect/Inspector';
import { startView } from '.';

export const VIEW_USAGE = `serve a live web page of a pipeline's state on 127.0.0.1 (read-only):

  tidewatch view [--table NAME] [--endpoint URL] [--pipeline FILE] [--port N] [--every DURATION]

While npm start runs in this folder, the view finds its table, pipeline file and
endpoint by itself (.tidewatch/local.json); give --table for another deployment.

  --table NAME        state table (default: $${ENV.table}, else the running local pipeline's)
  --pipeline FILE     the pipeline file the table belongs to (default: the running local
                      pipeline's, else pipelines/sample.yaml)
  --endpoint URL      DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB or $AWS_ENDPOINT_URL,
                      the running local pipeline for its table, else AWS)
  --region REGION
  --port N            port on 127.0.0.1 (default: a free one, printed)
  --every DURATION    how often the table is read (default 2s on 127.0.0.1, 15s otherwise; each read
                      scans the table for the windows of every rule, so it costs read units in AWS)
${TIMEOUT_HELP}

Runs until Ctrl-C.

${EXIT_CODES_HELP}`;

const OPTIONS = {
  table: { type: 'string' },
  pipeline: { type: 'string' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  port: { type: 'string' },
  every: { type: 'string' },
  ...TIMEOUT_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ViewIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  /** Resolves when the view should stop (Ctrl-C). */
  readonly stopped: Promise<unknown>;
  /** Where to look for a running local pipeline (.tidewatch/local.json). @default process.cwd() */
  readonly cwd?: string;
}

/** `tidewatch view …`; returns the exit code (0 ok, 1 failure, 2 usage; see local/cli). */
export async function runView(argv: readonly string[], io: ViewIo): Promise<number> {
  const say = (msg: string) => io.stderr.write(`tidewatch view: ${msg}\n`);
  let client: DynamoDBClient | undefined;
  try {
    const { values } = parseCommandLine('tidewatch view', argv, OPTIONS);
    if (values.help) {
      io.stdout.write(`${VIEW_USAGE}\n`);
      return EXIT.ok;
    }
    const discovery = discoverRunningPipeline(io.env, io.cwd);
    const running: RunningPipeline | undefined = discovery.status === 'running' ? discovery.state : undefined;
    const table = values.table ?? io.env[ENV.table] ?? running?.table;
    if (!table) {
      const why = discovery.status === 'stale' ? `; ${discovery.path} is left from a pipeline that has exited (pid ${discovery.state.pid})` : '';
      throw new UsageError(`which table? give --table or set ${ENV.table}, or run npm start in this folder (the view then finds it)${why}`);
    }
    const local = running !== undefined && table === running.table ? running : undefined;
    const port = values.port === undefined ? 0 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number from 0 to 65535 (given ${JSON.stringify(values.port)})`);
    const target = resolveTarget('DYNAMODB', { endpoint: values.endpoint, region: values.region, timeouts: resolveTimeouts(values, io.env), fallbackEndpoint: local?.endpoints.dynamodb }, io.env);
    let every = isLocalEndpoint(target.endpoint) ? 2000 : 15_000;
    if (values.every !== undefined) {
      const parsed = tryParseDuration(values.every);
      if (!parsed.ok) throw new UsageError(`--every: ${parsed.message}`);
      every = parsed.value;
    }
    if (every < 500) throw new UsageError(`--every must be at least 500ms (given ${values.every})`);
    const usesLocal = local !== undefined && target.endpoint === local.endpoints.dynamodb;
    const pipelineFile = values.pipeline ?? (usesLocal ? local.pipelineFile : 'pipelines/sample.yaml');
    let pipeline;
    try {
      pipeline = loadPipeline(pipelineFile);
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    client = new DynamoDBClient(clientConfig(target, io.env));
    // One read before serving: a missing table or an endpoint that does not answer fails now, by name.
    await new Inspector(client, table, pipeline).alerts().catch((err: unknown) => {
      throw new CliError(explainAwsError(err, { service: 'DynamoDB', target, resource: `table "${table}"` }), { cause: err });
    });
    const view = await startView({
      client,
      table,
      pipeline,
      port,
      intervalMs: every,
      onError: (e) => say(`reading ${table} failed (retrying): ${e instanceof Error ? e.message : String(e)}`),
    });
    io.stdout.write(`tidewatch view: ${view.url}  (table ${table}, read every ${every / 1000} s; Ctrl-C to stop)\n`);
    await io.stopped;
    await view.stop();
    return EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError) {
      say(`${e.message}\n\nRun 'tidewatch view --help' for the options.`);
      return EXIT.usage;
    }
    if (e instanceof CliError) {
      say(e.message);
      return e.exitCode;
    }
    say(e instanceof Error ? e.message : String(e));
    return EXIT.failure;
  } finally {
    client?.destroy();
  }
}
