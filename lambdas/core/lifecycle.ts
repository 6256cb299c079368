import { createHash } from 'node:crypto';
import { anomalyTemplateValues } from './anomaly/rule';
import type { AnomalyVerdict } from './anomaly/types';
import type { GroupLabels } from './group';
import { formatDuration } from './pipeline/duration';
import { renderTemplate } from './pipeline/template';
import type { EpochMs, Rule, Severity } from './types';
import type { TimeWindow } from './windows';

/**
 * The alert lifecycle of one (rule, group), in the spirit of Prometheus:
 *
 *   inactive ──condition holds──▶ pending ──held for `for` windows──▶ firing
 *      ▲                            │                                   │
 *      └──────condition fails───────┴────────── resolved ◀──────────────┘
 *
 * Only `firing` and `resolved` are published. Each episode has a
 * deterministic alert id (rule, group, first window of the episode), so a
 * retried step produces the same id and the same transition id.
 */
export type AlertStatus = 'inactive' | 'pending' | 'firing';

export interface AlertState {
  readonly status: AlertStatus;
  /** Closed windows (or sessions) in a row in which the condition held. */
  readonly consecutive: number;
  /** Start of the last closed window evaluated; windows at or before it are ignored (idempotence). */
  readonly evaluatedThrough: EpochMs | null;
  /** End of the last closed window evaluated. */
  readonly evaluatedEnd: EpochMs | null;
  /** Start of the first window of the current pending/firing episode. */
  readonly episodeStart: EpochMs | null;
  readonly alertId: string | null;
  /** Start of the window in which the alert fired (early mode can fire before earlier windows close). */
  readonly firedInWindow: EpochMs | null;
  /** Last time the group was seen (absence rules only). */
  readonly lastSeen: EpochMs | null;
  /**
   * Absence rules with `resolveAfter`, while firing: event time of the first
   * event after the silence (the group is back, the alert not resolved yet).
   */
  readonly recoveringSince?: EpochMs | null;
  /** Absence rules, while firing: the last event before the current silence (default: episodeStart). */
  readonly silentSince?: EpochMs | null;
  /** Sequence rules: the ordinal of the last match recorded for the group (matches are recorded once, in order). */
  readonly matchesRecorded?: number;
}

export const INITIAL_ALERT_STATE: AlertState = {
  status: 'inactive',
  consecutive: 0,
  evaluatedThrough: null,
  evaluatedEnd: null,
  episodeStart: null,
  alertId: null,
  firedInWindow: null,
  lastSeen: null,
};

/** What subscribers receive: one lifecycle transition of one alert. */
export interface AlertTransition {
  readonly alertId: string;
  /** Unique per alert and state: the idempotency/deduplication id of this notification. */
  readonly transitionId: string;
  readonly rule: string;
  readonly state: 'firing' | 'resolved';
  readonly severity: Severity;
  readonly group: GroupLabels;
  readonly labels: Readonly<Record<string, string>>;
  readonly window: TimeWindow;
  readonly values: Readonly<Record<string, number | null>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Event time at which the transition happened (window end, or the absence deadline). */
  readonly at: EpochMs;
  /** Anomaly rules: the verdict of the window (score, expected, band, warming) the transition was decided on. */
  readonly anomaly?: AnomalyVerdict;
  /** Sequence rules: the match (its events' ids and times, the bound fields); see cep/lifecycle.ts. */
  readonly sequence?: SequenceMatchPayload;
}

/** What a sequence alert says about its match. */
export interface SequenceMatchPayload {
  /** The match id (also the alert id): derived from the rule and the matched events' ids. */
  readonly matchId: string;
  readonly events: ReadonlyArray<{ readonly id: string; readonly time: EpochMs; readonly step: number }>;
  /** Bound fields per step (`bind:` and the `steps[i].field` references). */
  readonly bindings: ReadonlyArray<Readonly<Record<string, unknown>>>;
}

export interface StepResult {
  readonly state: AlertState;
  readonly transitions: readonly AlertTransition[];
}

export function alertIdOf(rule: string, groupKey: string, episodeStart: EpochMs): string {
  return createHash('sha256').update(`${rule}\n${groupKey}\n${episodeStart}`).digest('hex').slice(0, 32);
}

export interface GroupContext {
  readonly key: string;
  readonly labels: GroupLabels;
}

/** Recovery texts: whole seconds past a second ("2m10s", not "2m10s113ms"). */
function roughDuration(ms: number): string {
  return formatDuration(ms >= 1000 ? Math.round(ms / 1000) * 1000 : ms);
}

/**
 * The templates of a notification: `annotations` when firing; when resolved,
 * `resolvedAnnotations` over `annotations`, and for an absence rule a summary
 * that says the group came back (the firing text describes the silence).
 */
function templatesFor(rule: Rule, state: 'firing' | 'resolved'): Readonly<Record<string, string>> {
  if (state === 'firing') return rule.annotations;
  const out: Record<string, string> = { ...rule.annotations };
  if (rule.type === 'absence' && out['summary'] !== undefined) {
    const who = rule.groupBy.length > 0 ? rule.groupBy.map((g) => `{{${g}}}`).join(' ') : '{{rule}}';
    out['summary'] = `${who}: seen again after {{silentFor}} without events`;
  }
  return { ...out, ...(rule.resolvedAnnotations ?? {}) };
}

function transition(
  rule: Rule,
  group: GroupContext,
  alertId: string,
  state: 'firing' | 'resolved',
  window: TimeWindow,
  values: Readonly<Record<string, number | null>>,
  at: EpochMs,
  anomaly?: AnomalyVerdict,
): AlertTransition {
  const templateValues: Record<string, string | number | null> = {
    ...values,
    ...(anomaly ? anomalyTemplateValues(anomaly) : {}),
    ...group.labels,
    rule: rule.name,
    severity: rule.severity,
    'window.start': new Date(window.start).toISOString(),
    'window.end': new Date(window.end).toISOString(),
  };
  if (rule.type === 'absence') {
    templateValues['lastSeen'] = new Date(window.start).toISOString();
    templateValues['absentFor'] = formatDuration(rule.absentMs);
    if (state === 'resolved') {
      templateValues['silentFor'] = roughDuration(window.end - window.start);
      templateValues['seenAgain'] = new Date(window.end).toISOString();
    }
  }
  const annotations: Record<string, string> = {};
  for (const [name, template] of Object.entries(templatesFor(rule, state))) annotations[name] = renderTemplate(template, templateValues);
  return {
    alertId,
    transitionId: `${alertId}:${state}`,
    rule: rule.name,
    state,
    severity: rule.severity,
    group: group.labels,
    labels: rule.labels,
    window,
    values,
    annotations,
    at,
    ...(anomaly ? { anomaly } : {}),
  };
}

export interface WindowVerdict {
  readonly window: TimeWindow;
  readonly holds: boolean;
  readonly values: Readonly<Record<string, number | null>>;
  /** Event time of the verdict for an open window (its newest event); closed windows use their end. */
  readonly at?: EpochMs;
  /** Anomaly rules: the window's verdict (anomaly/rule.ts). */
  readonly anomaly?: AnomalyVerdict;
}

/**
 * A closed window (or session) was evaluated. `step` is the distance between
 * consecutive windows' starts (null for sessions: every session follows the
 * previous one). A window that is not after `evaluatedThrough` is a no-op, so
 * the step is safe to repeat.
 */
export function onWindowClosed(
  rule: Rule & { readonly for: number },
  group: GroupContext,
  s: AlertState,
  verdict: WindowVerdict,
  step: number | null,
  /**
   * The rule's values of an empty window (counts 0, others null), for windows skipped over: a resolve
   * published from the gap carries the same values as one from an evaluated empty window (issue 19).
   */
  emptyValues: Readonly<Record<string, number | null>> = {},
): StepResult {
  const { window } = verdict;
  if (s.evaluatedThrough !== null && window.start <= s.evaluatedThrough) return { state: s, transitions: [] };
  if (s.status === 'firing' && s.firedInWindow !== null && window.start < s.firedInWindow) {
    // An earlier window closing after an early fire in a later one: bookkeeping only, no resolve.
    const consecutive = verdict.holds ? s.consecutive + 1 : 0;
    return { state: { ...s, consecutive, evaluatedThrough: window.start, evaluatedEnd: window.end }, transitions: [] };
  }
  const transitions: AlertTransition[] = [];
  let state = s;
  // Windows skipped over had no events for this group: the condition did not hold there.
  if (step !== null && state.evaluatedThrough !== null && window.start - step > state.evaluatedThrough) {
    const gapStart = state.evaluatedThrough + step;
    const gap = { start: gapStart, end: gapStart + (window.end - window.start) };
    const r = fail(rule, group, state, gap, emptyValues);
    state = { ...r.state, evaluatedThrough: gapStart, evaluatedEnd: gap.end };
    transitions.push(...r.transitions);
  }
  if (verdict.holds) {
    const consecutive = state.consecutive + 1;
    const episodeStart = state.consecutive === 0 && state.status !== 'firing' ? window.start : (state.episodeStart ?? window.start);
    if (state.status === 'firing') {
      return { state: { ...state, consecutive, evaluatedThrough: window.start, evaluatedEnd: window.end }, transitions };
    }
    if (consecutive >= rule.for) {
      const alertId = alertIdOf(rule.name, group.key, episodeStart);
      transitions.push(transition(rule, group, alertId, 'firing', window, verdict.values, window.end, verdict.anomaly));
      return {
        state: { ...state, status: 'firing', consecutive, episodeStart, alertId, firedInWindow: window.start, evaluatedThrough: window.start, evaluatedEnd: window.end },
        transitions,
      };
    }
    return { state: { ...state, status: 'pending', consecutive, episodeStart, evaluatedThrough: window.start, evaluatedEnd: window.end }, transitions };
  }
  const r = fail(rule, group, state, window, verdict.values, verdict.anomaly);
  return { state: { ...r.state, evaluatedThrough: window.start, evaluatedEnd: window.end }, transitions: [...transitions, ...r.transitions] };
}

function fail(rule: Rule, group: GroupContext, s: AlertState, window: TimeWindow, values: Readonly<Record<string, number | null>>, anomaly?: AnomalyVerdict): StepResult {
  const transitions: AlertTransition[] = [];
  if (s.status === 'firing' && s.alertId !== null) {
    transitions.push(transition(rule, group, s.alertId, 'resolved', window, values, window.end, anomaly));
  }
  return { state: { ...s, status: 'inactive', consecutive: 0, episodeStart: null, alertId: null, firedInWindow: null }, transitions };
}

/**
 * `emit: early`: the condition was evaluated on an open window's current
 * aggregates. Fires as soon as it holds and the windows before it complete
 * the `for` run; never resolves (only a closed window can).
 */
export function onWindowUpdated(
  rule: Rule & { readonly for: number },
  group: GroupContext,
  s: AlertState,
  verdict: WindowVerdict,
  step: number | null,
): StepResult {
  const { window } = verdict;
  if (!verdict.holds || s.status === 'firing') return { state: s, transitions: [] };
  if (s.evaluatedThrough !== null && window.start <= s.evaluatedThrough) return { state: s, transitions: [] };
  const adjacent = s.evaluatedThrough !== null && (step === null || window.start - step === s.evaluatedThrough);
  const preceding = adjacent ? s.consecutive : 0;
  if (preceding + 1 < rule.for) return { state: s, transitions: [] };
  const episodeStart = preceding > 0 && s.episodeStart !== null ? s.episodeStart : window.start;
  const alertId = alertIdOf(rule.name, group.key, episodeStart);
  return {
    state: { ...s, status: 'firing', alertId, episodeStart, consecutive: preceding, firedInWindow: window.start },
    transitions: [transition(rule, group, alertId, 'firing', window, verdict.values, verdict.at ?? window.end)],
  };
}

/** The state without an absence episode's recovery bookkeeping (absent keys stay absent). */
function endEpisode(s: AlertState, lastSeen: EpochMs | null): AlertState {
  const next: { -readonly [K in keyof AlertState]: AlertState[K] } = { ...s, status: 'inactive', alertId: null, episodeStart: null, firedInWindow: null, lastSeen };
  delete next.recoveringSince;
  delete next.silentSince;
  return next;
}

/** The last event before a firing absence alert's silence. */
function silentSinceOf(s: AlertState): EpochMs {
  return s.silentSince ?? s.episodeStart ?? s.lastSeen ?? -Infinity;
}

/**
 * Absence rules: the group sent an event at `eventTime`. A firing alert
 * resolves at once when the rule has no `resolveAfter`. With one, the first
 * event after the silence starts a recovery, and the alert resolves at the
 * first event at least `resolveAfter` later, provided the group did not fall
 * silent for `absentMs` in between (then the recovery starts again).
 */
export function onSeen(rule: Rule, group: GroupContext, s: AlertState, eventTime: EpochMs): StepResult {
  const lastSeen = Math.max(s.lastSeen ?? -Infinity, eventTime);
  if (s.status === 'firing' && s.alertId !== null) {
    const silentSince = silentSinceOf(s);
    if (eventTime > silentSince) {
      const resolveAfter = rule.type === 'absence' ? (rule.resolveAfterMs ?? 0) : 0;
      const resolve = (since: EpochMs): StepResult => {
        const window = { start: silentSince, end: since };
        return {
          state: endEpisode(s, lastSeen),
          transitions: [transition(rule, group, s.alertId!, 'resolved', window, { silenceMs: since - silentSince }, eventTime)],
        };
      };
      if (resolveAfter <= 0) return resolve(eventTime);
      const recovering = s.recoveringSince ?? null;
      const absentMs = rule.type === 'absence' ? rule.absentMs : Infinity;
      if (recovering === null) return { state: { ...s, lastSeen, recoveringSince: eventTime, silentSince }, transitions: [] };
      // This event ends a new silence (the group was away for absentMs again): the recovery starts over.
      if (s.lastSeen !== null && eventTime - s.lastSeen >= absentMs) {
        return { state: { ...s, lastSeen, recoveringSince: eventTime, silentSince: s.lastSeen }, transitions: [] };
      }
      if (eventTime >= recovering + resolveAfter) return resolve(recovering);
      const recoveringSince = Math.min(recovering, eventTime);
      if (recoveringSince === recovering && lastSeen === s.lastSeen) return { state: s, transitions: [] };
      return { state: { ...s, lastSeen, recoveringSince }, transitions: [] };
    }
  }
  return { state: lastSeen === s.lastSeen ? s : { ...s, lastSeen }, transitions: [] };
}

/**
 * Absence rules: the watermark moved. Fires when the group has been silent for
 * `absentMs`. A firing alert that is recovering (`resolveAfter`) and whose
 * group fell silent again for `absentMs` keeps firing, the same episode; the
 * recovery starts again at the group's next event.
 */
export function onAbsenceCheck(rule: Rule & { readonly absentMs: number }, group: GroupContext, s: AlertState, watermark: EpochMs): StepResult {
  if (s.lastSeen === null) return { state: s, transitions: [] };
  if (s.status === 'firing') {
    if (s.recoveringSince === undefined || s.recoveringSince === null || watermark < s.lastSeen + rule.absentMs) return { state: s, transitions: [] };
    return { state: { ...s, recoveringSince: null, silentSince: s.lastSeen }, transitions: [] };
  }
  const deadline = s.lastSeen + rule.absentMs;
  if (watermark < deadline) return { state: s, transitions: [] };
  const alertId = alertIdOf(rule.name, group.key, s.lastSeen);
  const window = { start: s.lastSeen, end: deadline };
  return {
    state: { ...s, status: 'firing', alertId, episodeStart: s.lastSeen, firedInWindow: s.lastSeen },
    transitions: [transition(rule, group, alertId, 'firing', window, { silenceMs: rule.absentMs }, deadline)],
  };
}
