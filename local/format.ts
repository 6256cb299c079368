import type { AlertMessage } from '../lambdas/adapters/SnsAlertPublisher';
import type { AlertTransition } from '../lambdas/core/lifecycle';

const COLORS = { critical: '\x1b[31m', warning: '\x1b[33m', info: '\x1b[36m', resolved: '\x1b[32m', dim: '\x1b[2m', reset: '\x1b[0m' };

function fmtValue(v: number | null): string {
  if (v === null) return '-';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

/** An anomaly verdict in a line: the score (or that the model is still warming up), the expected value and the band. */
export function anomalyText(a: { readonly score: number; readonly expected: number; readonly lower: number; readonly upper: number; readonly warming: boolean }): string {
  const f = (v: number) => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));
  return `${a.warming ? 'warming' : `score=${a.score.toFixed(4)}`} expected=${f(a.expected)} band=[${f(a.lower)}, ${f(a.upper)}]`;
}

/** One alert transition as one line a person reads at a glance. */
export function formatAlert(t: AlertTransition, opts: { color: boolean }): string {
  const c = opts.color ? COLORS : { critical: '', warning: '', info: '', resolved: '', dim: '', reset: '' };
  const time = new Date(t.at).toISOString().slice(11, 19);
  const sev = t.severity.toUpperCase().padEnd(8);
  const state = t.state === 'firing' ? 'FIRING  ' : 'RESOLVED';
  const color = t.state === 'resolved' ? c.resolved : c[t.severity];
  const group = Object.entries(t.group).map(([k, v]) => `${k}=${v ?? '(none)'}`).join(' ') || '(all)';
  const values = Object.entries(t.values).map(([k, v]) => `${k}=${fmtValue(v)}`).join(' ');
  const summary = t.annotations['summary'] ?? '';
  return `${c.dim}${time}${c.reset}  ${color}${sev} ${state}${c.reset}  ${t.rule.padEnd(16)} ${group.padEnd(16)} ${c.dim}${values}${c.reset}${summary ? `  ${summary}` : ''}`;
}

/** One alert transition as one JSON object (for `--json`). */
export function alertJson(t: AlertTransition): string {
  return JSON.stringify(t);
}

/** An alert as subscribers receive it (the SNS message body), as one readable line. */
export function formatAlertMessage(m: AlertMessage, opts: { color: boolean }): string {
  return formatAlert(
    {
      ...m,
      sequence: m.sequence === undefined ? undefined : { ...m.sequence, events: m.sequence.events.map((e) => ({ ...e, time: Date.parse(e.time) })) },
      severity: m.severity as AlertTransition['severity'],
      window: { start: Date.parse(m.window.start), end: Date.parse(m.window.end) },
      at: Date.parse(m.at),
    },
    opts,
  );
}
