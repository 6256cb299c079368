import type { AdvanceReport, BatchReport } from '../lambdas/core/Engine';
import { formatDuration } from '../lambdas/core/pipeline/duration';
import type { Clock, EpochMs, Pipeline, Rule } from '../lambdas/core/types';

/** What happened to the records of one stream, as the processor reported it. */
export interface StreamCounts {
  /** Records the processor took in (each once: a batch that failed and is retried counts when it succeeds). */
  readonly in: number;
  /** Valid records that were not producer duplicates (a record may still be late for some rules). */
  readonly accepted: number;
  readonly duplicates: number;
  /** Records quarantined, by reason (schema, not-json, no-timestamp, ...). */
  readonly quarantined: Readonly<Record<string, number>>;
  /** Records that came after their windows had closed, by rule. */
  readonly late: Readonly<Record<string, number>>;
  /** Batches that failed part way and are retried by the event source mapping. */
  readonly retried: number;
  readonly watermark: EpochMs | null;
}

interface Mutable {
  in: number;
  accepted: number;
  duplicates: number;
  quarantined: Record<string, number>;
  late: Record<string, number>;
  retried: number;
  watermark: EpochMs | null;
  /** Newest event time processed, per shard. */
  shards: Map<string, EpochMs>;
  /** The clock's time when each shard's last batch took effect (the engine's lastActivity). */
  lastBatch: Map<string, EpochMs>;
}

const sum = (r: Readonly<Record<string, number>>) => Object.values(r).reduce((a, b) => a + b, 0);
const breakdown = (r: Readonly<Record<string, number>>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

/** 07:04:02, or 2026-11-27 07:04:02 when not on the clock's day (all UTC, like the alert lines). */
export function clockTime(t: EpochMs, now: EpochMs): string {
  const iso = new Date(t).toISOString();
  return iso.slice(0, 10) === new Date(now).toISOString().slice(0, 10) ? iso.slice(11, 19) : `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

function roughDuration(ms: number): string {
  return formatDuration(ms >= 1000 ? Math.round(ms / 1000) * 1000 : Math.max(0, Math.round(ms)));
}

/**
 * The local pipeline's books, stream by stream: every record the processor
 * took in is accepted, a duplicate or quarantined (by reason), and late
 * records are counted by rule. Fed by the engine's batch and tick reports.
 */
export class Accounting {
  private readonly streams = new Map<string, Mutable>();
  private readonly explained = new Set<string>();

  constructor(
    private readonly pipeline: Pipeline,
    private readonly clock: Clock,
  ) {
    for (const name of pipeline.streams.keys()) {
      this.streams.set(name, { in: 0, accepted: 0, duplicates: 0, quarantined: {}, late: {}, retried: 0, watermark: null, shards: new Map(), lastBatch: new Map() });
    }
  }

  private of(stream: string): Mutable {
    const s = this.streams.get(stream);
    if (!s) throw new Error(`Accounting: stream "${stream}" is not in ${this.pipeline.file}`);
    return s;
  }

  /** Books a batch; returns one explanatory line per rule whose first late record this is. */
  onBatch(stream: string, report: BatchReport): string[] {
    const s = this.of(stream);
    if (report.retryFrom !== null) {
      s.retried += 1;
      return [];
    }
    s.in += report.records;
    s.duplicates += report.duplicates;
    for (const r of report.rejected) s.quarantined[r.reason] = (s.quarantined[r.reason] ?? 0) + 1;
    s.accepted += report.records - report.rejected.length - report.duplicates;
    if (Number.isFinite(report.watermark)) s.watermark = Math.max(s.watermark ?? -Infinity, report.watermark);
    if (report.maxEventTime !== null) s.shards.set(report.shardId, Math.max(s.shards.get(report.shardId) ?? -Infinity, report.maxEventTime));
    s.lastBatch.set(report.shardId, this.clock.now());
    const notes: string[] = [];
    // The processor's perRule holds only this stream's rules.
    for (const [rule, st] of Object.entries(report.perRule)) {
      if (st.late === 0) continue;
      s.late[rule] = (s.late[rule] ?? 0) + st.late;
      if (!this.explained.has(rule) && st.firstLate) {
        this.explained.add(rule);
        const r = this.pipeline.rules.find((x) => x.name === rule);
        if (r) notes.push(explainLate(r, st.firstLate.eventTime, st.firstLate.watermark, this.clock.now()));
      }
    }
    return notes;
  }

  /** The watermark a stream already had (a rerun on stored state). */
  seedWatermark(stream: string, watermark: EpochMs): void {
    const s = this.of(stream);
    if (Number.isFinite(watermark)) s.watermark = Math.max(s.watermark ?? -Infinity, watermark);
  }

  onTick(stream: string, report: AdvanceReport): void {
    const s = this.of(stream);
    if (Number.isFinite(report.watermark)) s.watermark = Math.max(s.watermark ?? -Infinity, report.watermark);
  }

  counts(stream: string): StreamCounts {
    const c = this.of(stream);
    return { in: c.in, accepted: c.accepted, duplicates: c.duplicates, quarantined: { ...c.quarantined }, late: { ...c.late }, retried: c.retried, watermark: c.watermark };
  }

  watermark(stream: string): EpochMs | null {
    return this.of(stream).watermark;
  }

  /**
   * How long (on the clock) the stream's quietest shard has gone without a
   * batch (null before any): past the stream's idle timeout the engine lets
   * that shard's watermark follow the clock.
   */
  quietFor(stream: string): number | null {
    const times = [...this.of(stream).lastBatch.values()];
    return times.length === 0 ? null : this.clock.now() - Math.min(...times);
  }

  /** The newest event time processed on the stream's slowest shard (null before any). */
  processedEventTime(stream: string): EpochMs | null {
    const times = [...this.of(stream).shards.values()];
    return times.length === 0 ? null : Math.min(...times);
  }

  /** One line per stream: `telemetry  864 in, 860 accepted, 3 late (…), 1 duplicate, 3 quarantined (schema 3); watermark 07:04:02 (11s behind)`. */
  lines(): string[] {
    const now = this.clock.now();
    const width = Math.max(...[...this.streams.keys()].map((k) => k.length));
    return [...this.streams.entries()].map(([name, s]) => {
      const late = sum(s.late);
      const quarantined = sum(s.quarantined);
      const parts = [
        `${s.in} in`,
        `${s.accepted} accepted`,
        `${late} late${late > 0 ? ` (${breakdown(s.late)})` : ''}`,
        `${s.duplicates} duplicate${s.duplicates === 1 ? '' : 's'}`,
        `${quarantined} quarantined${quarantined > 0 ? ` (${breakdown(s.quarantined)})` : ''}`,
      ];
      if (s.retried > 0) parts.push(`${s.retried} batch${s.retried === 1 ? '' : 'es'} retried`);
      const wm = s.watermark === null ? 'no watermark yet' : `watermark ${clockTime(s.watermark, now)} (${roughDuration(now - s.watermark)} behind)`;
      return `${name.padEnd(width)}  ${parts.join(', ')}; ${wm}`;
    });
  }
}

/**
 * Why a record was late, in one line: its event time, the window it falls in,
 * when that window closed (end + lateness) and the watermark it was judged against.
 */
export function explainLate(rule: Rule, eventTime: EpochMs, watermark: EpochMs, now: EpochMs): string {
  const t = (x: EpochMs) => clockTime(x, now);
  const tail = 'late records are counted, not aggregated; to land in open windows, send events near the pipeline\'s event time (tidewatch emit --event-time pipeline)';
  if (rule.type !== 'window') return `tidewatch: ${rule.name}: a record with event time ${t(eventTime)} was late (watermark ${t(watermark)}): ${tail}`;
  const lateness = formatDuration(rule.latenessMs);
  const w = rule.window;
  if (w.kind === 'session') {
    return (
      `tidewatch: ${rule.name}: a record with event time ${t(eventTime)} was late: its session (gap ${formatDuration(w.gapMs)}) closed once the watermark passed ` +
      `${t(eventTime + w.gapMs + rule.latenessMs)} (event time + gap + lateness ${lateness}); the watermark was ${t(watermark)}. ${tail[0]!.toUpperCase()}${tail.slice(1)}. (Shown once per rule.)`
    );
  }
  const step = w.kind === 'tumbling' ? w.sizeMs : w.slideMs;
  const start = Math.floor(eventTime / step) * step;
  const end = start + w.sizeMs;
  const span = `${t(start)}–${t(end).slice(-8)}`;
  const which = w.kind === 'tumbling' ? `its window ${span}` : `the last window holding it, ${span},`;
  return (
    `tidewatch: ${rule.name}: a record with event time ${t(eventTime)} was late: ${which} closed once the watermark passed ${t(end + rule.latenessMs)} ` +
    `(end + lateness ${lateness}); the watermark was ${t(watermark)}. ${tail[0]!.toUpperCase()}${tail.slice(1)}. (Shown once per rule.)`
  );
}
