import type { AlertState, AlertTransition, StepResult } from '../lifecycle';
import type { GroupContext } from '../lifecycle';
import { formatDuration } from '../pipeline/duration';
import { renderTemplate } from '../pipeline/template';
import type { OrdinalMatch } from '../state/SequenceStorage';
import type { SequenceRule } from '../types';

/**
 * The alert lifecycle of a sequence rule: a match is an event, not a
 * condition that holds for a while, so each match is one `firing`
 * transition under its own alert id (the match id) and there is no
 * `resolved`. The group's alert state stays inactive; it only remembers the
 * ordinal of the last match recorded, so recording the same matches again
 * (a retry, a redelivery, the ticker after a crash) records nothing new.
 */
export function onSequenceMatches(rule: SequenceRule, group: GroupContext, s: AlertState, matches: readonly OrdinalMatch[]): StepResult {
  const done = s.matchesRecorded ?? 0;
  const fresh = matches.filter((m) => m.ordinal > done).sort((a, b) => a.ordinal - b.ordinal);
  if (fresh.length === 0) return { state: s, transitions: [] };
  return { state: { ...s, matchesRecorded: fresh[fresh.length - 1]!.ordinal }, transitions: fresh.map((m) => matchTransition(rule, group, m)) };
}

export function matchTransition(rule: SequenceRule, group: GroupContext, m: OrdinalMatch): AlertTransition {
  const values = { matchedEvents: m.events.length };
  const templateValues: Record<string, string | number | null> = {
    ...values,
    ...group.labels,
    rule: rule.name,
    severity: rule.severity,
    matchStart: new Date(m.start).toISOString(),
    matchAt: new Date(m.at).toISOString(),
    within: formatDuration(rule.sequence.withinMs),
  };
  m.bindings.forEach((b, i) => {
    for (const [f, v] of Object.entries(b)) templateValues[`steps.${i}.${f}`] = v === null || typeof v === 'number' || typeof v === 'string' ? v : JSON.stringify(v);
  });
  const annotations: Record<string, string> = {};
  for (const [name, template] of Object.entries(rule.annotations)) annotations[name] = renderTemplate(template, templateValues);
  return {
    alertId: m.id,
    transitionId: `${m.id}:firing`,
    rule: rule.name,
    state: 'firing',
    severity: rule.severity,
    group: group.labels,
    labels: rule.labels,
    window: { start: m.start, end: m.at },
    values,
    annotations,
    at: m.at,
    sequence: { matchId: m.id, events: m.events, bindings: m.bindings },
  };
}
