import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV } from '../../lambdas/core/contract';
import { loadPipeline } from '../../lambdas/core/pipeline';
import type { Pipeline } from '../../lambdas/core/types';
import { clientConfig, CliError, EXIT, EXIT_CODES_HELP, explainAwsError, parseCommandLine, resolveTarget, resolveTimeouts, TIMEOUT_HELP, TIMEOUT_OPTIONS, UsageError, type Target } from '../cli';
import { discoverRunningPipeline, type RunningPipeline } from '../discovery';
import { anomalyText } from '../format';
import { kinesisClientFor } from '../producer/cli';
import { Inspector, ReplayError, type QuarantinedRecord } from './Inspector';

export const INSPECT_USAGE = `inspect the pipeline's state table (AWS, or any endpoint):

  tidewatch windows --rule RULE [--all]       windows of a rule and their aggregates (open ones; --all: evaluated too)
  tidewatch alerts [--rule RULE]               alert states: firing, pending, inactive
  tidewatch quarantine list [--stream S] [--since ISO] [--limit N]
                                               rejected records with reason, shard, sequence number and whether replayed
  tidewatch quarantine replay [--stream S] [--since ISO] [--limit N] [--to STREAM] [--force]
                                               send them again (byte for byte) to the stream (or --to another),
                                               marking each with the time and its new sequence number; records
                                               already replayed are skipped unless --force

While npm start runs in this folder, these commands find it (.tidewatch/local.json, or
$TIDEWATCH_LOCAL): its pipeline file, table and endpoints are the defaults, and no option
below is needed.

common options:
  --table NAME        state table (default: $${ENV.table}, else the running local pipeline's)
  --pipeline FILE     pipeline file (default: the running local pipeline's, else pipelines/sample.yaml)
  --endpoint URL      DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB or $AWS_ENDPOINT_URL,
                      else the running local pipeline's, else AWS)
  --kinesis-endpoint URL  Kinesis endpoint for replay (default: $AWS_ENDPOINT_URL_KINESIS or
                      $AWS_ENDPOINT_URL, else the running local pipeline's, else AWS)
  --region REGION
${TIMEOUT_HELP}
  --json              one JSON object per line

${EXIT_CODES_HELP}`;

export interface InspectIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  /** Where to look for a running local pipeline (.tidewatch/local.json). @default process.cwd() */
  readonly cwd?: string;
}

const OPTIONS = {
  rule: { type: 'string' },
  stream: { type: 'string' },
  all: { type: 'boolean' },
  since: { type: 'string' },
  limit: { type: 'string' },
  to: { type: 'string' },
  force: { type: 'boolean' },
  table: { type: 'string' },
  pipeline: { type: 'string' },
  endpoint: { type: 'string' },
  'kinesis-endpoint': { type: 'string' },
  region: { type: 'string' },
  ...TIMEOUT_OPTIONS,
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

const fmt = (v: number | null) => (v === null ? '-' : Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4))));
const labels = (g: Readonly<Record<string, string | null>>) => Object.entries(g).map(([k, v]) => `${k}=${v ?? '(none)'}`).join(' ') || '(all)';
const replayed = (r: QuarantinedRecord) => (r.replayed === null ? '-' : `${r.replayed.at} as ${r.replayed.sequenceNumber}${r.replayed.count > 1 ? ` (${r.replayed.count}x)` : ''}`);

/** pipelines/sample.yaml of this folder, else the one that comes with tidewatch. */
function defaultPipelineFile(cwd: string): string {
  const here = resolve(cwd, 'pipelines/sample.yaml');
  return existsSync(here) ? here : resolve(__dirname, '../../pipelines/sample.yaml');
}

function loadPipelineOrUsage(file: string): Pipeline {
  try {
    return loadPipeline(file);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** `tidewatch windows|alerts|quarantine …`; returns the exit code (never throws). */
export async function runInspect(command: string, argv: readonly string[], io: InspectIo): Promise<number> {
  const name = `tidewatch ${command}`;
  const say = (s: string) => io.stderr.write(`${name}: ${s}\n`);
  let client: DynamoDBClient | undefined;
  let target: Target | undefined;
  let tableName = '';
  try {
    const { values, positionals } = parseCommandLine(name, argv, OPTIONS, command === 'quarantine' ? 1 : 0);
    if (values.help) {
      io.stdout.write(`${INSPECT_USAGE}\n`);
      return EXIT.ok;
    }
    const action = positionals[0];
    if (command === 'quarantine' && action !== 'list' && action !== 'replay') throw new UsageError(`expected 'quarantine list' or 'quarantine replay' (given ${JSON.stringify(action ?? '')})`);

    const discovery = discoverRunningPipeline(io.env, io.cwd);
    const running: RunningPipeline | undefined = discovery.status === 'running' ? discovery.state : undefined;
    tableName = values.table ?? io.env[ENV.table] ?? running?.table ?? '';
    if (tableName === '') {
      const why = discovery.status === 'stale' ? `; ${discovery.path} is left from a pipeline that has exited (pid ${discovery.state.pid})` : '';
      throw new UsageError(`which table? give --table or set ${ENV.table}, or run npm start in this folder (the inspect commands then find it)${why}`);
    }
    // The running local pipeline is the default for its own table.
    const local = running !== undefined && tableName === running.table ? running : undefined;
    const since = values.since === undefined ? undefined : new Date(values.since);
    if (since && Number.isNaN(since.getTime())) throw new UsageError(`--since must be an ISO-8601 time (given ${JSON.stringify(values.since)})`);
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UsageError(`--limit must be a positive integer (given ${JSON.stringify(values.limit)})`);
    const timeouts = resolveTimeouts(values, io.env);
    target = resolveTarget('DYNAMODB', { endpoint: values.endpoint, region: values.region, timeouts, fallbackEndpoint: local?.endpoints.dynamodb }, io.env);
    const usesLocal = local !== undefined && target.endpoint === local.endpoints.dynamodb;
    const pipeline = loadPipelineOrUsage(values.pipeline ?? (usesLocal ? local.pipelineFile : defaultPipelineFile(io.cwd ?? process.cwd())));
    if (values.rule !== undefined && !pipeline.rules.some((r) => r.name === values.rule)) {
      throw new UsageError(`no rule "${values.rule}" in ${pipeline.file} (rules: ${pipeline.rules.map((r) => r.name).join(', ')})${values.pipeline === undefined && !usesLocal ? '; give --pipeline FILE for another pipeline' : ''}`);
    }
    const stream = values.stream ?? [...pipeline.streams.keys()][0]!;
    if (!pipeline.streams.has(stream)) throw new UsageError(`no stream "${stream}" in ${pipeline.file} (streams: ${[...pipeline.streams.keys()].join(', ')})`);
    client = new DynamoDBClient(clientConfig(target, io.env));
    const inspector = new Inspector(client, tableName, pipeline);
    const out = (s: string) => io.stdout.write(`${s}\n`);
    const dynamo = <T>(p: Promise<T>): Promise<T> =>
      p.catch((err: unknown) => {
        throw new CliError(explainAwsError(err, { service: 'DynamoDB', target: target!, resource: `table "${tableName}"` }), { cause: err });
      });

    switch (command) {
      case 'windows': {
        if (!values.rule) throw new UsageError(`--rule RULE is required (rules: ${pipeline.rules.filter((r) => r.type === 'window').map((r) => r.name).join(', ')})`);
        const rule = pipeline.rules.find((r) => r.name === values.rule)!;
        if (rule.type !== 'window') throw new UsageError(`rule "${rule.name}" is an absence rule: it has no windows (try 'tidewatch alerts --rule ${rule.name}')`);
        const rows = await dynamo(inspector.windows(values.rule, { all: values.all === true }));
        if (values.json) rows.forEach((r) => out(JSON.stringify(r)));
        else if (rows.length === 0) out(`no ${values.all ? '' : 'open '}windows for ${values.rule}`);
        else if (rule.anomaly) {
          // Anomaly rules: the stored verdict of each learned window (score, expected value, band, warm-up).
          out(table([['start', 'end', 'group', 'closed', 'shards', 'values', 'anomaly'], ...rows.map((r) => [r.start, r.end, labels(r.group), r.closed ? 'yes' : 'no', String(r.shards), Object.entries(r.values).map(([k, v]) => `${k}=${fmt(v)}`).join(' '), r.anomaly ? anomalyText(r.anomaly) : '-'])]));
        } else out(table([['start', 'end', 'group', 'closed', 'shards', 'values'], ...rows.map((r) => [r.start, r.end, labels(r.group), r.closed ? 'yes' : 'no', String(r.shards), Object.entries(r.values).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')])]));
        return EXIT.ok;
      }
      case 'alerts': {
        const rows = await dynamo(inspector.alerts(values.rule));
        if (values.json) rows.forEach((r) => out(JSON.stringify(r)));
        else if (rows.length === 0) out('no alert state yet');
        else out(table([['status', 'rule', 'group', 'alert id', 'windows held', 'last window / seen', 'unpublished'], ...rows.map((r) => [r.status, r.rule, labels(r.group), r.alertId ?? '-', String(r.consecutive), r.lastWindow ?? '-', String(r.unpublished)])]));
        return EXIT.ok;
      }
      case 'quarantine': {
        const records = await dynamo(inspector.quarantined(stream, { ...(since ? { since } : {}), ...(limit !== undefined ? { limit } : {}) }));
        if (action === 'list') {
          if (values.json) records.forEach((r) => out(JSON.stringify(r)));
          else if (records.length === 0) out(`no quarantined records for stream ${stream}`);
          else out(table([['arrival', 'reason', 'shard', 'sequence number', 'bytes', 'replayed', 'message'], ...records.map((r) => [r.arrival, r.reason, r.shardId, r.index === undefined ? r.sequenceNumber : `${r.sequenceNumber} #${r.index}`, String(Buffer.from(r.data, 'base64').length), replayed(r), r.message.slice(0, 100)])]));
          return EXIT.ok;
        }
        const to = values.to ?? stream;
        if (values.to !== undefined && usesLocal && !local.streams.some((x) => x.name === to)) throw new UsageError(`--to ${to}: the running local pipeline has no such stream (streams: ${local.streams.map((x) => x.name).join(', ')})`);
        const { client: kinesis, target: kinesisTarget } = kinesisClientFor(
          {
            ...(values['kinesis-endpoint'] !== undefined ? { endpoint: values['kinesis-endpoint'] } : {}),
            ...(values.region !== undefined ? { region: values.region } : {}),
            ...(values['connect-timeout'] !== undefined ? { connectTimeout: values['connect-timeout'] } : {}),
            ...(values['request-timeout'] !== undefined ? { requestTimeout: values['request-timeout'] } : {}),
            ...(usesLocal ? { fallbackEndpoint: local.endpoints.kinesis } : {}),
          },
          io.env,
        );
        if (kinesisTarget.region === undefined) throw new UsageError('replay sends to Kinesis: which endpoint? give --kinesis-endpoint URL (npm start prints it), or AWS_REGION for AWS');
        try {
          const result = await inspector.replay(records, kinesis, to, { force: values.force === true }).catch((err: unknown) => {
            if (!(err instanceof ReplayError)) throw err;
            throw new CliError(
              err.stage === 'mark'
                ? explainAwsError(err.cause, { service: 'DynamoDB', target: target!, resource: `table "${tableName}"` })
                : explainAwsError(err.cause, { service: 'Kinesis', target: kinesisTarget, resource: `stream "${to}"` }),
              { cause: err },
            );
          });
          if (values.json) out(JSON.stringify({ sent: result.sent, failed: result.failed, skipped: result.skipped.map((r) => ({ sequenceNumber: r.sequenceNumber, replayed: r.replayed })) }));
          else {
            const considered = records.length - result.skipped.length;
            out(`replayed ${result.sent} of ${considered} quarantined records to ${to}${result.sent > 0 ? ' (each marked with the time and its new sequence number)' : ''}`);
            for (const f of result.failed) say(`not sent: ${f.sequenceNumber}: ${f.error}`);
            if (result.skipped.length > 0) {
              say(`skipped ${result.skipped.length} record(s) replayed before (give --force to send them again):`);
              for (const r of result.skipped.slice(0, 20)) say(`  ${r.sequenceNumber}: replayed ${replayed(r)} to ${r.replayed!.to}`);
              if (result.skipped.length > 20) say(`  … and ${result.skipped.length - 20} more`);
            }
          }
          return result.failed.length > 0 ? EXIT.failure : EXIT.ok;
        } finally {
          kinesis.destroy();
        }
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      say(`${err.message}\n\nRun '${name} --help' for the options.`);
      return EXIT.usage;
    }
    if (err instanceof CliError) {
      say(err.message);
      return err.exitCode;
    }
    say(target ? explainAwsError(err, { service: 'DynamoDB', target, resource: `table "${tableName}"` }) : err instanceof Error ? err.message : String(err));
    return EXIT.failure;
  } finally {
    client?.destroy();
  }
}
