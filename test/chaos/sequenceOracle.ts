/**
 * The sequence rules of the chaos pipeline, checked by brute force: from the
 * records the producer wrote, the events each rule accepts (not quarantined,
 * not a producer duplicate, with the key field, not late by the shard's
 * watermark just before the event: the engine's rule), grouped by key and run
 * through the reference matcher (test/helpers/sequenceReference.ts) with the
 * final watermark past everything. Every match must be recorded once and
 * published at least once with its stable id, and nothing else published.
 *
 * One case is ambiguous by nature, and only one: a child shard after a
 * reshard before it first reports. The engine's lateness rule for sequences
 * is the shard's watermark or the stream's (the stream's never goes back),
 * and the stream's watermark holds back only the shards it knows, those with
 * progress: Lambda's Kinesis event says nothing of a shard's parents, so a
 * child is unknown until its first batch, while its parents, finished, still
 * hold the watermark at their last one. So an event of the child older than
 * that (the parents' final watermark, {@link inheritedBound}) but not late
 * for the child's own watermark is late or not depending on how far the
 * other shards had moved the stream's watermark when its batch ran: timing,
 * not records. The oracle takes either outcome for exactly these events (the
 * matches over the sure events plus any subset of these, the one the engine
 * published), and only for these; every other event's fate is decided by the
 * records (chaos seed 195: a u20 error at 10:01:35.255 on the child of a
 * lagging shard whose final watermark was 10:01:38.379).
 */
import type { SequenceRule, StreamSpec } from '../../lambdas/core/types';
import { referenceMatches, type ReferenceEvent } from '../helpers/sequenceReference';
import type { EventMeta, SimRecord } from './kinesis';
import type { ExpectedTransition } from './oracle';

export const CHAOS_SEQUENCE_RULES = `
  - alert: ErrorThenSlow
    stream: telemetry
    severity: warning
    sequence:
      by: [service]
      within: 1m
      steps:
        - where: 'status >= 500'
          bind: [user]
        - where: 'latencyMs >= 2000 && user != steps[0].user'
  - alert: ErrorUnanswered
    stream: telemetry
    severity: info
    sequence:
      by: [user]
      within: 20s
      steps:
        - where: 'status >= 500'
        - where: 'status < 500'
          absent: true
`;

export interface ExpectedMatch {
  readonly transitionId: string;
  readonly rule: string;
  readonly group: string;
  readonly eventIds: readonly string[];
  readonly start: number;
  readonly at: number;
}

/** A shard as the oracle sees it: its records and its parents (after a split or a merge). */
export interface OracleShard {
  readonly id: string;
  readonly parents: readonly string[];
  readonly records: readonly SimRecord[];
}

/**
 * Per shard: a bound on the stream's watermark before the shard reports
 * (-Infinity for a shard known from the start). A shard with progress holds
 * the stream's watermark at or below its own, and a finished parent keeps its
 * last one (the run is shorter than the idle timeout); so while a child is
 * unknown, the stream's watermark is at most, for each parent, the larger of
 * the parent's final watermark and the parent's own bound; after the child
 * reports, at most the larger of that and the child's own watermark.
 */
export function inheritedBound(shards: readonly OracleShard[], stream: StreamSpec): Map<string, number> {
  const bound = new Map<string, number>();
  const finalWm = (records: readonly SimRecord[]): number => {
    let max = -Infinity;
    const fold = (m: EventMeta): void => {
      if (m.kind === 'event') max = Math.max(max, m.t);
    };
    for (const r of records) {
      if (r.meta.kind === 'multi') r.meta.events.forEach(fold);
      else if (r.meta.kind !== 'control') fold(r.meta);
    }
    return max - stream.outOfOrdernessMs;
  };
  const byId = new Map(shards.map((s) => [s.id, s]));
  const of = (s: OracleShard): number => {
    const known = bound.get(s.id);
    if (known !== undefined) return known;
    let b = s.parents.length === 0 ? -Infinity : Infinity;
    for (const p of s.parents) {
      const parent = byId.get(p);
      b = Math.min(b, parent === undefined ? Infinity : Math.max(of(parent), finalWm(parent.records)));
    }
    bound.set(s.id, b);
    return b;
  };
  for (const s of shards) of(s);
  return bound;
}

/** Most ambiguous events of one key the oracle enumerates (2^n subsets); beyond it, all of them count as accepted. */
const MAX_AMBIGUOUS_PER_KEY = 10;

/**
 * The matches of the chaos pipeline's sequence rules over the records as
 * written. `published`: the transition ids the engine published, to pick,
 * for a key with ambiguous events, the subset of them the engine took (see
 * the file's comment); without it every ambiguous event counts as accepted.
 */
export function expectedMatches(shards: readonly OracleShard[], stream: StreamSpec, rules: readonly SequenceRule[], published?: ReadonlySet<string>): ExpectedMatch[] {
  const accepted: Array<{ m: Extract<EventMeta, { kind: 'event' }>; ambiguous: boolean }> = [];
  const bounds = inheritedBound(shards, stream);
  for (const shard of shards) {
    const bound = bounds.get(shard.id) ?? -Infinity;
    let prior = -Infinity;
    const seen = new Set<string>();
    const fold = (m: EventMeta): void => {
      if (m.kind !== 'event') return;
      const watermark = prior - stream.outOfOrdernessMs;
      prior = Math.max(prior, m.t);
      if (seen.has(m.eventId)) return;
      seen.add(m.eventId);
      if (m.t < watermark) return;
      accepted.push({ m, ambiguous: m.t < bound });
    };
    for (const r of shard.records) {
      const meta = r.meta;
      if (meta.kind === 'multi') meta.events.forEach(fold);
      else if (meta.kind !== 'control') fold(meta);
    }
  }
  const out: ExpectedMatch[] = [];
  for (const rule of rules) {
    const byKey = new Map<string, Array<ReferenceEvent & { ambiguous: boolean }>>();
    for (const { m, ambiguous } of accepted) {
      const payload: Record<string, string | number> = { status: m.status, latencyMs: m.latencyMs, user: m.user, kind: 'http' };
      if (m.service !== null) payload['service'] = m.service;
      if (rule.groupBy.some((g) => payload[g] === undefined)) continue;
      const key = JSON.stringify(rule.groupBy.map((g) => String(payload[g])));
      const list = byKey.get(key) ?? [];
      list.push({ id: m.eventId, time: m.t, payload, ambiguous });
      byKey.set(key, list);
    }
    for (const [group, events] of byKey) {
      const run = (taken: readonly ReferenceEvent[]): ExpectedMatch[] =>
        referenceMatches(rule.name, rule.sequence, taken, Infinity).map((match) => ({
          transitionId: `${match.id}:firing`,
          rule: rule.name,
          group,
          eventIds: match.eventIds,
          start: match.start,
          at: match.at,
        }));
      const ambiguous = events.filter((e) => e.ambiguous);
      let chosen = run(events);
      if (published !== undefined && ambiguous.length > 0 && ambiguous.length <= MAX_AMBIGUOUS_PER_KEY) {
        // Every subset of the ambiguous events (all of them first); the one whose matches are what the engine published.
        const candidates: ExpectedMatch[][] = [];
        for (let mask = (1 << ambiguous.length) - 1; mask >= 0; mask--) {
          const dropped = new Set(ambiguous.filter((_, i) => (mask & (1 << i)) === 0).map((e) => e.id));
          candidates.push(run(events.filter((e) => !dropped.has(e.id))));
        }
        const possible = new Set(candidates.flatMap((c) => c.map((m) => m.transitionId)));
        const got = new Set([...possible].filter((id) => published.has(id)));
        const exact = candidates.find((c) => c.length === got.size && c.every((m) => got.has(m.transitionId)));
        if (exact !== undefined) chosen = exact;
      }
      out.push(...chosen);
    }
  }
  return out;
}

/** The expected matches as the alert oracle's transitions (compareAlerts in oracle.ts). */
export function sequenceTransitions(matches: readonly ExpectedMatch[]): ExpectedTransition[] {
  return matches.map((m) => ({
    transitionId: m.transitionId,
    rule: m.rule,
    group: m.group,
    state: 'firing',
    window: { start: m.start, end: m.at },
    values: { n: m.eventIds.length, errs: 0, total: 0, lo: null, hi: null },
    sequence: { eventIds: m.eventIds },
  }));
}
