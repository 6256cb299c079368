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
    }
    return Math.floor(this.origin + this.elapsed);
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
    if (t > now) this.origin += t - now;
  }
}
