/**
 * promtool's input notation, read as tidewatch reads it.
 *
 * Series: `name{label="value", ...}` (Prometheus series notation; `name` may
 * also be given as the `__name__` label). Each label becomes a string field of
 * the events; `name` is the field that holds each sample's value.
 *
 * Values (promtool's expanding notation), whitespace-separated:
 *   `a`        one sample of value a
 *   `a+bxn`    a, a+b, a+2b, … a+n·b   (n+1 samples)
 *   `a-bxn`    a, a-b, … a-n·b          (n+1 samples)
 *   `axn`      a, n+1 times (shorthand for a+0xn)
 *   `_`        no sample at this step
 *   `_xn`      no sample for n steps
 * promtool's `stale` has no meaning for events and is refused.
 */

export interface Series {
  /** The field that holds the sample value. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export type ParsedSeries = { readonly ok: true; readonly series: Series } | { readonly ok: false; readonly message: string; readonly offset: number };

const NAME = /[A-Za-z_:][A-Za-z0-9_:]*/y;
const LABEL = /[A-Za-z_][A-Za-z0-9_]*/y;

/** Parses `name{a="x", b="y"}`. */
export function parseSeries(text: string): ParsedSeries {
  let i = 0;
  const fail = (message: string, at = i): ParsedSeries => ({ ok: false, message, offset: at });
  const blank = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  blank();
  let name: string | undefined;
  NAME.lastIndex = i;
  const n = NAME.exec(text);
  if (n) {
    name = n[0];
    i = NAME.lastIndex;
  }
  blank();
  const labels: Record<string, string> = {};
  if (text[i] === '{') {
    i++;
    for (;;) {
      blank();
      if (text[i] === '}') {
        i++;
        break;
      }
      LABEL.lastIndex = i;
      const l = LABEL.exec(text);
      if (!l) return fail(`expected a label name (letters, digits and _) or "}" in series ${JSON.stringify(text)}`);
      const label = l[0];
      const labelAt = i;
      i = LABEL.lastIndex;
      blank();
      if (text[i] !== '=') return fail(`expected = after label ${label}${text[i] === '~' || text.startsWith('!=', i) ? ' (a series names exact values: no matchers)' : ''}`);
      i++;
      if (text[i] === '~') return fail(`label ${label}: a series names exact values (${label}="x"), not matchers`);
      blank();
      if (text[i] !== '"') return fail(`label ${label}: expected a value in double quotes, e.g. ${label}="x"`);
      i++;
      let value = '';
      for (;;) {
        if (i >= text.length) return fail(`label ${label}: the value's closing quote is missing`);
        const c = text[i++]!;
        if (c === '"') break;
        if (c === '\\') {
          const e = text[i++];
          if (e === 'n') value += '\n';
          else if (e === '"' || e === '\\') value += e;
          else return fail(`label ${label}: unknown escape \\${e ?? ''} (use \\", \\\\ or \\n)`, i - 2);
        } else value += c;
      }
      if (label === '__name__') {
        if (name !== undefined) return fail('the series has a name and a __name__ label: give one', labelAt);
        name = value;
      } else {
        if (Object.hasOwn(labels, label)) return fail(`label ${label} is given twice`, labelAt);
        labels[label] = value;
      }
      blank();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        break;
      }
      return fail(`expected , or } after label ${label}`);
    }
  }
  blank();
  if (i < text.length) return fail(`unexpected ${JSON.stringify(text.slice(i, i + 10))} in series ${JSON.stringify(text)}: expected name{label="value", ...}`);
  if (name === undefined || name === '') {
    return fail('the series needs a name: the field that holds each sample\'s value, e.g. latencyMs{service="search"}', 0);
  }
  return { ok: true, series: { name, labels } };
}

/** One step of a series: a value, or `null` for `_` (no sample). */
export type Sample = number | null;

export type ParsedValues = { readonly ok: true; readonly samples: Sample[] } | { readonly ok: false; readonly message: string; readonly offset: number };

const UNSIGNED = String.raw`(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?`;
const NUM = `[+-]?${UNSIGNED}`;
const EXPANSION = new RegExp(`^(${NUM})(?:([+-])(${UNSIGNED}))?x(\\d+)$`);
const NUMBER = new RegExp(`^${NUM}$`);
const MISSING = /^_(?:x(\d+))?$/;

/** Most samples one series may expand to: a test is small, and a typo like 1x100000000 must not eat the memory. */
export const MAX_SAMPLES = 100_000;

/** Expands promtool's value notation. */
export function parseValues(text: string): ParsedValues {
  const samples: Sample[] = [];
  const re = /\S+/g;
  for (const m of text.matchAll(re)) {
    const token = m[0];
    const at = m.index;
    const fail = (message: string): ParsedValues => ({ ok: false, message, offset: at });
    if (token === 'stale') return fail('stale markers are a Prometheus scrape notion with no meaning for events: write _ for a step without an event');
    const miss = MISSING.exec(token);
    if (miss) {
      const n = miss[1] === undefined ? 1 : Number(miss[1]);
      if (samples.length + n > MAX_SAMPLES) return fail(`a series may have at most ${MAX_SAMPLES} steps`);
      for (let k = 0; k < n; k++) samples.push(null);
      continue;
    }
    if (NUMBER.test(token)) {
      samples.push(Number(token));
      continue;
    }
    const ex = EXPANSION.exec(token);
    if (ex) {
      const a = Number(ex[1]);
      const b = ex[2] === undefined ? 0 : Number(ex[3]) * (ex[2] === '-' ? -1 : 1);
      const n = Number(ex[4]);
      if (samples.length + n + 1 > MAX_SAMPLES) return fail(`a series may have at most ${MAX_SAMPLES} steps (${token} alone gives ${n + 1})`);
      for (let k = 0; k <= n; k++) samples.push(a + k * b);
      continue;
    }
    if (/^[+-]?(inf|nan)/i.test(token)) return fail(`${token}: events carry JSON numbers, which cannot be infinite or NaN`);
    return fail(`${JSON.stringify(token)} is not a value: expected a number, a+bxn, a-bxn, axn, _ or _xn (e.g. 1+0x10)`);
  }
  if (samples.length === 0) return { ok: false, message: 'no values: expected e.g. 1+0x10 or "200 200 503"', offset: 0 };
  return { ok: true, samples };
}
