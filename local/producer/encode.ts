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

/**
 * A record whose bytes are already decided: aggregated or compressed
 * (encodeRecords), a line of a file as it was read, a non-JSON test record
 * (emit --raw). The Producer sends its bytes as they are, with its own
 * partition key when it has one; otherwise the key is taken from `value`,
 * the parsed payload when there is one (else a random key).
 */
export class EncodedRecord {
  constructor(
    readonly data: Uint8Array,
    readonly partitionKey?: string,
    readonly value?: object,
  ) {}

  /** Bytes sent as they are; the partition key comes from `value`, the payload parsed from them (if any). */
  static raw(data: Uint8Array, value?: object): EncodedRecord {
    return new EncodedRecord(data, undefined, value);
  }
}

export interface EncodeOptions {
  /** KPL-aggregate up to this many events per record (aws-kinesis-agg starts a new record before 1 MiB). */
  readonly aggregate?: { readonly maxEvents: number; readonly lingerMs?: number };
  /** gzip each event (inside the aggregate when aggregating, as a compressing KPL producer does). */
  readonly gzip?: boolean;
  /** The partition key of an event. */
  readonly partitionKey: (record: object) => string;
}

/** Aggregates are sent before they reach this many bytes of user data (the Kinesis record limit is 1 MiB). */
const AGGREGATE_FLUSH_BYTES = 900 * 1024;
const LINGER = Symbol('linger');

/**
 * JSON objects to the records `tidewatch emit --aggregate / --gzip` sends:
 * each event as JSON (gzip-compressed with `gzip`), KPL-aggregated with
 * `aggregate`. A slow source (generated telemetry) does not hold an aggregate
 * back for long: a partial one is sent after `lingerMs` (default 200 ms).
 */
export async function* encodeRecords(records: AsyncIterable<object> | Iterable<object>, opts: EncodeOptions): AsyncGenerator<EncodedRecord> {
  const it: AsyncIterator<object> | Iterator<object> = Symbol.asyncIterator in records ? records[Symbol.asyncIterator]() : records[Symbol.iterator]();
  const encode = (record: object): KinesisPut => {
    // A line read from a file (an EncodedRecord) keeps its bytes; an object is sent as its JSON.
    if (record instanceof EncodedRecord) {
      const bytes = Buffer.from(record.data);
      return { partitionKey: record.partitionKey ?? opts.partitionKey(record.value ?? {}), data: opts.gzip ? gzip(bytes) : bytes };
    }
    const json = JSON.stringify(record);
    if (json === undefined) throw new Error('a record is not JSON-serialisable');
    return { partitionKey: opts.partitionKey(record), data: opts.gzip ? gzip(json) : Buffer.from(json, 'utf8') };
  };
  if (opts.aggregate === undefined) {
    for (let next = await it.next(); next.done !== true; next = await it.next()) {
      const put = encode(next.value);
      yield new EncodedRecord(put.data, put.partitionKey);
    }
    return;
  }
  const { maxEvents } = opts.aggregate;
  const lingerMs = opts.aggregate.lingerMs ?? 200;
  let buffer: KinesisPut[] = [];
  let bytes = 0;
  let startedAt = 0;
  const flush = async (): Promise<EncodedRecord[]> => {
    const users = buffer;
    buffer = [];
    bytes = 0;
    return (await kplAggregate(users)).map((a) => new EncodedRecord(a.data, a.partitionKey));
  };
  let pending: Promise<IteratorResult<object>> | undefined;
  try {
    for (;;) {
      pending ??= Promise.resolve(it.next());
      let timer: NodeJS.Timeout | undefined;
      const next =
        buffer.length === 0
          ? await pending
          : await Promise.race([pending, new Promise<typeof LINGER>((resolve) => (timer = setTimeout(() => resolve(LINGER), Math.max(0, startedAt + lingerMs - Date.now()))))]);
      clearTimeout(timer);
      if (next === LINGER) {
        yield* await flush();
        continue;
      }
      pending = undefined;
      if (next.done === true) break;
      const put = encode(next.value);
      if (buffer.length === 0) startedAt = Date.now();
      buffer.push(put);
      bytes += put.data.length + put.partitionKey.length;
      if (buffer.length >= maxEvents || bytes >= AGGREGATE_FLUSH_BYTES) yield* await flush();
    }
    if (buffer.length > 0) yield* await flush();
  } finally {
    if (pending === undefined) await it.return?.();
  }
}
