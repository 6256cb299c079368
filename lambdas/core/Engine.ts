import { anomalyVariable, learnInAlert, modelInAlertRecord, scoreClosedWindow } from './anomaly/rule';
import type { AnomalyVerdict } from './anomaly/types';
import { SequenceRules } from './cep/SequenceRules';
import { emptyStats as emptySequenceStats } from './cep/types';
import { DecodedBatch, decodeInto, eventIdOf, newDecodeSink } from './decode';
import {
  descriptor,
  foldBatch,
  GroupCache,
  indexRange,
  indicesOf,
  scopeOf,
  type AbsenceContext,
  type KeyBatch,
  type RuleBatchStats,
  type RuleContext,
  type SharedParts,
} from './fold';
import { groupFromKey, type GroupLabels, type GroupRef } from './group';
import {
  onAbsenceCheck,
  onSeen,
  onWindowClosed,
  onWindowUpdated,
  type AlertTransition,
  type StepResult,
  type AlertState,
  INITIAL_ALERT_STATE,
} from './lifecycle';
import { RuleAggregates, type FixedPartialJson, type SessionPartialJson, type WindowAcc } from './partials';
import { padSequence } from './sequence';
import { finalSlotOf, isPaned, mergedNotKept, PaneWriter, windowState } from './panes';
import { DEDUPE_BUCKET_MS, dedupeIdInto } from './dedupe';
import { hasClaimable, recordAndPublish } from './state/outbox';
import type { AlertRecord, AlertStep, DueKey, KeyDescriptor, KeyState, KnownAlert, Slot, SlotUpdate, StateStore } from './StateStore';
import { atRest, caughtUp, dueIsComplete, isQuiet, lookbackAfter, MAX_SEALED_EMPTY, mayCloseQuietly, onCaughtUp, planGroupClose, quietClose } from './closing';
import type {
  AbsenceRule,
  Clock,
  CompiledExpression,
  EpochMs,
  KinesisLikeRecord,
  Pipeline,
  Rejection,
  SequenceRule,
  StreamSpec,
  WindowRule,
} from './types';
import { advanceShard, streamWatermark } from './watermark';
import { closesAt, windowStep, type TimeWindow } from './windows';

/** Publishes one alert transition (SNS in AWS, a callback in tests and the demo). Throws on failure. */
export type Publisher = (transition: AlertTransition) => Promise<void>;

export interface EngineOptions {
  readonly pipeline: Pipeline;
  /** The stream this engine processes (one engine per stream). */
  readonly stream: string;
  readonly store: StateStore;
  readonly clock: Clock;
  readonly publish: Publisher;
  /** How long a publisher owns a recorded transition before another may publish it. @default 30 s */
  readonly publishLeaseMs?: number;
  /** Payload fields whose values never appear in messages (rejection reasons). */
  readonly redactFields?: readonly string[];
  /**
   * Hopping rules (panes.ts): list the older windows a pane counts in for the closer (StateStore.listWindow, no
   * write of their items) rather than register them (a conditional put each, the code before). Every closer of
   * this version closes a listed window with no item from its panes; a closer of the code before would judge it
   * empty, and never sees it (DynamoDB lists such windows in buckets it does not query, dueLayout.key). False
   * before a rollback past this version (the windows listed then close first). @default true
   */
  readonly listOlderWindows?: boolean;
  /** Concurrent state writes per batch. @default 16 */
  readonly concurrency?: number;
  /**
   * Distinct groups one rule may touch in one batch. A record of a further
   * group ends the batch there: it is reported as `overflow` and `retryFrom`
   * names it, so Lambda retries from it as the start of a new batch (memory
   * and items stay bounded, no record is dropped). @default 10000
   */
  readonly maxGroupsPerRulePerBatch?: number;
  /**
   * Called with each window (or session) of a window rule as it is closed and
   * evaluated, after its transitions were recorded: its aggregate values and
   * the verdict. A window is reported each time a closer evaluates it, so a
   * retried or concurrent close may report it again. Windows in which a group
   * sent nothing are not reported. Must not throw.
   */
  readonly onWindowClosed?: (window: ClosedWindow) => void;
}

/** A closed window of a window rule, as {@link EngineOptions.onWindowClosed} reports it. */
export interface ClosedWindow {
  readonly rule: string;
  readonly group: GroupLabels;
  /** Canonical key of the group (JSON of its values in groupBy order). */
  readonly groupKey: string;
  readonly window: TimeWindow;
  readonly values: Readonly<Record<string, number | null>>;
  /** Whether the rule's `when` held for these values. */
  readonly holds: boolean;
  /** Events folded into the window. */
  readonly events: number;
  /** The stream watermark that closed it. */
  readonly watermark: EpochMs;
  /** Anomaly rules: the window's verdict, as stored with the model (absent when the window's value was not a number). */
  readonly anomaly?: AnomalyVerdict;
}

export { descriptor, keyId } from './fold';
export type { RuleBatchStats } from './fold';

export interface BatchReport {
  readonly shardId: string;
  readonly records: number;
  /** User events decoded (a KPL aggregate or a CloudWatch Logs record holds several; rejected ones are not counted). */
  readonly decoded: number;
  /** Rejected records, and rejected sub-events of records (those carry an `index`). */
  readonly rejected: readonly Rejection[];
  /** CloudWatch Logs CONTROL_MESSAGE records: acknowledged and counted, never quarantined. (Optional for reports built by hand; the engine always sets it.) */
  readonly controlMessages?: number;
  /** Derived fields that failed on an event (left missing), by field name. (Optional as controlMessages.) */
  readonly derivedErrors?: Readonly<Record<string, number>>;
  /**
   * Records (by rule) whose windows had all closed when the batch read the watermark, and records a
   * window they were folded for did not take because it closed under the batch (once per rule).
   */
  readonly late: number;
  /** Producer duplicates dropped: an event id already seen on the shard with another sequence number. */
  readonly duplicates: number;
  readonly perRule: Readonly<Record<string, RuleBatchStats>>;
  /** Aggregate keys written (the DynamoDB cost of the batch is about this many writes). */
  readonly keysWritten: number;
  /** Slow-path retries of conditional writes. */
  readonly conflicts: number;
  readonly published: readonly AlertTransition[];
  readonly firstSequence: string | null;
  readonly lastSequence: string | null;
  readonly minArrivalTime: EpochMs | null;
  readonly maxEventTime: EpochMs | null;
  readonly watermark: EpochMs;
  /**
   * Set when part of the batch could not be applied because of a transient
   * error: Lambda must retry from this sequence number (report it in
   * batchItemFailures). Everything before it took effect.
   */
  readonly retryFrom: string | null;
  readonly error: unknown;
}

export interface AdvanceReport {
  readonly watermark: EpochMs;
  readonly windowsClosed: number;
  readonly published: readonly AlertTransition[];
  /** Per rule: `when` evaluations that raised an error (judged "does not hold"), counted since the last report took them. */
  readonly conditionErrors: Readonly<Record<string, number>>;
  /** Per sequence rule: step and `until` conditions that raised an error on the events this advance released. */
  readonly stepErrors: Readonly<Record<string, number>>;
}

export { DEDUPE_BUCKET_MS } from './dedupe';

const EMPTY_STATS = (): RuleBatchStats => ({ matched: 0, late: 0, filterErrors: 0, valueErrors: 0, conditionErrors: 0, overflow: 0, missingGroup: 0 });

/**
 * The streaming engine of one stream: turns shard batches into exactly-once
 * windowed state and alert transitions, through a {@link StateStore}. Pure
 * but for the store and the publisher it is given; the clock is injected.
 */
export class Engine {
  readonly stream: StreamSpec;
  private readonly windowRules: RuleContext[];
  private readonly absenceContexts: AbsenceContext[];
  private readonly shared: SharedParts;
  /** Per distinct groupBy: groups met recently, by their values (groups repeat across events and batches). */
  private readonly groupCaches: GroupCache[];
  private readonly absenceRules: AbsenceRule[];
  private readonly concurrency: number;
  private readonly redact: ReadonlySet<string>;
  private readonly maxGroups: number;
  /**
   * `when` evaluations that raised an error since a report last took them (takeConditionErrors). A counter
   * on the engine rather than one per call: verdicts are judged deep in the fold and close paths. Calls that
   * overlap on one engine (a local runtime's ticker beside a batch) may split the counts between their
   * reports; none is lost or counted twice.
   */
  private readonly conditionErrors = new Map<string, number>();
  /** Sequence rules of the stream (cep/SequenceRules.ts). */
  private readonly sequences: SequenceRules;
  /** Hopping rules' panes (panes.ts). */
  private readonly panes: PaneWriter;

  constructor(private readonly opts: EngineOptions) {
    const stream = opts.pipeline.streams.get(opts.stream);
    if (!stream) throw new Error(`stream "${opts.stream}" is not declared in ${opts.pipeline.file}`);
    this.stream = stream;
    const wheres: CompiledExpression[] = [];
    const whereIdx = new Map<string, number>();
    const groupBys: Array<readonly string[]> = [];
    const groupIdx = new Map<string, number>();
    const index = <T>(map: Map<string, number>, list: T[], key: string, value: T): number => {
      let i = map.get(key);
      if (i === undefined) {
        i = list.push(value) - 1;
        map.set(key, i);
      }
      return i;
    };
    this.windowRules = opts.pipeline.rules
      .filter((r): r is WindowRule => r.type === 'window' && r.stream === opts.stream)
      .map((rule) => ({
        rule,
        aggs: new RuleAggregates(rule),
        step: rule.window.kind === 'session' ? null : windowStep(rule.window),
        whereIndex: rule.where ? index(whereIdx, wheres, rule.where.source, rule.where) : -1,
        groupIndex: index(groupIdx, groupBys, JSON.stringify(rule.groupBy), rule.groupBy),
      }));
    this.absenceRules = opts.pipeline.rules.filter((r): r is AbsenceRule => r.type === 'absence' && r.stream === opts.stream);
    this.absenceContexts = this.absenceRules.map((rule) => ({
      rule,
      whereIndex: rule.where ? index(whereIdx, wheres, rule.where.source, rule.where) : -1,
      groupIndex: index(groupIdx, groupBys, JSON.stringify(rule.groupBy), rule.groupBy),
    }));
    // Expressions that read the payload directly spare building CEL's scope per event.
    const eventExpressions = [...wheres, ...this.windowRules.flatMap((c) => c.rule.aggregates.flatMap((a) => [a.value, a.condition]))];
    const needsEventVariables = eventExpressions.some((e) => e !== undefined && e.acceptsPayload !== true);
    this.shared = { wheres, groupBys, needsEventVariables };
    this.groupCaches = groupBys.map(() => new GroupCache());
    this.concurrency = opts.concurrency ?? 16;
    this.redact = new Set(opts.redactFields ?? []);
    this.maxGroups = opts.maxGroupsPerRulePerBatch ?? 10000;
    this.panes = new PaneWriter(opts.store, stream.name, stream.outOfOrdernessMs, this.shared, this.concurrency, opts.listOlderWindows ?? true);
    this.sequences = new SequenceRules(
      stream,
      opts.pipeline.rules.filter((r): r is SequenceRule => r.type === 'sequence' && r.stream === opts.stream),
      opts.store,
      (rule, groupKey, step) => this.alert(rule, groupKey, step),
      (rule, groupKey, record) => this.recover(rule, groupKey, record),
      this.maxGroups,
    );
  }

  /**
   * Processes one batch of one shard, records in sequence order (as Lambda
   * delivers them). Bad records are rejected (and quarantined), never thrown.
   * A transient store failure stops the batch at the first record whose
   * effect could not be made durable: `retryFrom` names it.
   */
  async processBatch(shardId: string, records: readonly KinesisLikeRecord[]): Promise<BatchReport> {
    const { store, clock } = this.opts;
    const stream = this.stream;
    const perRule: Record<string, RuleBatchStats> = {};
    for (const r of this.opts.pipeline.rules) if (r.stream === stream.name) perRule[r.name] = EMPTY_STATS();

    let events = new DecodedBatch(records.length);
    const sink = newDecodeSink();
    const rejected = sink.rejected;
    let duplicates = 0;
    // Rounding is monotonic: the earliest arrival is rounded once, after the loop.
    let minArrivalSeconds = Infinity;
    for (const record of records) {
      const rejection = decodeInto(events, record, stream, clock, this.redact, sink);
      if (rejection !== null) rejected.push(rejection);
      if (record.approximateArrivalTimestamp < minArrivalSeconds) minArrivalSeconds = record.approximateArrivalTimestamp;
    }
    const minArrival: EpochMs | null = Number.isFinite(minArrivalSeconds) ? Math.round(minArrivalSeconds * 1000) : null;
    const base = {
      shardId,
      records: records.length,
      decoded: events.length,
      rejected,
      controlMessages: sink.controlMessages,
      derivedErrors: sink.derivedErrors,
      perRule,
      firstSequence: records[0]?.sequenceNumber ?? null,
      lastSequence: records[records.length - 1]?.sequenceNumber ?? null,
      minArrivalTime: minArrival,
    };

    let retryFrom: string | null = null;
    let error: unknown = null;
    let keysWritten = 0;
    let conflicts = 0;
    let late = 0;
    const published: AlertTransition[] = [];
    let maxEventTime: EpochMs | null = null;
    // The stream's watermark as this batch last knew it (read once per batch, moved by advance).
    let watermark: EpochMs = -Infinity;
    try {
      if (rejected.length > 0) await store.quarantine(stream.name, rejected);
      const prior = await store.getShardProgress(stream.name, shardId);
      const priorMax = prior?.maxEventTime ?? -Infinity;
      if (stream.dedupeHorizonMs) {
        const kept = await this.dropDuplicates(shardId, events, priorMax, stream.dedupeHorizonMs);
        duplicates = events.length - kept.length;
        events = kept;
      }
      // Windows the stream's watermark already closed (an idle shard's watermark follows the wall clock)
      // take no more records, whether or not their key has an item yet.
      const streamWm = await store.getStreamWatermark(stream.name);
      watermark = streamWm;
      const foldInput = {
        events,
        rules: this.windowRules,
        absence: this.absenceContexts,
        shared: this.shared,
        groupCaches: this.groupCaches,
        priorMax,
        streamWatermark: streamWm,
        outOfOrdernessMs: stream.outOfOrdernessMs,
        maxGroups: this.maxGroups,
        perRule,
      };
      let folded = foldBatch(foldInput);
      if (folded.stopAt > 0 && events.recordStart(folded.stopAt) < folded.stopAt) {
        // The group cap was reached inside a record of several events: its earlier events are
        // already folded, and a key holding them would record the record's sequence number as
        // its HWM, so its later events would be skipped when Lambda retries it. Fold again up to
        // the record's first event (rare: a cap reached, and in the middle of a record).
        const start = events.recordStart(folded.stopAt);
        for (const name of Object.keys(perRule)) perRule[name] = { ...EMPTY_STATS(), overflow: perRule[name]!.overflow };
        folded = { ...foldBatch({ ...foldInput, events: events.truncated(start) }), stopAt: start };
      }
      late += folded.lateCount;

      // Apply every key; remember the lowest event index whose key failed (records are in sequence order).
      // A failure point is always the first event of its record (recordStart): progress and the
      // retry cover whole records, never part of one (see "Many events in one record" in the README).
      let failedAt = folded.stopAt >= 0 ? folded.stopAt : Infinity;
      const failures: unknown[] =
        folded.stopAt < 0
          ? []
          : [new Error(`a rule reached ${this.maxGroups} groups in this batch: the batch stops at sequence number ${events.sequenceNumber(folded.stopAt)}, which Lambda retries as the start of the next batch`)];
      // Records a closed window refused (the ticker closed it on a newer watermark than this batch read).
      const countLate = (rule: string, count: number, firstIndex: number): void => {
        late += count;
        const st = perRule[rule]!;
        st.late += count;
        st.firstLate ??= { eventTime: events.times[firstIndex]!, watermark: streamWm };
      };
      // Hopping rules write panes (panes.ts); other rules one item per window or session key.
      const paned = folded.keyBatches.filter((kb) => isPaned(kb.rule));
      const plain = paned.length === 0 ? folded.keyBatches : folded.keyBatches.filter((kb) => !isPaned(kb.rule));
      await forEachLimit(plain, this.concurrency, async (kb) => {
        try {
          const r = await this.applyKey(shardId, kb, events);
          keysWritten += r.written ? 1 : 0;
          conflicts += r.conflicts;
          if (r.late > 0) countLate(kb.rule.rule.name, r.late, indexRange(kb).first);
          published.push(...r.published);
        } catch (err) {
          failures.push(err);
          failedAt = Math.min(failedAt, events.recordStart(indexRange(kb).first));
        }
      });
      if (paned.length > 0) {
        const r = await this.panes.apply(shardId, paned, events, { streamWatermark: streamWm, priorMax });
        keysWritten += r.written;
        conflicts += r.conflicts;
        for (const [name, l] of r.late) countLate(name, l.count, l.first);
        failures.push(...r.failures);
        if (r.failedAt !== Infinity) failedAt = Math.min(failedAt, events.recordStart(r.failedAt));
        for (const e of r.early) {
          if (e.first >= failedAt) continue;
          try {
            published.push(...(await this.earlyTransitions(e.ctx, e.state, e.group, e.window)));
          } catch (err) {
            failures.push(err);
            failedAt = Math.min(failedAt, events.recordStart(e.first));
          }
        }
      }
      // Sequence rules: one write per key touched, advanced to the watermark this batch's records make.
      if (this.sequences.active) {
        const upToIndex = folded.stopAt >= 0 ? folded.stopAt : events.length;
        const now = clock.now();
        // Lateness is decided on `prior`, the shard's progress as stored (StateStore.getShardProgress: strongly consistent).
        // The batch's largest event time (of the records below upToIndex, or priorMax) comes from the rules' own pass over the events.
        const seqWatermark = async (batchMax: EpochMs): Promise<EpochMs> => {
          const others = (await store.listShardProgress(stream.name)).filter((s) => s.shardId !== shardId);
          return streamWatermark([...others, advanceShard(prior, shardId, batchMax, now)], stream, now, streamWm);
        };
        const r = await this.sequences.processBatch(shardId, events, upToIndex, seqWatermark, { priorMax, streamWatermark: streamWm }, perRule);
        keysWritten += r.written;
        conflicts += r.conflicts;
        late += r.late;
        published.push(...r.published);
        failures.push(...r.failures);
        failedAt = Math.min(failedAt, r.failedAt);
      }
      // Absence rules: the groups seen in the records before any failure.
      for (const s of folded.seen) {
        if (s.first >= failedAt) continue;
        try {
          published.push(...(await this.alert(s.rule.name, s.group.key, (st) => onSeen(s.rule, s.group, st, s.eventTime))));
        } catch (err) {
          failures.push(err);
          failedAt = Math.min(failedAt, events.recordStart(s.first));
        }
      }
      // The fixed windows written are listed for the closer before the progress that covers them (StateStore.flushDue).
      await store.flushDue();
      // Progress only covers what took effect: records at or after the failure are retried.
      const upTo = failedAt === Infinity ? events.maxTimeThrough(events.length - 1, priorMax) : failedAt > 0 ? events.maxTimeThrough(failedAt - 1, priorMax) : -Infinity;
      if (Number.isFinite(upTo)) {
        maxEventTime = upTo;
        await store.putShardProgress(stream.name, advanceShard(prior, shardId, upTo, clock.now()));
      }
      if (failedAt !== Infinity) {
        retryFrom = events.sequenceNumber(failedAt);
        error = failures[0];
      } else {
        const adv = await this.advance({ full: false, previous: streamWm });
        watermark = adv.watermark;
        published.push(...adv.published);
        for (const [rule, n] of Object.entries(adv.conditionErrors)) if (perRule[rule] !== undefined) perRule[rule].conditionErrors += n;
        for (const [rule, n] of Object.entries(adv.stepErrors)) {
          const st = perRule[rule];
          if (st !== undefined) (st.sequence ??= emptySequenceStats()).conditionErrors += n;
        }
      }
    } catch (err) {
      // Nothing after the last durable step is known to have taken effect: retry the whole batch.
      retryFrom = base.firstSequence;
      error = err;
    }
    // The `when` errors of the batch's early verdicts and of the windows its advance closed.
    for (const [rule, n] of Object.entries(this.takeConditionErrors())) if (perRule[rule] !== undefined) perRule[rule].conditionErrors += n;
    return { ...base, late, duplicates, keysWritten, conflicts, published, maxEventTime, watermark, retryFrom, error };
  }

  /**
   * Producer duplicates: a record whose event id was already recorded on this
   * shard with another (earlier) sequence number is dropped. Events older than
   * the horizon behind the shard's progress are not checked (their ids may
   * have expired). Ids are stored hashed (see dedupe.ts).
   */
  private async dropDuplicates(shardId: string, events: DecodedBatch, priorMax: EpochMs, horizonMs: number): Promise<DecodedBatch> {
    // Columns sized for every event; the first `n` entries are the ones checked.
    const checked = new Int32Array(events.length);
    const buckets = new Float64Array(events.length);
    const ids = new Uint32Array(2 * events.length);
    const seqs = new Array<string>(events.length);
    const subs = new Int32Array(events.length);
    let n = 0;
    const floor = priorMax - horizonMs;
    let maxT = priorMax;
    for (let i = 0; i < events.length; i++) {
      const t = events.times[i]!;
      const eventId = eventIdOf(this.stream, events.payloads[i]!);
      if (eventId === undefined || t < floor) continue;
      const bucket = Math.floor(t / DEDUPE_BUCKET_MS) * DEDUPE_BUCKET_MS;
      if (bucket > maxT) maxT = bucket;
      checked[n] = i;
      buckets[n] = bucket;
      dedupeIdInto(eventId, ids, n);
      // A sub-event's identity is (sequence number, index): a redelivered record matches itself,
      // a repeated id inside one record (or in a later record) is a duplicate.
      seqs[n] = events.sequenceNumber(i);
      subs[n] = events.indexes[i]!;
      n++;
    }
    if (n === 0) return events;
    const dup = await this.opts.store.dedupe(this.stream.name, shardId, { length: n, buckets, ids, seqs, indexes: subs }, maxT + horizonMs + DEDUPE_BUCKET_MS);
    const drop = new Uint8Array(events.length);
    let dropped = 0;
    for (let k = 0; k < n; k++) {
      if (!dup[k]) continue;
      drop[checked[k]!] = 1;
      dropped++;
    }
    return dropped === 0 ? events : events.without(drop);
  }

  /**
   * Folds one key's batch into its shard slot, exactly once; evaluates early
   * rules. Fast path: every record of the key is newer than the slot's HWM,
   * so the parts folded during the batch are merged in as they are. Slow path
   * (a redelivery overlapping what the slot holds): the records newer than
   * the HWM are folded again from the batch.
   */
  private async applyKey(
    shardId: string,
    kb: KeyBatch,
    events: DecodedBatch,
  ): Promise<{ written: boolean; conflicts: number; late: number; published: AlertTransition[] }> {
    const { rule, aggs } = kb.rule;
    const { first, last } = indexRange(kb);
    const firstSeq = padSequence(events.sequenceNumber(first));
    const hwm = padSequence(events.sequenceNumber(last));
    const refold = (after: string): number[] => indicesOf(kb).filter((i) => padSequence(events.sequenceNumber(i)) > after);
    // Refolding recomputes values whose errors the first fold already counted: its count is dropped.
    const foldInto = (acc: WindowAcc, i: number): void => {
      aggs.addEvent(acc, events.times[i]!, scopeOf(this.shared, events.payloads[i]!));
    };
    const build = (current: Slot | undefined, closedThrough: EpochMs | null): SlotUpdate | null => {
      const fast = current === undefined || current.hwm < firstSeq;
      const fresh = fast ? null : refold(current.hwm);
      if (fresh !== null && fresh.length === 0) return null;
      if (rule.window.kind === 'session') {
        // Sessions already evaluated by the closer are dropped from the slot.
        const old = current
          ? aggs.deserializeSessions(current.partial as SessionPartialJson).filter((s) => closedThrough === null || s.end + rule.latenessMs > closedThrough)
          : [];
        const fromBatch =
          fresh === null ? kb.parts.map((p) => ({ start: p.start, end: p.end, value: p.acc })) : aggs.sessionsOf(rule.window.gapMs, fresh, (i) => events.times[i]!, foldInto);
        const merged = aggs.mergeSessionLists([old, fromBatch]);
        const closeAt = Math.min(...merged.map((s) => s.end + rule.latenessMs));
        return { slot: { hwm, partial: aggs.serializeSessions(merged) }, closeAt };
      }
      const acc = current ? aggs.deserialize(current.partial as FixedPartialJson) : aggs.create();
      if (fresh === null) for (const p of kb.parts) aggs.merge(acc, p.acc);
      else for (const i of fresh) foldInto(acc, i);
      return { slot: { hwm, partial: aggs.serialize(acc) }, closeAt: closesAt(kb.window!, rule.latenessMs) };
    };
    const outcome = await this.opts.store.apply(kb.key, shardId, build);
    if (outcome.status === 'closed') {
      let records = 0;
      for (const p of kb.parts) records += p.count;
      return { written: false, conflicts: outcome.conflicts, late: records, published: [] };
    }
    const published: AlertTransition[] = [];
    // On a retry the state may be unchanged but a transition still unpublished: evaluating again republishes it.
    if (rule.emit === 'early') {
      let state: KeyState | undefined = outcome.state;
      // A redelivery decided without a request (no conflict) is shown the key as this container last saw it (on
      // DynamoDB a cached belief, maybe stale): a verdict that holds there is judged on the stored item, which after a
      // quiet close is the window's final state (closing.ts, emit: early). After a conflict the state came back with
      // the refused write (as stored). Gone (its retention passed): closed long ago, no verdict.
      const believed = outcome.status === 'unchanged' && outcome.conflicts === 0 && kb.window !== null;
      // (A probe: verdicts count no `when` errors, earlyTransitions counts those of the verdicts it acts on.)
      if (believed && this.verdicts(kb.rule, state, kb.group, kb.window, null).some((v) => v.holds)) state = await this.opts.store.read(kb.key);
      if (state !== undefined) published.push(...(await this.earlyTransitions(kb.rule, state, kb.group, kb.window)));
    }
    return { written: outcome.status === 'applied', conflicts: outcome.conflicts, late: 0, published };
  }

  /** `emit: early`: the lifecycle step of each window of an updated key's state whose condition holds. */
  private async earlyTransitions(ctx: RuleContext, state: KeyState, group: GroupRef, window: TimeWindow | null): Promise<AlertTransition[]> {
    const published: AlertTransition[] = [];
    for (const verdict of this.verdicts(ctx, state, group, window, null)) {
      if (verdict.errored) this.countConditionError(ctx.rule.name);
      if (!verdict.holds) continue;
      published.push(...(await this.alert(ctx.rule.name, group.key, (s) => onWindowUpdated(ctx.rule, group, s, verdict, ctx.step))));
    }
    return published;
  }

  /**
   * The verdicts of a key's merged state: one per fixed window, or one per
   * session (those closing in (closedThrough, upTo] when `upTo` is given,
   * else the open ones). `errored`: the `when` raised an error (judged not to
   * hold); counted by the caller that acts on the verdict, once it took effect
   * (countConditionError), not here: verdicts are also probes and retried.
   */
  private verdicts(ctx: RuleContext, state: KeyState, group: GroupRef, window: TimeWindow | null, upTo: EpochMs | null) {
    const { rule, aggs } = ctx;
    const slots = Object.values(state.slots);
    const out: Array<{ window: TimeWindow; holds: boolean; errored: boolean; values: Record<string, number | null>; closeAt: EpochMs; events: number; at?: EpochMs }> = [];
    const judge = (w: TimeWindow, acc: WindowAcc) => {
      const values = aggs.results(acc);
      const when = acc.n > 0 ? this.judgeWhen(rule, values, group) : 0;
      out.push({ window: w, holds: when === 1, errored: when === 2, values, closeAt: closesAt(w, rule.latenessMs), events: acc.n, ...(Number.isFinite(acc.maxEventTime) ? { at: acc.maxEventTime } : {}) });
    };
    if (window !== null) {
      const acc = aggs.create();
      for (const s of slots) aggs.merge(acc, aggs.deserialize(s.partial as FixedPartialJson));
      judge(window, acc);
      return out;
    }
    const sessions = aggs.mergeSessionLists(slots.map((s) => aggs.deserializeSessions(s.partial as SessionPartialJson)));
    for (const s of sessions) {
      const closeAt = s.end + rule.latenessMs;
      if (state.closedThrough !== null && closeAt <= state.closedThrough) continue;
      if (upTo === null ? false : closeAt > upTo) continue;
      judge({ start: s.start, end: s.end }, s.value);
    }
    return out;
  }

  /**
   * A key's state for evaluation: a hopping window's merged from its panes when its item holds no value (panes.ts).
   * A hopping window with no item (only listed: PaneWriter) is open at version 0, its value in the panes of newer
   * windows: sealed by a put if absent (sealWindowAt, closeWindowAt at version 0), which fails if a batch's fence
   * created the item since (the close reads again).
   */
  private async readWindow(ctx: RuleContext, key: KeyDescriptor): Promise<KeyState | undefined> {
    const state = await this.opts.store.read(key);
    if (key.windowStart === null || !isPaned(ctx)) return state;
    const absent: KeyState = { slots: {}, closed: false, closedThrough: null, closeAt: closesAt({ start: key.windowStart, end: key.windowEnd! }, ctx.rule.latenessMs), version: 0 };
    return windowState(this.opts.store, ctx, key, state ?? absent);
  }

  /**
   * A rule's `when` on a window's values: 1 holds, 0 does not, 2 raised an error (judged not to hold). An
   * error is counted by whoever acts on the verdict (countConditionError): the batch or advance report
   * carries it (RuleBatchStats.conditionErrors, AdvanceReport.conditionErrors), and RuleExpressionErrors.
   */
  private judgeWhen(rule: WindowRule, values: Record<string, number | null>, group: GroupRef, anomaly?: AnomalyVerdict): 0 | 1 | 2 {
    // An anomaly rule holds only on a closed window's verdict (closeKey).
    if (rule.anomaly && anomaly === undefined) return 0;
    try {
      return rule.when.evaluate({ ...group.labels, ...values, ...(anomaly ? { anomaly: anomalyVariable(anomaly) } : {}) }) === true ? 1 : 0;
    } catch {
      return 2;
    }
  }

  private countConditionError(rule: string): void {
    this.conditionErrors.set(rule, (this.conditionErrors.get(rule) ?? 0) + 1);
  }

  /** Records a lifecycle step and publishes what it claimed (the outbox protocol: state/outbox.ts). */
  private alert(rule: string, groupKey: string, step: AlertStep, known?: KnownAlert | null, opts?: { readonly model?: boolean }): Promise<AlertTransition[]> {
    const { store, clock } = this.opts;
    return recordAndPublish(store, rule, groupKey, step, { now: clock.now(), leaseMs: this.opts.publishLeaseMs ?? 30_000 }, this.opts.publish, known, opts);
  }

  /** Republishes transitions whose publisher gave up or crashed (their claim expired). */
  private async recover(rule: string, groupKey: string, record: AlertRecord): Promise<AlertTransition[]> {
    if (!hasClaimable(record.outbox, this.opts.clock.now())) return [];
    return this.alert(rule, groupKey, (state) => ({ state, transitions: [] }));
  }

  /**
   * Moves the stream's watermark (idle shards follow the wall clock), closes
   * due windows in order, resolves alerts of groups that went quiet, checks
   * absence rules and republishes unconfirmed transitions. Safe to run twice
   * or concurrently: every step is conditional and idempotent.
   */
  async advance(opts: { readonly full: boolean; readonly previous?: EpochMs } = { full: true }): Promise<AdvanceReport> {
    const { store, clock } = this.opts;
    const now = clock.now();
    // A caller that just read the watermark passes it; a stale value is harmless (the write is conditional).
    const previous = opts.previous ?? (await store.getStreamWatermark(this.stream.name));
    const shards = await store.listShardProgress(this.stream.name);
    const watermark = streamWatermark(shards, this.stream, now, previous);
    const replaced = watermark > previous ? await store.putStreamWatermark(this.stream.name, watermark) : null;
    // After a batch, what a move of the watermark crossed is closed by the processor whose write made that move
    // (from the watermark its write replaced): one that found it moved as far already leaves the work to the one
    // that moved it, instead of every shard's processor closing the same windows at once. A mover that failed
    // before closing leaves its windows due: the next move's closer or the ticker (full: from `previous`) closes them.
    const from = opts.full ? previous : replaced === null ? watermark : Math.max(previous, replaced);
    const published: AlertTransition[] = [];
    let windowsClosed = 0;
    if (!Number.isFinite(watermark)) return { watermark, windowsClosed, published, conditionErrors: this.takeConditionErrors(), stepErrors: {} };

    for (const ctx of this.windowRules) {
      const { rule } = ctx;
      // After a batch, look for due windows only when the watermark crossed a close time (cheap);
      // the ticker (full) always looks.
      if (!opts.full && !crossedCloseTime(rule, from, watermark)) continue;
      const dueList = await store.dueKeys(rule.name, watermark);
      if (ctx.step !== null) {
        // Keys listed apart from their items (DynamoDB's due buckets) may be finished since, or due later now (StateStore.dueKeys).
        const listed = new Set(dueList.filter((d) => d.listings !== undefined).map((d) => d.key.id));
        // Fixed windows: per group, in order, never taking a window missing from the (possibly lagging) due list for empty (closing.ts).
        for (const [groupKey, keys] of byGroupInOrder(dueList)) {
          const closed = await this.closeGroup(ctx, ctx.step, groupKey, keys, watermark, previous, listed);
          windowsClosed += closed.count;
          published.push(...closed.published);
        }
      }
      for (const due of ctx.step === null ? dueList : []) {
        const group = groupFromKey(rule.groupBy, due.key.groupKey);
        const closed = await this.closeKey(ctx, due.key, group, watermark);
        windowsClosed += closed.count;
        published.push(...closed.published);
      }
      // Every key listed was closed (or found finished, or gone): the due list may forget them.
      if (dueList.length > 0) await store.releaseDue(rule.name, dueList);
      // Groups whose alert is pending or firing but that sent nothing in the next window.
      for (const { groupKey, record } of await store.activeAlerts(rule.name)) {
        const group = groupFromKey(rule.groupBy, groupKey);
        published.push(...(await this.recover(rule.name, groupKey, record)));
        // An early fire from rest: its next window is the one it fired in (closing.ts), whatever bound quiet closes left.
        const st = ctx.step !== null ? caughtUp(rule, record.state, ctx.step) : record.state;
        if (st.status === 'inactive' || st.evaluatedThrough === null || st.evaluatedEnd === null) continue;
        let next: TimeWindow;
        if (ctx.step !== null) {
          const start = st.evaluatedThrough + ctx.step;
          next = { start, end: start + (st.evaluatedEnd - st.evaluatedThrough) };
          if (closesAt(next, rule.latenessMs) > watermark) continue;
          const key = descriptor(rule.name, groupKey, next);
          const existing = await store.read(key);
          // Judged empty only once sealed (a closed marker): no later write can fill it (issue 19).
          const closed = existing ? await this.closeKey(ctx, key, group, watermark) : await this.closeEmpty(ctx, key, group, watermark);
          windowsClosed += closed.count;
          published.push(...closed.published);
          continue;
        } else {
          const gap = rule.window.kind === 'session' ? rule.window.gapMs : 0;
          next = { start: st.evaluatedEnd, end: st.evaluatedEnd + gap };
          if (closesAt(next, rule.latenessMs) > watermark) continue;
        }
        // Nothing arrived: the values of an empty window (counts 0, others null).
        const verdict = { window: next, holds: false, values: ctx.aggs.results(ctx.aggs.create()) };
        published.push(...(await this.alert(rule.name, groupKey, (s) => onWindowClosed(rule, group, s, verdict, ctx.step, verdict.values))));
      }
    }
    for (const rule of this.absenceRules) {
      if (!opts.full && !crossed(from, watermark, Math.min(10_000, Math.max(1000, rule.absentMs / 4)), 0)) continue;
      for (const { groupKey, record } of await store.absenceGroups(rule.name)) {
        const group = groupFromKey(rule.groupBy, groupKey);
        published.push(...(await this.recover(rule.name, groupKey, record)));
        const st = record.state;
        if (st.lastSeen === null) continue;
        // A firing alert has something to decide only while it recovers (resolveAfter).
        const due = st.status === 'firing' ? st.recoveringSince !== undefined && st.recoveringSince !== null : watermark >= st.lastSeen + rule.absentMs;
        if (!due) continue;
        published.push(...(await this.alert(rule.name, groupKey, (s) => onAbsenceCheck(rule, group, s, watermark))));
      }
    }
    // Sequence rules: keys with buffered events the watermark passed, absent-step deadlines, unrecorded matches.
    let stepErrors: Record<string, number> = {};
    if (this.sequences.active && (opts.full || crossed(from, watermark, 10_000, 0))) {
      const s = await this.sequences.advance(watermark);
      published.push(...s.published);
      stepErrors = s.stepErrors;
    }
    return { watermark, windowsClosed, published, conditionErrors: this.takeConditionErrors(), stepErrors };
  }

  /** The `when` errors counted since the last call (see holds), by rule; the count starts again. */
  private takeConditionErrors(): Record<string, number> {
    const out = Object.fromEntries(this.conditionErrors);
    this.conditionErrors.clear();
    return out;
  }

  /**
   * Closes one group's due fixed windows (closing.ts). A group at rest (no alert record, or one at
   * rest) has its due windows closed quietly, in order, while each step would record nothing: one
   * key read and one write per window, no base-table query, no seal. From the first window whose
   * step would change the state (or for a group not at rest), in order of start (issue 19): windows
   * missing from the due list are looked up in the base table (strongly consistent) from the last
   * evaluated window (not at rest) or from a bounded lookback (at rest: closing.ts lookbackAfter),
   * existing ones are closed first, and missing ones are sealed as empty before they are judged.
   */
  private async closeGroup(
    ctx: RuleContext,
    step: number,
    groupKey: string,
    due: readonly KeyDescriptor[],
    watermark: EpochMs,
    previous: EpochMs,
    listed: ReadonlySet<string> = new Set(),
  ): Promise<{ count: number; published: AlertTransition[] }> {
    const { store } = this.opts;
    const { rule } = ctx;
    const group = groupFromKey(rule.groupBy, groupKey);
    const read = await store.readAlertVersion(rule.name, groupKey);
    const record = read?.record;
    const rest = record === undefined ? INITIAL_ALERT_STATE : record.state;
    const atRestNow = mayCloseQuietly(rule) && atRest(rest);
    let count = 0;
    // Transitions of a crashed publisher are republished first, as any step on the record would (the state stays as read).
    const published: AlertTransition[] = record !== undefined ? await this.recover(rule.name, groupKey, record) : [];
    let pending = [...due].sort((a, b) => a.windowStart! - b.windowStart!);
    if (atRestNow) {
      while (pending.length > 0) {
        const r = await this.closeAtRest(ctx, pending[0]!, group, rest, watermark);
        if (r === 'loud') break;
        if (r === 'closed') count += 1;
        pending = pending.slice(1);
      }
      if (pending.length === 0) return { count, published };
    }
    // A listed key that is finished (a close before this one, whose listing was not released yet), gone, or due
    // later now (its item's close time moved: a newer listing has it) is not a due window: as if the due index did
    // not hold it, so that the order and the lookups below are what they are without listings. One read per such
    // key, of groups not at rest (at rest, closeAtRest reads and skips them).
    if (pending.some((k) => listed.has(k.id))) {
      // A hopping window with no item is due (only listed: its value is in newer windows' panes, PaneWriter).
      const paned = isPaned(ctx);
      const open = await Promise.all(pending.map(async (k) => (listed.has(k.id) ? isDue(await store.read(k), watermark, paned) : true)));
      pending = pending.filter((_, i) => open[i]);
      if (pending.length === 0) return { count, published };
    }
    const size = rule.window.kind === 'session' ? 0 : rule.window.sizeMs;
    // An early fire from rest left a stale bound (quiet closes do not move it): below the fired window all is bookkeeping (closing.ts).
    const evaluated = caughtUp(rule, rest, step).evaluatedThrough;
    const after = !atRestNow ? evaluated : Math.max(evaluated ?? -Infinity, lookbackAfter(pending[0]!.windowStart!, size, rule.latenessMs, previous, step));
    const last = Math.max(...pending.map((k) => k.windowStart!));
    let existing: KeyDescriptor[] = [...pending];
    const done = new Set<EpochMs>();
    if (!(dueIsComplete(after, pending, step) || (after !== null && last <= after))) {
      for (const w of await store.groupWindows(rule.name, groupKey, after, last)) {
        // At rest, a finished window after the bound was closed quietly (failing): judged, skipped (closing.ts).
        if (atRestNow && w.state.closed && w.state.closeAt === null) done.add(w.key.windowStart!);
        else existing.push(w.key);
      }
      existing = existing.filter((k) => !done.has(k.windowStart!));
    }
    // The alert state each step left (as written, or read unchanged): a step back at rest lets the next window close in one write.
    let left: AlertState | undefined;
    // The record as read above, for the first lifecycle step (saves its read), unless a recovery wrote it since.
    let known: KnownAlert | null | undefined = published.length === 0 ? read : undefined;
    for (const s of planGroupClose(after, pending, existing, step, MAX_SEALED_EMPTY, done)) {
      const track: StepTrack = known !== undefined ? { known } : {};
      known = undefined;
      const closed =
        s.kind === 'close'
          ? await this.closeKey(ctx, s.key, group, watermark, left, track)
          : await this.closeEmpty(ctx, descriptor(rule.name, groupKey, { start: s.start, end: s.start + size }), group, watermark, track);
      left = track.state;
      count += closed.count;
      published.push(...closed.published);
    }
    return { count, published };
  }

  /**
   * A due window of a group at rest (`rest`, read once per group): closed in one write (seal and
   * finish on the version read) when its verdicts leave the state as it is ('closed'); 'done' when
   * it is gone or was closed and finished already; 'loud' when a step would record something (or it
   * was sealed and not finished: the ordered path evaluates it).
   */
  private async closeAtRest(ctx: RuleContext, key: KeyDescriptor, group: GroupRef, rest: AlertState, watermark: EpochMs): Promise<'closed' | 'done' | 'loud'> {
    const { store } = this.opts;
    const { rule } = ctx;
    const window = { start: key.windowStart!, end: key.windowEnd! };
    const empty = ctx.aggs.results(ctx.aggs.create());
    for (let attempt = 0; attempt < 3; attempt++) {
      const state = await this.readWindow(ctx, key);
      if (!state) return 'done';
      if (state.closed) return state.closeAt === null ? 'done' : 'loud';
      // Due later now (its close time moved after it was listed): a newer listing has it. Not a hopping window with no
      // item (version 0): its close time is the rule's as it is now, its listing the only one (a lateness raised since
      // it was listed dropped it for good on DynamoDB: the listing released, the window never evaluated).
      if (state.version > 0 && state.closeAt !== null && state.closeAt > watermark) return 'done';
      const verdicts = this.verdicts(ctx, state, group, window, watermark);
      if (!verdicts.every((v) => isQuiet(rule, rest, (s) => onWindowClosed(rule, group, s, { window: v.window, holds: v.holds, values: v.values }, ctx.step, empty)))) return 'loud';
      if (await store.closeWindowAt(key, state.version, finalSlotOf(ctx, state), state.merged)) {
        for (const { window: w, holds, errored, values, events } of verdicts) {
          if (errored) this.countConditionError(rule.name);
          this.opts.onWindowClosed?.({ rule: rule.name, group: group.labels, groupKey: group.key, window: w, values, holds, events, watermark });
        }
        return 'closed';
      }
    }
    return 'loud';
  }

  /** A fixed window with no item: sealed with a closed marker, then judged empty; when an item appeared meanwhile, closed as usual. */
  private async closeEmpty(ctx: RuleContext, key: KeyDescriptor, group: GroupRef, watermark: EpochMs, track?: StepTrack): Promise<{ count: number; published: AlertTransition[] }> {
    // A hopping window with no item may hold records: its panes are kept on newer windows' items (PaneWriter lists it,
    // writes no item). Closed from its panes (readWindow), sealed by a put if absent with the pane versions it merged
    // (none for an empty one), so a batch writing a pane later finds it closed and its records late. Not on a store
    // that forgets finished windows (backtest): there a window with no item the due list misses is empty or finished
    // (closing it again from the panes left on newer windows reported it twice, on part of its value: a wrong alert).
    if (isPaned(ctx) && this.opts.store.forgetsFinishedWindows !== true) {
      const state = (await this.readWindow(ctx, key))!;
      // No item and no pane: empty, sealed and finished in one put if absent (what it merged: nothing, so a pane written
      // since counts late for it); else closed as any window.
      const empty = state.version === 0 && Object.keys(state.merged ?? {}).length === 0;
      if (!empty || !(await this.opts.store.closeWindowAt(key, 0, finalSlotOf(ctx, state), state.merged))) return this.closeKey(ctx, key, group, watermark, undefined, track);
    } else if (!(await this.opts.store.sealEmptyWindow(key))) return this.closeKey(ctx, key, group, watermark, undefined, track);
    const { rule } = ctx;
    const empty = ctx.aggs.results(ctx.aggs.create());
    const verdict = { window: { start: key.windowStart!, end: key.windowEnd! }, holds: false, values: empty };
    return { count: 0, published: await this.alert(rule.name, group.key, tracked(track, quietClose(rule, onCaughtUp(rule, ctx.step, (s) => onWindowClosed(rule, group, s, verdict, ctx.step, empty)))), takeKnown(track)) };
  }

  /**
   * Closes one due key: a fixed window is sealed, read, evaluated (its lifecycle step recorded) and
   * finished; a session key closes the sessions the watermark passed. `rest`: the group's alert
   * state as the previous step of this close left it; when it is at rest, the window is first tried
   * in one write (closeAtRest, the one quiet path: no probe of the alert record here, issue 21).
   * `track` receives the alert state this close leaves.
   */
  private async closeKey(
    ctx: RuleContext,
    key: KeyDescriptor,
    group: GroupRef,
    watermark: EpochMs,
    rest?: AlertState,
    track?: StepTrack,
  ): Promise<{ count: number; published: AlertTransition[] }> {
    const { store } = this.opts;
    const { rule } = ctx;
    const published: AlertTransition[] = [];
    if (rest !== undefined && key.windowStart !== null && mayCloseQuietly(rule) && atRest(rest)) {
      // A window whose verdict records nothing is sealed and finished in one write (closing.ts).
      const r = await this.closeAtRest(ctx, key, group, rest, watermark);
      if (r !== 'loud') {
        if (track) track.state = rest;
        return { count: r === 'closed' ? 1 : 0, published };
      }
    }
    const paned = key.windowStart !== null && isPaned(ctx);
    for (let attempt = 0; attempt < 5; attempt++) {
      const window = key.windowStart !== null ? { start: key.windowStart, end: key.windowEnd! } : null;
      // A fixed window is sealed first, so no contribution lands after it was read for evaluation.
      if (window !== null && !paned) await store.sealWindow(key);
      let state = await this.readWindow(ctx, key);
      if (!state) return { count: 0, published };
      if (paned && !state.closed) {
        // A hopping window's panes are shared with newer windows: it is sealed with the value it is evaluated on,
        // if its item is still as read (else it is read again), so a retried close evaluates it on that value and a
        // batch that wrote a pane after the read finds its records left out (panes.ts, windowState). An item from
        // before panes holds its own slots: sealed first, as any fixed window, and read again.
        if (!mergedNotKept(state)) {
          await store.sealWindow(key);
          continue;
        }
        if (!(await store.sealWindowAt(key, state.version, finalSlotOf(ctx, state)!, state.merged!, state.closeAt ?? undefined))) continue;
        state = { ...state, closed: true };
      }
      const verdicts = this.verdicts(ctx, state, group, window, watermark);
      // A closed window's transitions are dated by its end, not its newest event.
      for (const verdict of verdicts) {
        const { window: w, values, events } = verdict;
        // Anomaly rules: the window is scored on the model before it learns it, and learned, exactly once (anomaly/rule.ts).
        // Not a window without events (the closed marker of a window judged empty, issue 19): a gap is
        // not learned (fill: learns the gap's value with the next window that has events).
        // A small model is kept in the alert record and learned by the lifecycle step, in its one write (modelInAlertRecord).
        const learns = rule.anomaly !== undefined && window !== null && events > 0;
        const kept = rule.anomaly !== undefined && modelInAlertRecord(rule.anomaly);
        const inRecord = learns && kept;
        let anomaly = learns && !inRecord ? await scoreClosedWindow(store, rule.name, rule.anomaly!, group.key, w.start, values, ctx.step) : undefined;
        const holdsOn = (a: AnomalyVerdict | null | undefined): boolean => (rule.anomaly ? a !== undefined && a !== null && events > 0 && this.judgeWhen(rule, values, group, a) === 1 : verdict.holds);
        const lifecycle = (s: AlertState, a: AnomalyVerdict | null | undefined): StepResult =>
          quietClose(rule, onCaughtUp(rule, ctx.step, (st: AlertState): StepResult => onWindowClosed(rule, group, st, { window: w, holds: holdsOn(a), values, ...(a ? { anomaly: a } : {}) }, ctx.step, ctx.aggs.results(ctx.aggs.create()))))(s);
        const seen: { verdict?: AnomalyVerdict | null } = {};
        // A rule whose model is kept apart leaves none in the record (one from before a change of detector: it would be continued if the rule changed back).
        const step: AlertStep = inRecord ? learnInAlert(rule.anomaly!, w.start, values, ctx.step, lifecycle, seen) : (s, m) => (m === undefined || kept ? lifecycle(s, anomaly) : { ...lifecycle(s, anomaly), model: null });
        published.push(...(await this.alert(rule.name, group.key, tracked(track, step), takeKnown(track), inRecord ? { model: true } : undefined)));
        // The verdict the written step decided on (a retry's is the stored one, the same).
        if (inRecord) anomaly = seen.verdict ?? null;
        const holds = holdsOn(anomaly);
        // The `when` errors of this verdict, counted once it took effect (an anomaly rule's `when` reads its verdict).
        const errored = rule.anomaly ? anomaly !== undefined && anomaly !== null && events > 0 && this.judgeWhen(rule, values, group, anomaly) === 2 : verdict.errored;
        if (errored) this.countConditionError(rule.name);
        // An empty window's closed marker (issue 19) is no window the group sent anything in: not reported.
        if (events > 0) this.opts.onWindowClosed?.({ rule: rule.name, group: group.labels, groupKey: group.key, window: w, values, holds, events, watermark, ...(anomaly ? { anomaly } : {}) });
      }
      if (window !== null) {
        await store.finishWindow(key, finalSlotOf(ctx, state), state.merged);
        return { count: 1, published };
      }
      const last = verdicts.length > 0 ? Math.max(...verdicts.map((v) => v.closeAt)) : watermark;
      const remaining = this.verdicts(ctx, { ...state, closedThrough: last }, group, null, null);
      const nextCloseAt = remaining.length > 0 ? Math.min(...remaining.map((v) => v.closeAt)) : null;
      if (await store.advanceSessions(key, last, nextCloseAt, state.version)) return { count: verdicts.length, published };
    }
    throw new Error(`could not close ${key.windowStart !== null ? 'window' : 'session'} key ${key.id}: it kept changing under concurrent writes (5 attempts)`);
  }
}

/** Where a close reports the alert state its lifecycle steps left (the state of the step's last run: the one written). */
interface StepTrack {
  state?: AlertState;
  /** The alert record as the close read it, for the first lifecycle step only (taken by it: see takeKnown). */
  known?: KnownAlert | null;
}

/** The alert record the close read, once: the first step uses it, later ones read afresh (the first one may have written). */
function takeKnown(track: StepTrack | undefined): KnownAlert | null | undefined {
  if (track === undefined || track.known === undefined) return undefined;
  const known = track.known;
  delete track.known;
  return known;
}

/** The step, reporting the state it leaves into `track` (a retried write runs the step again: the last run counts). */
function tracked(track: StepTrack | undefined, step: AlertStep): AlertStep {
  if (track === undefined) return step;
  return (s, model) => {
    const r = step(s, model);
    track.state = r.state;
    return r;
  };
}

/**
 * A fixed window's state read for closing: not finished, not gone, and due at `watermark`, or sealed
 * and not finished (a close that stopped half way: completed whatever its close time says now, as a
 * hopping window sealed by a put takes the close time of the rule's lateness then, and a lateness
 * raised since would leave it sealed and never evaluated).
 */
function isDue(state: KeyState | undefined, watermark: EpochMs, paned = false): boolean {
  if (state === undefined) return paned;
  return state.closeAt !== null && (state.closed || state.closeAt <= watermark);
}

/** Due keys by group, groups in order of their first due key, each group's keys in due order. */
function byGroupInOrder(due: readonly DueKey[]): Map<string, KeyDescriptor[]> {
  const out = new Map<string, KeyDescriptor[]>();
  for (const d of due) {
    const list = out.get(d.key.groupKey);
    if (list) list.push(d.key);
    else out.set(d.key.groupKey, [d.key]);
  }
  return out;
}

/** True when some t ≡ offset (mod step) lies in (from, to]. */
function crossed(from: EpochMs, to: EpochMs, step: number, offset: number): boolean {
  if (!Number.isFinite(from)) return Number.isFinite(to);
  return Math.floor((to - offset) / step) > Math.floor((from - offset) / step);
}

/** Fixed windows close at start + size + lateness, starts being multiples of the step. */
function crossedCloseTime(rule: WindowRule, from: EpochMs, to: EpochMs): boolean {
  const w = rule.window;
  if (w.kind === 'session') return crossed(from, to, 1000, 0);
  const step = w.kind === 'tumbling' ? w.sizeMs : w.slideMs;
  return crossed(from, to, step, (w.sizeMs + rule.latenessMs) % step);
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}
