import { RULE_METRICS } from '../core/contract';
import type { ClosedWindow } from '../core/Engine';
import type { EpochMs, Pipeline, WindowRule } from '../core/types';
import { HOUR_MS, type GroupAdmission } from './MetricGroupRegistry';

/**
 * Rule values as CloudWatch metrics: each closed window of a rule with
 * `metrics:` becomes one embedded-metric-format (EMF) document, written as one
 * line to the function's log, which CloudWatch turns into metrics.
 *
 * - Namespace: `TIDEWATCH_RULE_METRICS_NAMESPACE` (default `tidewatch/rules`).
 * - Metric names: the aggregate names; dimensions `Rule` and the rule's group
 *   labels (a group label missing from the event is `(none)`, an empty one
 *   `(empty)`; characters CloudWatch does not take in a dimension value, that
 *   is anything but printable ASCII, and `%` are percent-encoded as UTF-8).
 * - Timestamp: the window's end, in event time (the value at 10:01 is the
 *   window that ended at 10:01). A null value (avg of nothing) is left out.
 * - Only closed windows are published, so `emit: early` rules publish their
 *   final value, never a partial window.
 * - A window closed twice (a retry, concurrent tickers) is published twice with
 *   the same values and timestamp, and EMF itself delivers at least once: read
 *   these metrics with Maximum, Minimum or Average (unchanged by a repeated
 *   identical value), never Sum or SampleCount. The dashboard uses Maximum.
 * - At most `maxGroups` groups per rule and hour of event time (see
 *   MetricGroupRegistry); values of other groups are dropped and counted in
 *   `RuleValuesDropped` (dimensions `Rule`, `Reason`: `cap`; `label` for a
 *   group label CloudWatch cannot take, `unavailable` when the cap could not be
 *   checked), timestamped when dropped. It counts window values, so a window
 *   dropped twice counts twice.
 */

export type DropReason = 'cap' | 'label' | 'unavailable';

/** The longest dimension value CloudWatch accepts. */
const MAX_DIMENSION_VALUE = 1024;

/** A group label as a CloudWatch dimension value (printable ASCII, not only spaces), or null when too long. */
export function dimensionValue(label: string | null): string | null {
  if (label === null) return '(none)';
  if (label === '') return '(empty)';
  let out = '';
  for (const ch of label) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e && ch !== '%') out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.trim() === '') out = out.replace(/ /g, '%20');
  return out.length <= MAX_DIMENSION_VALUE ? out : null;
}

export interface RuleMetricsOptions {
  readonly pipeline: Pipeline;
  /** @default RULE_METRICS.defaultNamespace */
  readonly namespace?: string;
  readonly admission: GroupAdmission;
  /** Writes one EMF document (a JSON line). In Lambda: stdout, which the runtime sends to CloudWatch Logs. */
  readonly write: (line: string) => void;
  readonly clock: { now(): EpochMs };
  /** While true, closed windows are not collected (metrics off, as Powertools' POWERTOOLS_METRICS_DISABLED). @default never */
  readonly disabled?: () => boolean;
}

export interface FlushReport {
  readonly published: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Why the cap could not be checked (those values were dropped, reason `unavailable`): for the caller to log. */
  readonly errors: readonly unknown[];
}

/** Flushes a runtime's rule metrics, if any, logging what could not be checked. Never throws. */
export async function flushRuleMetrics(ruleMetrics: RuleMetrics | null, logError: (message: string, extra: Record<string, unknown>) => void): Promise<void> {
  if (ruleMetrics === null) return;
  const report = await ruleMetrics.flush();
  for (const err of report.errors) {
    logError('rule metrics: the cardinality cap could not be checked, so these windows were not published (counted in RuleValuesDropped, Reason=unavailable)', {
      error: err instanceof Error ? err : String(err),
      dropped: report.dropped.unavailable,
    });
  }
}

/** Collects closed windows from the engine (`onWindowClosed`) and writes them as EMF when flushed. */
export class RuleMetrics {
  private readonly rules = new Map<string, WindowRule>();
  private pending: ClosedWindow[] = [];
  readonly namespace: string;

  constructor(private readonly opts: RuleMetricsOptions) {
    this.namespace = opts.namespace ?? RULE_METRICS.defaultNamespace;
    for (const r of opts.pipeline.rules) if (r.type === 'window' && r.metrics !== undefined) this.rules.set(r.name, r);
  }

  /** True when some rule publishes metrics (else nothing is ever collected). */
  get enabled(): boolean {
    return this.rules.size > 0;
  }

  /** The engine's `onWindowClosed`: keeps windows of rules with `metrics:`. Never throws. */
  readonly collect = (w: ClosedWindow): void => {
    if (this.rules.has(w.rule) && this.opts.disabled?.() !== true) this.pending.push(w);
  };

  /** Publishes what was collected: admits groups under each rule's cap, writes one document per window. */
  async flush(): Promise<FlushReport> {
    const windows = this.pending;
    this.pending = [];
    const dropped: Record<DropReason, number> = { cap: 0, label: 0, unavailable: 0 };
    const droppedByRule = new Map<string, Record<DropReason, number>>();
    const drop = (rule: string, reason: DropReason) => {
      dropped[reason] += 1;
      const r = droppedByRule.get(rule) ?? { cap: 0, label: 0, unavailable: 0 };
      r[reason] += 1;
      droppedByRule.set(rule, r);
    };
    let published = 0;
    const errors: unknown[] = [];
    // Per rule and hour of window end: which groups are admitted.
    const byBucket = new Map<string, { rule: WindowRule; hour: EpochMs; windows: ClosedWindow[] }>();
    for (const w of windows) {
      const rule = this.rules.get(w.rule)!;
      const hour = Math.floor(w.window.end / HOUR_MS) * HOUR_MS;
      const id = `${w.rule}\u0000${hour}`;
      const b = byBucket.get(id) ?? { rule, hour, windows: [] };
      b.windows.push(w);
      byBucket.set(id, b);
    }
    for (const { rule, hour, windows: ws } of byBucket.values()) {
      let admitted: ReadonlySet<string>;
      try {
        admitted = await this.opts.admission.admit(rule.name, hour, [...new Set(ws.map((w) => w.groupKey))], rule.metrics!.maxGroups);
      } catch (err) {
        errors.push(err);
        ws.forEach(() => drop(rule.name, 'unavailable'));
        continue;
      }
      for (const w of ws) {
        if (!admitted.has(w.groupKey)) {
          drop(rule.name, 'cap');
          continue;
        }
        const doc = this.document(rule, w);
        if (doc === null) drop(rule.name, 'label');
        else if (doc !== undefined) {
          this.opts.write(doc);
          published += 1;
        }
      }
    }
    const now = this.opts.clock.now();
    for (const [rule, counts] of droppedByRule) {
      for (const reason of Object.keys(counts) as DropReason[]) {
        if (counts[reason] === 0) continue;
        this.opts.write(
          JSON.stringify({
            _aws: { Timestamp: now, CloudWatchMetrics: [{ Namespace: this.namespace, Dimensions: [[RULE_METRICS.dimensions.rule, RULE_METRICS.dimensions.reason]], Metrics: [{ Name: RULE_METRICS.dropped, Unit: 'Count' }] }] },
            [RULE_METRICS.dimensions.rule]: rule,
            [RULE_METRICS.dimensions.reason]: reason,
            [RULE_METRICS.dropped]: counts[reason],
          }),
        );
      }
    }
    return { published, dropped, errors };
  }

  /** One window's EMF document; null when a label cannot be a dimension value; undefined when no value is a number. */
  private document(rule: WindowRule, w: ClosedWindow): string | null | undefined {
    const root: Record<string, unknown> = { [RULE_METRICS.dimensions.rule]: rule.name };
    for (const g of rule.groupBy) {
      const v = dimensionValue(w.group[g] ?? null);
      if (v === null) return null;
      root[g] = v;
    }
    const metrics: Array<{ Name: string; Unit: string }> = [];
    for (const name of rule.metrics!.aggregates) {
      const v = w.values[name];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      const kind = rule.aggregates.find((a) => a.name === name)!.kind;
      metrics.push({ Name: name, Unit: kind === 'count' || kind === 'distinct' ? 'Count' : 'None' });
      root[name] = v;
    }
    if (metrics.length === 0) return undefined;
    return JSON.stringify({
      _aws: { Timestamp: w.window.end, CloudWatchMetrics: [{ Namespace: this.namespace, Dimensions: [[RULE_METRICS.dimensions.rule, ...rule.groupBy]], Metrics: metrics }] },
      ...root,
    });
  }
}
