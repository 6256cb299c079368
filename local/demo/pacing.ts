import type { PacedClock } from './PacedClock';

export interface PacerOptions {
  readonly clock: PacedClock;
  /**
   * The newest event time the pipeline has processed on its slowest shard, or
   * null while nothing was processed (the lag then counts from the start).
   */
  readonly processed: () => number | null;
  /**
   * Lag (event time behind the clock) up to which the clock runs at full
   * speed. The demo sends 5 s of event time at a time, so some 10 s is normal. @default 20 s
   */
  readonly targetLagMs?: number;
  /** Lag at which the clock stops until the pipeline catches up. @default 50 s (under the 1 m idle timeout) */
  readonly maxLagMs?: number;
  /**
   * How long (on the clock) the quietest shard has gone without a batch, or
   * null before any. While records wait (the lag is past `targetLagMs`), the
   * clock also slows as this nears `maxQuietMs` and stops there: a processor
   * that takes long per batch (a loaded machine) must not leave a shard
   * without a batch for the idle timeout, or the watermark follows the clock
   * past the records still waiting. Not given: only the lag paces.
   */
  readonly quiet?: () => number | null;
  /** @default 40 s (the sample's idle timeout is 1 m) */
  readonly maxQuietMs?: number;
  /** @default 200 */
  readonly intervalMs?: number;
  /**
   * Told when the clock has slowed to under 3/4 of its speed (and every 30 s
   * while it stays slow), and when it has run at full speed again for 5 s.
   */
  readonly onChange?: (change: { readonly slowed: boolean; readonly rate: number; readonly lagMs: number }) => void;
}

export interface Pacer {
  /** The largest lag seen so far. */
  readonly maxLagMs: number;
  stop(): void;
}

/**
 * Keeps the demo's event time within reach of what the pipeline has
 * processed: full speed while the lag is under `targetLagMs`, slower as it
 * grows, stopped at `maxLagMs`. Without it, a pipeline slowed by a loaded
 * machine falls minutes behind the clock; a shard without a batch for the idle
 * timeout then lets the watermark follow the clock past the records not yet
 * processed, and absence rules fire and resolve at every heartbeat.
 */
export function startPacer(opts: PacerOptions): Pacer {
  const { clock } = opts;
  const target = opts.targetLagMs ?? 20_000;
  const max = Math.max(target + 1, opts.maxLagMs ?? 50_000);
  const maxQuiet = opts.maxQuietMs ?? 40_000;
  const interval = opts.intervalMs ?? 200;
  const quietFrom = maxQuiet / 2;
  const since = clock.now();
  let reported = false;
  let lastReport = 0;
  let fullSince = 0;
  let maxLagMs = 0;
  const timer = setInterval(() => {
    const now = clock.now();
    const lag = Math.max(0, now - (opts.processed() ?? since));
    if (lag > maxLagMs) maxLagMs = lag;
    let share = lag <= target ? 1 : lag >= max ? 0 : (max - lag) / (max - target);
    // Records wait, and a shard has had no batch for a while: slow down before it counts as idle. (With nothing
    // waiting the quiet does not matter: there is nothing for the watermark to pass.)
    const quiet = lag > target ? (opts.quiet?.() ?? null) : null;
    if (quiet !== null && quiet > quietFrom) share = Math.min(share, quiet >= maxQuiet ? 0 : (maxQuiet - quiet) / (maxQuiet - quietFrom));
    clock.setRate(clock.speed * share);
    // Until the next look, event time may run at most two intervals at this rate: if the process stalls
    // (another pipeline in it, a loaded machine, a long collection), the clock waits instead of running on.
    clock.leash(now + 2 * interval * clock.rate);
    const wall = Date.now();
    if (share < 0.75 && (!reported || wall - lastReport >= 30_000)) {
      reported = true;
      lastReport = wall;
      opts.onChange?.({ slowed: true, rate: clock.rate, lagMs: lag });
    }
    if (share < 1) fullSince = 0;
    else if (fullSince === 0) fullSince = wall;
    if (reported && fullSince > 0 && wall - fullSince >= 5000) {
      reported = false;
      opts.onChange?.({ slowed: false, rate: clock.rate, lagMs: lag });
    }
  }, interval);
  return {
    get maxLagMs() {
      return maxLagMs;
    },
    stop: () => {
      clearInterval(timer);
      clock.leash(Infinity);
    },
  };
}
