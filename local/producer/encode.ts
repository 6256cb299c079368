/**
 * Record encoders for what real producers write, built on the reference
 * implementations rather than on bytes of our own: KPL aggregated records with
 * AWS's `aws-kinesis-agg` (the package the KPL team publishes for Node.js),
 * gzip with zlib, and CloudWatch Logs subscription payloads (gzip JSON, as
 * CloudWatch Logs writes them to a Kinesis stream). `tidewatch emit
 * --aggregate / --gzip` and the tests use them.
 */
import { gzipSync } from 'node:zlib';
import { aggregate } from 'aws-kinesis-agg';

/** One Kinesis record as a producer hands it to PutRecords. */
export interface KinesisPut {
  readonly partitionKey: string;
  readonly data: Buffer;
}

/**
 * KPL-aggregates user records with aws-kinesis-agg: one Kinesis record per
 * aggregate (the package starts a new one before 1 MiB), user records in order.
 */
export function kplAggregate(records: readonly KinesisPut[]): Promise<KinesisPut[]> {
  if (records.length === 0) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const out: KinesisPut[] = [];
    let failed = false;
    aggregate(
      // aws-kinesis-agg replaces string data in place: give it copies.
      records.map((r) => ({ partitionKey: r.partitionKey, data: Buffer.from(r.data) })),
      (encoded, done) => {
        out.push({ partitionKey: encoded.partitionKey, data: Buffer.from(encoded.data) });
        done();
      },
      () => {
        if (!failed) resolve(out);
      },
      (err) => {
        failed = true;
        reject(err instanceof Error ? err : new Error(`aws-kinesis-agg: ${String(err)}`));
      },
    );
  });
}

export function gzip(data: Buffer | string): Buffer {
  return gzipSync(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
}

export interface LogEventInput {
  readonly id: string;
  readonly timestamp: number;
  readonly message: string;
}

/** A CloudWatch Logs subscription DATA_MESSAGE, gzip-compressed, as CloudWatch Logs puts it on the stream. */
export function cloudWatchLogsRecord(opts: {
  readonly logGroup: string;
  readonly logStream: string;
  readonly owner?: string;
  readonly subscriptionFilters?: readonly string[];
  readonly logEvents: readonly LogEventInput[];
}): Buffer {
  return gzip(
    JSON.stringify({
      messageType: 'DATA_MESSAGE',
      owner: opts.owner ?? '123456789012',
      logGroup: opts.logGroup,
      logStream: opts.logStream,
      subscriptionFilters: opts.subscriptionFilters ?? ['tidewatch'],
      logEvents: opts.logEvents,
    }),
  );
}

/** The CONTROL_MESSAGE CloudWatch Logs sends when a subscription is created (to check the stream is writable). */
export function cloudWatchLogsControlRecord(): Buffer {
  return gzip(
    JSON.stringify({
      messageType: 'CONTROL_MESSAGE',
      owner: 'CloudwatchLogs',
      logGroup: '',
      logStream: '',
      subscriptionFilters: [],
      logEvents: [{ id: '', timestamp: 0, message: 'CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.' }],
    }),
  );
}
