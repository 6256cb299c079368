/**
 * Anomaly detection as part of a window rule: the `anomaly:` block of the
 * pipeline file, the model record kept per (rule, group), and how a closed
 * window is scored and learned, exactly once.
 *
 * ```yaml
 * - alert: ErrorSpike
 *   window: { tumbling: 1m }
 *   groupBy: [service]
 *   aggregate: { errors: 'count(status >= 500)', total: 'count()' }
 *   anomaly: { of: errors, direction: up }       # detector robust, sensitivity 4, warmup 12
 *   when: 'anomaly.score > 0.99 && total >= 20.0'  # 0.99: outside the band
 * ```
 *
 * Per closed window of a group the rule's detector gives a verdict (score,
 * expected, lower, upper, warming) computed on the model **before** it learns
 * the window; `when` sees it as `anomaly.*`, annotations as `{{anomaly.*}}`,
 * and the alert payload carries it. Then the model learns the window.
 *
 * Exactly once (the argument). The model of (rule, group) is one record:
 * the detector's serialised state, `last` (the start of the last window it
 * learned) and `recent`, the verdicts of the last {@link RECENT_VERDICTS}
 * windows it learned. Closing window W is one step over that record, in one
 * optimistic conditional write. Where the record is kept decides the guard
 * ({@link modelInAlertRecord}): a robust model is kept in the group's alert
 * record and learned by the window's lifecycle step ({@link learnInAlert};
 * StateStore.updateAlert: "the record is still the version this step read");
 * a seasonal model keeps an item of its own (StateStore.updateModel: "the
 * stored `last` is still the one this step read"). Either guard implies that
 * the record the step read is the one it replaces, so:
 *
 * - `last` < W.start: the verdict is computed from the stored state, the
 *   state learns W, and the verdict is written **in the same write** into
 *   `recent`. One conditional write per (rule, group) per closed window (in
 *   the alert record: the same write that records the alert step).
 * - `last` ≥ W.start: W was learned already (a redelivery, a bisected batch,
 *   a closer that crashed after the learning write and before finishing the
 *   window, a second ticker that lost the race): the model is not written
 *   (in the alert record: nor is anything else, the alert step being
 *   idempotent per window).
 *
 * Either way the verdict the engine uses is the one read back from the
 * stored record's `recent`, never one computed locally. So every attempt at
 * closing W, concurrent or retried after a crash, sees the same verdict: the
 * one computed once from the state before W was learned. The alert step that
 * follows (lifecycle.onWindowClosed, itself idempotent per window) therefore
 * decides the same transition on every attempt. A retry that finds W older
 * than the `recent` horizon (only if 16 later windows of the group were
 * learned while W stayed unfinished, which the ordered closing of due keys
 * rules out) gets no verdict: `when` does not hold, the model is untouched.
 *
 * Windows are learned in order because a group's due windows close in order
 * of their start (StateStore.dueKeys) and every closer goes through them in
 * that order; a window whose group sent nothing has no key (or only the
 * closed marker of a window judged empty, which the engine does not score),
 * and so is not learned: a gap is not a zero. With `fill: <number>` the
 * windows skipped since `last` (at most {@link MAX_FILLED_WINDOWS}, the most
 * recent ones) are learned as that value first, in the same write.
 */
import type { AlertState, StepResult } from '../lifecycle';
import type { AlertStep } from '../StateStore';
import { detectorNamed, DETECTORS } from './detectors';
import { DEFAULT_ANOMALY_OPTIONS, type AnomalyDirection, type AnomalyOptions, type AnomalyVerdict, type Season } from './types';

/** The compiled `anomaly:` block of a window rule. */
export interface AnomalySpec {
  /** The aggregate whose windowed series is modelled. */
  readonly of: string;
  /** A detector name of the registry (detectors.ts). @default 'robust' */
  readonly detector: string;
  readonly options: AnomalyOptions;
  /** Value learned for windows in which the group sent nothing; null: such windows are not learned. @default null */
  readonly fill: number | null;
}

/** The model of one (rule, group), as the state store keeps it. */
/**
 * How long a model outlives its last learned window: a group silent this long starts its warm-up again. A
 * model item carries it as its TTL; a model kept in the alert record (which has no TTL) is dropped by the
 * next window it would learn past it (learnInAlert), the same outcome.
 */
export const MODEL_RETENTION_MS = 30 * 86_400_000;

export interface ModelRecord {
  /** Detector the state belongs to (a rule whose detector changed starts afresh). */
  readonly detector: string;
  /** The detector's serialised state (bounded by MAX_ANOMALY_STATE_BYTES). */
  readonly state: string;
  /** Start of the last window learned; the guard of the conditional write. */
  readonly last: number;
  /** The verdicts of the last windows learned, oldest first: what a retried close reads back. */
  readonly recent: readonly LearnedWindow[];
}

export interface LearnedWindow {
  readonly start: number;
  readonly value: number;
  readonly verdict: AnomalyVerdict;
}

export const RECENT_VERDICTS = 16;
export const MAX_FILLED_WINDOWS = 1000;

/** The fields of `anomaly` in `when`, and `{{anomaly.<field>}}` in annotations. */
export const ANOMALY_FIELDS = ['score', 'expected', 'lower', 'upper', 'warming'] as const;
export const ANOMALY_TEMPLATE_NAMES: readonly string[] = ANOMALY_FIELDS.map((f) => `anomaly.${f}`);

export const ANOMALY_DEFAULTS = { detector: 'robust' } as const;

// ------------------------------------------------------------------ compile

export interface AnomalyIssue {
  /** Path under the rule, e.g. ['anomaly', 'direction']. */
  readonly path: ReadonlyArray<string | number>;
  /** e.g. 'anomaly.direction'. */
  readonly field: string;
  readonly message: string;
  readonly key?: boolean;
}

const DIRECTIONS: readonly AnomalyDirection[] = ['up', 'down', 'both'];

/** Numeric options: range and whether whole. Every key of AnomalyOptions but direction. */
const NUMERIC: Readonly<Record<string, { min: number; max: number; minOpen?: boolean; maxOpen?: boolean; int?: boolean; text: string }>> = {
  sensitivity: { min: 0, max: 20, minOpen: true, text: 'a number above 0 and at most 20 (the half-width of the band in robust standard deviations; score 0.99 at its edge)' },
  warmup: { min: 2, max: 1000, int: true, text: 'a whole number of windows from 2 to 1000' },
  alpha: { min: 0, max: 1, minOpen: true, maxOpen: true, text: 'a number between 0 and 1 (exclusive): the weight of a new window' },
  shiftAfter: { min: 2, max: 50, int: true, text: 'a whole number of windows from 2 to 50' },
  minSpread: { min: 0, max: Number.MAX_VALUE, text: 'a number ≥ 0 (the smallest spread of the band, in the unit of the aggregate)' },
};

const SEASONS: readonly Season[] = ['day', 'week'];

export const ANOMALY_KEYS = ['of', 'detector', 'direction', ...Object.keys(NUMERIC), 'season', 'fill'] as const;

const given = (v: unknown): string => `(given ${typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a map' : String(v)})`;

/**
 * Compiles a rule's `anomaly:` block against its aggregates. `fixedWindows`
 * is false for session windows (not a regular series); `early` for
 * `emit: early` (a verdict needs a closed window).
 */
export function compileAnomaly(
  raw: unknown,
  ctx: { readonly aggregates: readonly string[]; readonly fixedWindows: boolean; readonly early: boolean },
): { spec: AnomalySpec | undefined; issues: AnomalyIssue[] } {
  const issues: AnomalyIssue[] = [];
  const add = (sub: string | null, message: string, key = false): void => {
    issues.push({ path: sub === null ? ['anomaly'] : ['anomaly', sub], field: sub === null ? 'anomaly' : `anomaly.${sub}`, message, ...(key ? { key } : {}) });
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    add(null, `expected a map such as { of: errors, direction: up } ${given(raw)}`);
    return { spec: undefined, issues };
  }
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!(ANOMALY_KEYS as readonly string[]).includes(k)) add(k, `unknown key (anomaly may have: ${ANOMALY_KEYS.join(', ')})`, true);
  }
  if (!ctx.fixedWindows) add(null, 'needs a tumbling or hopping window: a session is not a regular series of windows');
  if (ctx.early) add(null, 'cannot be used with emit: early: a window is scored when it closes (remove emit: early)');

  let of: string | undefined;
  if (r['of'] === undefined) {
    if (ctx.aggregates.length === 1) of = ctx.aggregates[0];
    else add(null, `missing (required): of, the aggregate to model, one of ${ctx.aggregates.join(' | ')}`);
  } else if (typeof r['of'] !== 'string' || !ctx.aggregates.includes(r['of'])) {
    add('of', `expected the name of one of this rule's aggregates: ${ctx.aggregates.join(' | ')} ${given(r['of'])}`);
  } else of = r['of'];

  let detector: string = ANOMALY_DEFAULTS.detector;
  const names = Object.keys(DETECTORS);
  if (r['detector'] !== undefined) {
    if (typeof r['detector'] !== 'string' || !names.includes(r['detector'])) add('detector', `expected one of ${names.join(' | ')} ${given(r['detector'])}`);
    else detector = r['detector'];
  }

  const options: Record<string, unknown> = { ...DEFAULT_ANOMALY_OPTIONS };
  if (r['direction'] !== undefined) {
    if (!DIRECTIONS.includes(r['direction'] as AnomalyDirection)) add('direction', `expected one of ${DIRECTIONS.join(' | ')} (up: only rises alert) ${given(r['direction'])}`);
    else options['direction'] = r['direction'];
  }
  for (const [k, b] of Object.entries(NUMERIC)) {
    const v = r[k];
    if (v === undefined) continue;
    const ok =
      typeof v === 'number' && Number.isFinite(v) && (b.int !== true || Number.isInteger(v)) &&
      (b.minOpen ? v > b.min : v >= b.min) && (b.maxOpen ? v < b.max : v <= b.max);
    if (!ok) add(k, `expected ${b.text} ${given(v)}`);
    else options[k] = v;
  }
  if (r['season'] !== undefined) {
    if (!SEASONS.includes(r['season'] as Season)) add('season', `expected one of ${SEASONS.join(' | ')} (the seasonal detector's profile: hour of day, or hour of week) ${given(r['season'])}`);
    else if (detector !== 'seasonal') add('season', `applies to the seasonal detector only (this rule's detector is ${detector}): add detector: seasonal, or remove season`);
    else options['season'] = r['season'];
  }
  let fill: number | null = null;
  if (r['fill'] !== undefined) {
    if (typeof r['fill'] !== 'number' || !Number.isFinite(r['fill'])) add('fill', `expected a number learned for windows in which the group sent nothing, e.g. 0 for counts ${given(r['fill'])}`);
    else fill = r['fill'];
  }
  if (issues.length > 0 || of === undefined) return { spec: undefined, issues };
  return { spec: { of, detector, options: options as unknown as AnomalyOptions, fill }, issues };
}

/** `anomaly.<name>` uses in a `when` source whose name is not a verdict field. */
export function unknownAnomalyFields(when: string): Array<{ name: string; offset: number }> {
  const out: Array<{ name: string; offset: number }> = [];
  for (const m of when.matchAll(/\banomaly\s*\.\s*([A-Za-z_]\w*)/g)) {
    if (!(ANOMALY_FIELDS as readonly string[]).includes(m[1]!)) out.push({ name: m[1]!, offset: m.index });
  }
  return out;
}

// ------------------------------------------------------------------ evaluation

/** The `anomaly` variable of `when`. */
export function anomalyVariable(v: AnomalyVerdict): Record<string, number | boolean> {
  return { score: v.score, expected: v.expected, lower: v.lower, upper: v.upper, warming: v.warming };
}

/** `{{anomaly.*}}` values of annotations. */
export function anomalyTemplateValues(v: AnomalyVerdict): Record<string, string | number> {
  return {
    'anomaly.score': v.score,
    'anomaly.expected': v.expected,
    'anomaly.lower': v.lower,
    'anomaly.upper': v.upper,
    'anomaly.warming': v.warming ? 'true' : 'false',
  };
}

/** The value of the modelled aggregate in a window's values (null: nothing to learn). */
export function modelledValue(spec: AnomalySpec, values: Readonly<Record<string, number | null>>): number | null {
  const v = values[spec.of];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * The step of closing `windowStart` over the stored model (undefined: none
 * yet): the record to write, or null when nothing is to be written (the
 * window was learned already, or its value is not a number). Pure.
 */
export function learnStep(
  spec: AnomalySpec,
  current: ModelRecord | undefined,
  windowStart: number,
  value: number | null,
  step: number | null,
): ModelRecord | null {
  if (current !== undefined && current.last >= windowStart) return null;
  if (value === null) return null;
  const det = detectorNamed(spec.detector);
  const same = current !== undefined && current.detector === spec.detector;
  let state = same ? det.parse(current.state) : det.empty;
  if (same && spec.fill !== null && step !== null && current.last >= 0) {
    const from = Math.max(current.last + step, windowStart - MAX_FILLED_WINDOWS * step);
    for (let s = from; s < windowStart; s += step) state = det.apply(state, s, spec.fill, spec.options);
  }
  const verdict = det.verdict(state, windowStart, value, spec.options);
  const next = det.apply(state, windowStart, value, spec.options);
  const recent = [...(same ? current.recent : []), { start: windowStart, value, verdict }].slice(-RECENT_VERDICTS);
  return { detector: spec.detector, state: det.serialise(next), last: windowStart, recent };
}

/** The verdict the stored record holds for a window (null: not learned, or older than `recent`). */
export function storedVerdict(record: ModelRecord | undefined, windowStart: number): AnomalyVerdict | null {
  return record?.recent.find((r) => r.start === windowStart)?.verdict ?? null;
}

/** What a closer needs of the state store (StateStore.updateModel). */
export interface ModelStore {
  updateModel(rule: string, groupKey: string, step: (current: ModelRecord | undefined) => ModelRecord | null): Promise<ModelRecord | undefined>;
}

/**
 * Scores and learns one closed window of (rule, group): at most one
 * conditional write. Returns the stored verdict of the window (see the
 * argument at the top of this file), null when there is none.
 */
export async function scoreClosedWindow(
  store: ModelStore,
  rule: string,
  spec: AnomalySpec,
  groupKey: string,
  windowStart: number,
  values: Readonly<Record<string, number | null>>,
  step: number | null,
): Promise<AnomalyVerdict | null> {
  const value = modelledValue(spec, values);
  const after = await store.updateModel(rule, groupKey, (current) => learnStep(spec, current, windowStart, value, step));
  return storedVerdict(after, windowStart);
}

/**
 * Where the model of a rule is kept. In the alert record it costs no write of its own: the record is
 * written once per closed window anyway, and learning in that write saves the model item's write
 * and its read. But DynamoDB charges a write by the whole item's size (1 KB units), and the alert
 * item is also rewritten to confirm each publish, read by every close of its group, and read by
 * the activeAlerts query of every advance of the rule (a Query is charged by the size of every
 * item it reads, the ones its filter drops too), which the ticker runs once a minute. Measured on
 * models that learned for long (the recent verdicts binary in the alert item: tableLayout.ts):
 *
 * - robust (the sample's ErrorSpike): model item 2.96 KB (3 WRU) + alert item 0.30 KB (1 WRU) per
 *   closed window before; one alert item of 1.23 KB (2 WRU) now, the model's strongly consistent
 *   read gone; a confirm costs 2 WRU instead of 1, the activeAlerts query reads 0.93 KB more per
 *   group. Kept in the record.
 * - seasonal, a filled week profile (state 4.1 KB, up to 8 KB): 7 + 1 WRU before, 6 WRU merged, but
 *   every confirm 6 WRU instead of 1 and, with the hourly windows it is made for, 60 activeAlerts
 *   queries per window reading 5 KB more per group: about 75 read units per group and hour against
 *   2 write units saved. Kept in its own item (StateStore.updateModel), as before.
 *
 * Decided per detector on the bound of its state (Detector.maxStateBytes), never on the size a
 * model happens to have, so a rule's model never moves between the two places as it grows.
 */
export const MODEL_IN_ALERT_MAX_STATE_BYTES = 2048;

export function modelInAlertRecord(spec: Pick<AnomalySpec, 'detector'>): boolean {
  return detectorNamed(spec.detector).maxStateBytes <= MODEL_IN_ALERT_MAX_STATE_BYTES;
}

/**
 * The lifecycle step of a closed window of a rule whose model the alert record keeps
 * ({@link modelInAlertRecord}): learns the window on the model the record holds (learnStep) and
 * decides the lifecycle step on the verdict the model after it holds for the window
 * (storedVerdict), in the one conditional write of the record. The argument at the top of this
 * file holds with the alert record's version as the guard: a retried or concurrent close finds
 * the window learned (`last` ≥ its start) and gets the verdict computed when it was learned, so
 * it decides the same step (itself idempotent per window: evaluatedThrough). The model is always
 * handed back (learned or as given), so a model read from the old model item moves into the
 * record with the first write. `seen.verdict` is the verdict of the step's last run (the one
 * written, or decided on the stored record): what the caller reports.
 */
export function learnInAlert(
  spec: AnomalySpec,
  windowStart: number,
  values: Readonly<Record<string, number | null>>,
  step: number | null,
  lifecycle: (state: AlertState, verdict: AnomalyVerdict | null) => StepResult,
  seen: { verdict?: AnomalyVerdict | null },
): AlertStep {
  const value = modelledValue(spec, values);
  return (state, kept) => {
    // Past its retention the model is gone, as a model item is by its TTL (MODEL_RETENTION_MS): a warm-up again.
    const model = kept !== undefined && windowStart - kept.last > MODEL_RETENTION_MS ? undefined : kept;
    const after = learnStep(spec, model, windowStart, value, step) ?? model;
    const verdict = storedVerdict(after, windowStart);
    seen.verdict = verdict;
    const r = lifecycle(state, verdict);
    return after === undefined ? r : { ...r, model: after };
  };
}
