import { randomUUID } from 'node:crypto';
import { GetRecordsCommand, GetShardIteratorCommand, type ShardIteratorType } from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamRecord } from 'aws-lambda';
import { lambdaContext, toLambdaRecord, type FunctionIdentity, type RecordSource } from './lambdaShapes';
import type { ResolvedOptions } from './options';
import type { FailureCondition, OnFailureRecord, ShardStats } from './types';

/** Lambda's synchronous invocation payload limit, less the `{"Records":[]}` envelope. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 - 64;
const MAX_GET_RECORDS = 10_000;
const MAX_BACKOFF_MS = 5000;

export type StartPosition = { readonly type: 'TRIM_HORIZON' | 'LATEST' } | { readonly type: 'AT_TIMESTAMP'; readonly timestamp: Date };

/** Counters shared by all shards of a mapping. */
export interface Counters {
  invocations: number;
  functionErrors: number;
  partialFailures: number;
  retries: number;
  bisections: number;
  recordsReceived: number;
  recordsProcessed: number;
  recordsDiscarded: number;
  iteratorAgeMs: number;
}

/** What a shard consumer needs from its mapping. */
export interface ShardEnvironment {
  readonly opts: ResolvedOptions;
  readonly source: Omit<RecordSource, 'shardId'>;
  readonly fn: FunctionIdentity;
  readonly counters: Counters;
  readonly signal: AbortSignal;
  /** A number that grows with every request, to tell "polled after X" apart. */
  nextTick(): number;
  /** Called once the shard is closed and every record of it is done with. */
  finished(shard: ShardConsumer): void;
}

interface Buffered {
  readonly record: KinesisStreamRecord;
  readonly sequenceNumber: string;
  /** Approximate arrival in the stream (ms). */
  readonly arrivalMs: number;
  /** When this runner read it (ms, wall clock): the batching window runs from here. */
  readonly receivedAt: number;
  readonly bytes: number;
}

type Outcome = { readonly kind: 'success' } | { readonly kind: 'partial'; readonly from: number } | { readonly kind: 'error' };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : 'Error';
}

function copy(r: KinesisStreamRecord): KinesisStreamRecord {
  return { ...r, kinesis: { ...r.kinesis } };
}

/**
 * Reads one shard in order and invokes the function with one batch at a time,
 * applying Lambda's batching, partial batch response, bisect, retry, record
 * age and on-failure rules.
 */
export class ShardConsumer {
  state: 'pending' | 'running' | 'finished' = 'pending';
  inFlight = false;
  checkpoint: string | undefined;
  millisBehindLatest = 0;
  /** Tick of the last GetRecords that came back empty. */
  lastEmptyPollTick = -1;
  private invocations = 0;
  private recordsProcessed = 0;
  /** undefined: to be (re)acquired; null: the shard is closed and read to its end. */
  private iterator: string | null | undefined;
  private buffer: Buffered[] = [];
  private bufferBytes = 0;
  private lastFetched: string | undefined;
  private loop: Promise<void> | undefined;
  private warnedIgnoredFailures = false;

  constructor(
    readonly shardId: string,
    readonly parents: readonly string[],
    private readonly start: StartPosition,
    private readonly env: ShardEnvironment,
    resumeAfter?: string,
  ) {
    if (resumeAfter !== undefined) {
      this.lastFetched = resumeAfter;
      this.checkpoint = resumeAfter;
    }
  }

  /** Gets the first iterator (retried by the loop if this fails), then starts polling. */
  async open(): Promise<void> {
    this.state = 'running';
    try {
      this.iterator = await this.getIterator();
    } catch (err) {
      if (!this.env.signal.aborted) this.env.opts.log('warn', `shard ${this.shardId}: GetShardIterator failed, will retry`, err);
    }
    this.loop = this.run();
  }

  /** Marks a shard done without reading it (closed shards before a LATEST start). */
  skip(): void {
    this.state = 'finished';
  }

  /** Resolves when the polling loop has ended (after `stop`, or at the end of a closed shard). */
  async join(): Promise<void> {
    await this.loop;
  }

  get buffered(): number {
    return this.buffer.length;
  }

  stats(): ShardStats {
    return {
      shardId: this.shardId,
      state: this.state,
      buffered: this.buffer.length,
      inFlight: this.inFlight,
      ...(this.checkpoint !== undefined ? { checkpoint: this.checkpoint } : {}),
      millisBehindLatest: this.millisBehindLatest,
      invocations: this.invocations,
      recordsProcessed: this.recordsProcessed,
    };
  }

  private get opts(): ResolvedOptions {
    return this.env.opts;
  }

  private async run(): Promise<void> {
    const { signal } = this.env;
    let errors = 0;
    while (!signal.aborted) {
      try {
        if (this.iterator === undefined) this.iterator = await this.getIterator();
        let fetched = 0;
        if (this.iterator !== null && this.wantsMore()) fetched = await this.fetch();
        errors = 0;
        if (this.batchReady()) {
          await this.process(this.take());
          continue;
        }
        if (this.iterator === null && this.buffer.length === 0) {
          this.state = 'finished';
          this.env.finished(this);
          return;
        }
        const caughtUp = fetched === 0 && this.millisBehindLatest === 0;
        if (caughtUp || !this.wantsMore()) await sleep(this.waitMs(), signal);
      } catch (err) {
        if (signal.aborted) return;
        if (errorName(err) === 'ExpiredIteratorException') {
          this.iterator = undefined;
          continue;
        }
        errors++;
        if (errors === 1 || errors % 20 === 0) this.opts.log('warn', `shard ${this.shardId}: ${errorName(err)} from Kinesis (attempt ${errors}), backing off`, err);
        await sleep(Math.min(MAX_BACKOFF_MS, Math.max(50, this.opts.pollIntervalMs) * 2 ** Math.min(errors, 10)), signal);
      }
    }
  }

  private async getIterator(): Promise<string | null> {
    const { client, streamName } = this.opts;
    const position: { ShardIteratorType: ShardIteratorType; StartingSequenceNumber?: string; Timestamp?: Date } =
      this.lastFetched !== undefined
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: this.lastFetched }
        : this.start.type === 'AT_TIMESTAMP'
          ? { ShardIteratorType: 'AT_TIMESTAMP', Timestamp: this.start.timestamp }
          : { ShardIteratorType: this.start.type };
    const res = await client.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: this.shardId, ...position }), { abortSignal: this.env.signal });
    return res.ShardIterator ?? null;
  }

  private wantsMore(): boolean {
    return this.buffer.length < this.opts.batchSize && this.bufferBytes < MAX_PAYLOAD_BYTES;
  }

  private async fetch(): Promise<number> {
    const tick = this.env.nextTick();
    const limit = Math.min(MAX_GET_RECORDS, Math.max(1, this.opts.batchSize - this.buffer.length));
    const res = await this.opts.client.send(new GetRecordsCommand({ ShardIterator: this.iterator!, Limit: limit }), { abortSignal: this.env.signal });
    this.iterator = res.NextShardIterator ?? null;
    this.millisBehindLatest = res.MillisBehindLatest ?? 0;
    const records = res.Records ?? [];
    if (records.length === 0) {
      this.lastEmptyPollTick = tick;
      return 0;
    }
    const now = Date.now();
    const src: RecordSource = { ...this.env.source, shardId: this.shardId };
    for (const r of records) {
      const record = toLambdaRecord(r, src);
      const bytes = JSON.stringify(record).length + 1;
      this.buffer.push({ record, sequenceNumber: r.SequenceNumber!, arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? now, receivedAt: now, bytes });
      this.bufferBytes += bytes;
      this.lastFetched = r.SequenceNumber!;
    }
    this.env.counters.recordsReceived += records.length;
    return records.length;
  }

  private batchReady(): boolean {
    if (this.buffer.length === 0 || this.env.signal.aborted) return false;
    if (!this.wantsMore() || this.iterator === null || this.opts.batchingWindowMs === 0) return true;
    return Date.now() - this.buffer[0]!.receivedAt >= this.opts.batchingWindowMs;
  }

  private waitMs(): number {
    if (this.buffer.length === 0 || this.opts.batchingWindowMs === 0) return this.opts.pollIntervalMs;
    const left = this.buffer[0]!.receivedAt + this.opts.batchingWindowMs - Date.now();
    return Math.max(1, Math.min(this.opts.pollIntervalMs, left));
  }

  /** The next batch: up to batchSize records and the payload limit (at least one record). */
  private take(): Buffered[] {
    let n = 0;
    let bytes = 0;
    while (n < this.buffer.length && n < this.opts.batchSize && (n === 0 || bytes + this.buffer[n]!.bytes <= MAX_PAYLOAD_BYTES)) {
      bytes += this.buffer[n]!.bytes;
      n++;
    }
    this.bufferBytes -= bytes;
    return this.buffer.splice(0, n);
  }

  /** Runs one batch to completion: success, or records discarded after retries / age. Never throws. */
  private async process(batch: Buffered[]): Promise<void> {
    const { opts } = this;
    const queue: Buffered[][] = [batch];
    while (queue.length > 0) {
      let current = queue.shift()!;
      let invokes = 0;
      let lastError: 'Unhandled' | null = null;
      while (current.length > 0) {
        if (invokes > 0 && this.env.signal.aborted) return; // stopping: no more retries, nothing checkpointed
        if (opts.maximumRecordAgeMs >= 0) {
          const now = opts.clock();
          let expired = 0;
          while (expired < current.length && now - current[expired]!.arrivalMs > opts.maximumRecordAgeMs) expired++;
          if (expired > 0) {
            await this.discard(current.slice(0, expired), 'RecordAgeExceeded', invokes, lastError);
            current = current.slice(expired);
            continue;
          }
        }
        invokes++;
        if (invokes > 1) this.env.counters.retries++;
        const outcome = await this.invoke(current);
        if (outcome.kind === 'success') {
          this.done(current);
          break;
        }
        if (outcome.kind === 'partial') {
          this.done(current.slice(0, outcome.from));
          current = current.slice(outcome.from);
          lastError = null;
        } else {
          lastError = 'Unhandled';
          if (opts.bisect && current.length > 1) {
            const half = Math.ceil(current.length / 2);
            queue.unshift(current.slice(0, half), current.slice(half));
            this.env.counters.bisections++;
            break;
          }
        }
        if (opts.maximumRetryAttempts >= 0 && invokes > opts.maximumRetryAttempts) {
          await this.discard(current, 'RetryAttemptsExhausted', invokes, lastError);
          break;
        }
        await sleep(Math.min(MAX_BACKOFF_MS, opts.retryDelayMs * 2 ** Math.min(invokes - 1, 10)), this.env.signal);
      }
    }
  }

  private async invoke(batch: readonly Buffered[]): Promise<Outcome> {
    const { counters } = this.env;
    this.inFlight = true;
    this.invocations++;
    counters.invocations++;
    counters.iteratorAgeMs = Math.max(0, this.opts.clock() - batch.at(-1)!.arrivalMs);
    try {
      const response = await this.opts.handler({ Records: batch.map((b) => copy(b.record)) }, lambdaContext(this.env.fn));
      const outcome = this.interpret(response, batch);
      if (outcome.kind === 'partial') counters.partialFailures++;
      if (outcome.kind === 'error') counters.functionErrors++;
      return outcome;
    } catch (err) {
      counters.functionErrors++;
      this.opts.log('warn', `${this.env.fn.functionName} failed on ${this.shardId} (batch of ${batch.length} from ${batch[0]!.sequenceNumber})`, err);
      return { kind: 'error' };
    } finally {
      this.inFlight = false;
    }
  }

  /** Lambda's rules for a stream batch response. */
  private interpret(response: KinesisStreamBatchResponse | void, batch: readonly Buffered[]): Outcome {
    const failures: unknown = response && typeof response === 'object' ? (response as { batchItemFailures?: unknown }).batchItemFailures : undefined;
    if (failures === undefined || failures === null || (Array.isArray(failures) && failures.length === 0)) return { kind: 'success' };
    if (!this.opts.reportBatchItemFailures) {
      if (!this.warnedIgnoredFailures) {
        this.warnedIgnoredFailures = true;
        this.opts.log('warn', `${this.env.fn.functionName} returned batchItemFailures, ignored as Lambda does: functionResponseTypes does not include ReportBatchItemFailures`);
      }
      return { kind: 'success' };
    }
    const invalid = (why: string): Outcome => {
      this.opts.log('warn', `${this.env.fn.functionName} returned an invalid partial batch response on ${this.shardId} (${why}): the whole batch is retried`);
      return { kind: 'error' };
    };
    if (!Array.isArray(failures)) return invalid('batchItemFailures is not an array');
    let from = Number.POSITIVE_INFINITY;
    for (const f of failures) {
      const id: unknown = f && typeof f === 'object' ? (f as { itemIdentifier?: unknown }).itemIdentifier : undefined;
      if (typeof id !== 'string' || id === '') return invalid(`itemIdentifier ${JSON.stringify(id) ?? 'undefined'} is not a sequence number`);
      const index = batch.findIndex((b) => b.sequenceNumber === id);
      if (index < 0) return invalid(`itemIdentifier ${id} is not in the batch`);
      from = Math.min(from, index);
    }
    return { kind: 'partial', from };
  }

  private done(records: readonly Buffered[]): void {
    if (records.length === 0) return;
    this.checkpoint = records.at(-1)!.sequenceNumber;
    this.recordsProcessed += records.length;
    this.env.counters.recordsProcessed += records.length;
  }

  private async discard(records: readonly Buffered[], condition: FailureCondition, invokes: number, functionError: 'Unhandled' | null): Promise<void> {
    const { opts } = this;
    this.checkpoint = records.at(-1)!.sequenceNumber;
    this.env.counters.recordsDiscarded += records.length;
    const failure: OnFailureRecord = {
      requestContext: { requestId: randomUUID(), functionArn: this.env.fn.functionArn, condition, approximateInvokeCount: invokes },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError },
      version: '1.0',
      timestamp: new Date(opts.clock()).toISOString(),
      KinesisBatchInfo: {
        shardId: this.shardId,
        startSequenceNumber: records[0]!.sequenceNumber,
        endSequenceNumber: records.at(-1)!.sequenceNumber,
        approximateArrivalOfFirstRecord: new Date(records[0]!.arrivalMs).toISOString(),
        approximateArrivalOfLastRecord: new Date(records.at(-1)!.arrivalMs).toISOString(),
        batchSize: records.length,
        streamArn: this.env.source.eventSourceArn,
      },
    };
    opts.log('warn', `discarded ${records.length} records of ${this.shardId} (${condition}, ${failure.KinesisBatchInfo.startSequenceNumber}..${failure.KinesisBatchInfo.endSequenceNumber})${opts.onFailure ? '' : ': no on-failure destination'}`);
    if (!opts.onFailure) return;
    try {
      await opts.onFailure(failure, records.map((b) => copy(b.record)));
    } catch (err) {
      opts.log('error', `on-failure destination failed for ${records.length} records of ${this.shardId}`, err);
    }
  }
}
