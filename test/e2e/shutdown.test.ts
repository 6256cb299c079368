/**
 * `npm start` as a user runs it (bin/start.ts in its own Node process): every
 * port it opens listens on 127.0.0.1 only, and Ctrl-C (SIGINT) or SIGTERM at
 * any moment — while the emulators start, while the demo sends, while batches
 * are in flight — ends it with exit code 0, no error line, and no process or
 * port left behind. A second Ctrl-C forces the stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { allListeningPorts, listeningSockets, processesWithEnv } from '../helpers/processes';

const ROOT = path.join(__dirname, '../..');
const START = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(' ').slice(1);
const MARK = 'TIDEWATCH_TEST_RUN';

interface Run {
  readonly child: ChildProcess;
  readonly mark: string;
  readonly stateFile: string;
  output(): string;
  /** Resolves when the banner has been printed (the pipeline is up). */
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function start(args: readonly string[]): Run {
  const dir = mkdtempSync(path.join(tmpdir(), 'tw-start-'));
  dirs.push(dir);
  const mark = randomUUID();
  const stateFile = path.join(dir, 'local.json');
  // What `npm start` runs (package.json), without npm in between.
  const child = spawn(process.execPath, [...START, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // No AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: npm start silences the SDK's notice itself.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED')), [MARK]: mark, TIDEWATCH_LOCAL: stateFile },
  });
  let out = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (markReady = r));
  const collect = (c: Buffer) => {
    out += c.toString();
    if (/Ctrl-C to stop/.test(out)) markReady();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, mark, stateFile, output: () => out, ready, exited };
}

/** Resolves at the first output chunk that makes the output match (checked as each chunk arrives). */
function waitFor(run: Run, pattern: RegExp): Promise<void> {
  if (pattern.test(run.output())) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const check = () => {
      if (!pattern.test(run.output())) return;
      run.child.stdout!.off('data', check);
      run.child.stderr!.off('data', check);
      resolve();
    };
    run.child.stdout!.on('data', check);
    run.child.stderr!.on('data', check);
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The lines that would alarm a user: errors, failures, warnings, stack traces (alert texts excluded). */
function errorLines(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => !/FIRING|RESOLVED/.test(l))
    .filter((l) => /\berror\b|[a-z]Error\b|\bfail(ed|ure|s)?\b|ECONN|EPIPE|unhandled|exception|warning|\[esm\]|gave up| {4}at /i.test(l));
}

async function leftovers(mark: string): Promise<number[]> {
  // The emulator child may need a moment to be reaped after its parent's exit.
  for (let i = 0; i < 30; i++) {
    const alive = processesWithEnv(MARK, mark);
    if (alive.length === 0) return [];
    await sleep(100);
  }
  return processesWithEnv(MARK, mark);
}

function announcedPorts(output: string): number[] {
  return [...output.matchAll(/http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
}

/** mulberry32: the moments are random but the same on every run of the suite. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('npm start: listeners and shutdown', () => {
  it('listens on 127.0.0.1 only, kinesis-local included', async () => {
    // GIVEN the pipeline, started as npm start starts it
    const run = start(['--for', '60s', '--incident-after', '1h', '--status-every', '0']);
    try {
      await within(45_000, 'the pipeline was not up', run.ready);

      // WHEN we list the listening sockets of its processes (npm start and the kinesis-local it spawned)
      const pids = processesWithEnv(MARK, run.mark);
      const sockets = listeningSockets(pids);

      // THEN kinesis-local (plain and TLS port), dynalite and the SNS endpoint all listen, each on 127.0.0.1
      expect(pids.length).toBeGreaterThanOrEqual(2);
      expect(sockets.length).toBeGreaterThanOrEqual(4);
      expect(new Set(sockets.map((s) => s.pid)).size).toBe(2);
      expect(sockets.filter((s) => s.address !== '127.0.0.1')).toEqual([]);
      const ports = sockets.map((s) => s.port);
      for (const p of announcedPorts(run.output())) expect(ports).toContain(p);
    } finally {
      run.child.kill('SIGINT');
      await run.exited;
    }
  }, 90_000);

  it('SIGINT or SIGTERM at random moments: exit code 0, no error line, nothing left behind', async () => {
    const rnd = random(20);
    // Each run's moment is one of three kinds, so that every kind is met whatever the machine's speed
    // (a fast machine is up before most fixed delays, a slow one after them: CI once met no "starting" run):
    //   'any':      a delay after Node's first 150 ms (its own bootstrap, before any of our code can handle a
    //               signal, is left out), through loading the program and starting the emulators, into the demo;
    //   'starting': the moment the program says it is starting the emulators (the banner is not out yet);
    //   'running':  a random moment up to 3 s after the banner, with the demo sending and batches in flight.
    type Moment = 'any' | 'starting' | 'running';
    const runs: ReadonlyArray<readonly [NodeJS.Signals, Moment]> = [
      ['SIGINT', 'starting'],
      ['SIGINT', 'any'],
      ['SIGINT', 'running'],
      ['SIGTERM', 'starting'],
      ['SIGINT', 'any'],
      ['SIGINT', 'any'],
      ['SIGTERM', 'running'],
      ['SIGINT', 'any'],
      ['SIGTERM', 'any'],
      ['SIGINT', 'starting'],
      ['SIGINT', 'running'],
      ['SIGINT', 'any'],
    ];
    const report: string[] = [];
    for (const [i, [signal, moment]] of runs.entries()) {
      // GIVEN a pipeline with the demo running (no incident: no alert text in the output)
      const run = start(['--for', '60s', '--incident-after', '1h', '--status-every', '2s']);
      const t0 = Date.now();
      if (moment === 'any') await sleep(150 + Math.floor(rnd() * 7000));
      else if (moment === 'starting') await within(45_000, `run ${i}: the program did not say it was starting`, waitFor(run, /starting the local pipeline/));
      else {
        await within(45_000, `run ${i}: the pipeline was not up`, run.ready);
        await sleep(Math.floor(rnd() * 3000));
      }
      const delay = Date.now() - t0;
      const wasReady = /Ctrl-C to stop/.test(run.output());
      // A 'starting' moment is before the banner, a 'running' one after it ('any' may be either).
      const expectedReady = moment === 'starting' ? false : moment === 'running' ? true : wasReady;
      expect({ run: i, moment, wasReady }).toEqual({ run: i, moment, wasReady: expectedReady });

      // WHEN
      run.child.kill(signal);
      const exit = await within(30_000, `run ${i} (${signal} after ${delay} ms) did not exit`, run.exited);

      // THEN
      const output = run.output();
      report.push(`${signal} after ${delay} ms (${moment}, ${wasReady ? 'running' : 'starting'}): exit ${exit.code}`);
      expect({ run: i, delay, exit, errors: errorLines(output) }).toEqual({ run: i, delay, exit: { code: 0, signal: null }, errors: [] });
      expect(output).not.toMatch(/NodeVersionSupportWarning/);
      expect(await leftovers(run.mark)).toEqual([]);
      const listening = allListeningPorts();
      expect(announcedPorts(output).filter((p) => listening.has(p))).toEqual([]);
      expect(existsSync(run.stateFile)).toBe(false);
    }
    // Both kinds of moment were met (by construction: 'starting' and 'running' runs are checked above).
    expect(report.some((r) => r.includes(', starting)'))).toBe(true);
    expect(report.some((r) => r.includes(', running)'))).toBe(true);
  }, 240_000);

  it('a second Ctrl-C forces a stop that hangs: exit code 130, and kinesis-local is killed', async () => {
    const run = start(['--for', '60s', '--incident-after', '1h', '--status-every', '0']);
    await within(45_000, 'the pipeline was not up', run.ready);
    // GIVEN kinesis-local hangs (stopped): the ordered stop waits for the demo's request in flight
    const emulator = processesWithEnv(MARK, run.mark).filter((p) => p !== run.child.pid);
    expect(emulator).toHaveLength(1);
    process.kill(emulator[0]!, 'SIGSTOP');
    await sleep(300);
    // WHEN Ctrl-C, and Ctrl-C again
    run.child.kill('SIGINT');
    await sleep(600); // signals closer than 0.5 s count as one (a terminal's Ctrl-C may arrive twice)
    run.child.kill('SIGINT');
    const exit = await within(10_000, 'did not exit', run.exited);
    expect(exit).toEqual({ code: 130, signal: null });
    expect(run.output()).toContain('forced to stop');
    expect(await leftovers(run.mark)).toEqual([]);
    expect(existsSync(run.stateFile)).toBe(false);
  }, 90_000);
});
