/**
 * The live view in the browser: swaps in the panels the server rendered (and
 * escaped) and draws the charts with uPlot, on every update the server sends
 * over server-sent events. No markup is built here from data: panels arrive
 * as server-escaped HTML, chart labels are set as text by uPlot.
 */
import uPlot from 'uplot';

interface ChartData {
  readonly xs: readonly number[];
  readonly series: ReadonlyArray<{ readonly label: string; readonly values: ReadonlyArray<number | null> }>;
  readonly thresholds: ReadonlyArray<{ readonly value: number; readonly label: string }>;
}

interface Update {
  readonly panels: Record<string, string>;
  readonly charts: Record<string, ChartData>;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
const THRESHOLD = '#d62728';

const plots = new Map<string, { plot: uPlot; shape: string }>();

function chartOptions(el: HTMLElement, data: ChartData): uPlot.Options {
  const series: uPlot.Series[] = [{ label: 'window end' }];
  data.series.forEach((s, i) => series.push({ label: s.label, stroke: COLORS[i % COLORS.length]!, width: 2, points: { show: true, size: 5 }, spanGaps: true }));
  for (const t of data.thresholds) series.push({ label: t.label, stroke: THRESHOLD, width: 1.5, dash: [6, 4], points: { show: false } });
  return {
    width: Math.max(280, el.clientWidth),
    height: 180,
    series,
    scales: { x: { time: true } },
    axes: [{}, { size: 56 }],
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
  };
}

function chartData(data: ChartData): uPlot.AlignedData {
  const xs = [...data.xs];
  // A threshold is a constant series over the shown range (two points when there is no data yet).
  const cols: Array<Array<number | null>> = data.series.map((s) => [...s.values]);
  for (const t of data.thresholds) cols.push(xs.map(() => t.value));
  return [xs, ...cols] as uPlot.AlignedData;
}

function drawChart(id: string, data: ChartData): void {
  const el = document.querySelector<HTMLElement>(`[data-chart="${CSS.escape(id)}"]`);
  if (!el) return;
  const shape = JSON.stringify([data.series.map((s) => s.label), data.thresholds.map((t) => t.label)]);
  const existing = plots.get(id);
  el.dataset['points'] = String(data.series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0));
  if (existing && existing.shape === shape) {
    existing.plot.setData(chartData(data));
    return;
  }
  existing?.plot.destroy();
  el.replaceChildren();
  plots.set(id, { plot: new uPlot(chartOptions(el, data), chartData(data), el), shape });
}

function apply(update: Update): void {
  for (const [id, html] of Object.entries(update.panels)) {
    for (const el of document.querySelectorAll<HTMLElement>(`[data-panel="${CSS.escape(id)}"]`)) {
      // Rendered and escaped by the server (render.ts).
      if (el.innerHTML !== html) el.innerHTML = html;
    }
  }
  for (const [id, data] of Object.entries(update.charts)) drawChart(id, data);
  document.body.dataset['updated'] = String(Date.now());
}

function connect(): void {
  const status = document.getElementById('connection');
  const events = new EventSource('/events');
  events.addEventListener('open', () => {
    if (status) status.textContent = 'live';
  });
  events.addEventListener('update', (e) => apply(JSON.parse((e as MessageEvent<string>).data) as Update));
  events.addEventListener('error', () => {
    // EventSource reconnects by itself; say so meanwhile.
    if (status) status.textContent = 'reconnecting…';
  });
}

const initial = document.getElementById('initial');
if (initial?.textContent) apply(JSON.parse(initial.textContent) as Update);
connect();
window.addEventListener('resize', () => {
  for (const [id, { plot }] of plots) {
    const el = document.querySelector<HTMLElement>(`[data-chart="${CSS.escape(id)}"]`);
    if (el) plot.setSize({ width: Math.max(280, el.clientWidth), height: 200 });
  }
});
