import { createHash } from 'node:crypto';
import type { JsonObject } from './types';

/** Longest group label value kept as is; longer ones are shortened with a hash suffix. */
export const MAX_LABEL_LENGTH = 256;

export type GroupLabels = Readonly<Record<string, string | null>>;

export interface GroupRef {
  /** Canonical, collision-free key of the group's values (JSON of the value list). */
  readonly key: string;
  readonly labels: GroupLabels;
}

function shorten(value: string): string {
  if (value.length <= MAX_LABEL_LENGTH) return value;
  const digest = createHash('sha256').update(value).digest('hex').slice(0, 16);
  return `${value.slice(0, MAX_LABEL_LENGTH - 18)}…#${digest}`;
}

/** A payload value as a group label: strings as is, numbers and booleans as text, missing as null. */
export function labelValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return shorten(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  try {
    return shorten(JSON.stringify(value));
  } catch {
    // Nested too deeply to serialise (a hostile payload): one shared label, never a crash.
    return '[unserialisable value]';
  }
}

/**
 * True when the payload has every groupBy field as its own property (JSON
 * null counts as present). Nested paths were copied to the payload under
 * their text when the event was decoded (StreamSpec.materialize), so a path
 * that matched nothing is missing here too.
 */
export function hasGroupFields(groupBy: readonly string[], payload: JsonObject): boolean {
  for (let i = 0; i < groupBy.length; i++) {
    const field = groupBy[i]!;
    const v = payload[field];
    // A string is always the payload's own value (what a parsed JSON object inherits, Object.prototype's
    // members, is never a string): the own-property check, a call per event, is for other values only.
    if (typeof v !== 'string' && (v === undefined || !hasOwn.call(payload, field))) return false;
  }
  return true;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** The group an event belongs to under `groupBy` (a missing field reads as null; the fold skips such events first, see hasGroupFields). */
export function groupOf(groupBy: readonly string[], payload: JsonObject): GroupRef {
  if (groupBy.length === 0) return ALL;
  const labels: Record<string, string | null> = {};
  const values: Array<string | null> = [];
  for (const field of groupBy) {
    const v = labelValue(Object.prototype.hasOwnProperty.call(payload, field) ? payload[field] : undefined);
    labels[field] = v;
    values.push(v);
  }
  return { key: JSON.stringify(values), labels };
}

/** Rebuilds a group from its key (the key is the JSON of the values in groupBy order). */
export function groupFromKey(groupBy: readonly string[], key: string): GroupRef {
  const values = JSON.parse(key) as Array<string | null>;
  const labels: Record<string, string | null> = {};
  groupBy.forEach((field, i) => {
    labels[field] = values[i] ?? null;
  });
  return { key, labels };
}

const ALL: GroupRef = { key: '[]', labels: {} };
