import type { Clock } from '../../lambdas/core/types';
import type { Producer, ProducerSummary } from '../producer';
import { generateTelemetry, type Incident } from './telemetry';

/** A clock running `speed` times faster than the wall clock from `origin` on. */
export function warpedClock(speed: number, origin = Date.now()): Clock {
  if (!(speed > 0)) throw new RangeError(`speed must be > 0 (given ${speed})`);
  return { now: () => origin + Math.floor((Date.now() - origin) * speed) };
}

export interface LiveDemoOptions {
  readonly producer: Producer;
  /** The pipeline's clock: event times follow it. */
  readonly clock: Clock;
  /** HTTP requests per second of event time. */
  readonly ratePerSec: number;
  readonly seed: number;
  /** Event time after the start when the incident begins. */
  readonly incidentAfterMs: number;
  readonly signal: AbortSignal;
  /** Called after each chunk is sent. */
  readonly onChunk?: (summary: ProducerSummary, incident: Incident) => void;
}

/** Event time per PutRecords round. */
const CHUNK_MS = 5_000;
/** Wall-clock ms between looks at the clock while waiting for the next round. */
const POLL_MS = 25;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Sends the demo telemetry as it happens on `clock`: every 5 s of event time,
 * the events of the last 5 s (HTTP requests of four services on six hosts,
 * heartbeats every 10 s), with the incident — checkout errors, search latency,
 * web-4 silent — `incidentAfterMs` in. Returns the totals when `signal` aborts.
 */
export async function runLiveDemo(opts: LiveDemoOptions): Promise<{ sent: number; failed: number; incident: Incident }> {
  const start = Math.floor(opts.clock.now() / CHUNK_MS) * CHUNK_MS;
  const incident: Incident = {
    at: start + opts.incidentAfterMs,
    errorService: 'checkout',
    errorMinutes: 3,
    slowService: 'search',
    latencyMinutes: 6,
    silentHost: 'web-4',
  };
  let sent = 0;
  let failed = 0;
  for (let chunk = 0; !opts.signal.aborted; chunk++) {
    const from = start + chunk * CHUNK_MS;
    // The clock's pace changes (the pacer slows it when the pipeline falls behind): look often.
    while (!opts.signal.aborted && opts.clock.now() < from + CHUNK_MS) await sleep(POLL_MS, opts.signal);
    if (opts.signal.aborted) break;
    const events = generateTelemetry({ seed: opts.seed + chunk, start: from, durationMs: CHUNK_MS, ratePerSec: opts.ratePerSec, incident, jitterMs: 500 })
      // The generator puts every host's heartbeat at the start of each chunk: keep one every 10 s.
      .filter((a) => a.event.kind !== 'heartbeat' || (from / CHUNK_MS) % 2 === 0)
      .map((a) => a.event);
    const summary = await opts.producer.send(events);
    sent += summary.sent;
    failed += summary.failed;
    opts.onChunk?.(summary, incident);
  }
  return { sent, failed, incident };
}
