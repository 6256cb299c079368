/**
 * End to end on this machine: the local pipeline started in-process
 * (kinesis-local, dynalite, the SNS endpoint, the event source mapping runner
 * invoking the real processor handler, the ticker), events sent with the
 * producer through the Kinesis API, alerts received through the SNS endpoint.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KinesisStreamBatchResponse } from 'aws-lambda';
import type { AlertMessage } from '../../lambdas/adapters/SnsAlertPublisher';
import { descriptor } from '../../lambdas/core/Engine';
import { RuleAggregates, type FixedPartialJson } from '../../lambdas/core/partials';
import type { WindowRule } from '../../lambdas/core/types';
import { startLocalPipeline, type LocalPipeline } from '../../local/LocalPipeline';
import { Producer } from '../../local/producer';
import type { KinesisHandler } from '../../local/esm/types';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const M = 60_000;

function portOpen(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The handlers' clock: the wall clock, moved forward when the test sends so
 * that it reads 25 s past a minute. The events then fall 4.5-24 s in the past,
 * in the minute's window, which closes (end + 30 s lateness, plus the idle
 * timeout of quiet shards) minutes after the test is done: the test no longer
 * depends on where the wall clock sits within a minute.
 */
class AlignedClock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  /** Moves forward (never back) to `at` past the next minute boundary, or this one's if still ahead. */
  alignTo(at: number): void {
    this.offset += (((at - (this.now() % M)) % M) + M) % M;
  }
}

describe('local pipeline, end to end', () => {
  let local: LocalPipeline;
  const clock = new AlignedClock();
  const alerts: AlertMessage[] = [];
  let invocations = 0;
  let failed = false;

  beforeAll(async () => {
    // The first invocation that carries checkout records crashes AFTER the handler applied them:
    // the runner bisects and retries, and the state must not count them twice.
    const wrapHandler = (h: KinesisHandler): KinesisHandler => async (event, ctx) => {
      invocations += 1;
      const result = (await h(event, ctx)) as KinesisStreamBatchResponse;
      const hasCheckout = event.Records.some((r) => Buffer.from(r.kinesis.data, 'base64').toString().includes('"checkout"'));
      if (!failed && hasCheckout) {
        failed = true;
        throw new Error('injected failure: the function crashed after its work');
      }
      return result;
    };
    local = await startLocalPipeline({ shards: 2, tickEveryMs: 1000, clock, wrapHandler, onAlert: (m) => alerts.push(m) });
  }, 60_000);

  afterAll(async () => {
    await local?.stop();
  }, 30_000);

  it('delivers the exact alerts for the events sent, and a crashed batch is retried without double counting', async () => {
    // Arrange: 20 s of checkout traffic with 30% errors, and healthy search traffic, in this minute's window
    clock.alignTo(25_000);
    const t0 = Math.floor(clock.now() / M) * M;
    const events = [
      ...Array.from({ length: 40 }, (_, i) => ({ eventId: `c-${i}`, ts: new Date(t0 + 1000 + i * 500).toISOString(), kind: 'http', service: 'checkout', host: 'web-1', status: i % 10 < 3 ? 503 : 200, latencyMs: 50 })),
      ...Array.from({ length: 40 }, (_, i) => ({ eventId: `s-${i}`, ts: new Date(t0 + 1000 + i * 500).toISOString(), kind: 'http', service: 'search', host: 'web-2', status: 200, latencyMs: 40 })),
    ];
    const producer = new Producer({ client: local.kinesis.client(), streamName: 'telemetry', partitionKey: (r) => String((r as { host: string }).host) });

    // Act
    const summary = await producer.send(events);
    const fired = await until('the HighErrorRate alert', () => alerts.find((a) => a.rule === 'HighErrorRate'));

    // Assert: exactly one alert, for checkout. It is an early rule: it fires in the first batch where
    // the condition holds, so its values are those of that moment (at least the 20 requests it requires).
    expect(summary).toMatchObject({ sent: 80, failed: 0 });
    expect(fired).toMatchObject({ rule: 'HighErrorRate', state: 'firing', severity: 'critical', group: { service: 'checkout' } });
    expect(fired.values['total']).toBeGreaterThanOrEqual(20);
    expect(fired.values['errors']! / fired.values['total']!).toBeGreaterThan(0.05);
    for (const mapping of local.mappings.values()) await mapping.idle();
    expect(failed).toBe(true);
    expect(alerts.map((a) => [a.rule, a.group])).toEqual([['HighErrorRate', { service: 'checkout' }]]);
    // the state holds each record once despite the crash and retry
    const rule = local.pipeline.rules.find((r) => r.name === 'HighErrorRate') as WindowRule;
    const state = await local.runtime.store.read(descriptor(rule.name, JSON.stringify(['checkout']), { start: t0, end: t0 + M }));
    const ra = new RuleAggregates(rule);
    const acc = ra.create();
    for (const slot of Object.values(state!.slots)) ra.merge(acc, ra.deserialize(slot.partial as FixedPartialJson));
    expect(ra.results(acc)).toEqual({ errors: 12, total: 40 });
    const stats = [...local.mappings.values()].map((m) => m.stats());
    expect(stats.reduce((n, s) => n + s.functionErrors, 0)).toBeGreaterThanOrEqual(1);
    expect(invocations).toBeGreaterThan(1);
  }, 60_000);

  it('shuts down cleanly: no emulator process or port left behind', async () => {
    // Arrange
    const pid = local.kinesis.pid;
    const endpoints = [local.kinesis.endpoint, local.dynamo.endpoint, local.sns.endpoint];
    // Act
    await local.stop();
    await local.stop(); // idempotent
    // Assert
    expect(alive(pid)).toBe(false);
    expect(await Promise.all(endpoints.map(portOpen))).toEqual([false, false, false]);
  }, 30_000);
});

describe('local pipeline on a data folder, run twice', () => {
  it('the rerun continues event time after the stored state, and each shard after its last record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-data-'));
    try {
      // GIVEN a first run that processed 40 events of the previous minute
      const t0 = Math.floor(Date.now() / M) * M - M;
      const events = Array.from({ length: 40 }, (_, i) => ({ eventId: `d-${i}`, ts: new Date(t0 + i * 1000).toISOString(), kind: 'http', service: 'search', host: `web-${i % 4}`, status: 200, latencyMs: 40 }));
      const resumed: number[] = [];
      const first = await startLocalPipeline({ dataDir: dir, onResume: (t) => resumed.push(t) });
      try {
        await new Producer({ client: first.kinesis.client(), streamName: 'telemetry', partitionKey: (r) => String((r as { host: string }).host) }).send(events);
        await until('the first run to process the events', () => ([...first.mappings.values()].reduce((n, m) => n + m.stats().recordsProcessed, 0) === 40 ? true : undefined));
        await new Promise((r) => setTimeout(r, 1500)); // kinesis-local writes its data to the folder every second
      } finally {
        await first.stop();
      }
      expect(resumed).toEqual([]);

      // WHEN the pipeline starts again on the same folder
      const batches: number[] = [];
      const second = await startLocalPipeline({ dataDir: dir, onResume: (t) => resumed.push(t), onBatch: (_s, r) => batches.push(r.records) });
      try {
        await new Producer({ client: second.kinesis.client(), streamName: 'telemetry' }).send([{ eventId: 'after', ts: new Date(t0 + 50_000).toISOString(), kind: 'http', service: 'search', host: 'web-9', status: 200, latencyMs: 1 }]);
        await until('the new event', () => (batches.reduce((a, b) => a + b, 0) >= 1 ? true : undefined));
        for (const m of second.mappings.values()) await m.idle();
      } finally {
        await second.stop();
      }

      // THEN it was told where event time stood (the newest stored event), and read only the new record
      expect(resumed).toEqual([t0 + 39_000]);
      expect(batches.reduce((a, b) => a + b, 0)).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
