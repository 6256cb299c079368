/**
 * Reads a Kinesis stream's history for `tidewatch backtest`: every shard from
 * a timestamp (`AT_TIMESTAMP` iterators; `TRIM_HORIZON` without one) up to an
 * end time, merged into one sequence in arrival order, with a child shard's
 * records only after all of its parents' (as Lambda does after a reshard).
 * Read-only: ListShards, GetShardIterator and GetRecords.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type _Record,
  type KinesisClient,
  type Shard,
} from '@aws-sdk/client-kinesis';
import type { KinesisLikeRecord } from '../../lambdas/core/types';

export interface KinesisSourceOptions {
  readonly client: KinesisClient;
  /** Stream name, or its ARN. */
  readonly stream: string;
  /** Records that arrived at or after this; the oldest record (TRIM_HORIZON) when absent. */
  readonly from?: Date;
  /** Records that arrived before this. */
  readonly to: Date;
  /** Records per GetRecords call. @default 10000 */
  readonly limit?: number;
  /** Wait before reading a shard again after an empty page that is not its end (Kinesis allows 5 reads a second per shard). @default 200 */
  readonly emptyPollMs?: number;
  readonly signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const isArn = (s: string) => s.startsWith('arn:');

class Cursor {
  buffer: KinesisLikeRecord[] = [];
  head = 0;
  /** No more records will come from this shard (closed and read, caught up, or past `to`). */
  done = false;
  private iterator: string | null | undefined;
  private lastSequence: string | undefined;

  constructor(
    readonly shard: Shard,
    private readonly opts: KinesisSourceOptions,
  ) {}

  get empty(): boolean {
    return this.head >= this.buffer.length;
  }

  peek(): KinesisLikeRecord {
    return this.buffer[this.head]!;
  }

  take(): KinesisLikeRecord {
    return this.buffer[this.head++]!;
  }

  private target(): { StreamName: string } | { StreamARN: string } {
    return isArn(this.opts.stream) ? { StreamARN: this.opts.stream } : { StreamName: this.opts.stream };
  }

  private async newIterator(): Promise<string | null> {
    const { from } = this.opts;
    const position =
      this.lastSequence !== undefined
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, StartingSequenceNumber: this.lastSequence }
        : from !== undefined
          ? { ShardIteratorType: 'AT_TIMESTAMP' as const, Timestamp: from }
          : { ShardIteratorType: 'TRIM_HORIZON' as const };
    const res = await this.opts.client.send(new GetShardIteratorCommand({ ...this.target(), ShardId: this.shard.ShardId!, ...position }), this.signalOpt());
    return res.ShardIterator ?? null;
  }

  private signalOpt() {
    return this.opts.signal ? { abortSignal: this.opts.signal } : {};
  }

  /** Reads until the buffer has records or the shard is done. */
  async fill(): Promise<void> {
    let backoff = 200;
    while (this.empty && !this.done) {
      if (this.iterator === undefined) this.iterator = await this.newIterator();
      if (this.iterator === null) {
        this.done = true;
        return;
      }
      let res;
      try {
        res = await this.opts.client.send(new GetRecordsCommand({ ShardIterator: this.iterator, Limit: this.opts.limit ?? 10_000 }), this.signalOpt());
      } catch (err) {
        const name = err instanceof Error ? err.name : '';
        if (name === 'ExpiredIteratorException') {
          this.iterator = undefined;
          continue;
        }
        if (name === 'ProvisionedThroughputExceededException' || name === 'KMSThrottlingException' || name === 'LimitExceededException') {
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
        throw err;
      }
      backoff = 200;
      const records = res.Records ?? [];
      this.buffer = [];
      this.head = 0;
      const to = this.opts.to.getTime();
      for (const r of records) {
        const arrival = arrivalMs(r);
        if (arrival >= to) {
          this.done = true;
          break;
        }
        this.lastSequence = r.SequenceNumber!;
        this.buffer.push({
          data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
          partitionKey: r.PartitionKey ?? '',
          sequenceNumber: r.SequenceNumber!,
          approximateArrivalTimestamp: arrival / 1000,
          shardId: this.shard.ShardId!,
        });
      }
      this.iterator = res.NextShardIterator ?? null;
      if (this.iterator === null) this.done = true;
      // An empty page at the tip: caught up with the stream (history only, no tailing).
      if (records.length === 0 && (res.MillisBehindLatest ?? 0) === 0) this.done = true;
      if (records.length === 0 && !this.done) await sleep(this.opts.emptyPollMs ?? 200);
    }
  }
}

function arrivalMs(r: _Record): number {
  const t = r.ApproximateArrivalTimestamp;
  return t instanceof Date ? t.getTime() : typeof t === 'number' ? t * 1000 : 0;
}

/** Every shard of the stream (closed ones included), following ListShards' pages. */
export async function listShards(client: KinesisClient, stream: string, signal?: AbortSignal): Promise<Shard[]> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(
      new ListShardsCommand(token !== undefined ? { NextToken: token } : isArn(stream) ? { StreamARN: stream } : { StreamName: stream }),
      signal ? { abortSignal: signal } : {},
    );
    shards.push(...(res.Shards ?? []));
    token = res.NextToken;
  } while (token !== undefined);
  return shards;
}

/**
 * The stream's records from `from` to `to` in arrival order across shards;
 * within a shard in sequence order; a child shard's after its parents'.
 */
export async function* readKinesis(opts: KinesisSourceOptions): AsyncGenerator<KinesisLikeRecord> {
  const shards = await listShards(opts.client, opts.stream, opts.signal);
  const known = new Set(shards.map((s) => s.ShardId!));
  const parentsOf = (s: Shard) => [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => p !== undefined && known.has(p));
  const finished = new Set<string>();
  const waiting = new Map(shards.map((s) => [s.ShardId!, s]));
  const active: Cursor[] = [];
  const activate = () => {
    for (const [id, s] of waiting) {
      if (parentsOf(s).every((p) => finished.has(p))) {
        waiting.delete(id);
        active.push(new Cursor(s, opts));
      }
    }
  };
  activate();
  while (active.length > 0) {
    await Promise.all(active.map((c) => c.fill()));
    // Shards read to their end let their children start.
    for (let i = active.length - 1; i >= 0; i--) {
      const c = active[i]!;
      if (c.done && c.empty) {
        finished.add(c.shard.ShardId!);
        active.splice(i, 1);
      }
    }
    if (active.length === 0) {
      activate();
      continue;
    }
    // Emit in arrival order while every active shard has a buffered record to compare with.
    for (;;) {
      let best: Cursor | undefined;
      for (const c of active) {
        if (c.empty) {
          if (!c.done) {
            best = undefined;
            break;
          }
          continue;
        }
        if (best === undefined || c.peek().approximateArrivalTimestamp < best.peek().approximateArrivalTimestamp) best = c;
      }
      if (best === undefined) break;
      yield best.take();
    }
    activate();
  }
}
