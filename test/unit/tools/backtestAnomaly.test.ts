import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBacktest } from '../../../local/tools/cli/backtest';

const M = 60_000;
const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const dir = mkdtempSync(join(tmpdir(), 'tw-backtest-anomaly-'));

const PIPELINE = `streams:
  telemetry:
    timestamp: ts
    id: eventId
    outOfOrderness: 0s
rules:
  - alert: ErrorSpike
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate: { errors: 'count(status >= 500)', total: 'count()' }
    anomaly: { of: errors, direction: up, warmup: 3, minSpread: 1 }
    when: 'anomaly.score > 0.99 && total >= 10.0'
    annotations: { summary: '{{service}}: {{errors}} errors, expected {{anomaly.lower}} to {{anomaly.upper}}' }
`;

/** checkout, minutes 0-5: 10 requests a minute, errors 2, 3, 2, 3, 12, 2 (a spike in minute 4); minute 6 is a gap; minute 7 has 2. */
function lines(): string[] {
  const out: string[] = [];
  let n = 0;
  const errors: Array<[number, number]> = [[0, 2], [1, 3], [2, 2], [3, 3], [4, 12], [5, 2], [7, 2]];
  for (const [minute, e] of errors) {
    const total = Math.max(10, e);
    for (let k = 0; k < total; k++) out.push(JSON.stringify({ eventId: `e${n++}`, ts: new Date(T0 + minute * M + k * 1000).toISOString(), service: 'checkout', status: k < e ? 503 : 200 }));
  }
  return out;
}

const pipeline = join(dir, 'anomaly.yaml');
const events = join(dir, 'events.ndjson');
writeFileSync(pipeline, PIPELINE);
writeFileSync(events, `${lines().join('\n')}\n`);

function io() {
  let out = '';
  let err = '';
  return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} }, out: () => out, err: () => err };
}

describe('tidewatch backtest --windows with an anomaly rule', () => {
  it('--json prints each closed window with its anomaly score, expected value, band and warm-up flag', async () => {
    const c = io();
    expect(await runBacktest(['--pipeline', pipeline, '--windows', '--json', '-q', events], c.io)).toBe(0);
    expect(c.err()).toBe('');
    const out = c.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const windows = out.filter((l) => l['type'] === 'window').map(({ type, ...w }) => (void type, w));
    expect(windows[0]).toEqual({
      rule: 'ErrorSpike',
      group: { service: 'checkout' },
      windowStart: '2026-11-27T10:00:00.000Z',
      windowEnd: '2026-11-27T10:01:00.000Z',
      values: { errors: 2, total: 10 },
      events: 10,
      holds: false,
      anomaly: { score: 0, expected: 0, lower: -3, upper: 3, warming: true },
    });
    // minute 6 sent nothing: no window, and the model did not learn a zero (minute 7 is scored on what minute 5 left)
    expect(windows.map((w) => [w['windowStart'], (w['values'] as Record<string, number>)['errors'], w['holds'], w['anomaly']])).toEqual([
      ['2026-11-27T10:00:00.000Z', 2, false, { score: 0, expected: 0, lower: -3, upper: 3, warming: true }],
      ['2026-11-27T10:01:00.000Z', 3, false, { score: 0, expected: 2, lower: -1, upper: 5, warming: true }],
      ['2026-11-27T10:02:00.000Z', 2, false, { score: 0, expected: 2.5, lower: -0.5, upper: 5.5, warming: true }],
      ['2026-11-27T10:03:00.000Z', 3, false, { score: 0.49501526863825673, expected: 2.333333, lower: -0.6666669999999999, upper: 5.333333, warming: false }],
      ['2026-11-27T10:04:00.000Z', 12, true, { score: 1, expected: 2.4, lower: -0.6000000000000001, upper: 5.4, warming: false }],
      ['2026-11-27T10:05:00.000Z', 2, false, { score: 0, expected: 2.7, lower: -0.2999999999999998, upper: 5.7, warming: false }],
      ['2026-11-27T10:07:00.000Z', 2, false, { score: 0, expected: 2.63, lower: -0.3700000000000001, upper: 5.63, warming: false }],
    ]);
    const transitions = out.filter((l) => l['type'] === 'transition');
    expect(transitions.map((t) => [t['state'], t['windowStart'], t['anomaly'], (t['annotations'] as Record<string, string>)['summary']])).toEqual([
      ['firing', '2026-11-27T10:04:00.000Z', { score: 1, expected: 2.4, lower: -0.6000000000000001, upper: 5.4, warming: false }, 'checkout: 12 errors, expected -0.6 to 5.4'],
      ['resolved', '2026-11-27T10:05:00.000Z', { score: 0, expected: 2.7, lower: -0.2999999999999998, upper: 5.7, warming: false }, 'checkout: 2 errors, expected -0.3 to 5.7'],
    ]);
  });

  it('without --json prints a readable line per window with the verdict', async () => {
    const c = io();
    expect(await runBacktest(['--pipeline', pipeline, '--windows', '-q', events], c.io)).toBe(0);
    const body = c.out().split('\n\nsummary')[0]!.split('\n');
    expect(body).toEqual([
      '2026-11-27 10:01:00  window    ErrorSpike  service=checkout  [2026-11-27 10:00:00 .. 10:01:00)  errors=2 total=10  events=10  warming expected=0 band=[-3, 3]',
      '2026-11-27 10:02:00  window    ErrorSpike  service=checkout  [2026-11-27 10:01:00 .. 10:02:00)  errors=3 total=10  events=10  warming expected=2 band=[-1, 5]',
      '2026-11-27 10:03:00  window    ErrorSpike  service=checkout  [2026-11-27 10:02:00 .. 10:03:00)  errors=2 total=10  events=10  warming expected=2.5 band=[-0.5, 5.5]',
      '2026-11-27 10:04:00  window    ErrorSpike  service=checkout  [2026-11-27 10:03:00 .. 10:04:00)  errors=3 total=10  events=10  score=0.4950 expected=2.33333 band=[-0.666667, 5.33333]',
      '2026-11-27 10:05:00  FIRING    warning   ErrorSpike  service=checkout  [2026-11-27 10:04:00 .. 10:05:00)  errors=12 total=12  score=1.0000 expected=2.4 band=[-0.6, 5.4]  checkout: 12 errors, expected -0.6 to 5.4',
      '2026-11-27 10:05:00  window    ErrorSpike  service=checkout  [2026-11-27 10:04:00 .. 10:05:00)  errors=12 total=12  events=12  score=1.0000 expected=2.4 band=[-0.6, 5.4]  (when holds)',
      '2026-11-27 10:06:00  RESOLVED  warning   ErrorSpike  service=checkout  [2026-11-27 10:05:00 .. 10:06:00)  errors=2 total=10  score=0.0000 expected=2.7 band=[-0.3, 5.7]  checkout: 2 errors, expected -0.3 to 5.7',
      '2026-11-27 10:06:00  window    ErrorSpike  service=checkout  [2026-11-27 10:05:00 .. 10:06:00)  errors=2 total=10  events=10  score=0.0000 expected=2.7 band=[-0.3, 5.7]',
      '2026-11-27 10:08:00  window    ErrorSpike  service=checkout  [2026-11-27 10:07:00 .. 10:08:00)  errors=2 total=10  events=10  score=0.0000 expected=2.63 band=[-0.37, 5.63]',
    ]);
  });
});
