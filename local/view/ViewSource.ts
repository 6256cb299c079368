import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import type { AlertMessage } from '../../lambdas/adapters/SnsAlertPublisher';
import { renderTemplate } from '../../lambdas/core/pipeline/template';
import { thresholdsOf, type Threshold } from '../../lambdas/core/thresholds';
import type { Clock, EpochMs, Pipeline, Rule } from '../../lambdas/core/types';
import { Inspector, type AlertView, type WindowView } from '../inspect/Inspector';

/**
 * What the live view shows, read from a pipeline's state table through the
 * inspect code (windows, alert states, quarantined records) and the state
 * store's read methods (watermarks, shard progress): no key layout of its own.
 * Plain data; payload-derived strings stay raw here and are escaped where
 * they become HTML (render.ts).
 */
export interface ViewState {
  /** The pipeline's clock (the demo's runs faster than the wall clock). */
  readonly now: EpochMs;
  readonly pipelineFile: string;
  readonly table: string;
  readonly streams: readonly StreamView[];
  readonly rules: readonly RuleView[];
  /** Alert notifications received (the local pipeline's SNS subscription), newest first. */
  readonly notifications: readonly AlertMessage[];
}

export interface StreamView {
  readonly name: string;
  /** The stream's watermark (event time), or null before any record. */
  readonly watermark: EpochMs | null;
  readonly outOfOrdernessMs: number;
  readonly idleTimeoutMs: number;
  readonly shards: ReadonlyArray<{ readonly shardId: string; readonly maxEventTime: EpochMs | null; readonly lastActivity: EpochMs }>;
  /** Quarantined records that arrived in the last hour (of the clock), by reason. */
  readonly quarantine: { readonly since: EpochMs; readonly total: number; readonly byReason: Readonly<Record<string, number>>; readonly capped: boolean };
}

export interface WindowRow {
  readonly group: string;
  readonly start: EpochMs;
  readonly end: EpochMs;
  /** Sealed or due: the watermark passed its end plus lateness. */
  readonly closed: boolean;
  readonly values: Readonly<Record<string, number | null>>;
}

export interface SeriesView {
  readonly group: string;
  /** (window end, value), by window end. */
  readonly points: ReadonlyArray<readonly [EpochMs, number]>;
}

export interface AlertRow {
  readonly group: string;
  readonly status: 'firing' | 'pending' | 'resolved';
  readonly alertId: string | null;
  /** Event time of the notification, when one was received. */
  readonly at: EpochMs | null;
  readonly annotations: Readonly<Record<string, string>>;
  /** `notification`: as SNS delivered it; `state`: rendered from the rule's templates with the group's latest window. */
  readonly source: 'notification' | 'state';
}

export interface RuleView {
  readonly name: string;
  readonly type: Rule['type'];
  readonly stream: string;
  readonly severity: string;
  readonly description: string;
  readonly aggregates: readonly string[];
  readonly thresholds: readonly Threshold[];
  /** Per aggregate, the top groups' time series. */
  readonly series: Readonly<Record<string, readonly SeriesView[]>>;
  readonly openWindows: number;
  readonly closedWindows: number;
  /** The newest windows, newest first. */
  readonly latest: readonly WindowRow[];
  readonly alerts: readonly AlertRow[];
}

export interface ViewSourceOptions {
  readonly client: DynamoDBClient;
  readonly table: string;
  readonly pipeline: Pipeline;
  /** @default the wall clock */
  readonly clock?: Clock;
  /** Groups charted per aggregate (the highest by their largest value). @default 5 */
  readonly topGroups?: number;
  /** Event time shown on the charts, back from the watermark. @default 30 minutes */
  readonly historyMs?: number;
  /** Quarantined records read per poll and stream at most. @default 10000 */
  readonly quarantineLimit?: number;
}

/** `service=checkout host=web-1`, or `(all)` for a rule without groupBy. */
export function groupText(group: Readonly<Record<string, string | null>>): string {
  const parts = Object.entries(group).map(([k, v]) => `${k}=${v ?? '(none)'}`);
  return parts.length === 0 ? '(all)' : parts.join(' ');
}

function describeRule(rule: Rule): string {
  if (rule.type === 'sequence') return `sequence of ${rule.sequence.steps.length} steps within ${rule.sequence.withinMs / 1000} s${rule.groupBy.length ? ` per ${rule.groupBy.join(', ')}` : ''}`;
  if (rule.type === 'absence') return `no event for ${rule.absentMs / 1000} s${rule.groupBy.length ? ` per ${rule.groupBy.join(', ')}` : ''}`;
  const w = rule.window;
  const win = w.kind === 'tumbling' ? `tumbling ${w.sizeMs / 1000} s` : w.kind === 'hopping' ? `hopping ${w.sizeMs / 1000} s every ${w.slideMs / 1000} s` : `session, gap ${w.gapMs / 1000} s`;
  return `when ${rule.when.source} over ${win} windows${rule.groupBy.length ? ` per ${rule.groupBy.join(', ')}` : ''}${rule.for > 1 ? `, for ${rule.for} windows` : ''}, emit ${rule.emit}`;
}

export class ViewSource {
  private readonly inspector: Inspector;
  private readonly store: DynamoDBStateStore;
  private readonly clock: Clock;
  private readonly notifications: AlertMessage[] = [];

  constructor(private readonly opts: ViewSourceOptions) {
    this.inspector = new Inspector(opts.client, opts.table, opts.pipeline);
    // Only its read methods are used (watermarks, shard progress).
    this.store = new DynamoDBStateStore({ client: opts.client, tableName: opts.table });
    this.clock = opts.clock ?? { now: () => Date.now() };
  }

  /** An alert notification as delivered (annotations and all); the newest 100 are kept. */
  notify(message: AlertMessage): void {
    this.notifications.unshift(message);
    this.notifications.length = Math.min(this.notifications.length, 100);
  }

  async read(): Promise<ViewState> {
    const { pipeline } = this.opts;
    const now = this.clock.now();
    const streams: StreamView[] = [];
    for (const [name, spec] of pipeline.streams) {
      const [wm, shards] = await Promise.all([this.store.getStreamWatermark(name), this.store.listShardProgress(name)]);
      const since = now - 3_600_000;
      const limit = this.opts.quarantineLimit ?? 10_000;
      const records = await this.inspector.quarantined(name, { since: new Date(since), limit });
      const byReason: Record<string, number> = {};
      for (const r of records) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
      streams.push({
        name,
        watermark: Number.isFinite(wm) ? wm : null,
        outOfOrdernessMs: spec.outOfOrdernessMs,
        idleTimeoutMs: spec.idleTimeoutMs,
        shards: shards.map((s) => ({ shardId: s.shardId, maxEventTime: Number.isFinite(s.maxEventTime) ? s.maxEventTime : null, lastActivity: s.lastActivity })),
        quarantine: { since, total: records.length, byReason, capped: records.length >= limit },
      });
    }
    const alertViews = await this.inspector.alerts();
    const rules: RuleView[] = [];
    for (const rule of pipeline.rules) {
      const stream = streams.find((s) => s.name === rule.stream);
      const states = alertViews.filter((a) => a.rule === rule.name);
      if (rule.type === 'absence' || rule.type === 'sequence') {
        rules.push({ ...this.common(rule), aggregates: [], thresholds: [], series: {}, openWindows: 0, closedWindows: 0, latest: [], alerts: this.alertRows(rule, states, new Map()) });
        continue;
      }
      const windows = await this.inspector.windows(rule.name, { all: true });
      const watermark = stream?.watermark ?? -Infinity;
      const rows: WindowRow[] = windows.map((w: WindowView) => {
        const start = Date.parse(w.start);
        const end = Date.parse(w.end);
        return { group: groupText(w.group), start, end, closed: w.closed || end + rule.latenessMs <= watermark, values: w.values };
      });
      rows.sort((a, b) => b.end - a.end || a.group.localeCompare(b.group));
      const from = (Number.isFinite(watermark) ? watermark : now) - (this.opts.historyMs ?? 30 * 60_000);
      const recent = rows.filter((r) => r.end >= from);
      const aggregates = rule.aggregates.map((a) => a.name);
      const series: Record<string, SeriesView[]> = {};
      for (const agg of aggregates) {
        const byGroup = new Map<string, Array<[EpochMs, number]>>();
        for (const r of recent) {
          const v = r.values[agg];
          if (typeof v !== 'number' || !Number.isFinite(v)) continue;
          const list = byGroup.get(r.group) ?? [];
          list.push([r.end, v]);
          byGroup.set(r.group, list);
        }
        const top = [...byGroup.entries()]
          .map(([group, points]) => ({ group, points: points.sort((a, b) => a[0] - b[0]), peak: Math.max(...points.map((p) => p[1])) }))
          .sort((a, b) => b.peak - a.peak || a.group.localeCompare(b.group))
          .slice(0, this.opts.topGroups ?? 5);
        series[agg] = top.map(({ group, points }) => ({ group, points }));
      }
      // The latest window of each group, for annotations of alerts with no notification.
      const latestByGroup = new Map<string, WindowRow>();
      for (const r of rows) if (!latestByGroup.has(r.group)) latestByGroup.set(r.group, r);
      rules.push({
        ...this.common(rule),
        aggregates,
        thresholds: thresholdsOf(rule),
        series,
        openWindows: rows.filter((r) => !r.closed).length,
        closedWindows: rows.filter((r) => r.closed).length,
        latest: rows.slice(0, 8),
        alerts: this.alertRows(rule, states, latestByGroup),
      });
    }
    return { now, pipelineFile: pipeline.file, table: this.opts.table, streams, rules, notifications: [...this.notifications] };
  }

  private common(rule: Rule) {
    return { name: rule.name, type: rule.type, stream: rule.stream, severity: rule.severity, description: describeRule(rule) };
  }

  /**
   * Firing and pending groups from the alert states; resolved ones from the
   * notifications (a resolved alert's state is inactive again). Annotations
   * from the notification when there is one, else rendered from the rule's
   * templates with the group's labels and latest window.
   */
  private alertRows(rule: Rule, states: readonly AlertView[], latest: ReadonlyMap<string, WindowRow>): AlertRow[] {
    const rows: AlertRow[] = [];
    const notified = this.notifications.filter((n) => n.rule === rule.name);
    for (const s of states) {
      if (s.status === 'inactive') continue;
      const group = groupText(s.group);
      const n = notified.find((m) => m.alertId === s.alertId && m.state === 'firing');
      if (n) {
        rows.push({ group, status: s.status, alertId: s.alertId, at: Date.parse(n.at), annotations: n.annotations, source: 'notification' });
        continue;
      }
      const w = latest.get(group);
      const values: Record<string, string | number | null> = { rule: rule.name, severity: rule.severity, ...s.group, ...(w?.values ?? {}) };
      if (w) Object.assign(values, { 'window.start': new Date(w.start).toISOString(), 'window.end': new Date(w.end).toISOString() });
      const annotations: Record<string, string> = {};
      for (const [k, t] of Object.entries(rule.annotations)) annotations[k] = renderTemplate(t, values);
      rows.push({ group, status: s.status, alertId: s.alertId, at: null, annotations, source: 'state' });
    }
    const seen = new Set<string>();
    for (const n of notified) {
      if (n.state !== 'resolved' || seen.has(n.alertId)) continue;
      seen.add(n.alertId);
      // Resolved, unless a later episode of the group is active (that one is listed above).
      if (rows.some((r) => r.alertId === n.alertId)) continue;
      rows.push({ group: groupText(n.group), status: 'resolved', alertId: n.alertId, at: Date.parse(n.at), annotations: n.annotations, source: 'notification' });
    }
    const rank = { firing: 0, pending: 1, resolved: 2 } as const;
    return rows.sort((a, b) => rank[a.status] - rank[b.status] || a.group.localeCompare(b.group));
  }
}
