import type { Clock } from '../../lambdas/core/types';

/**
 * The local pipeline's clock: event time runs `speed` times faster than the
 * wall clock, or slower when the pacer asks (a loaded machine then gets a
 * slower demo, not event time running away from what was processed). Never
 * goes backwards.
 */
export class PacedClock implements Clock {
  private origin: number;
  private elapsed = 0;
  private lastWall: number;
  private current: number;
  /** Event time the clock may not pass (the pacer's leash), or Infinity. */
  private limit = Infinity;

  constructor(
    /** The pace it runs at when nothing holds it back. */
    readonly speed: number,
    origin = Date.now(),
    private readonly wall: () => number = Date.now,
  ) {
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`speed must be a positive number (given ${speed})`);
    this.origin = origin;
    this.lastWall = wall();
    this.current = speed;
  }

  now(): number {
    const w = this.wall();
    if (w > this.lastWall) {
      this.elapsed += (w - this.lastWall) * this.current;
      this.lastWall = w;
      // Held at the leash: time spent there is not made up later.
      if (this.origin + this.elapsed > this.limit) this.elapsed = this.limit - this.origin;
    }
    return Math.floor(this.origin + this.elapsed);
  }

  /**
   * Event time may not pass `t` until the leash is moved (the pacer moves it
   * each time it looks at the pipeline): when the process stalls (a loaded
   * machine, a long garbage collection), the clock waits at the leash instead
   * of running on unobserved. Infinity: no leash.
   */
  leash(t: number): void {
    this.now();
    this.limit = Math.max(t, this.origin + this.elapsed);
  }

  /** The pace it runs at now: event-time milliseconds per wall-clock millisecond. */
  get rate(): number {
    return this.current;
  }

  /** Sets the pace, between 0 (stopped) and `speed`. */
  setRate(rate: number): void {
    this.now();
    this.current = Math.min(this.speed, Math.max(0, rate));
  }

  /** Moves event time forward to `t` (never back): a rerun continues after what the stored state has seen. */
  jumpTo(t: number): void {
    const now = this.now();
    if (t > now) {
      this.origin += t - now;
      if (this.limit !== Infinity) this.limit += t - now;
    }
  }
}
