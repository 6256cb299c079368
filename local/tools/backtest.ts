/**
 * `tidewatch backtest`: a pipeline over recorded events on virtual time
 * (replay.ts), reporting what it would have sent and a summary: alerts per
 * rule, flapping per group, records rejected by reason. Nothing is published
 * and no state is written anywhere.
 */
import type { ClosedWindow } from '../../lambdas/core/Engine';
import type { ExpressionKind } from '../../lambdas/core/fold';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import type { EpochMs, KinesisLikeRecord, Pipeline, RejectReason, Rule } from '../../lambdas/core/types';
import { windowStep } from '../../lambdas/core/windows';
import { Replay, type ReplayStats, type ReportContext } from './replay';

export interface BacktestOptions {
  readonly pipeline: Pipeline;
  readonly stream: string;
  readonly batchWindowMs: number;
  readonly batchSize: number;
  readonly tickEveryMs: number;
  /** A group flaps when an alert fired and resolved within this many windows. */
  readonly flapWindows: number;
  readonly onTransition?: (t: AlertTransition, at: ReportContext) => void;
  readonly onWindow?: (w: ClosedWindow, at: ReportContext) => void;
}

export interface RuleSummary {
  /** Firing transitions. */
  fired: number;
  resolved: number;
  /** Groups that fired at least once. */
  groups: number;
  /** Fired-then-resolved episodes that lasted at most `flapWindows` windows (never for session rules). */
  flaps: number;
}

export interface FlappingGroup {
  readonly rule: string;
  readonly group: Readonly<Record<string, string | null>>;
  readonly times: number;
}

export interface BacktestSummary {
  readonly records: number;
  readonly events: number;
  readonly rejected: Readonly<Partial<Record<RejectReason, number>>>;
  readonly late: number;
  readonly duplicates: number;
  readonly batches: number;
  readonly windowsClosed: number;
  /** Windows (and sessions) still open at the end (with --no-flush; 0 after a flush). */
  readonly openWindows: number;
  readonly alerts: Readonly<Record<string, RuleSummary>>;
  /**
   * Per rule whose expressions raised errors, by kind (as the RuleExpressionErrors metric): `where` and `step`
   * conditions judged not to match, `aggregate` arguments taken as no value, `when` judged not to hold.
   */
  readonly expressionErrors: Readonly<Record<string, Partial<Record<ExpressionKind, number>>>>;
  readonly flapping: readonly FlappingGroup[];
  readonly flapWindows: number;
  /** Alerts still firing at the end. */
  readonly firingAtEnd: number;
  readonly firstArrival: EpochMs | null;
  readonly lastArrival: EpochMs | null;
  readonly lastEventTime: EpochMs | null;
  readonly watermark: EpochMs | null;
  readonly flushed: boolean;
}

/**
 * How long a rule's "window" is, for flapping: the step of fixed windows, `absent` of
 * absence rules. null for session rules: a session's alert always resolves with the
 * next gap, so its episodes say nothing about flapping.
 */
function windowUnit(rule: Rule): number | null {
  if (rule.type === 'absence') return rule.absentMs;
  // A sequence match is an event, not a state: it has no windows to flap over.
  if (rule.type === 'sequence') return null;
  return rule.window.kind === 'session' ? null : windowStep(rule.window);
}

export class Backtest {
  readonly replay: Replay;
  private readonly rules: ReadonlyMap<string, Rule>;
  private readonly perRule = new Map<string, RuleSummary & { groupKeys: Set<string> }>();
  /** The open firing episode per alert id. */
  private readonly open = new Map<string, AlertTransition>();
  private readonly flaps = new Map<string, { rule: string; group: Readonly<Record<string, string | null>>; times: number }>();

  constructor(private readonly opts: BacktestOptions) {
    this.rules = new Map(opts.pipeline.rules.filter((r) => r.stream === opts.stream).map((r) => [r.name, r]));
    for (const name of this.rules.keys()) this.perRule.set(name, { fired: 0, resolved: 0, groups: 0, flaps: 0, groupKeys: new Set() });
    this.replay = new Replay({
      pipeline: opts.pipeline,
      stream: opts.stream,
      batchWindowMs: opts.batchWindowMs,
      batchSize: opts.batchSize,
      tickEveryMs: opts.tickEveryMs,
      onTransition: (t, at) => {
        this.note(t, at);
        opts.onTransition?.(t, at);
      },
      ...(opts.onWindow ? { onWindow: opts.onWindow } : {}),
    });
  }

  push(record: KinesisLikeRecord): Promise<void> | undefined {
    return this.replay.push(record);
  }

  private note(t: AlertTransition, at: ReportContext): void {
    const s = this.perRule.get(t.rule)!;
    const groupKey = JSON.stringify(t.group);
    if (t.state === 'firing') {
      s.fired += 1;
      s.groupKeys.add(groupKey);
      s.groups = s.groupKeys.size;
      this.open.set(t.alertId, t);
      return;
    }
    s.resolved += 1;
    const fired = this.open.get(t.alertId);
    this.open.delete(t.alertId);
    // A resolution that only the end of the input caused is not flapping.
    if (fired === undefined || at.afterInput) return;
    const rule = this.rules.get(t.rule)!;
    const unit = windowUnit(rule);
    if (unit === null) return;
    // Windows it fired for: from the window it fired in to the one that resolved it; absence: silence to return.
    const lasted = rule.type === 'window' ? (t.window.start - fired.window.start) / unit : (t.at - fired.at) / unit;
    if (lasted > this.opts.flapWindows) return;
    s.flaps += 1;
    const key = `${t.rule}\u0000${groupKey}`;
    const f = this.flaps.get(key) ?? { rule: t.rule, group: t.group, times: 0 };
    f.times += 1;
    this.flaps.set(key, f);
  }

  async finish(flush: boolean): Promise<BacktestSummary> {
    const stats: ReplayStats = await this.replay.finish({ flush });
    let openWindows = 0;
    for (const { key, state } of this.replay.store.dump()) if (key.pane === undefined && state.closeAt !== null && !state.closed) openWindows += 1;
    const alerts: Record<string, RuleSummary> = {};
    for (const [name, s] of this.perRule) alerts[name] = { fired: s.fired, resolved: s.resolved, groups: s.groups, flaps: s.flaps };
    const expressionErrors: Record<string, Partial<Record<ExpressionKind, number>>> = {};
    for (const [name, r] of Object.entries(stats.perRule)) {
      const e: Partial<Record<ExpressionKind, number>> = {};
      if (r.filterErrors > 0) e.where = r.filterErrors;
      if (r.valueErrors > 0) e.aggregate = r.valueErrors;
      if (r.conditionErrors > 0) e.when = r.conditionErrors;
      if (r.stepErrors > 0) e.step = r.stepErrors;
      if (Object.keys(e).length > 0) expressionErrors[name] = e;
    }
    const flapping = [...this.flaps.values()].sort((a, b) => b.times - a.times || a.rule.localeCompare(b.rule) || JSON.stringify(a.group).localeCompare(JSON.stringify(b.group)));
    return {
      records: stats.records,
      events: stats.decoded,
      rejected: stats.rejected,
      late: stats.late,
      duplicates: stats.duplicates,
      batches: stats.batches,
      windowsClosed: stats.windowsClosed,
      openWindows,
      alerts,
      expressionErrors,
      flapping,
      flapWindows: this.opts.flapWindows,
      firingAtEnd: this.open.size,
      firstArrival: stats.firstArrival,
      lastArrival: stats.lastArrival,
      lastEventTime: stats.lastEventTime,
      watermark: Number.isFinite(stats.watermark) ? stats.watermark : null,
      flushed: flush,
    };
  }
}
