/**
 * The engine on virtual time: the one loop behind `tidewatch test`,
 * `tidewatch backtest` and `npm start -- --simulate`. It runs the core's
 * Engine (the code the processor and ticker Lambdas run) with the in-memory
 * state store, and plays the part of Lambda's event source mapping and of the
 * scheduled ticker on a virtual clock:
 *
 * - Records are pushed in arrival order (per shard, in sequence order).
 * - Batches: per shard, the records whose arrival time falls in the same
 *   aligned batching window (`batchWindowMs`; 0 = the same millisecond), at
 *   most `batchSize` at a time, are one invocation at the window's end, shards
 *   taking turns. The clock reads the window's end during the invocation.
 * - Shards play their windows concurrently in Lambda: a shard that first
 *   sends records in a batching window is known to the stream's watermark
 *   before any batch of that window runs (it has no event time yet), so the
 *   order in which the replay plays shards never makes a record late.
 * - The ticker runs at every multiple of `tickEveryMs` of virtual time
 *   (EventBridge's rate schedule), with the clock at that time: idle shards
 *   follow the clock, windows close, absence rules are checked. A tick at the
 *   same time as a batch runs after it.
 * - At the end, `finish({ flush: true })` moves the watermark past every
 *   window of the input: every window (and session) that holds events is
 *   closed and evaluated, and an alert still firing resolves with the empty
 *   window that follows, as in the deployed pipeline when a stream goes
 *   quiet. Absence rules are not part of the flush: the end of the input is
 *   not the groups going silent, so they are evaluated only up to the
 *   watermark the input itself reached.
 *
 * Nothing leaves the process: transitions go to a callback, state stays in memory.
 */
import { Engine, type AdvanceReport, type BatchReport, type ClosedWindow } from '../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../lambdas/core/InMemoryStateStore';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import type { EpochMs, KinesisLikeRecord, Pipeline, RejectReason, StreamSpec, WindowRule } from '../../lambdas/core/types';
import { windowStep } from '../../lambdas/core/windows';

/** A clock the replay moves by hand; it never goes backwards. */
export class VirtualClock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    if (t > this.t) this.t = t;
  }
}

/** Where a transition or a window was reported: while the input was played, or by the final flush. */
export interface ReportContext {
  /** The virtual clock (ms) when it was published. */
  readonly clock: EpochMs;
  /** True when the end-of-input flush produced it (the watermark moved past the input's windows). */
  readonly afterInput: boolean;
}

export interface ReplayOptions {
  readonly pipeline: Pipeline;
  /** The stream of the pipeline the records belong to. */
  readonly stream: string;
  /** Aligned batching window of arrival time (ms); 0: one batch per arrival millisecond. @default 1000 */
  readonly batchWindowMs?: number;
  /** Most records per batch per shard (Lambda's BatchSize). @default 1000 */
  readonly batchSize?: number;
  /** The ticker's schedule (ms of virtual time). @default 60000 */
  readonly tickEveryMs?: number;
  readonly onTransition?: (t: AlertTransition, at: ReportContext) => void;
  readonly onWindow?: (w: ClosedWindow, at: ReportContext) => void;
  readonly onBatch?: (r: BatchReport) => void;
}

/** One rule's counts over a replay. */
export interface RuleReplayStats {
  matched: number;
  /** `where` errors: the event judged not to match. */
  filterErrors: number;
  /** Aggregate argument errors: no value. */
  valueErrors: number;
  /** `when` errors: the window (or session) judged not to hold. */
  conditionErrors: number;
  /** Sequence step and `until` condition errors: judged not to match. */
  stepErrors: number;
}

export interface ReplayStats {
  readonly records: number;
  /** Records decoded into events (the rest were rejected). */
  readonly decoded: number;
  readonly rejected: Readonly<Partial<Record<RejectReason, number>>>;
  readonly late: number;
  readonly duplicates: number;
  readonly batches: number;
  readonly ticks: number;
  readonly windowsClosed: number;
  /** Per rule: events that matched its filter, and expression errors (judged "does not match", no value, "does not hold"). */
  readonly perRule: Readonly<Record<string, RuleReplayStats>>;
  /** Arrival time (ms) of the first and the last record (null before any). */
  readonly firstArrival: EpochMs | null;
  readonly lastArrival: EpochMs | null;
  /** The latest event time decoded (null before any). */
  readonly lastEventTime: EpochMs | null;
  /** The stream's watermark at the end (-Infinity when nothing was decoded). */
  readonly watermark: EpochMs;
}

/**
 * The in-memory store as a replay over a long history needs it: windows are
 * forgotten once evaluated, producer-duplicate ids once past their horizon
 * (on the virtual clock), and rejected records are counted by reason, not kept.
 */
class ReplayStore extends InMemoryStateStore {
  constructor(clock: VirtualClock) {
    super({ forgetFinishedWindows: true, clock });
  }

  override async quarantine(): Promise<void> {}
}

/** Plays records through the engine on virtual time. See the file comment for the model. */
export class Replay {
  readonly clock = new VirtualClock(-Infinity);
  readonly store: InMemoryStateStore = new ReplayStore(this.clock);
  readonly stream: StreamSpec;
  private readonly engine: Engine;
  private readonly windowMs: number;
  private readonly batchSize: number;
  private readonly tickEvery: number;
  private pending = new Map<string, KinesisLikeRecord[]>();
  private pendingKey: number | null = null;
  private readonly knownShards = new Set<string>();
  private pendingAt = 0;
  private lastArrival = -Infinity;
  private nextTick = Infinity;
  private afterInput = false;
  private finished = false;
  private readonly counts = {
    records: 0,
    decoded: 0,
    late: 0,
    duplicates: 0,
    batches: 0,
    ticks: 0,
    windowsClosed: 0,
    firstArrival: null as EpochMs | null,
    lastArrival: null as EpochMs | null,
    lastEventTime: null as EpochMs | null,
    watermark: -Infinity as EpochMs,
  };
  private readonly rejected: Partial<Record<RejectReason, number>> = {};
  private readonly perRule: Record<string, RuleReplayStats> = {};

  constructor(private readonly opts: ReplayOptions) {
    const stream = opts.pipeline.streams.get(opts.stream);
    if (!stream) throw new Error(`stream "${opts.stream}" is not declared in ${opts.pipeline.file} (declared: ${[...opts.pipeline.streams.keys()].join(', ')})`);
    this.stream = stream;
    this.windowMs = opts.batchWindowMs ?? 1000;
    this.batchSize = opts.batchSize ?? 1000;
    this.tickEvery = opts.tickEveryMs ?? 60_000;
    if (!(this.windowMs >= 0)) throw new Error(`batch window must be 0 ms or more (given ${this.windowMs})`);
    if (!(Number.isInteger(this.batchSize) && this.batchSize >= 1)) throw new Error(`batch size must be a whole number, 1 or more (given ${this.batchSize})`);
    if (!(this.tickEvery > 0)) throw new Error(`tick interval must be more than 0 ms (given ${this.tickEvery})`);
    for (const r of opts.pipeline.rules) if (r.stream === opts.stream) this.perRule[r.name] = { matched: 0, filterErrors: 0, valueErrors: 0, conditionErrors: 0, stepErrors: 0 };
    this.engine = this.engineFor(opts.pipeline);
  }

  private engineFor(pipeline: Pipeline): Engine {
    return new Engine({
      pipeline,
      stream: this.opts.stream,
      store: this.store,
      clock: this.clock,
      publish: async (t) => this.opts.onTransition?.(t, { clock: this.clock.now(), afterInput: this.afterInput }),
      onWindowClosed: (w) => {
        this.counts.windowsClosed += 1;
        this.opts.onWindow?.(w, { clock: this.clock.now(), afterInput: this.afterInput });
      },
    });
  }

  /**
   * Adds the next record (in arrival order). Returns a promise when the
   * record starts a new batching window and the previous one was played;
   * await it before pushing more. An arrival earlier than the previous
   * record's counts as equal (records are played in the order given).
   */
  push(record: KinesisLikeRecord): Promise<void> | undefined {
    if (this.finished) throw new Error('replay: push after finish');
    const arrival = Math.max(Math.round(record.approximateArrivalTimestamp * 1000), this.lastArrival);
    this.lastArrival = arrival;
    const key = this.windowMs > 0 ? Math.floor(arrival / this.windowMs) : arrival;
    if (this.pendingKey === null || key === this.pendingKey) {
      this.add(record, key, arrival);
      return undefined;
    }
    return this.playPending().then(() => this.add(record, key, arrival));
  }

  private add(record: KinesisLikeRecord, key: number, arrival: EpochMs): void {
    if (this.pendingKey === null) {
      this.pendingKey = key;
      this.pendingAt = this.windowMs > 0 ? (key + 1) * this.windowMs : arrival;
      // The ticker's first run that can matter is the first one at or after the first batch (it runs after it).
      if (this.nextTick === Infinity) this.nextTick = Math.ceil(this.pendingAt / this.tickEvery) * this.tickEvery;
    }
    let list = this.pending.get(record.shardId);
    if (list === undefined) this.pending.set(record.shardId, (list = []));
    list.push(record);
    this.counts.records += 1;
    this.counts.firstArrival ??= arrival;
    this.counts.lastArrival = arrival;
  }

  /** Plays everything due at or before `t` (batches invoked and ticks), leaving the clock at `t`. */
  async runUntil(t: EpochMs): Promise<void> {
    if (this.pendingKey !== null && this.pendingAt <= t) await this.playPending();
    await this.ticksUntil(t, true);
    this.clock.set(t);
  }

  /**
   * Plays what is left. With `flush`, the watermark then moves past every
   * window of the input (see the file comment). Returns the statistics.
   */
  async finish(opts: { readonly flush: boolean }): Promise<ReplayStats> {
    if (this.finished) return this.stats();
    if (this.pendingKey !== null) await this.playPending();
    this.finished = true;
    if (opts.flush) await this.flush();
    this.counts.watermark = await this.store.getStreamWatermark(this.stream.name);
    return this.stats();
  }

  stats(): ReplayStats {
    return { ...this.counts, rejected: { ...this.rejected }, perRule: structuredClone(this.perRule) };
  }

  private async playPending(): Promise<void> {
    const at = this.pendingAt;
    const batches = this.pending;
    this.pending = new Map();
    this.pendingKey = null;
    await this.ticksUntil(at, false);
    this.clock.set(at);
    for (const shardId of batches.keys()) {
      if (this.knownShards.has(shardId)) continue;
      this.knownShards.add(shardId);
      // No event time yet: 0 (1970) is older than any event time the engine accepts, and survives JSON.
      await this.store.putShardProgress(this.stream.name, { shardId, maxEventTime: 0, lastActivity: at });
    }
    // Shards take turns, one batch of at most batchSize each, as concurrent pollers would progress.
    const queues = [...batches.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([shardId, records]) => ({ shardId, records, from: 0 }));
    while (queues.some((q) => q.from < q.records.length)) {
      for (const q of queues) {
        if (q.from >= q.records.length) continue;
        const chunk = q.records.slice(q.from, q.from + this.batchSize);
        q.from += await this.invoke(q.shardId, chunk);
      }
    }
  }

  /** One invocation; returns how many records of `chunk` took effect (a batch cut short is retried from there, as Lambda does). */
  private async invoke(shardId: string, chunk: KinesisLikeRecord[]): Promise<number> {
    const report = await this.engine.processBatch(shardId, chunk);
    this.counts.batches += 1;
    this.opts.onBatch?.(report);
    let taken = chunk.length;
    if (report.retryFrom !== null) {
      // The in-memory store has no transient failures: only the per-batch group cap cuts a batch short.
      taken = chunk.findIndex((r) => r.sequenceNumber === report.retryFrom);
      if (taken <= 0) throw new Error(`replay: a batch of shard ${shardId} failed at its first record: ${report.error instanceof Error ? report.error.message : String(report.error)}`);
    }
    // Records from `taken` on are played again in the next batch: they are counted then.
    const kept = new Set(taken === chunk.length ? [] : chunk.slice(taken).map((r) => r.sequenceNumber));
    let rejected = 0;
    for (const r of report.rejected) {
      if (kept.has(r.sequenceNumber)) continue;
      rejected += 1;
      this.rejected[r.reason] = (this.rejected[r.reason] ?? 0) + 1;
    }
    this.counts.decoded += taken - rejected;
    this.counts.late += report.late;
    this.counts.duplicates += report.duplicates;
    for (const [name, s] of Object.entries(report.perRule)) {
      const mine = this.perRule[name];
      if (!mine) continue;
      mine.matched += s.matched;
      mine.filterErrors += s.filterErrors;
      mine.valueErrors += s.valueErrors;
      mine.conditionErrors += s.conditionErrors;
      mine.stepErrors += s.sequence?.conditionErrors ?? 0;
    }
    if (report.maxEventTime !== null && (this.counts.lastEventTime === null || report.maxEventTime > this.counts.lastEventTime)) this.counts.lastEventTime = report.maxEventTime;
    return taken;
  }

  private async ticksUntil(t: EpochMs, inclusive: boolean): Promise<void> {
    while (inclusive ? this.nextTick <= t : this.nextTick < t) {
      this.clock.set(this.nextTick);
      this.noteAdvance(await this.engine.advance({ full: true }));
      this.counts.ticks += 1;
      this.nextTick += this.tickEvery;
    }
  }

  /** Moves the watermark past every window of the input, with the window rules only (see the file comment). */
  private async flush(): Promise<void> {
    const rules = this.opts.pipeline.rules.filter((r): r is WindowRule => r.type === 'window' && r.stream === this.stream.name);
    const shards = await this.store.listShardProgress(this.stream.name);
    if (rules.length === 0 || shards.length === 0) return;
    const maxEvent = Math.max(...shards.map((s) => s.maxEventTime));
    const lastActivity = Math.max(...shards.map((s) => s.lastActivity));
    if (!Number.isFinite(maxEvent)) return;
    // Far enough for the last window holding an event, and the empty window after it, to close.
    const horizon = Math.max(
      ...rules.map((r) => (r.window.kind === 'session' ? 2 * r.window.gapMs : r.window.sizeMs + windowStep(r.window)) + r.latenessMs),
    );
    const target = maxEvent + horizon + 1;
    const { idleTimeoutMs, outOfOrdernessMs } = this.stream;
    this.afterInput = true;
    this.clock.set(Math.max(target + idleTimeoutMs + outOfOrdernessMs, lastActivity + idleTimeoutMs));
    const flusher = this.engineFor({ ...this.opts.pipeline, rules });
    this.noteAdvance(await flusher.advance({ full: true }));
  }

  /** The expression errors of the windows a tick closed and the sequence events it released. */
  private noteAdvance(report: AdvanceReport): void {
    for (const [name, n] of Object.entries(report.conditionErrors)) if (this.perRule[name]) this.perRule[name].conditionErrors += n;
    for (const [name, n] of Object.entries(report.stepErrors)) if (this.perRule[name]) this.perRule[name].stepErrors += n;
  }
}
