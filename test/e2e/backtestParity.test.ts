/**
 * Same engine, same answers: the local pipeline (kinesis-local, dynalite, the
 * SNS endpoint, the event source mapping invoking the real processor handler,
 * the ticker) runs a scenario that makes every kind of rule fire; then
 * `tidewatch backtest` reads the same records back from the stream (AT_TIMESTAMP)
 * and must print exactly the transitions SNS delivered.
 *
 * The scenario is built so that the answer does not depend on how records are
 * batched (the live runner's batches are not recorded in the stream): `emit:
 * final` and absence rules never do; the one `emit: early` alert first holds on
 * the last request of its window, on one shard, so whatever batch fires it holds
 * the whole window. Each shard sends one event before the rest, so both shards are
 * known to the watermark before any window closes.
 */
import type { AlertMessage } from '../../lambdas/adapters/SnsAlertPublisher';
import { startLocalPipeline, type LocalPipeline } from '../../local/LocalPipeline';
import { Producer } from '../../local/producer';
import { runBacktest } from '../../local/tools/cli/backtest';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const S = 1000;
const M = 60_000;

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Event = Record<string, string | number>;

/**
 * Eleven minutes of traffic from t0: an error burst of checkout in minute 3 and
 * of payments in minute 10 (two groups: one alert's episode cannot hold up the
 * other's), a slow search period, web-4 going silent, and catalog's web-5 busy
 * enough for one long session.
 */
function scenario(t0: number): { warmUp: Event[]; rest: Event[] } {
  const events: Array<Event & { t: number }> = [];
  let id = 0;
  const http = (t: number, service: string, host: string, status: number, latencyMs: number) =>
    events.push({ t, eventId: `p-${id++}`, ts: new Date(t).toISOString(), kind: 'http', service, host, status, latencyMs });
  for (let t = t0; t < t0 + 11 * M; t += 2 * S) {
    // the last two requests of checkout's minute 3 and payments' minute 10 fail (2 of 30: the rule holds only then)
    const minute = Math.floor((t - t0) / M);
    const last = (t - t0) % M >= 56 * S;
    http(t, 'checkout', 'web-1', minute === 3 && last ? 503 : 200, 40);
    http(t + 200, 'payments', 'web-6', minute === 10 && last ? 503 : 200, 40);
  }
  for (let t = t0; t < t0 + 11 * M; t += S) http(t + 100, 'catalog', 'web-5', 200, 30);
  for (let t = t0; t < t0 + 11 * M; t += 5 * S) http(t + 500, 'search', 'web-2', 200, t - t0 >= 2 * M && t - t0 < 5 * M ? 1500 : 60);
  for (let t = t0; t < t0 + 11 * M; t += 10 * S) http(t + 700, 'auth', 'web-3', 200, 20);
  for (let t = t0; t < t0 + 11 * M; t += 10 * S) {
    for (const host of ['web-1', 'web-2', 'web-3', 'web-4']) {
      if (host === 'web-4' && t - t0 > 3 * M) continue;
      events.push({ t: t + 300, eventId: `h-${id++}`, ts: new Date(t + 300).toISOString(), kind: 'heartbeat', host });
    }
  }
  events.sort((a, b) => a.t - b.t);
  const strip = ({ t: _t, ...e }: Event & { t: number }) => e;
  // The first heartbeat of every host covers both shards (web-2 hashes to one, web-1 to the other).
  const warmUp = events.filter((e) => e['kind'] === 'heartbeat' && e.t < t0 + S);
  return { warmUp: warmUp.map(strip), rest: events.filter((e) => !warmUp.includes(e)).map(strip) };
}

/** A backtest of the local stream, its transitions as AlertMessages (what SNS delivers), by transition id. */
async function backtest(local: LocalPipeline, from: Date, flush: boolean): Promise<{ transitions: Array<AlertMessage & { afterInput?: boolean }>; summary: Record<string, unknown> }> {
  let out = '';
  let err = '';
  const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} };
  const args = ['--pipeline', 'pipelines/sample.yaml', '--kinesis-stream', 'telemetry', '--endpoint', local.kinesis.endpoint, '--from', from.toISOString(), '--json', '-q', ...(flush ? [] : ['--no-flush'])];
  const code = await runBacktest(args, io);
  if (code !== 0) throw new Error(`backtest exited ${code}: ${err}`);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const transitions = lines
    .filter((l) => l['type'] === 'transition')
    .map(({ type: _t, windowStart: _s, windowEnd: _e, ...m }) => m as unknown as AlertMessage & { afterInput?: boolean })
    .sort(byId);
  return { transitions, summary: lines[lines.length - 1]! };
}

const byId = (a: AlertMessage, b: AlertMessage) => (a.transitionId < b.transitionId ? -1 : a.transitionId > b.transitionId ? 1 : 0);

describe('backtest over the local end-to-end run', () => {
  let local: LocalPipeline;
  const delivered: AlertMessage[] = [];
  // The pipeline's clock: the wall clock at the start, moved by hand (so no shard idles by accident).
  let now = Date.now();
  const clock = { now: () => now };

  beforeAll(async () => {
    local = await startLocalPipeline({ shards: 2, clock, tickEveryMs: 3_600_000, onAlert: (m) => delivered.push(m) });
  }, 60_000);

  afterAll(async () => {
    await local?.stop();
  }, 30_000);

  it('gives exactly the alert transitions the live pipeline published, before and after the windows are flushed', async () => {
    // Arrange: the scenario, 12 minutes ago, sent with the producer through the Kinesis API
    const t0 = Math.floor(now / M) * M - 12 * M;
    const { warmUp, rest } = scenario(t0);
    const key = (r: object) => String((r as Event)['kind'] === 'http' ? (r as Event)['service'] : (r as Event)['host']);
    const producer = new Producer({ client: local.kinesis.client(), streamName: 'telemetry', partitionKey: key });
    const from = new Date(Date.now() - 2 * S);
    expect(await producer.send(warmUp)).toMatchObject({ failed: 0 });
    await until('both shards known to the watermark', async () => ((await local.runtime.store.listShardProgress('telemetry')).length === 2 ? true : undefined));
    expect(await producer.send(rest)).toMatchObject({ failed: 0 });
    for (const m of local.mappings.values()) await m.idle();
    await local.tick();
    await until('the SlowResponses resolution', () => delivered.find((a) => a.rule === 'SlowResponses' && a.state === 'resolved'));
    const live = [...delivered].sort(byId);

    // Act: the backtest of the same records, windows left open as the live pipeline has them
    const open = await backtest(local, from, false);

    // Assert: every kind of rule fired, and the backtest printed exactly what SNS delivered
    const summary = (list: AlertMessage[]) => list.map((a) => [a.rule, a.state, a.group['service'] ?? a.group['host'], a.window.start]).sort();
    expect(summary(live)).toEqual(
      [
        ['HeartbeatMissing', 'firing', 'web-4', new Date(t0 + 3 * M + 300).toISOString()],
        ['HighErrorRate', 'firing', 'checkout', new Date(t0 + 3 * M).toISOString()],
        ['HighErrorRate', 'resolved', 'checkout', new Date(t0 + 4 * M).toISOString()],
        ['HighErrorRate', 'firing', 'payments', new Date(t0 + 10 * M).toISOString()],
        ['SlowResponses', 'firing', 'search', new Date(t0 + M).toISOString()],
        ['SlowResponses', 'resolved', 'search', new Date(t0 + 5 * M).toISOString()],
      ].sort(),
    );
    for (const a of live.filter((x) => x.rule === 'HighErrorRate' && x.state === 'firing')) expect(a.values).toEqual({ errors: 2, total: 30 });
    expect(open.transitions).toEqual(live);
    expect(open.summary).toMatchObject({ records: warmUp.length + rest.length, late: 0, rejected: {}, flushed: false });

    // Act: an hour passes with no traffic: the live ticker closes every window and notices every
    // silent host; the backtest's flush closes the same windows (and, by design, no absence rule)
    now += 60 * M;
    await local.tick();
    await until('the idle hosts to be reported silent', () => (delivered.filter((a) => a.rule === 'HeartbeatMissing').length === 4 ? true : undefined));
    const afterHour = delivered.filter((a) => !live.includes(a)).sort(byId);
    const flushed = await backtest(local, from, true);

    // Assert: payments' alert resolves, web-5's 660-request session closes (fires, resolves)
    const windowRules = afterHour.filter((a) => a.rule !== 'HeartbeatMissing');
    expect(summary(windowRules)).toEqual(
      [
        ['HighErrorRate', 'resolved', 'payments', new Date(t0 + 11 * M).toISOString()],
        ['SessionBurst', 'firing', 'web-5', new Date(t0 + 100).toISOString()],
        ['SessionBurst', 'resolved', 'web-5', new Date(t0 + 11 * M - S + 100 + 30 * S).toISOString()],
      ].sort(),
    );
    expect(flushed.transitions.filter((t) => t.afterInput).map(({ afterInput: _a, ...m }) => m)).toEqual(windowRules);
    expect(flushed.transitions.filter((t) => !t.afterInput)).toEqual(live);
    expect(afterHour.filter((a) => a.rule === 'HeartbeatMissing').map((a) => a.group['host']).sort()).toEqual(['web-1', 'web-2', 'web-3']);
  }, 120_000);
});
