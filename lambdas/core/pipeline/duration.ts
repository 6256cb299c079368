/**
 * Durations and byte sizes as written in the pipeline file.
 *
 * Durations: one or more `<number><unit>` parts, largest unit first, each unit
 * at most once: `500ms`, `30s`, `1m`, `1h30m`, `1.5s`, `7d`. Units: ms, s, m,
 * h, d. The bare number `0` (or "0") means zero. The result is a whole number of
 * milliseconds (`1.5ms` is rejected).
 *
 * Sizes: a plain number of bytes, or `<number>B`, `<number>KiB`, `<number>MiB`
 * (1024-based). `KB`/`MB` are rejected with a hint, as they are ambiguous.
 */

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type DurationUnit = keyof typeof UNIT_MS;
const UNIT_ORDER: readonly DurationUnit[] = ['d', 'h', 'm', 's', 'ms'];

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** Parses a duration, returning a message instead of throwing. */
export function tryParseDuration(input: unknown): ParseResult<number> {
  if (input === 0 || input === '0') return { ok: true, value: 0 };
  if (typeof input === 'number') {
    return { ok: false, message: `a duration needs a unit: write ${input}s, ${input}m or ${input}ms (units: ms, s, m, h, d)` };
  }
  if (typeof input !== 'string') {
    return { ok: false, message: 'expected a duration such as 30s, 1m, 1h30m (units: ms, s, m, h, d)' };
  }
  const text = input.trim();
  if (text === '') return { ok: false, message: 'expected a duration such as 30s, 1m, 1h30m; got an empty string' };
  if (/^-/.test(text)) return { ok: false, message: `a duration cannot be negative (given "${input}")` };
  if (/^\d+(\.\d+)?$/.test(text)) {
    return { ok: false, message: `a duration needs a unit: write ${text}s, ${text}m or ${text}ms (units: ms, s, m, h, d)` };
  }
  let total = 0;
  let pos = 0;
  let lastRank = -1;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m) {
      return { ok: false, message: `"${input}" is not a duration: expected <number><unit> parts such as 30s, 1m, 1h30m (units: ms, s, m, h, d)` };
    }
    const unit = m[2] as DurationUnit;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= lastRank) {
      return { ok: false, message: `"${input}" is not a duration: write the units largest first, each once (e.g. 1h30m)` };
    }
    lastRank = rank;
    total += Number(m[1]) * UNIT_MS[unit];
    pos = PART.lastIndex;
  }
  // 1.1s = 1100.0000000000002 in binary floating point: round to the micro-millisecond first.
  const rounded = Math.round(total * 1e6) / 1e6;
  if (!Number.isInteger(rounded)) {
    return { ok: false, message: `"${input}" is not a whole number of milliseconds` };
  }
  if (!Number.isSafeInteger(rounded)) return { ok: false, message: `"${input}" is too long` };
  return { ok: true, value: rounded };
}

/** `parseDuration("1m30s") === 90000`. Throws a RangeError with a readable message. */
export function parseDuration(input: string): number {
  const r = tryParseDuration(input);
  if (!r.ok) throw new RangeError(r.message);
  return r.value;
}

/** The shortest exact form: 90000 -> "1m30s", 500 -> "500ms", 0 -> "0s", 86400000 -> "1d". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  let rest = Math.round(ms);
  if (rest === 0) return '0s';
  let out = '';
  for (const unit of UNIT_ORDER) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNIT_MS[unit];
    }
  }
  return out;
}

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 * 1024 };

/** Parses a byte size: 1048576, "1048576", "512B", "256KiB", "1MiB". */
export function tryParseByteSize(input: unknown): ParseResult<number> {
  if (typeof input === 'number') {
    if (Number.isSafeInteger(input) && input >= 0) return { ok: true, value: input };
    return { ok: false, message: `expected a whole number of bytes (given ${input})` };
  }
  if (typeof input !== 'string') return { ok: false, message: 'expected a size such as 1MiB, 256KiB or a number of bytes' };
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(input);
  if (!m) return { ok: false, message: `"${input}" is not a size: expected e.g. 1MiB, 256KiB, 512B or a number of bytes` };
  const unit = m[2] === '' ? 'B' : m[2];
  const factor = SIZE_UNITS[unit];
  if (factor === undefined) {
    const hint = /^k/i.test(unit) ? ' (did you mean KiB?)' : /^m/i.test(unit) ? ' (did you mean MiB?)' : '';
    return { ok: false, message: `"${input}": unknown size unit "${unit}"; use B, KiB or MiB (1024-based)${hint}` };
  }
  const bytes = Number(m[1]) * factor;
  if (!Number.isSafeInteger(bytes)) return { ok: false, message: `"${input}" is not a whole number of bytes` };
  return { ok: true, value: bytes };
}

/** 1048576 -> "1MiB", 1536 -> "1.5KiB", 100 -> "100B". */
export function formatByteSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024 / 8) === 0) return `${bytes / (1024 * 1024)}MiB`;
  if (bytes >= 1024 && bytes % (1024 / 8) === 0) return `${bytes / 1024}KiB`;
  return `${bytes}B`;
}
