/**
 * Annotation templates: `{{name}}` is replaced by a value. Names are checked when
 * the pipeline is loaded (see `templateNames`), so rendering never meets an
 * unknown name in practice; if it does, the placeholder is left as written.
 *
 * Names available to a rule's annotations:
 *   - every group label of the rule (its `groupBy` fields), e.g. `{{service}}`;
 *   - `{{rule}}` (the alert name) and `{{severity}}`;
 *   - window rules: every aggregate name, e.g. `{{errors}}`, and `{{window.start}}`,
 *     `{{window.end}}` (the caller passes ISO-8601 strings); with `anomaly:` also
 *     `{{anomaly.score}}`, `{{anomaly.expected}}`, `{{anomaly.lower}}`,
 *     `{{anomaly.upper}}` and `{{anomaly.warming}}` (true/false);
 *   - absence rules: `{{lastSeen}}` (ISO-8601 time of the group's last event) and
 *     `{{absentFor}}` (the rule's `absent` duration, e.g. "2m"); in
 *     `resolvedAnnotations` also `{{silentFor}}` (how long the group was silent,
 *     e.g. "2m10s") and `{{seenAgain}}` (ISO-8601 time of its first event after).
 */

import { ANOMALY_TEMPLATE_NAMES } from '../anomaly/rule';
import type { Rule } from '../types';

/**
 * `{{ name }}`: a name is letters, digits, `_`, `-`, `.`, and the `["key"]` of a
 * field path (a groupBy label such as `detail["detail-type"]`); blanks inside
 * the braces are allowed.
 */
const PLACEHOLDER = /\{\{\s*((?:[A-Za-z_]|\[(?:"[^"{}]*"|'[^'{}]*')\])(?:[\w.-]|\[(?:"[^"{}]*"|'[^'{}]*'|\d+)\])*)\s*\}\}/g;

/** Built-in names every rule's templates may use. */
export const COMMON_TEMPLATE_NAMES = ['rule', 'severity'] as const;
/** Built-in names of window rules' templates. */
export const WINDOW_TEMPLATE_NAMES = ['window.start', 'window.end'] as const;
/** Built-in names of absence rules' templates. */
export const ABSENCE_TEMPLATE_NAMES = ['lastSeen', 'absentFor'] as const;
/** Built-in names of absence rules' resolved templates, on top of ABSENCE_TEMPLATE_NAMES. */
export const ABSENCE_RESOLVED_TEMPLATE_NAMES = ['silentFor', 'seenAgain'] as const;

/** What a null value (e.g. avg of an empty window) renders as. */
export const NULL_TEXT = 'n/a';

/**
 * Formats a number compactly: integers as they are; other numbers with at most
 * two decimals when |x| >= 1 and three significant digits below 1, trailing zeros
 * dropped: 0.0734 -> "0.0734", 1234.5678 -> "1234.57", 0.123456 -> "0.123".
 */
export function formatNumber(n: number): string {
  if (Number.isInteger(n) || !Number.isFinite(n)) return String(n);
  const text = Math.abs(n) >= 1 ? n.toFixed(2) : n.toPrecision(3);
  if (/e/i.test(text) || !text.includes('.')) return text;
  return text.replace(/\.?0+$/, '');
}

function formatValue(v: string | number | null): string {
  if (v === null) return NULL_TEXT;
  return typeof v === 'number' ? formatNumber(v) : v;
}

/** Replaces every `{{name}}` with its value; unknown names are left as written. */
export function renderTemplate(template: string, values: Readonly<Record<string, string | number | null>>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => (Object.hasOwn(values, name) ? formatValue(values[name]!) : whole));
}

/** The placeholders of a template, in order, with their offsets (for messages). */
export function templatePlaceholders(template: string): { name: string; offset: number }[] {
  const out: { name: string; offset: number }[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) out.push({ name: m[1]!, offset: m.index });
  return out;
}

/** Offset of a `{{` that does not open a well-formed placeholder, or -1. */
export function malformedPlaceholderOffset(template: string): number {
  const stripped = template.replace(PLACEHOLDER, (whole) => ' '.repeat(whole.length));
  const i = stripped.indexOf('{{');
  if (i >= 0) return i;
  return stripped.indexOf('}}');
}

/** Every name the annotations of `rule` may use (group labels, aggregates, built-ins). */
export function templateNames(rule: Rule): string[] {
  const names: string[] = [...rule.groupBy, ...COMMON_TEMPLATE_NAMES];
  if (rule.type === 'window') {
    names.push(...rule.aggregates.map((a) => a.name), ...WINDOW_TEMPLATE_NAMES);
    if (rule.anomaly) names.push(...ANOMALY_TEMPLATE_NAMES);
  } else if (rule.type === 'sequence') {
    // The same names as SEQUENCE_TEMPLATE_NAMES (pipeline/sequenceRule.ts), and the bound fields.
    names.push('matchStart', 'matchAt', 'matchedEvents', 'within');
    rule.sequence.steps.forEach((s, i) => names.push(...s.bind.map((f) => `steps.${i}.${f}`)));
  } else names.push(...ABSENCE_TEMPLATE_NAMES);
  return names;
}
