import type { EpochMs, WindowSpec } from './types';

/** A half-open interval of event time: start inclusive, end exclusive. */
export interface TimeWindow {
  readonly start: EpochMs;
  readonly end: EpochMs;
}

function floorTo(t: EpochMs, step: number): EpochMs {
  return Math.floor(t / step) * step;
}

/**
 * The fixed (tumbling or hopping) windows an event at `t` belongs to, oldest
 * first. Session windows are not fixed: see {@link sessionOf} and
 * {@link mergeSessions}.
 */
export function assignWindows(spec: WindowSpec, t: EpochMs): TimeWindow[] {
  switch (spec.kind) {
    case 'tumbling': {
      const start = floorTo(t, spec.sizeMs);
      return [{ start, end: start + spec.sizeMs }];
    }
    case 'hopping': {
      const out: TimeWindow[] = [];
      const last = floorTo(t, spec.slideMs);
      for (let start = last - spec.sizeMs + spec.slideMs; start <= last; start += spec.slideMs) {
        if (t >= start && t < start + spec.sizeMs) out.push({ start, end: start + spec.sizeMs });
      }
      return out;
    }
    case 'session':
      return [sessionOf(spec.gapMs, t)];
  }
}

/** The distance between the starts of consecutive windows of a fixed window kind. */
export function windowStep(spec: WindowSpec): number {
  switch (spec.kind) {
    case 'tumbling':
      return spec.sizeMs;
    case 'hopping':
      return spec.slideMs;
    case 'session':
      return spec.gapMs;
  }
}

/** The session a lone event at `t` opens: [t, t + gap). */
export function sessionOf(gapMs: number, t: EpochMs): TimeWindow {
  return { start: t, end: t + gapMs };
}

/**
 * Merges session intervals: two sessions that overlap or touch (one ends where
 * the other starts) become one. Input in any order; output sorted by start.
 * `combine` folds the payloads of merged sessions.
 */
export function mergeSessions<T>(
  sessions: ReadonlyArray<TimeWindow & { readonly value: T }>,
  combine: (a: T, b: T) => T,
): Array<{ start: EpochMs; end: EpochMs; value: T }> {
  const sorted = [...sessions].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Array<{ start: EpochMs; end: EpochMs; value: T }> = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && s.start <= last.end) {
      last.end = Math.max(last.end, s.end);
      last.value = combine(last.value, s.value);
    } else {
      out.push({ start: s.start, end: s.end, value: s.value });
    }
  }
  return out;
}

/** A window closes once the watermark has passed its end plus the allowed lateness. */
export function closesAt(window: TimeWindow, latenessMs: number): EpochMs {
  return window.end + latenessMs;
}

export function isClosed(window: TimeWindow, latenessMs: number, watermark: EpochMs): boolean {
  return watermark >= closesAt(window, latenessMs);
}
