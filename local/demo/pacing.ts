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
  const since = clock.now();
  let reported = false;
  let lastReport = 0;
  let fullSince = 0;
  let maxLagMs = 0;
  const timer = setInterval(() => {
    const now = clock.now();
    const lag = Math.max(0, now - (opts.processed() ?? since));
    if (lag > maxLagMs) maxLagMs = lag;
    const share = lag <= target ? 1 : lag >= max ? 0 : (max - lag) / (max - target);
    clock.setRate(clock.speed * share);
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
  }, opts.intervalMs ?? 200);
  return {
    get maxLagMs() {
      return maxLagMs;
    },
    stop: () => clearInterval(timer),
  };
}
