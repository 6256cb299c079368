import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ENV } from '../../lambdas/core/contract';
import { loadPipeline } from '../../lambdas/core/pipeline';
import { kinesisClientFor } from '../producer/cli';
import { Inspector } from './Inspector';

export const INSPECT_USAGE = `inspect the pipeline's state table (AWS, or any endpoint):

  tidewatch windows --rule RULE [--all]       windows of a rule and their aggregates (open ones; --all: evaluated too)
  tidewatch alerts [--rule RULE]               alert states: firing, pending, inactive
  tidewatch quarantine list [--stream S] [--since ISO] [--limit N]
                                               rejected records with reason, shard and sequence number
  tidewatch quarantine replay --stream S [--since ISO] [--limit N] [--to STREAM]
                                               send them again (byte for byte) to the stream (or --to another)

common options:
  --table NAME        state table (default: $${ENV.table})
  --pipeline FILE     pipeline file (default pipelines/sample.yaml)
  --endpoint URL      DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB or $AWS_ENDPOINT_URL, else AWS)
  --kinesis-endpoint URL  Kinesis endpoint for replay (default: $AWS_ENDPOINT_URL_KINESIS or $AWS_ENDPOINT_URL)
  --region REGION
  --json              one JSON object per line`;

export interface InspectIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly env: NodeJS.ProcessEnv;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

const fmt = (v: number | null) => (v === null ? '-' : Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4))));
const labels = (g: Readonly<Record<string, string | null>>) => Object.entries(g).map(([k, v]) => `${k}=${v ?? '(none)'}`).join(' ') || '(all)';

/** `tidewatch windows|alerts|quarantine …`; returns the exit code. */
export async function runInspect(command: string, argv: readonly string[], io: InspectIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      rule: { type: 'string' },
      stream: { type: 'string' },
      all: { type: 'boolean', default: false },
      since: { type: 'string' },
      limit: { type: 'string' },
      to: { type: 'string' },
      table: { type: 'string' },
      pipeline: { type: 'string', default: 'pipelines/sample.yaml' },
      endpoint: { type: 'string' },
      'kinesis-endpoint': { type: 'string' },
      region: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${INSPECT_USAGE}\n`);
    return 0;
  }
  const usage = (msg: string) => {
    io.stderr.write(`tidewatch ${command}: ${msg}\n\n${INSPECT_USAGE}\n`);
    return 2;
  };
  const tableName = values.table ?? io.env[ENV.table];
  if (!tableName) return usage(`which table? give --table or set ${ENV.table}`);
  const since = values.since === undefined ? undefined : new Date(values.since);
  if (since && Number.isNaN(since.getTime())) return usage(`--since must be an ISO-8601 time (given ${JSON.stringify(values.since)})`);
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) return usage(`--limit must be a positive integer (given ${JSON.stringify(values.limit)})`);
  const endpoint = values.endpoint ?? io.env['AWS_ENDPOINT_URL_DYNAMODB'] ?? io.env['AWS_ENDPOINT_URL'];
  const region = values.region ?? io.env['AWS_REGION'] ?? io.env['AWS_DEFAULT_REGION'] ?? (endpoint ? 'us-east-1' : undefined);
  const local = endpoint !== undefined && /^http:\/\/(127\.0\.0\.1|localhost)/.test(endpoint) && !io.env['AWS_ACCESS_KEY_ID'] && !io.env['AWS_PROFILE'];
  const client = new DynamoDBClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
  const inspector = new Inspector(client, tableName, loadPipeline(values.pipeline!));
  const out = (s: string) => io.stdout.write(`${s}\n`);
  try {
    switch (command) {
      case 'windows': {
        if (!values.rule) return usage('--rule RULE is required');
        const rows = await inspector.windows(values.rule, { all: values.all === true });
        if (values.json) rows.forEach((r) => out(JSON.stringify(r)));
        else if (rows.length === 0) out(`no ${values.all ? '' : 'open '}windows for ${values.rule}`);
        else out(table([['start', 'end', 'group', 'closed', 'shards', 'values'], ...rows.map((r) => [r.start, r.end, labels(r.group), r.closed ? 'yes' : 'no', String(r.shards), Object.entries(r.values).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')])]));
        return 0;
      }
      case 'alerts': {
        const rows = await inspector.alerts(values.rule);
        if (values.json) rows.forEach((r) => out(JSON.stringify(r)));
        else if (rows.length === 0) out('no alert state yet');
        else out(table([['status', 'rule', 'group', 'alert id', 'windows held', 'last window / seen', 'unpublished'], ...rows.map((r) => [r.status, r.rule, labels(r.group), r.alertId ?? '-', String(r.consecutive), r.lastWindow ?? '-', String(r.unpublished)])]));
        return 0;
      }
      case 'quarantine': {
        const [action] = positionals;
        if (action !== 'list' && action !== 'replay') return usage(`expected 'quarantine list' or 'quarantine replay' (given ${JSON.stringify(action ?? '')})`);
        const stream = values.stream ?? [...inspector.pipeline.streams.keys()][0]!;
        const records = await inspector.quarantined(stream, { ...(since ? { since } : {}), ...(limit !== undefined ? { limit } : {}) });
        if (action === 'list') {
          if (values.json) records.forEach((r) => out(JSON.stringify(r)));
          else if (records.length === 0) out(`no quarantined records for stream ${stream}`);
          else out(table([['arrival', 'reason', 'shard', 'sequence number', 'bytes', 'message'], ...records.map((r) => [r.arrival, r.reason, r.shardId, r.index === undefined ? r.sequenceNumber : `${r.sequenceNumber} #${r.index}`, String(Math.floor((r.data.length * 3) / 4)), r.message.slice(0, 100)])]));
          return 0;
        }
        const target = values.to ?? stream;
        const kinesis = kinesisClientFor({ ...(values['kinesis-endpoint'] ? { endpoint: values['kinesis-endpoint'] } : {}), ...(values.region ? { region: values.region } : {}) }, io.env);
        const result = await inspector.replay(records, kinesis, target);
        kinesis.destroy();
        if (values.json) out(JSON.stringify(result));
        else {
          out(`replayed ${result.sent} of ${records.length} quarantined records to ${target}`);
          for (const f of result.failed) io.stderr.write(`  not sent: ${f.sequenceNumber}: ${f.error}\n`);
        }
        return result.failed.length > 0 ? 1 : 0;
      }
      default:
        return usage(`unknown command ${JSON.stringify(command)}`);
    }
  } finally {
    client.destroy();
  }
}
