import type { DecodedBatch } from '../decode';
import { eventIdOf } from '../decode';
import { eventVariables, isMissingField } from '../expression';
import type { RuleBatchStats } from '../fold';
import { groupFromKey, groupOf, hasGroupFields, type GroupRef } from '../group';
import type { AlertState, AlertTransition, StepResult } from '../lifecycle';
import { padSequence } from '../sequence';
import type { OrdinalMatch, SequenceRecord } from '../state/SequenceStorage';
import type { AlertRecord, StateStore } from '../StateStore';
import type { EpochMs, SequenceRule, StreamSpec } from '../types';
import { onSequenceMatches } from './lifecycle';
import { SequenceMatcher } from './matcher';
import { emptyStats, type SequenceInput, type SequenceStats } from './types';

/**
 * Sequence rules in the engine: the batch's events per (rule, key), one
 * conditional write per key touched per batch (StateStore.applySequence),
 * the ticker's due keys, and the alert outbox. Exactly-once effect:
 *
 * - A key's record keeps, per shard, the sequence number of the last record
 *   it applied; a redelivered, bisected or retried batch only adds the
 *   records past it, so each event enters the matcher once.
 * - The matcher's state and the matches it found are written together, in
 *   that one write: a match exists once it is written, and only then.
 * - After the write its matches are recorded in the alert outbox
 *   (onSequenceMatches: idempotent by the match's ordinal), then published.
 *   A crash in between leaves them in the record (`out`), which keeps the
 *   key due: the retry or the ticker records them (no new match, the same
 *   ids), and a later write drops them once they are known recorded.
 */
export class SequenceRules {
  private readonly contexts: Array<{ rule: SequenceRule; matcher: SequenceMatcher }>;
  /** Per rule and group: the last match ordinal this process knows is recorded in the alert outbox. */
  private readonly recorded = new Map<string, number>();

  constructor(
    private readonly stream: StreamSpec,
    rules: readonly SequenceRule[],
    private readonly store: StateStore,
    private readonly alert: (rule: string, groupKey: string, step: (s: AlertState) => StepResult) => Promise<AlertTransition[]>,
    private readonly recover: (rule: string, groupKey: string, record: AlertRecord) => Promise<AlertTransition[]>,
    /**
     * Keys one rule may touch in one batch (the engine's maxGroupsPerRulePerBatch, as for window rules):
     * each key costs a conditional write, one after another. Past it the batch stops at the record of the
     * first key over the cap (counted in `overflow`) and Lambda retries from there: split, never dropped.
     */
    private readonly maxKeys = 10_000,
  ) {
    this.contexts = rules.map((rule) => ({ rule, matcher: new SequenceMatcher(rule.name, rule.sequence) }));
  }

  get active(): boolean {
    return this.contexts.length > 0;
  }

  /**
   * Applies the batch's events (indices below `upTo`) to their keys, advanced
   * to the watermark `watermarkAfter` gives for the batch's largest event time
   * (of those events, or `priorMax` when larger). An event is late, as for
   * window rules, when its time is before the shard's watermark just before it
   * (the largest event time of the shard's earlier events, `priorMax` before
   * the batch, minus the out-of-orderness) or the stream's (`streamWatermark`);
   * or before what its key was already matched through (the matcher's own
   * rule, which the first implies in practice). Returns the lowest event index
   * whose key failed (Infinity when none), with the errors.
   */
  async processBatch(
    shardId: string,
    events: DecodedBatch,
    upTo: number,
    watermarkAfter: (batchMax: EpochMs) => EpochMs | Promise<EpochMs>,
    lateness: { readonly priorMax: EpochMs; readonly streamWatermark: EpochMs },
    perRule: Record<string, RuleBatchStats>,
  ): Promise<{ written: number; conflicts: number; late: number; published: AlertTransition[]; failedAt: number; failures: unknown[] }> {
    const out = { written: 0, conflicts: 0, late: 0, published: [] as AlertTransition[], failedAt: Infinity, failures: [] as unknown[] };
    const times = events.times;
    const ooo = this.stream.outOfOrdernessMs;
    const streamWm = lateness.streamWatermark;
    // First every rule's keys, so that the key cap (maxKeys, as maxGroupsPerRulePerBatch for window rules)
    // can stop the batch at a record before any of it is applied for any rule. Each pass over the events
    // also keeps their largest time so far: a keyed event's lateness bound, and the batch's largest.
    const firstRecord = events.records[0];
    let stop = upTo;
    let batchMax = -Infinity;
    const grouped = this.contexts.map((ctx, c) => {
      const { rule, matcher } = ctx;
      const where = rule.where;
      const groupBy = rule.groupBy;
      const outcome = new Uint8Array(upTo);
      const keys = new Map<string, SequenceKey>();
      // Counted here for the events this pass classifies; those at or past the final stop are taken off below.
      let filterErrors = 0;
      /** Step and until conditions that raised an error on the events of this pass; by event, where any did. */
      let stepErrors = 0;
      let stepErrorsAt: Map<number, number> | undefined;
      let missingGroup = 0;
      let matched = 0;
      let ignored = 0;
      let capAt = Infinity;
      let maxT = lateness.priorMax;
      const payloads = events.payloads;
      const end = stop;
      let i = 0;
      for (; i < end; i++) {
        const before = maxT;
        const t = times[i]!;
        if (t > maxT) maxT = t;
        const payload = payloads[i]!;
        if (where !== undefined) {
          let ok: boolean;
          try {
            ok = (where.acceptsPayload === true ? where.evaluate(payload) : where.evaluate(eventVariables(payload))) === true;
          } catch (e) {
            // A missing field: no match, not an error (isMissingField).
            if (!isMissingField(e)) {
              outcome[i] = FILTER_ERROR;
              filterErrors += 1;
            }
            ok = false;
          }
          if (!ok) continue;
        }
        if (!hasGroupFields(groupBy, payload)) {
          outcome[i] = MISSING_GROUP;
          missingGroup += 1;
          continue;
        }
        // An event no step (nor until) can use changes no state: its key is not written for it.
        const errorsBefore = matcher.errors;
        const relevant = matcher.relevant(payload);
        if (matcher.errors !== errorsBefore) {
          stepErrors += matcher.errors - errorsBefore;
          (stepErrorsAt ??= new Map()).set(i, matcher.errors - errorsBefore);
        }
        if (!relevant) {
          outcome[i] = IGNORED;
          matched += 1;
          ignored += 1;
          continue;
        }
        const group = groupOf(groupBy, payload);
        let k = keys.get(group.key);
        if (k === undefined) {
          // The batch's first record is never stopped (it could never be applied otherwise).
          if (keys.size >= this.maxKeys && events.records[i] !== firstRecord) {
            // Not classified: the batch stops before it (its step errors come again in the retry).
            stepErrors -= stepErrorsAt?.get(i) ?? 0;
            capAt = events.recordStart(i);
            stop = Math.min(stop, capAt);
            break;
          }
          keys.set(group.key, (k = { group, indices: [], lateBefore: [] }));
        }
        outcome[i] = KEYED;
        matched += 1;
        k.indices.push(i);
        k.lateBefore.push(Math.max(before - ooo, streamWm));
      }
      const counts = { filterErrors, missingGroup, matched, ignored, stepErrors, stepErrorsAt };
      // The events below `classified` have their outcome (and are counted).
      const classified = i;
      if (c === 0) {
        // The largest time of the events below upTo, the first pass having stopped short or not.
        for (; i < upTo; i++) if (times[i]! > maxT) maxT = times[i]!;
        batchMax = maxT;
      }
      return { ctx, outcome, keys, capAt, counts, classified };
    });
    if (stop < upTo) {
      out.failedAt = stop;
      out.failures.push(
        new Error(`a sequence rule reached ${this.maxKeys} keys in this batch: the batch stops at sequence number ${events.sequenceNumber(stop)}, which Lambda retries as the start of the next batch`),
      );
    }
    const watermark = await watermarkAfter(batchMax);
    for (const { ctx, outcome, keys, capAt, counts, classified } of grouped) {
      const { rule } = ctx;
      const st = perRule[rule.name]!;
      const stats = (st.sequence ??= emptyStats());
      // Counted only for the events this batch applies (those past the stop come again in the retry).
      for (let i = stop; i < classified; i++) {
        const o = outcome[i]!;
        if (o === FILTER_ERROR) counts.filterErrors -= 1;
        else if (o === MISSING_GROUP) counts.missingGroup -= 1;
        else if (o === IGNORED || o === KEYED) counts.matched -= 1;
        if (o === IGNORED) counts.ignored -= 1;
        counts.stepErrors -= counts.stepErrorsAt?.get(i) ?? 0;
      }
      st.filterErrors += counts.filterErrors;
      st.missingGroup += counts.missingGroup;
      st.matched += counts.matched;
      stats.ignored += counts.ignored;
      stats.conditionErrors += counts.stepErrors;
      if (capAt === stop) st.overflow += 1;
      if (stop < upTo) {
        for (const [key, k] of keys) {
          let n = 0;
          while (n < k.indices.length && k.indices[n]! < stop) n++;
          if (n === 0) keys.delete(key);
          else if (n < k.indices.length) {
            k.indices.length = n;
            k.lateBefore.length = n;
          }
        }
      }
      for (const k of keys.values()) {
        try {
          const r = await this.applyKey(ctx, k.group, shardId, events, k, watermark, stats);
          out.written += r.written ? 1 : 0;
          out.conflicts += r.conflicts;
          if (r.late > 0) {
            out.late += r.late;
            st.late += r.late;
          }
          out.published.push(...r.published);
        } catch (err) {
          out.failures.push(err);
          out.failedAt = Math.min(out.failedAt, events.recordStart(k.indices[0]!));
        }
      }
    }
    return out;
  }

  /**
   * The ticker: advances the keys due before `watermark` (buffered events
   * the watermark passed, deadlines of absent steps, matches not yet
   * recorded) and republishes transitions whose publisher gave up.
   * `stepErrors`: per rule with some, the step and `until` conditions that
   * raised an error on the events released (SequenceStats.conditionErrors).
   */
  async advance(watermark: EpochMs): Promise<{ published: AlertTransition[]; stepErrors: Record<string, number> }> {
    const published: AlertTransition[] = [];
    const stepErrors: Record<string, number> = {};
    for (const ctx of this.contexts) {
      const { rule } = ctx;
      for (const { groupKey, record } of await this.store.activeAlerts(rule.name)) published.push(...(await this.recover(rule.name, groupKey, record)));
      for (const due of await this.store.dueSequences(rule.name, watermark)) {
        const stats = emptyStats();
        const r = await this.applyKey(ctx, groupFromKey(rule.groupBy, due.groupKey), null, null, null, watermark, stats);
        published.push(...r.published);
        if (stats.conditionErrors > 0) stepErrors[rule.name] = (stepErrors[rule.name] ?? 0) + stats.conditionErrors;
      }
    }
    return { published, stepErrors };
  }

  private async applyKey(
    ctx: { rule: SequenceRule; matcher: SequenceMatcher },
    group: GroupRef,
    shardId: string | null,
    events: DecodedBatch | null,
    batch: SequenceKey | null,
    watermark: EpochMs,
    stats: SequenceStats,
  ): Promise<{ written: boolean; conflicts: number; late: number; published: AlertTransition[] }> {
    const { rule, matcher } = ctx;
    const memo = `${rule.name}\u0000${group.key}`;
    let late = 0;
    let attemptStats = emptyStats();
    const build = (current: SequenceRecord | undefined): SequenceRecord | null => {
      const base: SequenceRecord = current ?? { hwms: {}, state: SequenceMatcher.empty(), out: [], ordinal: 0, dueAt: null };
      const hwm = shardId === null ? undefined : base.hwms[shardId];
      // Positions in `batch` of the events past the shard's high-water mark.
      const fresh: number[] = [];
      if (events !== null && batch !== null) {
        // A record's events share its sequence number: padded once per record.
        let seq: string | null = null;
        let isFresh = false;
        for (let n = 0; n < batch.indices.length; n++) {
          const sn = events.sequenceNumber(batch.indices[n]!);
          if (sn !== seq) {
            seq = sn;
            isFresh = hwm === undefined || padSequence(sn) > hwm;
          }
          if (isFresh) fresh.push(n);
        }
      }
      const known = this.recorded.get(memo) ?? 0;
      const prunable = base.out.some((m) => m.ordinal <= known);
      const due = matcher.dueAt(base.state);
      const advances = Number.isFinite(watermark) && (base.state.w === null || watermark > base.state.w) && due !== null && due < watermark;
      if (fresh.length === 0 && !advances && !prunable) return null;
      // The stats of the attempt that is written (a conflict decides again, on the stored record).
      attemptStats = emptyStats();
      const state = JSON.parse(JSON.stringify(base.state)) as SequenceRecord['state'];
      if (fresh.length > 0) {
        const onTime: SequenceInput[] = [];
        for (const n of fresh) {
          const i = batch!.indices[n]!;
          if (events!.times[i]! >= batch!.lateBefore[n]!) onTime.push(this.input(events!, i));
        }
        attemptStats.late += fresh.length - onTime.length;
        matcher.ingest(state, onTime, attemptStats);
      }
      const matches = matcher.advance(state, watermark, attemptStats);
      matcher.enforceBound(state, attemptStats);
      let ordinal = base.ordinal;
      const found: OrdinalMatch[] = matches.map((m) => ({ ...m, ordinal: ++ordinal }));
      const out = [...base.out.filter((m) => m.ordinal > known), ...found];
      const next = matcher.dueAt(state);
      // Unrecorded matches keep the key due at once (a crash before recording them is caught by the ticker).
      const dueAt = out.length > 0 ? Math.min(next ?? Infinity, (state.w ?? 0) - 1) : next;
      const hwms = fresh.length > 0 && shardId !== null ? { ...base.hwms, [shardId]: padSequence(events!.sequenceNumber(batch!.indices[fresh[fresh.length - 1]!]!)) } : base.hwms;
      return { hwms, state, out, ordinal, dueAt };
    };
    // The ticker decides on what is stored (its cache of the key may be behind the processors' writes).
    const outcome = await this.store.applySequence(rule.name, group.key, build, events === null ? { read: true } : {});
    if (outcome.status === 'applied') {
      late = attemptStats.late;
      addStats(stats, attemptStats);
    }
    const published: AlertTransition[] = [];
    const record = outcome.record;
    const known = this.recorded.get(memo) ?? 0;
    const pending = record?.out.filter((m) => m.ordinal > known) ?? [];
    if (pending.length > 0) {
      published.push(...(await this.alert(rule.name, group.key, (s) => onSequenceMatches(rule, group, s, pending))));
      this.recorded.set(memo, Math.max(...pending.map((m) => m.ordinal)));
    }
    return { written: outcome.status === 'applied', conflicts: outcome.conflicts, late, published };
  }

  private input(events: DecodedBatch, i: number): SequenceInput {
    const payload = events.payloads[i]!;
    const index = events.indexes[i]!;
    const seq = events.sequenceNumber(i);
    // Stable across deliveries: the producer's id, else the record's sequence number (and the event's index in it).
    const id = eventIdOf(this.stream, payload) ?? (index < 0 ? seq : `${seq}/${index}`);
    return { id, time: events.times[i]!, payload };
  }
}

/** One key's events in a batch: their indices, in order, and per event the lateness bound just before it. */
interface SequenceKey {
  readonly group: GroupRef;
  readonly indices: number[];
  readonly lateBefore: EpochMs[];
}

/** What one event was for one rule (processBatch's first pass). */
const KEYED = 1;
const IGNORED = 2;
const MISSING_GROUP = 3;
const FILTER_ERROR = 4;

function addStats(into: SequenceStats, from: SequenceStats): void {
  for (const k of Object.keys(from) as Array<keyof SequenceStats>) into[k] += from[k];
}
