/**
 * The `sequence:` block of a rule (complex event processing), checked and
 * compiled on its own so compile.ts only dispatches to it:
 *
 *   - alert: DeployThenErrors
 *     stream: telemetry
 *     sequence:
 *       by: [service]                 # the key (or groupBy: on the rule; not both)
 *       within: 15m                   # required: the maximum span
 *       steps:                        # 2 to 16, in order
 *         - where: 'kind == "deploy"'
 *           bind: [version]           # kept for later steps and templates
 *         - where: 'kind == "http" && status >= 500 && version == steps[0].version'
 *           count: 5
 *       until: 'kind == "rollback"'   # expires the key's partial matches
 *       onNew: keep                   # keep (default) | restart
 *       maxPartials: 10               # with keep: 1 to 64
 *
 * Semantics: lambdas/core/cep/matcher.ts and the README ("Sequence rules").
 */

import { buildSequenceSpec, SEQUENCE_BOUNDS, SEQUENCE_DEFAULTS, type RawStep } from '../cep/spec';
import type { SequenceSpec } from '../cep/types';
import { formatByteSize, formatDuration, tryParseByteSize, tryParseDuration } from './duration';
import { describe, didYouMean } from './suggest';
import type { Path } from './yamlSource';

/** Bounds of `within` (inclusive). */
export const SEQUENCE_WITHIN = { min: 1_000, max: 7 * 86_400_000 } as const;

export const SEQUENCE_KEYS = ['by', 'within', 'steps', 'until', 'onNew', 'maxPartials', 'maxStateSize'] as const;
export const SEQUENCE_STEP_KEYS = ['where', 'count', 'bind', 'absent'] as const;

/** Template names of every sequence rule, besides its group labels and `steps.N.field` of bound fields. */
export const SEQUENCE_TEMPLATE_NAMES = ['matchStart', 'matchAt', 'matchedEvents', 'within'] as const;

/** Reports one problem: the path below the rule, the field as a dotted path, the message, an offset in a CEL source. */
export type Report = (path: Path, field: string, message: string, opts?: { readonly key?: boolean; readonly offset?: number }) => void;

export interface CompiledSequence {
  readonly spec: SequenceSpec;
  /** `sequence.by`, when given (the rule's key). */
  readonly by?: readonly string[];
  /** Template names the rule's annotations may use (besides group labels and the common ones). */
  readonly templateNames: readonly string[];
}

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Compiles `sequence:` (the value at `rule.sequence`). Returns undefined after reporting when it is wrong. */
export function compileSequence(raw: unknown, what: string, report: Report): CompiledSequence | undefined {
  const base: Path = ['sequence'];
  if (!isMap(raw)) {
    report(base, 'sequence', `expected a map with within: and steps: (given ${describe(raw)})`);
    return undefined;
  }
  let ok = true;
  const fail = (path: Path, field: string, message: string, opts?: { key?: boolean; offset?: number }) => {
    ok = false;
    report(path, field, message, opts);
  };
  for (const key of Object.keys(raw)) {
    if (!(SEQUENCE_KEYS as readonly string[]).includes(key)) fail([...base, key], `sequence.${key}`, `unknown key${didYouMean(key, SEQUENCE_KEYS)} (sequence may have: ${SEQUENCE_KEYS.join(', ')})`, { key: true });
  }
  let withinMs = 0;
  if (!Object.hasOwn(raw, 'within')) fail(base, 'sequence.within', `missing (required): the maximum span of a match, e.g. 15m (${formatDuration(SEQUENCE_WITHIN.min)} to ${formatDuration(SEQUENCE_WITHIN.max)})`);
  else {
    const d = tryParseDuration(raw.within);
    if (!d.ok) fail([...base, 'within'], 'sequence.within', d.message);
    else if (d.value < SEQUENCE_WITHIN.min || d.value > SEQUENCE_WITHIN.max) {
      fail([...base, 'within'], 'sequence.within', `must be between ${formatDuration(SEQUENCE_WITHIN.min)} and ${formatDuration(SEQUENCE_WITHIN.max)} (given ${describe(raw.within)})`);
    } else withinMs = d.value;
  }
  let by: string[] | undefined;
  if (Object.hasOwn(raw, 'by')) {
    if (!Array.isArray(raw.by) || raw.by.some((b) => typeof b !== 'string' || b.trim() === '')) {
      fail([...base, 'by'], 'sequence.by', `expected a list of field paths, e.g. [user] or [detail.host] (given ${describe(raw.by)})`);
    } else by = raw.by as string[];
  }
  const steps: RawStep[] = [];
  if (!Object.hasOwn(raw, 'steps')) fail(base, 'sequence.steps', `missing (required): a list of ${SEQUENCE_BOUNDS.minSteps} to ${SEQUENCE_BOUNDS.maxSteps} steps, e.g. [{ where: 'kind == "deploy"' }, { where: 'status >= 500' }]`);
  else if (!Array.isArray(raw.steps)) fail([...base, 'steps'], 'sequence.steps', `expected a list of steps (- where: ...) (given ${describe(raw.steps)})`);
  else {
    raw.steps.forEach((s: unknown, i: number) => {
      const path: Path = [...base, 'steps', i];
      const field = `sequence.steps[${i}]`;
      if (!isMap(s)) {
        fail(path, field, `expected a step: a map with where: (and count:, bind:, absent:) (given ${describe(s)})`);
        steps.push({});
        return;
      }
      for (const key of Object.keys(s)) {
        if (!(SEQUENCE_STEP_KEYS as readonly string[]).includes(key)) fail([...path, key], `${field}.${key}`, `unknown key${didYouMean(key, SEQUENCE_STEP_KEYS)} (a step may have: ${SEQUENCE_STEP_KEYS.join(', ')})`, { key: true });
      }
      const step: { where?: string; count?: number; bind?: string[]; absent?: boolean } = {};
      if (Object.hasOwn(s, 'where')) {
        if (typeof s.where !== 'string' || s.where.trim() === '') fail([...path, 'where'], `${field}.where`, `expected a CEL condition on the event, e.g. 'kind == "deploy"' (given ${describe(s.where)})`);
        else step.where = s.where;
      }
      if (Object.hasOwn(s, 'count')) {
        if (typeof s.count !== 'number') fail([...path, 'count'], `${field}.count`, `expected a whole number of events from 1 to ${SEQUENCE_BOUNDS.maxCount} (given ${describe(s.count)})`);
        else step.count = s.count;
      }
      if (Object.hasOwn(s, 'bind')) {
        if (!Array.isArray(s.bind) || s.bind.some((b) => typeof b !== 'string')) fail([...path, 'bind'], `${field}.bind`, `expected a list of top-level field names, e.g. [version] (given ${describe(s.bind)})`);
        else step.bind = s.bind as string[];
      }
      if (Object.hasOwn(s, 'absent')) {
        if (typeof s.absent !== 'boolean') fail([...path, 'absent'], `${field}.absent`, `expected true (no such event within the span) or false (given ${describe(s.absent)})`);
        else step.absent = s.absent;
      }
      steps.push(step);
    });
  }
  let until: string | undefined;
  if (Object.hasOwn(raw, 'until')) {
    if (typeof raw.until !== 'string' || raw.until.trim() === '') fail([...base, 'until'], 'sequence.until', `expected a CEL condition on the event, e.g. 'kind == "rollback"' (given ${describe(raw.until)})`);
    else until = raw.until;
  }
  let onNew: 'keep' | 'restart' | undefined;
  if (Object.hasOwn(raw, 'onNew')) {
    if (raw.onNew !== 'keep' && raw.onNew !== 'restart') fail([...base, 'onNew'], 'sequence.onNew', `expected one of keep | restart (given ${describe(raw.onNew)})`);
    else onNew = raw.onNew;
  }
  let maxPartials: number | undefined;
  if (Object.hasOwn(raw, 'maxPartials')) {
    if (typeof raw.maxPartials !== 'number') fail([...base, 'maxPartials'], 'sequence.maxPartials', `expected a whole number from 1 to ${SEQUENCE_BOUNDS.maxPartials} (given ${describe(raw.maxPartials)})`);
    else maxPartials = raw.maxPartials;
  }
  let maxStateBytes: number | undefined;
  if (Object.hasOwn(raw, 'maxStateSize')) {
    const b = tryParseByteSize(raw.maxStateSize);
    if (!b.ok) fail([...base, 'maxStateSize'], 'sequence.maxStateSize', b.message);
    else if (b.value < 1024 || b.value > SEQUENCE_BOUNDS.maxStateBytes) {
      fail([...base, 'maxStateSize'], 'sequence.maxStateSize', `must be between ${formatByteSize(1024)} and ${formatByteSize(SEQUENCE_BOUNDS.maxStateBytes)} (given ${describe(raw.maxStateSize)})`);
    } else maxStateBytes = b.value;
  }
  if (!ok) return undefined;
  const r = buildSequenceSpec(
    {
      steps,
      withinMs,
      ...(until !== undefined ? { until } : {}),
      ...(onNew !== undefined ? { onNew } : {}),
      ...(maxPartials !== undefined ? { maxPartials } : {}),
      ...(maxStateBytes !== undefined ? { maxStateBytes } : {}),
    },
    what,
  );
  if (!r.ok) {
    for (const issue of r.issues) {
      // The spec names fields `steps[1].where`, `maxPartials`, ...: the same names below `sequence`.
      const m = /^steps\[(\d+)\](?:\.(\w+))?$/.exec(issue.field);
      const path: Path = m ? [...base, 'steps', Number(m[1]), ...(m[2] !== undefined ? [m[2]] : [])] : [...base, issue.field === 'within' ? 'within' : issue.field];
      const field = issue.field === 'maxStateBytes' ? 'sequence.maxStateSize' : `sequence.${issue.field}`;
      report(path, field, issue.message, issue.offset !== undefined ? { offset: issue.offset } : {});
    }
    return undefined;
  }
  const names: string[] = [...SEQUENCE_TEMPLATE_NAMES];
  r.spec.steps.forEach((s, i) => {
    for (const f of s.bind) names.push(`steps.${i}.${f}`);
  });
  return { spec: r.spec, ...(by !== undefined ? { by } : {}), templateNames: names };
}

export { SEQUENCE_DEFAULTS };
