/**
 * The newcomer's afternoon, as a test: a two-stream pipeline of their own,
 * `npm start -- --pipeline mine.yaml --input payments=mine.ndjson` (no demo),
 * their alerts and the per-stream counts, more events sent with `tidewatch
 * emit --event-time pipeline` that land in open windows, the inspect commands
 * with no flags, and Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { runInspect } from '../../local/inspect/cli';
import { runEmit } from '../../local/producer';

const ROOT = path.join(__dirname, '../..');
const START = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(' ').slice(1);

const MINE = `streams:
  payments:
    timestamp: at
    id: paymentId
  logins:
    timestamp: ts
rules:
  - alert: BigSpender
    stream: payments
    groupBy: [customer]
    window: { tumbling: 1m }
    lateness: 10s
    aggregate: { total: 'sum(amount)', n: 'count()' }
    when: 'total > 1000.0'
    emit: early
    annotations: { summary: '{{customer}} spent {{total}} in {{n}} payments' }
  - alert: LoginFailures
    stream: logins
    where: '!ok'
    groupBy: [user]
    window: { tumbling: 1m }
    aggregate: { failures: 'count()' }
    when: 'failures >= 3.0'
    emit: early
    severity: critical
`;

const T0 = Date.parse('2026-11-27T10:00:00Z');

/** 120 payments over 4 minutes (bob spends 15 x 400 in 10:01), a line that is not JSON, one without time, a duplicate, a late one. */
function history(): string {
  const lines: string[] = [];
  for (let i = 0; i < 120; i++) {
    const customer = ['ann', 'bob', 'cyd'][i % 3]!;
    const amount = customer === 'bob' && i >= 30 && i < 75 ? 400 : 20;
    lines.push(JSON.stringify({ paymentId: `p-${i}`, at: new Date(T0 + i * 2000).toISOString(), customer, amount }));
  }
  lines.splice(10, 0, '{"paymentId": "broken", "amount": }');
  lines.push(JSON.stringify({ paymentId: 'p-no-time', customer: 'ann', amount: 1 }));
  lines.push(JSON.stringify({ paymentId: 'p-0', at: new Date(T0).toISOString(), customer: 'ann', amount: 20 }));
  lines.push(JSON.stringify({ paymentId: 'p-late', at: new Date(T0 + 30_000).toISOString(), customer: 'ann', amount: 5 }));
  return `${lines.join('\n')}\n`;
}

function io(env: NodeJS.ProcessEnv, stdin = '') {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { io: { stdin: Readable.from([stdin]), stdout, stderr, env, cwd: ROOT }, out: () => out, err: () => err };
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 40_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('your own pipeline and your own events', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tw-mine-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs it without the demo, takes recorded events, accounts for each, and takes more events from emit into open windows', async () => {
    // GIVEN
    writeFileSync(path.join(dir, 'mine.yaml'), MINE);
    writeFileSync(path.join(dir, 'mine.ndjson'), history());
    const stateFile = path.join(dir, 'local.json');
    const env = { TIDEWATCH_LOCAL: stateFile };
    const child = spawn(process.execPath, [...START, '--pipeline', path.join(dir, 'mine.yaml'), '--input', `payments=${path.join(dir, 'mine.ndjson')}`, '--json', '--status-every', '2s', '--for', '90s'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const alerts = () => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { rule: string; state: string; group: Record<string, string>; values: Record<string, number> });
    try {
      // WHEN the recorded payments are in
      const big = await until('BigSpender for bob', () => alerts().find((a) => a.rule === 'BigSpender'));

      // THEN: both streams announced, no demo, the bad line named, bob's alert, and the late record explained
      expect(stderr).toContain('stream "payments", stream "logins" (2 shards each)');
      expect(stderr).not.toMatch(/demo producer|incident/);
      expect(stderr).toContain('mine.ndjson line 11: not valid JSON');
      expect(stderr).toContain('tidewatch: payments: 123 events sent from mine.ndjson (event time 2026-11-27T10:00:00.000Z .. 2026-11-27T10:03:58.000Z), 1 lines skipped');
      expect(big).toMatchObject({ state: 'firing', group: { customer: 'bob' } });
      await until('the late record explained', () => (/BigSpender: a record with event time 2026-11-27 10:00:30 was late/.test(stderr) ? true : undefined));
      expect(existsSync(stateFile)).toBe(true);

      // WHEN three failed logins are sent with emit, stamped at the pipeline's event time (all three at
      // the same time: the pipeline's event time follows the wall clock here, and logins a second apart
      // sent in the last seconds of a minute would fall into two 1-minute windows, neither reaching 3)
      const logins = ['{"user":"eve","ok":false,"ts":"2020-01-01T00:00:00Z"}', '{"user":"eve","ok":false,"ts":"2020-01-01T00:00:00Z"}', '{"user":"eve","ok":false,"ts":"2020-01-01T00:00:00Z"}'].join('\n');
      const emitted = io(env, logins);
      expect(await runEmit(['--stream', 'logins', '--event-time', 'pipeline'], emitted.io)).toBe(0);
      expect(emitted.err()).toContain('sending to the local pipeline npm start is running');

      // THEN they land in an open window: the early rule fires
      expect(await until('LoginFailures for eve', () => alerts().find((a) => a.rule === 'LoginFailures'))).toMatchObject({ state: 'firing', group: { user: 'eve' }, values: { failures: 3 } });

      // and the inspect commands need no flag
      const inspected = io(env);
      expect(await runInspect('alerts', [], inspected.io)).toBe(0);
      expect(inspected.out()).toMatch(/firing\s+BigSpender\s+customer=bob/);
      expect(inspected.out()).toMatch(/firing\s+LoginFailures\s+user=eve/);
      const quarantine = io(env);
      expect(await runInspect('quarantine', ['list', '--stream', 'payments'], quarantine.io)).toBe(0);
      expect(quarantine.out()).toContain('no-timestamp');
      await until('the counts of both streams', () => (/logins\s+3 in/.test(stderr) ? true : undefined));
    } finally {
      child.kill('SIGINT');
    }
    // THEN Ctrl-C ends it cleanly, with the books of each stream
    expect(await exited).toBe(0);
    expect(stderr).toContain('tidewatch: payments  123 in, 121 accepted, 1 late (BigSpender 1), 1 duplicate, 1 quarantined (no-timestamp 1);');
    expect(stderr).toContain('tidewatch: logins    3 in, 3 accepted, 0 late, 0 duplicates, 0 quarantined;');
    expect(existsSync(stateFile)).toBe(false);
  }, 120_000);
});
