import type { AlertRow, RuleView, StreamView, ViewState } from './ViewSource';

/**
 * The live view's HTML, rendered on the server: the page, and the panels the
 * page swaps in as the state changes. Every string that can come from a
 * payload or the pipeline file (group labels, annotations, reasons, rule
 * names, conditions) goes through `escapeHtml`; nothing else builds markup.
 * Chart data travels as JSON and is drawn by uPlot, which sets labels as text.
 */

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text safe in HTML content and in double- or single-quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/** JSON that is safe inside a <script type="application/json"> element (no `</script>`, no `<!--`). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const time = (ms: number | null): string => (ms === null || !Number.isFinite(ms) ? '—' : new Date(ms).toISOString().slice(11, 19));
const num = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4))));

function duration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
  return text;
}

/** An element id / data key built from names (rule and aggregate names are identifiers; escaped anyway). */
export const panelId = (...parts: string[]): string => parts.join(':');

export interface ChartData {
  /** Window ends (epoch seconds, as uPlot wants), ascending. */
  readonly xs: readonly number[];
  readonly series: ReadonlyArray<{ readonly label: string; readonly values: ReadonlyArray<number | null> }>;
  readonly thresholds: ReadonlyArray<{ readonly value: number; readonly label: string }>;
}

/** One chart per (window rule, aggregate): the top groups aligned on their window ends. */
export function charts(state: ViewState): Record<string, ChartData> {
  const out: Record<string, ChartData> = {};
  for (const rule of state.rules) {
    for (const agg of rule.aggregates) {
      const series = rule.series[agg] ?? [];
      const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
      out[panelId(rule.name, agg)] = {
        xs: xs.map((x) => x / 1000),
        series: series.map((s) => {
          const at = new Map(s.points.map((p) => [p[0], p[1]]));
          return { label: s.group, values: xs.map((x) => at.get(x) ?? null) };
        }),
        thresholds: rule.thresholds.filter((t) => t.aggregate === agg).map((t) => ({ value: t.value, label: `when: ${t.text}` })),
      };
    }
  }
  return out;
}

function annotationsHtml(a: AlertRow): string {
  const entries = Object.entries(a.annotations);
  if (entries.length === 0) return '';
  return `<dl class="annotations">${entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

function alertsHtml(rule: RuleView): string {
  if (rule.alerts.length === 0) return '<p class="quiet">no firing, pending or resolved alerts</p>';
  return `<ul class="alerts">${rule.alerts
    .map(
      (a) =>
        `<li class="alert ${a.status}" data-status="${a.status}"><span class="status">${a.status}</span> <span class="group">${escapeHtml(a.group)}</span>` +
        `${a.at !== null ? ` <span class="at">at ${time(a.at)}</span>` : ''}${a.source === 'state' ? ' <span class="quiet">(annotations from the latest window)</span>' : ''}${annotationsHtml(a)}</li>`,
    )
    .join('')}</ul>`;
}

function windowsHtml(rule: RuleView): string {
  if (rule.type === 'absence') return '';
  const head = `<p><b>${rule.openWindows}</b> open, <b>${rule.closedWindows}</b> closed windows</p>`;
  if (rule.latest.length === 0) return `${head}<p class="quiet">no windows yet</p>`;
  const cols = rule.aggregates.map((a) => `<th class="n">${escapeHtml(a)}</th>`).join('');
  const rows = rule.latest
    .map(
      (w) =>
        `<tr class="${w.closed ? 'closed' : 'open'}"><td>${time(w.start)}–${time(w.end)}</td><td>${escapeHtml(w.group)}</td><td>${w.closed ? 'closed' : 'open'}</td>` +
        rule.aggregates.map((a) => `<td class="n">${num(w.values[a])}</td>`).join('') +
        '</tr>',
    )
    .join('');
  return `${head}<table class="windows"><thead><tr><th>window</th><th>group</th><th></th>${cols}</tr></thead><tbody>${rows}</tbody></table>`;
}

function streamHtml(s: StreamView, now: number): string {
  const lag = s.watermark === null ? null : now - s.watermark;
  const reasons = Object.entries(s.quarantine.byReason).sort((a, b) => b[1] - a[1]);
  return (
    `<h3>stream ${escapeHtml(s.name)}</h3>` +
    `<p class="watermark">watermark <b>${time(s.watermark)}</b> · clock <b>${time(now)}</b> · ` +
    (lag === null ? 'no records yet' : `<b class="${lag > s.outOfOrdernessMs + s.idleTimeoutMs ? 'warn' : ''}">${duration(lag)}</b> ${lag >= 0 ? 'behind' : 'ahead'}`) +
    ` <span class="quiet">(out-of-orderness ${duration(s.outOfOrdernessMs)})</span></p>` +
    `<table class="shards"><thead><tr><th>shard</th><th>newest event</th><th>last batch</th></tr></thead><tbody>${s.shards
      .map((sh) => `<tr><td>${escapeHtml(sh.shardId)}</td><td>${time(sh.maxEventTime)}</td><td>${time(sh.lastActivity)}</td></tr>`)
      .join('')}</tbody></table>` +
    `<p>quarantined in the last hour: <b data-quarantine-total="${s.quarantine.total}">${s.quarantine.total}${s.quarantine.capped ? '+' : ''}</b></p>` +
    (reasons.length === 0 ? '' : `<ul class="reasons">${reasons.map(([r, n]) => `<li><span class="reason">${escapeHtml(r)}</span> ${n}</li>`).join('')}</ul>`)
  );
}

/** The panels the page replaces on every update, by id. */
export function panels(state: ViewState): Record<string, string> {
  const out: Record<string, string> = {};
  out['streams'] = state.streams.map((s) => streamHtml(s, state.now)).join('');
  const firing = state.rules.reduce((n, r) => n + r.alerts.filter((a) => a.status === 'firing').length, 0);
  const pending = state.rules.reduce((n, r) => n + r.alerts.filter((a) => a.status === 'pending').length, 0);
  out['summary'] = `<span class="${firing > 0 ? 'firing' : 'ok'}" data-firing="${firing}">${firing} firing</span> · ${pending} pending · updated ${time(state.now)}`;
  const active = state.rules.flatMap((r) => r.alerts.filter((a) => a.status !== 'resolved').map((a) => ({ rule: r.name, a })));
  out['overview'] =
    `<h3>alerts</h3>` +
    (active.length === 0
      ? '<p class="quiet">nothing firing or pending</p>'
      : `<ul class="alerts">${active.map(({ rule, a }) => `<li class="alert ${a.status}"><span class="status">${a.status}</span> ${escapeHtml(rule)} <span class="group">${escapeHtml(a.group)}</span></li>`).join('')}</ul>`);
  for (const rule of state.rules) {
    out[panelId(rule.name, 'alerts')] = alertsHtml(rule);
    out[panelId(rule.name, 'windows')] = windowsHtml(rule);
  }
  return out;
}

/** What the page receives on every change. */
export interface Update {
  readonly panels: Record<string, string>;
  readonly charts: Record<string, ChartData>;
}

export function update(state: ViewState): Update {
  return { panels: panels(state), charts: charts(state) };
}

function ruleCard(rule: RuleView, p: Record<string, string>): string {
  const chartsHtml = rule.aggregates
    .map((a) => `<figure><figcaption>${escapeHtml(a)}</figcaption><div class="chart" data-chart="${escapeHtml(panelId(rule.name, a))}"></div></figure>`)
    .join('');
  return (
    `<section class="rule ${escapeHtml(rule.severity)}" data-rule="${escapeHtml(rule.name)}">` +
    `<h2>${escapeHtml(rule.name)} <span class="severity">${escapeHtml(rule.severity)}</span></h2>` +
    `<p class="description">${escapeHtml(rule.description)}</p>` +
    `<div class="alerts-panel" data-panel="${escapeHtml(panelId(rule.name, 'alerts'))}">${p[panelId(rule.name, 'alerts')] ?? ''}</div>` +
    (rule.type === 'window' ? `<div class="charts">${chartsHtml}</div>` : '') +
    `<div data-panel="${escapeHtml(panelId(rule.name, 'windows'))}">${p[panelId(rule.name, 'windows')] ?? ''}</div>` +
    '</section>'
  );
}

/** The whole page: every panel rendered now, the chart data inline, the script and style from this server. */
export function page(state: ViewState): string {
  const u = update(state);
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>tidewatch · ${escapeHtml(state.table)}</title><link rel="stylesheet" href="/app.css"></head><body>` +
    `<header><h1>tidewatch</h1><span class="source">${escapeHtml(state.pipelineFile)} · table ${escapeHtml(state.table)}</span>` +
    `<span id="summary" data-panel="summary">${u.panels['summary']}</span><span id="connection" class="quiet">live</span></header>` +
    `<main><aside><div data-panel="overview">${u.panels['overview']}</div><div data-panel="streams">${u.panels['streams']}</div></aside><div class="rules">${state.rules.map((r) => ruleCard(r, u.panels)).join('')}</div></main>` +
    `<script type="application/json" id="initial">${scriptJson(u)}</script><script src="/app.js"></script></body></html>`
  );
}
