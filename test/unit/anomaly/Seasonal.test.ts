import { apply, EMPTY_SEASONAL_STATE, emptySeasonalState, isSeasonalState, serialise, verdict, type SeasonalState } from '../../../lambdas/core/anomaly/Seasonal';
import { type AnomalyOptions, DEFAULT_ANOMALY_OPTIONS, MAX_ANOMALY_STATE_BYTES } from '../../../lambdas/core/anomaly/types';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const O = DEFAULT_ANOMALY_OPTIONS;
const DAILY: AnomalyOptions = { ...O, season: 'day' };

/** Noise-free daily profile, hourly windows: 10 at 00:00 UTC up to 240 at 23:00. */
const daily = (t: number): number => 10 + 10 * ((t / HOUR) % 24);

function feed(s: SeasonalState, hours: readonly number[], value: (t: number) => number, o: AnomalyOptions): SeasonalState {
  for (const h of hours) s = apply(s, h * HOUR, value(h * HOUR), o);
  return s;
}
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('Seasonal detector', () => {
  it('warms for `warmup` windows (score 0), then scores', () => {
    const s11 = feed(EMPTY_SEASONAL_STATE, range(0, 11), daily, DAILY);
    expect(verdict(s11, 11 * HOUR, 1e6, DAILY)).toMatchObject({ warming: true, score: 0 });
    const s12 = feed(s11, [11], daily, DAILY);
    const v = verdict(s12, 12 * HOUR, 1e6, DAILY);
    expect(v.warming).toBe(false);
    expect(v.score).toBe(1);
  });

  it('learns each hour of the day exactly: after 10 noise-free days the expected value is the profile, the band its 1 % floor', () => {
    const o = { ...DAILY, warmup: 1000 };
    const s = feed(EMPTY_SEASONAL_STATE, range(0, 240), daily, o);
    const v = verdict(s, 10 * DAY + 5 * HOUR, 60, o);
    expect(v.expected).toBe(60);
    // bucket deviation 0 (trusted after max(2 visits, 8) samples), so the spread is 1 % of the level; band ± sensitivity 4 spreads
    expect(v.lower).toBeCloseTo(60 - 4 * 0.6, 12);
    expect(v.upper).toBeCloseTo(60 + 4 * 0.6, 12);
    expect(s.hl).toEqual(range(0, 24).map((h) => 10 + 10 * h));
    expect(s.step).toBe(HOUR);
  });

  it('a value normal for the day but not for this hour (a contextual anomaly) scores 1; the same value at its own hour scores 0', () => {
    const o = { ...DAILY, warmup: 48 };
    const s = feed(EMPTY_SEASONAL_STATE, range(0, 240), daily, o);
    expect(verdict(s, 10 * DAY + 3 * HOUR, 200, o).score).toBe(1);
    expect(verdict(s, 10 * DAY + 19 * HOUR, 200, o).score).toBeLessThan(1e-8); // erf(0) ≈ 1e-9 in the approximation
  });

  it('a gap is not a zero: missing windows are not learned, the profile after the gap is unchanged', () => {
    const o = { ...DAILY, warmup: 1000 };
    const before = feed(EMPTY_SEASONAL_STATE, range(0, 100), daily, o);
    const after = feed(before, range(130, 131), daily, o);
    expect(after.n).toBe(101);
    expect(verdict(before, 130 * HOUR, 0, o).expected).toBe(daily(130 * HOUR));
    expect(after.hl).toEqual(before.hl);
    // zeros, had the gap been filled with them, would have pulled hours 4..9 down
    const zeros = feed(before, range(100, 130), () => 0, o);
    expect(verdict(zeros, 130 * HOUR, 0, o).expected).toBeLessThan(daily(130 * HOUR));
  });

  it('adapts to a persistent level shift: shiftAfter windows alert, then the whole profile moves and nothing alerts', () => {
    const o = { ...DAILY, warmup: 48 };
    let s = feed(EMPTY_SEASONAL_STATE, range(0, 240), daily, o);
    const shiftedDaily = (t: number): number => daily(t) + 100;
    const alerts: number[] = [];
    for (const h of range(240, 240 + 5 * 24)) {
      if (verdict(s, h * HOUR, shiftedDaily(h * HOUR), o).score > 0.99) alerts.push(h - 240);
      s = apply(s, h * HOUR, shiftedDaily(h * HOUR), o);
    }
    expect(alerts).toEqual([0, 1, 2, 3, 4, 5]);
    // hours 5..23 moved by exactly +100. Hours 0..4 had learned their clipped run values (the band's edge, 4 % above
    // the level) at weight 0.1 before the shift: 0.4 % too high; after it (counts capped at 2) four visits at weights
    // 1/3, 1/4, 1/5, 1/6 leave a third of that
    expect(s.hl.slice(5)).toEqual(range(5, 24).map((h) => 110 + 10 * h));
    // (to 4 decimals: levels are stored to 7 significant digits)
    s.hl.slice(0, 5).forEach((x, h) => expect(x - (110 + 10 * h)).toBeCloseTo((0.004 * (10 + 10 * h)) / 3, 4));
  });

  it('a spike is clipped to the band before it is learned', () => {
    const o = { ...DAILY, warmup: 48 };
    const s = feed(EMPTY_SEASONAL_STATE, range(0, 240), daily, o);
    const v = verdict(s, 240 * HOUR, 10_000, o);
    const after = apply(s, 240 * HOUR, 10_000, o);
    // hour 0 has seen 10 visits (trusted): the clipped value, the band's upper edge 10 + 4 × 0.1, enters at weight max(alpha, 1/11) = 0.1
    expect(v.upper).toBeCloseTo(10.4, 12);
    expect(after.hl[0]).toBe(10.04);
    expect(after.run).toEqual([9990]);
  });

  it('season week: a weekday level on a Saturday scores 1 after two weeks; the hour-of-day fallback covers the first ones', () => {
    // 1970-01-01 was a Thursday: days 2 and 3 of each week (Sat, Sun) run at a tenth of the weekday level
    const weekly = (t: number): number => {
      const day = Math.floor(t / DAY) % 7;
      return (day === 2 || day === 3 ? 10 : 100) + ((t / HOUR) % 24);
    };
    const o = { ...O, warmup: 48 };
    const s = feed(EMPTY_SEASONAL_STATE, range(0, 3 * 168), weekly, o);
    const saturday = 3 * 168 * HOUR + 2 * DAY + 12 * HOUR;
    expect(verdict(s, saturday, weekly(saturday), o).score).toBeLessThan(0.99);
    expect(verdict(s, saturday, 112, o).score).toBe(1);
    expect(verdict(s, saturday, 112, o).expected).toBeCloseTo(22, 6);
    // the daily detector cannot tell weekend from weekday
    const d = feed(EMPTY_SEASONAL_STATE, range(0, 3 * 168), weekly, { ...DAILY, warmup: 48 });
    expect(verdict(d, saturday, 112, { ...DAILY, warmup: 48 }).score).toBeLessThan(0.99);
  });

  it('very short windows still come to trust their buckets (windows per visit capped at 1,000)', () => {
    // 1.8 s windows (2,000 per hour): hour 0 alternates 4 and 6, hour 1 alternates 7 and 9, then nothing
    let s = EMPTY_SEASONAL_STATE;
    for (let i = 0; i < 4000; i++) s = apply(s, i * 1800, (i < 2000 ? 5 : 8) + (i % 2 ? 1 : -1), DAILY);
    expect(s.hn.slice(0, 2)).toEqual([2000, 2000]);
    expect(s.gl).toBeCloseTo(8, 0);
    // at the middle of hour 0 next day (no interpolation): the bucket alone, trusted after 2 × 1,000 windows.
    // Uncapped, 2,000 windows would be half of 2 visits' trust, blended half and half with the global level ~8.
    expect(verdict(s, DAY + 1800 * 1000 - 900, 5, DAILY).expected).toBeCloseTo(5, 4);
  });

  it('applies each window once: a replayed or older window is a no-op', () => {
    const s = feed(EMPTY_SEASONAL_STATE, range(0, 50), daily, O);
    expect(apply(s, 49 * HOUR, 1e6, O)).toBe(s);
    expect(apply(s, 0, 1e6, O)).toBe(s);
    expect(() => apply(s, 50 * HOUR, Number.POSITIVE_INFINITY, O)).toThrow('finite');
  });

  it('a state learned under the other season restarts, keeping the last window (replay stays a no-op)', () => {
    const s = feed(EMPTY_SEASONAL_STATE, range(0, 50), daily, DAILY);
    expect(s.p).toBe(24);
    expect(apply(s, 49 * HOUR, 5, O)).toBe(s);
    const w = apply(s, 50 * HOUR, 5, O);
    expect({ p: w.p, n: w.n, last: w.last, gl: w.gl }).toEqual({ p: 168, n: 1, last: 50 * HOUR, gl: 5 });
    expect(verdict(s, 50 * HOUR, 5, O).warming).toBe(true);
  });

  it('serialises the worst case (every number at its longest, the longest run) under 8 KB; over the bound it throws', () => {
    const long = -1.234567e-100;
    const fill = (n: number, x: number): number[] => Array.from({ length: n }, () => x);
    const worst: SeasonalState = {
      ...emptySeasonalState('week'),
      n: Number.MAX_SAFE_INTEGER, last: 8.64e15, step: 8.64e15, gl: long, rd: long,
      hl: fill(24, long), hd: fill(24, long), hn: fill(24, 9999),
      wl: fill(168, long), wd: fill(168, long), wn: fill(168, 9999),
      q: long, int: false,
      run: fill(49, long), side: -1, // shiftAfter ≤ 50, so a stored run holds at most 49
    };
    const text = serialise(worst);
    expect(Buffer.byteLength(text)).toBe(7670);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_ANOMALY_STATE_BYTES);
    expect(isSeasonalState(JSON.parse(text))).toBe(true);
    expect(() => serialise({ ...worst, run: fill(100, long) })).toThrow('over the 8192-byte bound');
  });

  it('rejects stored states of the wrong shape', () => {
    expect(isSeasonalState({ ...EMPTY_SEASONAL_STATE, wl: [] })).toBe(false);
    expect(isSeasonalState({ ...emptySeasonalState('day'), p: 168 })).toBe(false);
    expect(isSeasonalState(emptySeasonalState('day'))).toBe(true);
    expect(isSeasonalState({ ...emptySeasonalState('day'), run: ['1'] })).toBe(false);
  });
});
