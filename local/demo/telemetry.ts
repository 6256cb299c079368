import { Random } from './random';

/**
 * Realistic telemetry for the demo: HTTP request events of a few services on a
 * few hosts, and host heartbeats, with an injected incident: 20 s before the
 * error spike the failing service is deployed (the sample's DeployThenErrors),
 * a migration job starts just before and never finishes (JobNeverFinished),
 * and a cache-warming job starts and finishes. Deterministic for
 * a seed, so the demo and the tests see the same alerts every time.
 */
export interface TelemetryEvent {
  readonly eventId: string;
  readonly ts: string;
  readonly kind: 'http' | 'heartbeat' | 'deploy' | 'job';
  readonly host: string;
  /** Deploys: the version deployed. */
  readonly version?: string;
  /** Jobs: the job's name and whether it started or finished. */
  readonly job?: string;
  readonly phase?: 'started' | 'finished';
  readonly service?: string;
  readonly status?: number;
  readonly latencyMs?: number;
  readonly userId?: string;
  readonly bytes?: number;
}

export interface Incident {
  /** Event time the incident starts. */
  readonly at: number;
  /** The service whose error rate spikes (to 30%) for `errorMinutes`. */
  readonly errorService: string;
  readonly errorMinutes: number;
  /** The service whose latency rises (×8) for `latencyMinutes`. */
  readonly slowService: string;
  readonly latencyMinutes: number;
  /** The host that goes silent (no more heartbeats or requests). */
  readonly silentHost: string;
}

export interface DemoOptions {
  readonly seed: number;
  /** Event time of the first event (ms). */
  readonly start: number;
  /** Length of the stream in event time (ms). */
  readonly durationMs: number;
  /** HTTP requests per second of event time. */
  readonly ratePerSec: number;
  readonly incident: Incident;
  /** Maximum out-of-orderness of event time within the stream (ms). @default 2000 */
  readonly jitterMs?: number;
}

export const SERVICES: Readonly<Record<string, readonly string[]>> = {
  checkout: ['web-1', 'web-2'],
  search: ['web-2', 'web-3', 'web-4'],
  auth: ['web-5'],
  catalog: ['web-4', 'web-6'],
};

export const HOSTS: readonly string[] = ['web-1', 'web-2', 'web-3', 'web-4', 'web-5', 'web-6'];

const BASE_LATENCY: Readonly<Record<string, number>> = { checkout: 120, search: 60, auth: 25, catalog: 45 };

/** The default incident: 3 minutes into the stream. */
export function defaultIncident(start: number): Incident {
  return { at: start + 3 * 60_000, errorService: 'checkout', errorMinutes: 3, slowService: 'search', latencyMinutes: 6, silentHost: 'web-4' };
}

export interface Arriving {
  /** When the event reaches the stream (event time plus a bounded delay). */
  readonly arrival: number;
  readonly event: TelemetryEvent;
}

/** Generates the stream, sorted by arrival. */
export function generateTelemetry(opts: DemoOptions): Arriving[] {
  const rnd = new Random(opts.seed);
  const jitter = opts.jitterMs ?? 2000;
  const out: Array<{ arrival: number; e: TelemetryEvent }> = [];
  const services = Object.keys(SERVICES);
  const inc = opts.incident;
  let n = 0;
  const id = () => `e-${opts.seed}-${n++}`;
  const silent = (host: string, t: number) => host === inc.silentHost && t >= inc.at;
  const total = Math.floor((opts.durationMs / 1000) * opts.ratePerSec);
  for (let i = 0; i < total; i++) {
    const t = opts.start + Math.floor((i / opts.ratePerSec) * 1000) + rnd.int(Math.max(1, Math.floor(1000 / opts.ratePerSec)));
    const service = rnd.pick(services);
    const host = rnd.pick(SERVICES[service]!);
    if (silent(host, t)) continue;
    const erroring = service === inc.errorService && t >= inc.at && t < inc.at + inc.errorMinutes * 60_000;
    const slow = service === inc.slowService && t >= inc.at && t < inc.at + inc.latencyMinutes * 60_000;
    const status = rnd.chance(erroring ? 0.3 : 0.001) ? rnd.pick([500, 502, 503, 504]) : rnd.chance(0.03) ? 404 : 200;
    const latency = BASE_LATENCY[service]! * Math.exp(0.5 * rnd.normal()) * (slow ? 8 : 1);
    const e: TelemetryEvent = {
      eventId: id(),
      ts: new Date(t).toISOString(),
      kind: 'http',
      service,
      host,
      status,
      latencyMs: Math.round(latency * 10) / 10,
      userId: `u-${rnd.int(400)}`,
      bytes: 200 + rnd.int(20_000),
    };
    out.push({ arrival: t + rnd.int(jitter + 1), e });
  }
  for (let t = opts.start; t < opts.start + opts.durationMs; t += 10_000) {
    for (const host of HOSTS) {
      if (silent(host, t)) continue;
      const et = t + rnd.int(1000);
      out.push({ arrival: et + rnd.int(jitter + 1), e: { eventId: id(), ts: new Date(et).toISOString(), kind: 'heartbeat', host } });
    }
  }
  // The incident's deploy and jobs, when they fall into this stretch of event time (the live demo generates 5 s at a time).
  const end = opts.start + opts.durationMs;
  const at = (t: number, e: Omit<TelemetryEvent, 'eventId' | 'ts' | 'host'>) => {
    if (t >= opts.start && t < end) out.push({ arrival: t + rnd.int(jitter + 1), e: { eventId: `${e.kind}-${inc.at}-${t}`, ts: new Date(t).toISOString(), host: 'ci-1', ...e } });
  };
  at(inc.at - 28_000, { kind: 'job', job: 'cache-warm', phase: 'started' });
  at(inc.at - 25_000, { kind: 'job', job: 'db-migrate', phase: 'started' });
  at(inc.at - 20_000, { kind: 'deploy', service: inc.errorService, version: 'v2.4.1' });
  at(inc.at - 10_000, { kind: 'job', job: 'cache-warm', phase: 'finished' });
  out.sort((a, b) => a.arrival - b.arrival);
  return out.map((x) => ({ arrival: x.arrival, event: x.e }));
}
