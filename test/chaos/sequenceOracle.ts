/**
 * The sequence rules of the chaos pipeline, checked by brute force: from the
 * records the producer wrote, the events each rule accepts (not quarantined,
 * not a producer duplicate, with the key field, not late by the shard's
 * watermark just before the event: the engine's rule), grouped by key and run
 * through the reference matcher (test/helpers/sequenceReference.ts) with the
 * final watermark past everything. Every match must be recorded once and
 * published at least once with its stable id, and nothing else published.
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

/** The matches of the chaos pipeline's sequence rules over the records as written. */
export function expectedMatches(shards: ReadonlyArray<readonly SimRecord[]>, stream: StreamSpec, rules: readonly SequenceRule[]): ExpectedMatch[] {
  const accepted: Array<{ m: Extract<EventMeta, { kind: 'event' }> }> = [];
  for (const records of shards) {
    let prior = -Infinity;
    const seen = new Set<string>();
    const fold = (m: EventMeta): void => {
      if (m.kind !== 'event') return;
      const watermark = prior - stream.outOfOrdernessMs;
      prior = Math.max(prior, m.t);
      if (seen.has(m.eventId)) return;
      seen.add(m.eventId);
      if (m.t < watermark) return;
      accepted.push({ m });
    };
    for (const r of records) {
      const meta = r.meta;
      if (meta.kind === 'multi') meta.events.forEach(fold);
      else if (meta.kind !== 'control') fold(meta);
    }
  }
  const out: ExpectedMatch[] = [];
  for (const rule of rules) {
    const byKey = new Map<string, ReferenceEvent[]>();
    for (const { m } of accepted) {
      const payload: Record<string, string | number> = { status: m.status, latencyMs: m.latencyMs, user: m.user, kind: 'http' };
      if (m.service !== null) payload['service'] = m.service;
      if (rule.groupBy.some((g) => payload[g] === undefined)) continue;
      const key = JSON.stringify(rule.groupBy.map((g) => String(payload[g])));
      const list = byKey.get(key) ?? [];
      list.push({ id: m.eventId, time: m.t, payload });
      byKey.set(key, list);
    }
    for (const [group, events] of byKey) {
      for (const match of referenceMatches(rule.name, rule.sequence, events, Infinity)) {
        out.push({ transitionId: `${match.id}:firing`, rule: rule.name, group, eventIds: match.eventIds, start: match.start, at: match.at });
      }
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
