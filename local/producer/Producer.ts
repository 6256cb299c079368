import { randomUUID } from 'node:crypto';
import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { EncodedRecord } from './encode';

export { EncodedRecord } from './encode';
import { InvalidRecordError, PutRecordsError } from './errors';
import { MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES, MAX_RECORDS_PER_REQUEST, MAX_REQUEST_BYTES } from './limits';

export interface ProducerOptions {
  readonly client: KinesisClient;
  readonly streamName: string;
  /** Partition key of a record, 1 to 256 characters. @default a random key per record */
  readonly partitionKey?: (record: object) => string;
  /** Attempts per record, the first send included (at least 1). @default 5 */
  readonly maxAttempts?: number;
  /** Called after every PutRecords request with the counts so far. */
  readonly onProgress?: (progress: ProducerSummary) => void;
  /** Exponential backoff with full jitter between retries: random(0, min(maxMs, baseMs × 2^n)). @default { baseMs: 100, maxMs: 5000 } */
  readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
  /** Longest wait for a batch to fill from a slow source before a partial batch is sent (ms). @default 100 */
  readonly lingerMs?: number;
  /** A record Kinesis would refuse (over 1 MiB, bad partition key): `throw` stops `send`, `skip` counts it as invalid. @default 'throw' */
  readonly invalid?: 'throw' | 'skip';
  /** Names a record in messages, e.g. by its input line. @default `record N` (1-based) */
  readonly describe?: (record: object, index: number) => string;
  /** Random source of the backoff jitter, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Each record skipped as invalid (`invalid: 'skip'`), with the reason. */
  readonly onInvalid?: (error: InvalidRecordError) => void;
}

export interface RecordFailure {
  readonly record: string;
  readonly errorCode: string;
  readonly errorMessage: string;
}

export interface ProducerSummary {
  /** Records Kinesis accepted. */
  readonly sent: number;
  /** Re-sends of records that failed (one record retried twice counts 2). */
  readonly retried: number;
  /** Records given up on after `maxAttempts`. */
  readonly failed: number;
  /** Records skipped as invalid (`invalid: 'skip'`). */
  readonly invalid: number;
  readonly requests: number;
  readonly durationMs: number;
  readonly recordsPerSecond: number;
  /** The first failures (at most 20), for the report. */
  readonly failures: readonly RecordFailure[];
}

interface Entry {
  readonly data: Uint8Array;
  readonly partitionKey: string;
  readonly label: string;
  readonly bytes: number;
}

const KEEP_FAILURES = 20;
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
  'KMSThrottlingException',
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'TimeoutError',
]);

function retryable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { $retryable?: unknown; $metadata?: { httpStatusCode?: number }; code?: string };
  if (THROTTLING.has(e.name) || e.$retryable) return true;
  if ((e.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  return ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(e.code ?? '');
}

const LINGER = Symbol('linger');

/**
 * Sends records to a Kinesis stream with PutRecords: batches within the API
 * limits (500 records, 5 MiB per request, 1 MiB per record), and retries only
 * the records that failed, with exponential backoff and full jitter.
 */
export class Producer {
  private readonly maxAttempts: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly lingerMs: number;
  private readonly random: () => number;
  private counts = { sent: 0, retried: 0, failed: 0, invalid: 0, requests: 0 };
  private failures: RecordFailure[] = [];
  private startedAt = 0;

  constructor(private readonly opts: ProducerOptions) {
    this.maxAttempts = opts.maxAttempts ?? 5;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) throw new RangeError(`maxAttempts must be an integer >= 1 (given ${opts.maxAttempts})`);
    this.baseMs = opts.backoff?.baseMs ?? 100;
    this.maxMs = opts.backoff?.maxMs ?? 5000;
    this.lingerMs = opts.lingerMs ?? 100;
    this.random = opts.random ?? Math.random;
  }

  /** Counts of the current (or last) `send`. */
  progress(): ProducerSummary {
    const durationMs = this.startedAt === 0 ? 0 : Date.now() - this.startedAt;
    return {
      ...this.counts,
      durationMs,
      recordsPerSecond: durationMs > 0 ? Math.round((this.counts.sent / durationMs) * 1000 * 10) / 10 : 0,
      failures: [...this.failures],
    };
  }

  /** Sends every record; resolves with the summary once all are sent or given up on. */
  async send(records: AsyncIterable<object> | Iterable<object>): Promise<ProducerSummary> {
    this.counts = { sent: 0, retried: 0, failed: 0, invalid: 0, requests: 0 };
    this.failures = [];
    this.startedAt = Date.now();
    const slowSource = Symbol.asyncIterator in records;
    const it: AsyncIterator<object> | Iterator<object> = slowSource ? records[Symbol.asyncIterator]() : records[Symbol.iterator]();
    let batch: Entry[] = [];
    let bytes = 0;
    let batchStarted = 0;
    let index = 0;
    let pending: Promise<IteratorResult<object>> | undefined;
    const flush = async () => {
      if (batch.length > 0) await this.put(batch);
      batch = [];
      bytes = 0;
    };
    let inputError: unknown;
    try {
      for (;;) {
        pending ??= Promise.resolve(it.next());
        let next: IteratorResult<object> | typeof LINGER;
        let entry: Entry | undefined;
        try {
          next = batch.length === 0 || !slowSource ? await pending : await this.within(pending, batchStarted + this.lingerMs - Date.now());
          if (next === LINGER) {
            await flush();
            continue;
          }
          pending = undefined;
          if (next.done) break;
          entry = this.entry(next.value, index++);
        } catch (err) {
          // A bad record or a failing source: what was read before it is still sent.
          pending = undefined;
          inputError = err;
          break;
        }
        if (!entry) continue;
        if (batch.length >= MAX_RECORDS_PER_REQUEST || bytes + entry.bytes > MAX_REQUEST_BYTES) await flush();
        if (batch.length === 0) batchStarted = Date.now();
        batch.push(entry);
        bytes += entry.bytes;
        if (batch.length >= MAX_RECORDS_PER_REQUEST) await flush();
      }
      await flush();
    } finally {
      if (pending === undefined) await it.return?.();
    }
    if (inputError !== undefined) throw inputError;
    return this.progress();
  }

  /** Resolves with the iterator's next result, or LINGER when the source has nothing within `ms` (a ready result always wins). */
  private async within(p: Promise<IteratorResult<object>>, ms: number): Promise<IteratorResult<object> | typeof LINGER> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([p, new Promise<typeof LINGER>((resolve) => (timer = setTimeout(() => resolve(LINGER), Math.max(0, ms))))]);
    } finally {
      clearTimeout(timer);
    }
  }

  private entry(record: object, index: number): Entry | undefined {
    const label = this.opts.describe?.(record, index) ?? `record ${index + 1}`;
    try {
      // An EncodedRecord (emit --raw / --aggregate / --gzip, encode.ts) is sent as its bytes; a JSON value as its text.
      let data: Uint8Array;
      let value: object | undefined;
      let key: string | undefined;
      if (record instanceof EncodedRecord) {
        data = record.data;
        value = record.value;
        key = record.partitionKey;
      } else {
        const json = JSON.stringify(record);
        if (json === undefined) throw new InvalidRecordError(label, 'is not JSON-serialisable');
        data = Buffer.from(json, 'utf8');
        value = record;
      }
      const partitionKey = key ?? (this.opts.partitionKey && value !== undefined ? this.opts.partitionKey(value) : randomUUID());
      const keyChars = [...partitionKey].length;
      if (keyChars < 1 || keyChars > MAX_PARTITION_KEY_CHARS) {
        throw new InvalidRecordError(label, `partition key must be 1 to ${MAX_PARTITION_KEY_CHARS} characters (given ${keyChars})`);
      }
      const bytes = data.byteLength + Buffer.byteLength(partitionKey, 'utf8');
      if (bytes > MAX_RECORD_BYTES) {
        throw new InvalidRecordError(label, `record is ${bytes} bytes with its partition key, over Kinesis's limit of ${MAX_RECORD_BYTES} bytes (1 MiB)`);
      }
      return { data, partitionKey, label, bytes };
    } catch (err) {
      if (this.opts.invalid !== 'skip') throw err;
      this.counts.invalid++;
      if (err instanceof InvalidRecordError) this.opts.onInvalid?.(err);
      return undefined;
    }
  }

  private async put(entries: readonly Entry[]): Promise<void> {
    let pending = entries;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const request: PutRecordsRequestEntry[] = pending.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey }));
      let results: Array<{ ErrorCode?: string; ErrorMessage?: string }>;
      try {
        const res = await this.opts.client.send(new PutRecordsCommand({ StreamName: this.opts.streamName, Records: request }));
        results = res.Records ?? [];
        if (results.length !== pending.length) throw new Error(`PutRecords answered ${results.length} results for ${pending.length} records`);
      } catch (err) {
        if (!retryable(err)) throw new PutRecordsError(this.opts.streamName, err);
        const name = err instanceof Error ? err.name : 'Error';
        const message = err instanceof Error ? err.message : String(err);
        results = pending.map(() => ({ ErrorCode: name, ErrorMessage: message }));
      } finally {
        this.counts.requests++;
      }
      const again: Entry[] = [];
      results.forEach((r, i) => {
        const e = pending[i]!;
        if (r.ErrorCode === undefined) {
          this.counts.sent++;
        } else if (attempt < this.maxAttempts) {
          again.push(e);
        } else {
          this.counts.failed++;
          if (this.failures.length < KEEP_FAILURES) this.failures.push({ record: e.label, errorCode: r.ErrorCode, errorMessage: r.ErrorMessage ?? '' });
        }
      });
      this.opts.onProgress?.(this.progress());
      if (again.length > 0) {
        this.counts.retried += again.length;
        const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** (attempt - 1));
        await new Promise((r) => setTimeout(r, this.random() * ceiling));
      }
      pending = again;
    }
  }
}
