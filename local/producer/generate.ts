import { defaultIncident, generateTelemetry, type Arriving, type TelemetryEvent } from '../demo/telemetry';

export interface GenerateOptions {
  /** HTTP request events per second (host heartbeats come on top, 6 every 10 s). */
  readonly rate: number;
  /** How long to generate (ms). @default until `signal` aborts */
  readonly durationMs?: number;
  readonly seed: number;
  readonly signal?: AbortSignal;
  /** Event time (ms): events are stamped and yielded as it passes. @default the wall clock */
  readonly clock?: () => number;
  /** How fast `clock` runs against the wall clock (to sleep the right wall time). @default 1 */
  readonly speed?: number;
}

/** Event time generated per call of the demo generator. */
const CHUNK_MS = 10_000;

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The demo's telemetry (`local/demo/telemetry.ts`) paced in real time: each
 * event is yielded at its arrival time (event time plus up to 2 s, so slightly
 * out of order), event times start now (on `clock`), and the demo incident
 * starts 3 minutes in. With a duration (of event time), events whose arrival
 * falls after the end are yielded at the end.
 */
export async function* generateTelemetryLive(opts: GenerateOptions): AsyncGenerator<TelemetryEvent> {
  if (!(opts.rate > 0)) throw new RangeError(`rate must be > 0 events per second (given ${opts.rate})`);
  const clock = opts.clock ?? Date.now;
  const speed = opts.speed !== undefined && opts.speed > 0 ? opts.speed : 1;
  const start = clock();
  const total = opts.durationMs ?? Number.POSITIVE_INFINITY;
  const incident = defaultIncident(start);
  let queue: Arriving[] = [];
  let head = 0;
  let chunk = 0;
  // Chunks overlap in arrival time (arrival = event time + up to 2 s): merge each next chunk in before reaching its start.
  const fill = (until: number) => {
    while (chunk * CHUNK_MS < total && start + chunk * CHUNK_MS <= until) {
      const from = chunk * CHUNK_MS;
      const more = generateTelemetry({ seed: opts.seed + chunk, start: start + from, durationMs: Math.min(CHUNK_MS, total - from), ratePerSec: opts.rate, incident });
      queue = [...queue.slice(head), ...more].sort((a, b) => a.arrival - b.arrival);
      head = 0;
      chunk++;
    }
  };
  while (!opts.signal?.aborted) {
    fill(head < queue.length ? queue[head]!.arrival : start + chunk * CHUNK_MS);
    if (head >= queue.length) return;
    const next = queue[head]!;
    // Events of the last seconds would arrive after the end (arrival jitter): send them at the end.
    const wait = Math.min(next.arrival, start + total) - clock();
    if (wait > 2) {
      // Short sleeps: a clock that is not the wall clock may change pace.
      await sleep(Math.min(1000, wait / speed), opts.signal);
      continue;
    }
    head++;
    yield next.event;
  }
}
