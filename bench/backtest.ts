/**
 * `npm run bench:backtest`: how long `tidewatch backtest` takes over the
 * sample workload, run as a user runs it.
 *
 * Generates N events (default 1,000,000) of the demo telemetry the sample
 * pipeline is written for (4 services on 6 hosts, heartbeats, the default
 * incident: checkout's errors, search's latency, web-4 going silent) at 1,000
 * requests/s of event time into an NDJSON file, then times
 * `node bin/tidewatch.cjs backtest --pipeline pipelines/sample.yaml --json FILE`
 * from spawn to exit (process start, tsx, loading, reading, the engine, the
 * flush), checking its summary counted every record. The backtest runs on one
 * thread; V8's garbage collector may use helper threads: `--pin CPU` runs it
 * under `taskset -c CPU` to hold it to one core.
 *
 *   npm run bench:backtest                      # 1,000,000 events
 *   npm run bench:backtest -- --events 20000    # a quick check
 *   npm run bench:backtest -- --json            # one JSON object as the last line
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultIncident, generateTelemetry } from '../local/demo/telemetry';

const START = Date.UTC(2026, 10, 27, 10, 0, 0);
const CHUNK_MS = 60_000;

/** Writes `events` lines of demo telemetry; returns the count written. */
async function writeWorkload(file: string, events: number, ratePerSec: number): Promise<number> {
  const out = createWriteStream(file);
  const incident = defaultIncident(START);
  let written = 0;
  for (let k = 0; written < events; k++) {
    // A minute at a time (generateTelemetry holds its events in memory), in arrival order within the minute.
    const chunk = generateTelemetry({ seed: 1000 + k, start: START + k * CHUNK_MS, durationMs: CHUNK_MS, ratePerSec, incident });
    let text = '';
    for (const e of chunk) {
      if (written >= events) break;
      text += `${JSON.stringify({ ...e.event, eventId: `b${written}` })}\n`;
      written++;
    }
    if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return written;
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      rate: { type: 'string', default: '1000' },
      pin: { type: 'string' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const events = Number(values.events);
  if (!Number.isInteger(events) || events < 1) throw new Error(`--events must be a whole number of events, 1 or more (given "${values.events}")`);
  const rate = Number(values.rate);
  if (!(rate > 0)) throw new Error(`--rate must be a positive number of requests per second (given "${values.rate}")`);
  if (values.pin !== undefined && !/^\d+$/.test(values.pin)) throw new Error(`--pin must be a CPU number, e.g. 0 (given "${values.pin}")`);
  const pin = values.pin;
  if (pin !== undefined && !hasTaskset()) throw new Error('--pin needs taskset (util-linux), which is not installed');

  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-bench-backtest-'));
  const file = join(dir, 'workload.ndjson');
  const log = (s: string) => (values.json ? process.stderr.write(`${s}\n`) : console.log(s));
  try {
    const g = performance.now();
    const written = await writeWorkload(file, events, rate);
    log(`tidewatch backtest benchmark: ${written.toLocaleString('en-US')} events of demo telemetry at ${rate} requests/s of event time (generated in ${((performance.now() - g) / 1000).toFixed(1)} s), Node ${process.version}${pin !== undefined ? `, pinned to CPU ${pin}` : ''}`);

    const cli = ['bin/tidewatch.cjs', 'backtest', '--pipeline', 'pipelines/sample.yaml', '--json', '--quiet', file];
    const [cmd, args] = pin !== undefined ? ['taskset', ['-c', pin, process.execPath, ...cli]] : [process.execPath, cli];
    const t = performance.now();
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
      let so = '';
      let se = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (so += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (se += c));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stdout: so, stderr: se }));
    });
    const seconds = (performance.now() - t) / 1000;
    if (code !== 0) throw new Error(`the backtest exited with ${code}: ${stderr}`);
    const lines = stdout.trim().split('\n');
    const summary = JSON.parse(lines[lines.length - 1]!) as { type: string; records: number; events: number; seconds: number; cpuSeconds: number; alerts: Record<string, { fired: number }> };
    if (summary.type !== 'summary' || summary.records !== written) throw new Error(`the backtest's summary does not count the ${written} records written: ${lines[lines.length - 1]}`);
    const fired = Object.entries(summary.alerts).map(([rule, a]) => `${rule} ${a.fired}`).join(', ');
    const result = {
      events: written,
      seconds: Math.round(seconds * 1000) / 1000,
      eventsPerSecond: Math.round(written / seconds),
      inProcessSeconds: summary.seconds,
      inProcessCpuSeconds: summary.cpuSeconds,
      targetSeconds: 10,
      met: seconds < 10,
    };
    log(`  backtest, spawn to exit   ${seconds.toFixed(2).padStart(8)} s   ${result.eventsPerSecond.toLocaleString('en-US').padStart(10)} events/s`);
    log(`  of which in the command   ${summary.seconds.toFixed(2).padStart(8)} s   (reading, the engine, the flush; the rest is node + tsx start-up)`);
    log(`  CPU time in the command   ${summary.cpuSeconds.toFixed(2).padStart(8)} s   (all threads; on a loaded machine the wall clock exceeds it)`);
    log(`  alerts fired: ${fired}; ${lines.length - 1} transitions printed`);
    if (events >= 1_000_000) log(`  target: ${written.toLocaleString('en-US')} events in under 10 s ${result.met ? 'MET' : 'NOT MET'}`);
    console.log(JSON.stringify(result));
  } finally {
    if (values.keep) log(`  workload kept in ${file}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:backtest: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
