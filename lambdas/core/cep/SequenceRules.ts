import type { DecodedBatch } from '../decode';
import { eventIdOf } from '../decode';
import { eventVariables } from '../expression';
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
   * to `watermark`. An event is late, as for window rules, when its time is
   * before the shard's watermark just before it (the largest event time of
   * the shard's earlier events, `priorMax` before the batch, minus the
   * out-of-orderness) or the stream's (`streamWatermark`); or before what its
   * key was already matched through (the matcher's own rule, which the first
   * implies in practice). Returns the lowest event index whose key failed
   * (Infinity when none), with the errors.
   */
  async processBatch(
    shardId: string,
    events: DecodedBatch,
    upTo: number,
    watermark: EpochMs,
    lateness: { readonly priorMax: EpochMs; readonly streamWatermark: EpochMs },
    perRule: Record<string, RuleBatchStats>,
  ): Promise<{ written: number; conflicts: number; late: number; published: AlertTransition[]; failedAt: number; failures: unknown[] }> {
    const out = { written: 0, conflicts: 0, late: 0, published: [] as AlertTransition[], failedAt: Infinity, failures: [] as unknown[] };
    const lateBefore = new Float64Array(Math.max(upTo, 1));
    let maxT = lateness.priorMax;
    for (let i = 0; i < upTo; i++) {
      lateBefore[i] = Math.max(maxT - this.stream.outOfOrdernessMs, lateness.streamWatermark);
      if (events.times[i]! > maxT) maxT = events.times[i]!;
    }
    // First every rule's keys, so that the key cap (maxKeys, as maxGroupsPerRulePerBatch for window rules)
    // can stop the batch at a record before any of it is applied for any rule.
    const firstRecord = events.records[0];
    let stop = upTo;
    const grouped = this.contexts.map((ctx) => {
      const { rule } = ctx;
      const outcome = new Uint8Array(upTo);
      const keys = new Map<string, { group: GroupRef; indices: number[] }>();
      let capAt = Infinity;
      for (let i = 0; i < stop; i++) {
        const payload = events.payloads[i]!;
        if (rule.where !== undefined) {
          let ok: boolean;
          try {
            ok = (rule.where.acceptsPayload === true ? rule.where.evaluate(payload) : rule.where.evaluate(eventVariables(payload))) === true;
          } catch {
            outcome[i] = FILTER_ERROR;
            ok = false;
          }
          if (!ok) continue;
        }
        if (!hasGroupFields(rule.groupBy, payload)) {
          outcome[i] = MISSING_GROUP;
          continue;
        }
        // An event no step (nor until) can use changes no state: its key is not written for it.
        if (!ctx.matcher.relevant(payload)) {
          outcome[i] = IGNORED;
          continue;
        }
        const group = groupOf(rule.groupBy, payload);
        let k = keys.get(group.key);
        if (k === undefined) {
          // The batch's first record is never stopped (it could never be applied otherwise).
          if (keys.size >= this.maxKeys && events.records[i] !== firstRecord) {
            capAt = events.recordStart(i);
            stop = Math.min(stop, capAt);
            break;
          }
          keys.set(group.key, (k = { group, indices: [] }));
        }
        outcome[i] = KEYED;
        k.indices.push(i);
      }
      return { ctx, outcome, keys, capAt };
    });
    if (stop < upTo) {
      out.failedAt = stop;
      out.failures.push(
        new Error(`a sequence rule reached ${this.maxKeys} keys in this batch: the batch stops at sequence number ${events.sequenceNumber(stop)}, which Lambda retries as the start of the next batch`),
      );
    }
    for (const { ctx, outcome, keys, capAt } of grouped) {
      const { rule } = ctx;
      const st = perRule[rule.name]!;
      const stats = (st.sequence ??= emptyStats());
      // Counted only for the events this batch applies (those past the stop come again in the retry).
      for (let i = 0; i < stop; i++) {
        const o = outcome[i]!;
        if (o === FILTER_ERROR) st.filterErrors += 1;
        else if (o === MISSING_GROUP) st.missingGroup += 1;
        else if (o === IGNORED || o === KEYED) st.matched += 1;
        if (o === IGNORED) stats.ignored += 1;
      }
      if (capAt === stop) st.overflow += 1;
      for (const [key, k] of keys) {
        const kept = k.indices.filter((i) => i < stop);
        if (kept.length === 0) keys.delete(key);
        else k.indices = kept;
      }
      for (const k of keys.values()) {
        try {
          const r = await this.applyKey(ctx, k.group, shardId, events, k.indices, watermark, stats, lateBefore);
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
   */
  async advance(watermark: EpochMs): Promise<AlertTransition[]> {
    const published: AlertTransition[] = [];
    for (const ctx of this.contexts) {
      const { rule } = ctx;
      for (const { groupKey, record } of await this.store.activeAlerts(rule.name)) published.push(...(await this.recover(rule.name, groupKey, record)));
      for (const due of await this.store.dueSequences(rule.name, watermark)) {
        const r = await this.applyKey(ctx, groupFromKey(rule.groupBy, due.groupKey), null, null, [], watermark, emptyStats(), null);
        published.push(...r.published);
      }
    }
    return published;
  }

  private async applyKey(
    ctx: { rule: SequenceRule; matcher: SequenceMatcher },
    group: GroupRef,
    shardId: string | null,
    events: DecodedBatch | null,
    indices: readonly number[],
    watermark: EpochMs,
    stats: SequenceStats,
    lateBefore: Float64Array | null,
  ): Promise<{ written: boolean; conflicts: number; late: number; published: AlertTransition[] }> {
    const { rule, matcher } = ctx;
    const memo = `${rule.name}\u0000${group.key}`;
    let late = 0;
    let attemptStats = emptyStats();
    const build = (current: SequenceRecord | undefined): SequenceRecord | null => {
      const base: SequenceRecord = current ?? { hwms: {}, state: SequenceMatcher.empty(), out: [], ordinal: 0, dueAt: null };
      const hwm = shardId === null ? undefined : base.hwms[shardId];
      const fresh = events === null ? [] : indices.filter((i) => hwm === undefined || padSequence(events.sequenceNumber(i)) > hwm);
      const known = this.recorded.get(memo) ?? 0;
      const prunable = base.out.some((m) => m.ordinal <= known);
      const due = matcher.dueAt(base.state);
      const advances = Number.isFinite(watermark) && (base.state.w === null || watermark > base.state.w) && due !== null && due < watermark;
      if (fresh.length === 0 && !advances && !prunable) return null;
      // The stats of the attempt that is written (a conflict decides again, on the stored record).
      attemptStats = emptyStats();
      const state = JSON.parse(JSON.stringify(base.state)) as SequenceRecord['state'];
      if (fresh.length > 0) {
        const onTime = lateBefore === null ? fresh : fresh.filter((i) => events!.times[i]! >= lateBefore[i]!);
        attemptStats.late += fresh.length - onTime.length;
        matcher.ingest(state, onTime.map((i) => this.input(events!, i)), attemptStats);
      }
      const matches = matcher.advance(state, watermark, attemptStats);
      matcher.enforceBound(state, attemptStats);
      let ordinal = base.ordinal;
      const found: OrdinalMatch[] = matches.map((m) => ({ ...m, ordinal: ++ordinal }));
      const out = [...base.out.filter((m) => m.ordinal > known), ...found];
      const next = matcher.dueAt(state);
      // Unrecorded matches keep the key due at once (a crash before recording them is caught by the ticker).
      const dueAt = out.length > 0 ? Math.min(next ?? Infinity, (state.w ?? 0) - 1) : next;
      const hwms = fresh.length > 0 && shardId !== null ? { ...base.hwms, [shardId]: padSequence(events!.sequenceNumber(fresh[fresh.length - 1]!)) } : base.hwms;
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

/** What one event was for one rule (processBatch's first pass). */
const KEYED = 1;
const IGNORED = 2;
const MISSING_GROUP = 3;
const FILTER_ERROR = 4;

function addStats(into: SequenceStats, from: SequenceStats): void {
  for (const k of Object.keys(from) as Array<keyof SequenceStats>) into[k] += from[k];
}
