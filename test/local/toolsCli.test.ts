/**
 * `tidewatch check`, `test` and `backtest` as a user runs them: through the
 * package's bin (bin/tidewatch.cjs), in a child process, on the sample pipeline.
 * The sample's rule tests (pipelines/sample.test.yaml) run here, so `npm test`
 * fails when a rule of the sample stops doing what its tests say.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultIncident, generateTelemetry } from '../../local/demo/telemetry';

function tidewatch(args: string[], input?: string) {
  const r = spawnSync(process.execPath, ['bin/tidewatch.cjs', ...args], { encoding: 'utf8', input, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tidewatch check / test / backtest (the CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tw-cli-'));

  it('check: exits 0 on the sample pipeline and 1 with file:line:col, rule and field on a broken copy', () => {
    expect(tidewatch(['check', 'pipelines/sample.yaml'])).toEqual({ code: 0, stdout: 'pipelines/sample.yaml: OK (7 rules, 1 stream)\n', stderr: '' });
    mkdirSync(join(dir, 'schemas'));
    copyFileSync('pipelines/schemas/telemetry.schema.json', join(dir, 'schemas/telemetry.schema.json'));
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, readFileSync('pipelines/sample.yaml', 'utf8').replace("when: 'p99 > 800.0 && total >= 50'", "when: 'p99 > 800.0 && totl >= 50'"));
    const r = tidewatch(['check', broken]);
    expect(r.code).toBe(1);
    const line = readFileSync(broken, 'utf8').split('\n').findIndex((l) => l.includes('totl >= 50')) + 1;
    expect(r.stdout).toBe(`${broken}:${line}:27: error: rule "SlowResponses" field "when": unknown name "totl": this expression may use p99, total, service; did you mean "total"?\n${broken}: 1 error\n`);
  });

  it('test: runs the sample\'s rule tests and ends with "N passed, 0 failed"', () => {
    const r = tidewatch(['test']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Unit Testing: pipelines\/sample\.test\.yaml\n/);
    // every rule of the sample pipeline is covered
    for (const rule of ['HighErrorRate', 'SlowResponses', 'ErrorSpike', 'SessionBurst', 'HeartbeatMissing', 'DeployThenErrors', 'JobNeverFinished']) expect(r.stdout).toMatch(new RegExp(`PASS {2}${rule} `));
    expect(r.stdout).toMatch(/\n31 passed, 0 failed\n$/);
  });

  it('test: exits 1 with a diff when a test fails', () => {
    const file = join(dir, 'fails.test.yaml');
    writeFileSync(file, readFileSync('pipelines/sample.test.yaml', 'utf8').replace('rule_files:\n  - sample.yaml', `rule_files:\n  - ${join(process.cwd(), 'pipelines/sample.yaml')}`).replace("exp_values: { errors: 2, total: 32 }\n      # No event", "exp_values: { errors: 3, total: 32 }\n      # No event"));
    const r = tidewatch(['test', file, '--run', 'HighErrorRate pages']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('    FAILED  alert_rule_test #2: HighErrorRate at 1m (2000-01-01T00:01:00.000Z)');
    expect(r.stdout).toContain('        - labels {service="checkout", severity="critical", team="platform"} annotations {summary="checkout: 2 of 32 requests failed in the last minute"} values {errors=3, total=32}');
    expect(r.stdout).toContain('            (an alert with these labels fires, but errors: expected 3, got 2)');
    expect(r.stdout).toMatch(/\n4 passed, 1 failed\n$/);
  });

  it('backtest --json --windows: prints the transitions and the windows of the demo telemetry, then the summary', () => {
    const start = Date.UTC(2026, 10, 27, 10, 0, 0);
    const events = generateTelemetry({ seed: 3, start, durationMs: 8 * 60_000, ratePerSec: 40, incident: defaultIncident(start) });
    const file = join(dir, 'demo.ndjson');
    writeFileSync(file, `${events.map((e) => JSON.stringify(e.event)).join('\n')}\n`);

    const r = tidewatch(['backtest', '--pipeline', 'pipelines/sample.yaml', '--json', '--windows', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const fired = lines.filter((l) => l['type'] === 'transition' && l['state'] === 'firing').map((l) => [l['rule'], l['group']]);
    // the incident: checkout's errors, search's latency, web-4's silence
    expect(fired).toEqual(expect.arrayContaining([['HighErrorRate', { service: 'checkout' }], ['SlowResponses', { service: 'search' }], ['HeartbeatMissing', { host: 'web-4' }]]));
    for (const t of lines.filter((l) => l['type'] === 'transition')) expect(Object.keys(t)).toEqual(expect.arrayContaining(['rule', 'group', 'windowStart', 'windowEnd', 'values', 'state']));
    expect(lines[lines.length - 1]).toMatchObject({ type: 'summary', records: events.length, events: events.length, flushed: true });
    const windows = lines.filter((l) => l['type'] === 'window');
    // 8 minutes of 4 services: at least 8 one-minute windows of each
    expect(windows.filter((x) => x['rule'] === 'HighErrorRate').length).toBeGreaterThanOrEqual(32);
    const total = windows.filter((x) => x['rule'] === 'HighErrorRate').reduce((n, x) => n + (x['values'] as { total: number }).total, 0);
    expect(total).toBe(events.filter((e) => e.event.kind === 'http').length);
  });

  it('backtest: a usage error exits 2 in tidewatch\'s words, --help exits 0', () => {
    const r = tidewatch(['backtest', '--batch-size', 'lots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tidewatch backtest: --batch-size must be a whole number from 1 to 10000 \(given "lots"\)\n\nusage: tidewatch backtest/);
    const h = tidewatch(['backtest', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^usage: tidewatch backtest \[options\]/);
  });
});
