/**
 * Finds and replaces one field's value inside a JSON text without parsing and
 * re-serialising the rest, so every other byte (number spellings, integers
 * beyond 2^53, key order, spacing, escapes) stays as it was.
 */

const WS = new Set([' ', '\t', '\n', '\r']);

function skipWs(s: string, i: number): number {
  while (i < s.length && WS.has(s[i]!)) i++;
  return i;
}

/** Index just after the string starting at `i` (s[i] is the opening quote). */
function skipString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s[j];
    if (c === '\\') j++;
    else if (c === '"') return j + 1;
  }
  throw new SyntaxError('unterminated string');
}

/** Index just after the JSON value starting at `i`. */
function skipValue(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return skipString(s, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s[j];
      if (d === '"') {
        j = skipString(s, j) - 1;
      } else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new SyntaxError('unterminated value');
  }
  let j = i;
  while (j < s.length && !WS.has(s[j]!) && s[j] !== ',' && s[j] !== '}' && s[j] !== ']') j++;
  if (j === i) throw new SyntaxError(`unexpected ${JSON.stringify(c ?? 'end')}`);
  return j;
}

/** The [start, end) span of the value at `path` (object keys, outermost first), or undefined when absent. */
export function findJsonField(text: string, path: readonly string[]): { readonly start: number; readonly end: number } | undefined {
  let i = skipWs(text, 0);
  for (let depth = 0; depth < path.length; depth++) {
    if (text[i] !== '{') return undefined;
    i = skipWs(text, i + 1);
    let found: { start: number; end: number } | undefined;
    // The last occurrence of a duplicated key is the one JSON.parse keeps.
    while (text[i] !== '}') {
      if (text[i] !== '"') throw new SyntaxError('expected a key');
      const keyEnd = skipString(text, i);
      const key = JSON.parse(text.slice(i, keyEnd)) as string;
      i = skipWs(text, keyEnd);
      if (text[i] !== ':') throw new SyntaxError('expected ":"');
      const start = skipWs(text, i + 1);
      const end = skipValue(text, start);
      if (key === path[depth]) found = { start, end };
      i = skipWs(text, end);
      if (text[i] === ',') i = skipWs(text, i + 1);
      else if (text[i] !== '}') throw new SyntaxError('expected "," or "}"');
    }
    if (found === undefined) return undefined;
    if (depth === path.length - 1) return found;
    i = found.start;
  }
  return undefined;
}

/** `text` with the value at `path` replaced by `json` (already serialised), or undefined when the field is absent. */
export function replaceJsonField(text: string, path: readonly string[], json: string): string | undefined {
  const span = findJsonField(text, path);
  if (span === undefined) return undefined;
  return text.slice(0, span.start) + json + text.slice(span.end);
}
