import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBacktest } from '../../../local/tools/cli/backtest';
import { anomalyPipelineText } from '../../helpers/anomalyPipeline';

const M = 60_000;
const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const dir = mkdtempSync(join(tmpdir(), 'tw-backtest-anomaly-'));

const PIPELINE = anomalyPipelineText({ anomaly: '{ of: errors, direction: up, warmup: 3, minSpread: 1 }', minTotal: 10, summary: '{{service}}: {{errors}} errors, expected {{anomaly.lower}} to {{anomaly.upper}}' });

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
      anomaly: { score: 0, expected: 0, lower: -4, upper: 4, warming: true },
    });
    // minute 6 sent nothing: no window, and the model did not learn a zero (minute 7 is scored on what minute 5 left)
    expect(windows.map((w) => [w['windowStart'], (w['values'] as Record<string, number>)['errors'], w['holds'], w['anomaly']])).toEqual([
      ['2026-11-27T10:00:00.000Z', 2, false, { score: 0, expected: 0, lower: -4, upper: 4, warming: true }],
      ['2026-11-27T10:01:00.000Z', 3, false, { score: 0, expected: 2, lower: 0, upper: 6, warming: true }],
      ['2026-11-27T10:02:00.000Z', 2, false, { score: 0, expected: 2.5, lower: 0, upper: 6.5, warming: true }],
      ['2026-11-27T10:03:00.000Z', 3, false, { score: 0.33229872128313276, expected: 2.333333, lower: 0, upper: 6.333333, warming: false }],
      ['2026-11-27T10:04:00.000Z', 12, true, { score: 0.999999999364455, expected: 2.4, lower: 0, upper: 6.4, warming: false }],
      ['2026-11-27T10:05:00.000Z', 2, false, { score: 0, expected: 2.8, lower: 0, upper: 6.8, warming: false }],
      ['2026-11-27T10:07:00.000Z', 2, false, { score: 0, expected: 2.72, lower: 0, upper: 6.720000000000001, warming: false }],
    ]);
    const transitions = out.filter((l) => l['type'] === 'transition');
    expect(transitions.map((t) => [t['state'], t['windowStart'], t['anomaly'], (t['annotations'] as Record<string, string>)['summary']])).toEqual([
      ['firing', '2026-11-27T10:04:00.000Z', { score: 0.999999999364455, expected: 2.4, lower: 0, upper: 6.4, warming: false }, 'checkout: 12 errors, expected 0 to 6.4'],
      ['resolved', '2026-11-27T10:05:00.000Z', { score: 0, expected: 2.8, lower: 0, upper: 6.8, warming: false }, 'checkout: 2 errors, expected 0 to 6.8'],
    ]);
  });

  it('without --json prints a readable line per window with the verdict', async () => {
    const c = io();
    expect(await runBacktest(['--pipeline', pipeline, '--windows', '-q', events], c.io)).toBe(0);
    const body = c.out().split('\n\nsummary')[0]!.split('\n');
    expect(body).toEqual([
      '2026-11-27 10:01:00  window    ErrorSpike  service=checkout  [2026-11-27 10:00:00 .. 10:01:00)  errors=2 total=10  events=10  warming expected=0 band=[-4, 4]',
      '2026-11-27 10:02:00  window    ErrorSpike  service=checkout  [2026-11-27 10:01:00 .. 10:02:00)  errors=3 total=10  events=10  warming expected=2 band=[0, 6]',
      '2026-11-27 10:03:00  window    ErrorSpike  service=checkout  [2026-11-27 10:02:00 .. 10:03:00)  errors=2 total=10  events=10  warming expected=2.5 band=[0, 6.5]',
      '2026-11-27 10:04:00  window    ErrorSpike  service=checkout  [2026-11-27 10:03:00 .. 10:04:00)  errors=3 total=10  events=10  score=0.3323 expected=2.33333 band=[0, 6.33333]',
      '2026-11-27 10:05:00  FIRING    warning   ErrorSpike  service=checkout  [2026-11-27 10:04:00 .. 10:05:00)  errors=12 total=12  score=1.0000 expected=2.4 band=[0, 6.4]  checkout: 12 errors, expected 0 to 6.4',
      '2026-11-27 10:05:00  window    ErrorSpike  service=checkout  [2026-11-27 10:04:00 .. 10:05:00)  errors=12 total=12  events=12  score=1.0000 expected=2.4 band=[0, 6.4]  (when holds)',
      '2026-11-27 10:06:00  RESOLVED  warning   ErrorSpike  service=checkout  [2026-11-27 10:05:00 .. 10:06:00)  errors=2 total=10  score=0.0000 expected=2.8 band=[0, 6.8]  checkout: 2 errors, expected 0 to 6.8',
      '2026-11-27 10:06:00  window    ErrorSpike  service=checkout  [2026-11-27 10:05:00 .. 10:06:00)  errors=2 total=10  events=10  score=0.0000 expected=2.8 band=[0, 6.8]',
      '2026-11-27 10:08:00  window    ErrorSpike  service=checkout  [2026-11-27 10:07:00 .. 10:08:00)  errors=2 total=10  events=10  score=0.0000 expected=2.72 band=[0, 6.72]',
    ]);
  });
});
