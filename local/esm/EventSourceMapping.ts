import { randomUUID } from 'node:crypto';
import { DescribeStreamSummaryCommand, ListShardsCommand, type Shard } from '@aws-sdk/client-kinesis';
import { EventSourceMappingError, IdleTimeoutError } from './errors';
import { resolveOptions, type ResolvedOptions } from './options';
import { ShardConsumer, type Counters, type ShardEnvironment, type StartPosition } from './ShardConsumer';
import type { EventSourceMappingOptions, EventSourceMappingStats } from './types';

export interface IdleOptions {
  /** @default 30000 */
  readonly timeoutMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A local Lambda event source mapping for a Kinesis stream: polls every shard
 * with the real Kinesis API (ListShards, GetShardIterator, GetRecords) and
 * invokes the handler with Lambda-shaped events, one batch in flight per
 * shard, in order. Follows resharding: a child shard starts once its parents
 * are read to their end.
 *
 * Honours batchSize, maximumBatchingWindowInSeconds, the 6 MB invocation
 * payload limit, partial batch responses (ReportBatchItemFailures),
 * bisectBatchOnFunctionError, maximumRetryAttempts, maximumRecordAgeInSeconds
 * and an on-failure destination (a callback receiving Lambda's record).
 *
 * Not supported: parallelizationFactor > 1 and tumbling windows (rejected),
 * filter criteria, enhanced fan-out, enforcing the function timeout, and
 * durable checkpoints (they live in memory: a new mapping starts again at its
 * starting position).
 */
export class EventSourceMapping {
  readonly uuid = randomUUID();
  private readonly opts: ResolvedOptions;
  private readonly shards = new Map<string, ShardConsumer>();
  private readonly abort = new AbortController();
  private readonly counters: Counters = {
    invocations: 0,
    functionErrors: 0,
    partialFailures: 0,
    retries: 0,
    bisections: 0,
    recordsReceived: 0,
    recordsProcessed: 0,
    recordsDiscarded: 0,
    iteratorAgeMs: 0,
  };
  private state: 'created' | 'starting' | 'running' | 'stopping' | 'stopped' = 'created';
  private env: ShardEnvironment | undefined;
  private tick = 0;
  /** Tick at which the last completed ListShards started. */
  private discoveredAt = -1;
  private discovering: Promise<void> | undefined;
  private rediscover = false;
  private timer: NodeJS.Timeout | undefined;
  private arn = '';

  constructor(options: EventSourceMappingOptions) {
    this.opts = resolveOptions(options);
  }

  /** The stream's ARN (known once started). */
  get eventSourceArn(): string {
    return this.arn;
  }

  /** Lists the shards and gets their iterators; records put after this resolves are seen (also with LATEST). */
  async start(): Promise<void> {
    if (this.state !== 'created') throw new EventSourceMappingError(`start() may be called once (the mapping is ${this.state})`);
    this.state = 'starting';
    try {
      await this.begin();
    } catch (err) {
      await this.stop();
      throw err;
    }
    if (this.state !== 'starting') return; // stop() was called meanwhile
    this.state = 'running';
    this.timer = setInterval(() => this.requestDiscovery(), Math.max(10, this.opts.shardDiscoveryIntervalMs));
  }

  private async begin(): Promise<void> {
    const { opts } = this;
    const summary = await opts.client.send(new DescribeStreamSummaryCommand({ StreamName: opts.streamName }));
    this.arn = opts.eventSourceArn ?? summary.StreamDescriptionSummary!.StreamARN!;
    const [, , , region, arnAccount] = this.arn.split(':');
    const account = opts.accountId ?? (arnAccount || '000000000000');
    this.env = {
      opts,
      source: {
        region: region!,
        eventSourceArn: this.arn,
        invokeIdentityArn: opts.invokeIdentityArn ?? `arn:aws:iam::${account}:role/${opts.functionName}-role`,
      },
      fn: {
        functionName: opts.functionName,
        functionArn: `arn:aws:lambda:${region}:${account}:function:${opts.functionName}`,
        timeoutMs: opts.functionTimeoutMs,
      },
      counters: this.counters,
      signal: this.abort.signal,
      nextTick: () => ++this.tick,
      finished: () => this.requestDiscovery(),
    };
    await this.discover(true);
  }

  /** Stops polling; waits for the batch in flight on each shard (no further retries are made). */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    clearInterval(this.timer);
    this.abort.abort();
    await this.discovering?.catch(() => undefined);
    await Promise.all([...this.shards.values()].map((s) => s.join()));
    this.state = 'stopped';
  }

  /**
   * Resolves once every shard is drained: each open shard was polled after
   * this call and came back empty and caught up, nothing is buffered or in
   * flight, closed shards are done and their children started.
   */
  async idle(options: IdleOptions = {}): Promise<void> {
    if (this.state !== 'running') throw new EventSourceMappingError(`idle() needs a running mapping (it is ${this.state})`);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const since = this.tick;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.isIdleSince(since)) return;
      if (this.state !== 'running') throw new EventSourceMappingError(`the mapping was stopped while waiting for idle()`);
      if (this.discoveredAt <= since) this.requestDiscovery();
      if (Date.now() > deadline) {
        const shards = [...this.shards.values()].map((s) => {
          const st = s.stats();
          return `${st.shardId}: ${st.state}, ${st.buffered} buffered, ${st.inFlight ? 'in flight' : 'not in flight'}, ${st.millisBehindLatest} ms behind`;
        });
        throw new IdleTimeoutError(`event source mapping not idle after ${timeoutMs} ms: ${shards.join('; ') || 'no shards'}`);
      }
      await sleep(10);
    }
  }

  /** Per shard, the last sequence number done with (processed or discarded): give it to `resumeAfter` to continue there. */
  checkpoints(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const s of this.shards.values()) if (s.checkpoint !== undefined) out[s.shardId] = s.checkpoint;
    return out;
  }

  stats(): EventSourceMappingStats {
    const shards = [...this.shards.values()].map((s) => s.stats());
    return {
      ...this.counters,
      lagMs: Math.max(0, ...shards.filter((s) => s.state === 'running').map((s) => s.millisBehindLatest)),
      shards,
    };
  }

  private isIdleSince(since: number): boolean {
    if (this.discoveredAt <= since) return false;
    for (const s of this.shards.values()) {
      if (s.state === 'finished') continue;
      if (s.state === 'pending') {
        if (this.startable(s)) return false;
        continue;
      }
      if (s.inFlight || s.buffered > 0 || s.lastEmptyPollTick <= since || s.millisBehindLatest > 0) return false;
    }
    return true;
  }

  private requestDiscovery(): void {
    if (this.state !== 'running' && this.state !== 'starting') return;
    if (this.discovering) {
      this.rediscover = true;
      return;
    }
    this.discovering = this.discover(false)
      .catch((err: unknown) => {
        if (!this.abort.signal.aborted) this.opts.log('warn', `ListShards on ${this.opts.streamName} failed`, err);
      })
      .finally(() => {
        this.discovering = undefined;
        if (this.rediscover) {
          this.rediscover = false;
          this.requestDiscovery();
        }
      });
  }

  private async listShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let nextToken: string | undefined;
    do {
      const res = await this.opts.client.send(
        new ListShardsCommand(nextToken !== undefined ? { NextToken: nextToken } : { StreamName: this.opts.streamName }),
        { abortSignal: this.abort.signal },
      );
      shards.push(...(res.Shards ?? []));
      nextToken = res.NextToken;
    } while (nextToken !== undefined);
    return shards;
  }

  private async discover(initial: boolean): Promise<void> {
    const tick = ++this.tick;
    const env = this.env!;
    for (const shard of await this.listShards()) {
      const id = shard.ShardId!;
      if (this.shards.has(id)) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => p !== undefined);
      const consumer = new ShardConsumer(id, parents, this.startPosition(initial), env, this.opts.resumeAfter[id]);
      if (initial && this.opts.startingPosition === 'LATEST' && closed) consumer.skip();
      this.shards.set(id, consumer);
    }
    await this.schedule();
    this.discoveredAt = tick;
  }

  private startPosition(initial: boolean): StartPosition {
    const { startingPosition, startingPositionTimestamp } = this.opts;
    if (startingPosition === 'AT_TIMESTAMP') return { type: 'AT_TIMESTAMP', timestamp: startingPositionTimestamp! };
    // Shards that appear later (children of a reshard) are read from their start.
    return { type: initial ? startingPosition : 'TRIM_HORIZON' };
  }

  /** A pending shard may start once every parent we know of is finished (Lambda finishes parents first). */
  private startable(s: ShardConsumer): boolean {
    return s.parents.every((p) => {
      const parent = this.shards.get(p);
      return parent === undefined || parent.state === 'finished';
    });
  }

  private async schedule(): Promise<void> {
    if (this.abort.signal.aborted) return;
    const opening = [...this.shards.values()].filter((s) => s.state === 'pending' && this.startable(s)).map((s) => s.open());
    await Promise.all(opening);
  }
}
