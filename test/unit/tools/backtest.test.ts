import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runBacktest } from '../../../local/tools/cli/backtest';

const M = 60_000;
const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const dir = mkdtempSync(join(tmpdir(), 'tw-backtest-'));

let n = 0;
const http = (t: number, service: string, status: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ eventId: `e${n++}`, ts: new Date(t).toISOString(), kind: 'http', service, host: 'web-1', status, latencyMs: 40, ...extra });

/**
 * checkout: minute 0 has 3 errors in 30 requests (fires early), minute 1 is healthy (resolves),
 * minute 2 errors again (fires), minute 3 healthy; search is healthy throughout. Plus a line that
 * is not JSON and one the schema refuses.
 */
function workload(): string[] {
  const lines: string[] = [];
  for (let i = 0; i < 120; i++) {
    const t = T0 + i * 2000;
    const minute = Math.floor(i / 30);
    lines.push(http(t, 'checkout', minute % 2 === 0 && i % 30 >= 27 ? 503 : 200));
    lines.push(http(t + 1000, 'search', 200));
  }
  lines.splice(10, 0, 'not json');
  lines.splice(20, 0, JSON.stringify({ eventId: 'bad', ts: new Date(T0 + 5000).toISOString(), kind: 'http', host: 'web-1', service: 'search', status: 'ok', latencyMs: 1 }));
  return lines;
}

function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function io(stdin?: Readable) {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {}, ...(stdin ? { stdin } : {}) },
    out: () => out,
    err: () => err,
    json: () => out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('tidewatch backtest over NDJSON', () => {
  const input = file('w.ndjson', workload());

  it('prints every transition as JSON, then a summary: alerts per rule, flapping, rejected by reason', async () => {
    const c = io();
    expect(await runBacktest(['--json', '-q', input], c.io)).toBe(0);
    expect(c.err()).toBe('');
    const lines = c.json();
    const transitions = lines.filter((l) => l['type'] === 'transition');
    expect(transitions.map((t) => [t['rule'], t['state'], t['windowStart'], t['windowEnd'], t['values']])).toEqual([
      // 10 s batches (the default): the batch that first holds the condition also holds the minute's last request
      ['HighErrorRate', 'firing', new Date(T0).toISOString(), new Date(T0 + M).toISOString(), { errors: 3, total: 30 }],
      ['HighErrorRate', 'resolved', new Date(T0 + M).toISOString(), new Date(T0 + 2 * M).toISOString(), { errors: 0, total: 30 }],
      ['HighErrorRate', 'firing', new Date(T0 + 2 * M).toISOString(), new Date(T0 + 3 * M).toISOString(), { errors: 3, total: 30 }],
      ['HighErrorRate', 'resolved', new Date(T0 + 3 * M).toISOString(), new Date(T0 + 4 * M).toISOString(), { errors: 0, total: 30 }],
    ]);
    expect(transitions[0]).toMatchObject({ group: { service: 'checkout' }, severity: 'critical', labels: { team: 'platform' }, annotations: { summary: 'checkout: 3 of 30 requests failed in the last minute' }, at: new Date(T0 + 58_000).toISOString() });
    const summary = lines[lines.length - 1]!;
    expect(summary).toMatchObject({
      type: 'summary',
      records: 242,
      events: 240,
      rejected: { 'not-json': 1, schema: 1 },
      late: 0,
      duplicates: 0,
      flushed: true,
      openWindows: 0,
      firingAtEnd: 0,
      flapWindows: 2,
      // fired in minute 0, resolved with minute 1 (1 window); the second resolution comes from the end-of-input flush, which is not flapping
      alerts: { HighErrorRate: { fired: 2, resolved: 2, groups: 1, flaps: 1 }, SlowResponses: { fired: 0, resolved: 0, groups: 0, flaps: 0 }, HeartbeatMissing: { fired: 0 } },
      flapping: [{ rule: 'HighErrorRate', group: { service: 'checkout' }, times: 1 }],
    });
    // The sample's expressions raise no error on these events.
    expect(summary['expressionErrors']).toEqual({});
  });

  it('reports the expressions that raised errors, per rule and kind (a rule that cannot fire says so)', async () => {
    const pipeline = join(dir, 'errors.yaml');
    writeFileSync(
      pipeline,
      [
        'streams:',
        '  telemetry:',
        '    timestamp: ts',
        'rules:',
        '  - alert: SlowMean',
        '    stream: telemetry',
        "    where: 'status >= 200'",
        '    groupBy: [service]',
        '    window: { tumbling: 1m }',
        '    aggregate:',
        "      mean: 'avg(latencyMs)'",
        "    when: 'mean > 100.0'",
        '',
      ].join('\n'),
    );
    // checkout: 30 requests with a latency (mean 40: does not hold); search: status as a string on 2 (where raises),
    // latency a string on the other 28 (avg's argument raises), so its window's mean has no value and `when` raises;
    // cart: no status and no latency at all: optional fields, no match and no value, no error.
    const lines: string[] = [];
    for (let i = 0; i < 30; i++) {
      lines.push(http(T0 + i * 1000, 'checkout', 200));
      lines.push(JSON.stringify({ ts: new Date(T0 + i * 1000 + 500).toISOString(), service: 'search', status: i < 2 ? 'ok' : 200, latencyMs: 'n/a' }));
      lines.push(JSON.stringify({ ts: new Date(T0 + i * 1000 + 600).toISOString(), service: 'cart' }));
    }
    const c = io();
    expect(await runBacktest(['--json', '-q', '--pipeline', pipeline, file('errors.ndjson', lines)], c.io)).toBe(0);
    expect(c.json().pop()).toMatchObject({ expressionErrors: { SlowMean: { where: 2, aggregate: 28, when: 1 } }, alerts: { SlowMean: { fired: 0 } } });
    const text = io();
    expect(await runBacktest(['-q', '--pipeline', pipeline, join(dir, 'errors.ndjson')], text.io)).toBe(0);
    expect(text.out().split('\n')).toContain('            SlowMean  where 2, aggregate 28, when 1');
  });

  it('with --windows, also prints every closed window per rule and group; --flap-windows 0 counts no flapping', async () => {
    const c = io();
    expect(await runBacktest(['--json', '-q', '--windows', '--flap-windows', '0', input], c.io)).toBe(0);
    const windows = c.json().filter((l) => l['type'] === 'window' && l['rule'] === 'HighErrorRate');
    expect(windows.map((w) => [w['group'], w['windowStart'], w['values'], w['events'], w['holds']])).toEqual([
      [{ service: 'checkout' }, new Date(T0).toISOString(), { errors: 3, total: 30 }, 30, true],
      [{ service: 'search' }, new Date(T0).toISOString(), { errors: 0, total: 30 }, 30, false],
      [{ service: 'checkout' }, new Date(T0 + M).toISOString(), { errors: 0, total: 30 }, 30, false],
      [{ service: 'search' }, new Date(T0 + M).toISOString(), { errors: 0, total: 30 }, 30, false],
      [{ service: 'checkout' }, new Date(T0 + 2 * M).toISOString(), { errors: 3, total: 30 }, 30, true],
      [{ service: 'search' }, new Date(T0 + 2 * M).toISOString(), { errors: 0, total: 30 }, 30, false],
      [{ service: 'checkout' }, new Date(T0 + 3 * M).toISOString(), { errors: 0, total: 30 }, 30, false],
      [{ service: 'search' }, new Date(T0 + 3 * M).toISOString(), { errors: 0, total: 30 }, 30, false],
    ]);
    expect(c.json().pop()).toMatchObject({ flapping: [], alerts: { HighErrorRate: { flaps: 0 } } });
  });

  it('with --no-flush leaves the last windows open and the last alert firing', async () => {
    const c = io();
    expect(await runBacktest(['--json', '-q', '--no-flush', input], c.io)).toBe(0);
    const lines = c.json();
    expect(lines.filter((l) => l['type'] === 'transition').map((t) => t['state'])).toEqual(['firing', 'resolved', 'firing']);
    expect(lines.pop()).toMatchObject({ flushed: false, firingAtEnd: 1, openWindows: expect.any(Number) });
  });

  it('reads stdin, and prints a human-readable report by default; with 1 s batches (as deployed) the early rule fires at the request that tips it', async () => {
    const c = io(Readable.from([workload().join('\n')]));
    expect(await runBacktest(['-q', '--batch-window', '1s', '--batch-size', '1000'], c.io)).toBe(0);
    const out = c.out().split('\n');
    expect(out[0]).toBe(`2026-11-27 10:00:56  FIRING    critical  HighErrorRate  service=checkout  [2026-11-27 10:00:00 .. 10:01:00)  errors=2 total=29  checkout: 2 of 29 requests failed in the last minute`);
    expect(out).toContain('  input     242 records: 240 events, 2 rejected, arrival 2026-11-27T10:00:00.000Z .. 2026-11-27T10:03:59.000Z');
    expect(out).toContain('  rejected  not-json 1, schema 1');
    expect(out).toContain('            HighErrorRate         2         2       1      1');
    expect(out).toContain('            HighErrorRate  service=checkout  1 time');
  });

  it('takes the arrival time from a Kinesis record line, and event time + --arrival-delay for a payload', async () => {
    // a record keeps its arrival (70 s); a payload of 10:00:00 arrives 90 s after it, on the shard its service hashes to
    const record = JSON.stringify({ SequenceNumber: '49700000000000000000000000000000000000000000000000000009', ApproximateArrivalTimestamp: (T0 + 70_000) / 1000, PartitionKey: 'web-1', Data: Buffer.from(http(T0 + 70_000, 'search', 200)).toString('base64') });
    const c = io();
    expect(await runBacktest(['--json', '-q', '--arrival-delay', '90s', '--shards', '2', '--partition-key', 'service', file('arrival.ndjson', [record, http(T0, 'search', 200)])], c.io)).toBe(0);
    expect(c.json().pop()).toMatchObject({ records: 2, events: 2, firstArrival: T0 + 70_000, lastArrival: T0 + 90_000 });
  });

  it('says which line broke the input (exit 1), and what was wrong with the command (exit 2)', async () => {
    const outOfOrder = (seq: string) => JSON.stringify({ SequenceNumber: seq, ApproximateArrivalTimestamp: T0 / 1000, PartitionKey: 'a', Data: 'e30=' });
    const c = io();
    expect(await runBacktest(['-q', file('seq.ndjson', [outOfOrder('20'), outOfOrder('10')])], c.io)).toBe(1);
    expect(c.err()).toMatch(/^tidewatch backtest: .*seq\.ndjson:2: records of shardId-000000000000 are not in sequence order: 10 comes after 20/);

    const missing = io();
    expect(await runBacktest(['-q', join(dir, 'none.ndjson')], missing.io)).toBe(1);
    expect(missing.err()).toMatch(/^tidewatch backtest: cannot read .*none\.ndjson: ENOENT: no such file/);

    for (const [args, message] of [
      [['--from', '2h', input], '--from reads a Kinesis stream: give --kinesis-stream NAME'],
      [['--batch-size', '0', input], '--batch-size must be a whole number from 1 to 10000 (given "0")'],
      [['--kinesis-stream', 's', input], 'give input files or --kinesis-stream, not both'],
      [['--kinesis-stream', 's', '--from', 'yesterday'], '--from: "yesterday" is not a duration'],
      [['--stream', 'logs', input], '--stream logs: pipelines/sample.yaml declares telemetry'],
      [['--flush', input], 'unknown option --flush (see tidewatch backtest --help)'],
    ] as const) {
      const u = io();
      expect(await runBacktest([...args], u.io)).toBe(2);
      expect(u.err()).toContain(`tidewatch backtest: ${message}`);
    }
  });

  it('says when the pipeline file does not load (exit 1)', async () => {
    const c = io();
    expect(await runBacktest(['--pipeline', join(dir, 'nope.yaml'), input], c.io)).toBe(1);
    expect(c.err()).toMatch(/nope\.yaml does not load:\n {2}.*nope\.yaml: cannot read the pipeline file/);
  });
});
