/**
 * Field paths: how the pipeline file names a value inside an event, wherever
 * it names a field (`timestamp`, `id`, `groupBy`, annotation templates,
 * derived fields). The syntax is CEL's own select and index syntax, so a path
 * reads the same in `groupBy` as in a `where` expression:
 *
 * | path                     | reads                                             |
 * |--------------------------|---------------------------------------------------|
 * | `service`                | the top-level field `service`                     |
 * | `detail.service`         | field `service` of the object in `detail`         |
 * | `detail["detail-type"]`  | a key that is not an identifier (quotes ' or ")   |
 * | `["a.b"]`                | a top-level key that contains a dot               |
 * | `records[0].id`          | element 0 of an array                             |
 *
 * Only an object's own keys are read (never `constructor` or `__proto__` from
 * its prototype). A path that meets a missing key, a non-object or an index
 * past the end reads `undefined`: the value is *missing*, which is not the
 * same as a JSON `null` written by the producer.
 */

export type PathSegment = string | number;

export interface FieldPath {
  /** The path as written, e.g. `detail["detail-type"]`. */
  readonly source: string;
  readonly segments: readonly PathSegment[];
  /** True for a single identifier segment: the value is `payload[source]`. */
  readonly simple: boolean;
}

const IDENT_START = /[A-Za-z_$]/;
const IDENT_PART = /[A-Za-z0-9_$]/;

/** Parses a field path; returns a message naming the problem (and what is allowed) when it is not one. */
export function parseFieldPath(source: string): FieldPath | string {
  const segments: PathSegment[] = [];
  let i = 0;
  const n = source.length;
  const allowed = 'a field path is names joined by dots, with ["key"] for keys that are not names and [0] for array elements, e.g. detail.service or detail["detail-type"]';
  if (n === 0) return `empty field path: ${allowed}`;
  let expectName = true;
  while (i < n) {
    const ch = source[i]!;
    if (ch === '[') {
      const q = source[i + 1];
      if (q === '"' || q === "'") {
        let j = i + 2;
        let key = '';
        while (j < n && source[j] !== q) {
          if (source[j] === '\\' && j + 1 < n) j++;
          key += source[j];
          j++;
        }
        if (j >= n || source[j + 1] !== ']') return `unterminated [${q}…${q}] at offset ${i} in ${JSON.stringify(source)}: ${allowed}`;
        segments.push(key);
        i = j + 2;
      } else {
        const m = /^\[(\d{1,9})\]/.exec(source.slice(i));
        if (!m) return `expected ["key"] or [index] at offset ${i} in ${JSON.stringify(source)}: ${allowed}`;
        segments.push(Number(m[1]));
        i += m[0].length;
      }
      expectName = false;
      continue;
    }
    if (ch === '.') {
      if (expectName || i === n - 1) return `misplaced "." at offset ${i} in ${JSON.stringify(source)}: ${allowed}`;
      i++;
      expectName = true;
      if (!IDENT_START.test(source[i] ?? '')) return `expected a name after "." at offset ${i} in ${JSON.stringify(source)}: ${allowed}`;
      continue;
    }
    if (!expectName || !IDENT_START.test(ch)) return `unexpected ${JSON.stringify(ch)} at offset ${i} in ${JSON.stringify(source)}: ${allowed}`;
    let j = i + 1;
    while (j < n && IDENT_PART.test(source[j]!)) j++;
    segments.push(source.slice(i, j));
    i = j;
    expectName = false;
  }
  return { source, segments, simple: segments.length === 1 && typeof segments[0] === 'string' && segments[0] === source };
}

/** The value at `path` in `value`, or undefined when it is missing (own keys only). */
export function readPath(value: unknown, path: FieldPath): unknown {
  let v = value;
  for (const seg of path.segments) {
    if (v === null || typeof v !== 'object') return undefined;
    if (typeof seg === 'number') {
      if (!Array.isArray(v)) return undefined;
      v = v[seg];
    } else {
      if (Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, seg)) return undefined;
      v = (v as Record<string, unknown>)[seg];
    }
  }
  return v;
}
