/**
 * The demo on a pipeline that cannot keep up (a processor slowed to 2.5 s per
 * batch of 50 records, as on a loaded machine): paced, the demo's clock slows
 * down to what the pipeline processes, and no host is reported silent;
 * unpaced (the control), event time runs minutes ahead of what was processed,
 * the idle shards' watermark follows the clock past the heartbeats not yet
 * processed, and HeartbeatMissing fires for hosts that never went silent.
 * Both run side by side in this process, each with its own emulators (the
 * handlers' clients are each pipeline's own), until the control has shown the
 * storm: how soon depends on the machine's load.
 */
import type { AlertMessage } from '../../lambdas/adapters/SnsAlertPublisher';
import { loadPipeline } from '../../lambdas/core/pipeline';
import { Accounting } from '../../local/Accounting';
import { runLiveDemo } from '../../local/demo/live';
import { PacedClock } from '../../local/demo/PacedClock';
import { startPacer } from '../../local/demo/pacing';
import type { KinesisHandler } from '../../local/esm/types';
import { startLocalPipeline } from '../../local/LocalPipeline';
import { Producer } from '../../local/producer';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const SPEED = 30;
/** Both demos run at least this long, and until the unpaced one has reported a live host silent (at most MAX_MS). */
const MIN_MS = 12_000;
const MAX_MS = 80_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function demo(paced: boolean, stop: AbortSignal, onAlert: (m: AlertMessage) => void = () => undefined) {
  const clock = new PacedClock(SPEED);
  const alerts: AlertMessage[] = [];
  const slow = (h: KinesisHandler): KinesisHandler => async (event, ctx) => {
    await sleep(2500);
    return h(event, ctx);
  };
  const books = new Accounting(loadPipeline('pipelines/sample.yaml'), clock);
  const local = await startLocalPipeline({
    clock,
    batchSize: 50,
    tickRealMs: 60_000 / SPEED,
    wrapHandler: slow,
    onAlert: (m) => {
      alerts.push(m);
      onAlert(m);
    },
    onBatch: (s, r) => void books.onBatch(s, r),
    onTick: (s, r) => books.onTick(s, r),
  });
  const pacer = paced ? startPacer({ clock, processed: () => books.processedEventTime('telemetry'), quiet: () => books.quietFor('telemetry') }) : undefined;
  const startEventTime = clock.now();
  const startWall = Date.now();
  try {
    const producer = new Producer({ client: local.kinesis.client(), streamName: 'telemetry', partitionKey: (r) => String((r as { host: string }).host) });
    // No incident: every host sends its heartbeat every 10 s of event time, throughout.
    const sent = await runLiveDemo({ producer, clock, ratePerSec: 20, seed: 3, incidentAfterMs: 3_600_000, signal: stop });
    const eventTimeSpan = clock.now() - startEventTime;
    const wallSpan = Date.now() - startWall;
    return { sent, alerts, eventTimeSpan, wallSpan, maxLagMs: pacer?.maxLagMs ?? null, processed: books.counts('telemetry').in };
  } finally {
    pacer?.stop();
    await local.stop();
  }
}

describe('demo pacing', () => {
  it('a slowed processor gives a slower demo, not absence alerts for hosts that are alive', async () => {
    // WHEN the same demo runs paced and unpaced against the same slow processor (side by side: the slow part is a
    // sleep), for at least MIN_MS and until the unpaced one has reported a live host silent (the scenario is
    // reproduced: how soon depends on the machine's load), at most MAX_MS
    const stop = new AbortController();
    const started = Date.now();
    let stormed = false;
    const done = () => {
      if (!stop.signal.aborted) stop.abort();
    };
    const deadline = setTimeout(done, MAX_MS);
    const minimum = sleep(MIN_MS).then(() => stormed && done());
    const onUnpacedAlert = (m: AlertMessage) => {
      if (m.rule !== 'HeartbeatMissing' || m.state !== 'firing' || stormed) return;
      stormed = true;
      if (Date.now() - started >= MIN_MS) done();
    };
    const [paced, unpaced] = await Promise.all([demo(true, stop.signal), demo(false, stop.signal, onUnpacedAlert)]).finally(() => clearTimeout(deadline));
    await minimum;

    // THEN paced: the clock ran well under 30x, it stayed within the idle timeout (1m) of what was processed,
    // and no alert at all
    expect(paced.sent.failed).toBe(0);
    expect(paced.processed).toBeGreaterThan(0);
    expect(paced.eventTimeSpan).toBeLessThan(0.5 * SPEED * paced.wallSpan);
    expect(paced.maxLagMs).toBeLessThan(60_000);
    expect(paced.alerts).toEqual([]);
    // and the control shows what pacing prevents: HeartbeatMissing for hosts whose heartbeats were only late
    expect(unpaced.eventTimeSpan).toBeGreaterThan(0.8 * SPEED * unpaced.wallSpan);
    const missing = unpaced.alerts.filter((a) => a.rule === 'HeartbeatMissing' && a.state === 'firing');
    expect(missing.length).toBeGreaterThan(0);
  }, 120_000);
});
