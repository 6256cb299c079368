import { assignWindows, isClosed, mergeSessions } from '../../../lambdas/core/windows';

describe('assignWindows', () => {
  it('tumbling: start inclusive, end exclusive', () => {
    expect(assignWindows({ kind: 'tumbling', sizeMs: 60_000 }, 60_000)).toEqual([{ start: 60_000, end: 120_000 }]);
    expect(assignWindows({ kind: 'tumbling', sizeMs: 60_000 }, 119_999)).toEqual([{ start: 60_000, end: 120_000 }]);
    expect(assignWindows({ kind: 'tumbling', sizeMs: 60_000 }, 120_000)).toEqual([{ start: 120_000, end: 180_000 }]);
  });

  it('hopping: an event belongs to size/slide overlapping windows, oldest first', () => {
    expect(assignWindows({ kind: 'hopping', sizeMs: 300_000, slideMs: 60_000 }, 600_000)).toEqual([
      { start: 360_000, end: 660_000 },
      { start: 420_000, end: 720_000 },
      { start: 480_000, end: 780_000 },
      { start: 540_000, end: 840_000 },
      { start: 600_000, end: 900_000 },
    ]);
    expect(assignWindows({ kind: 'hopping', sizeMs: 300_000, slideMs: 60_000 }, 659_999)[0]).toEqual({ start: 360_000, end: 660_000 });
  });

  it('session: a lone event opens [t, t + gap)', () => {
    expect(assignWindows({ kind: 'session', gapMs: 30_000 }, 1_000)).toEqual([{ start: 1_000, end: 31_000 }]);
  });
});

describe('mergeSessions', () => {
  const add = (a: number, b: number) => a + b;
  it('merges overlapping and touching sessions, keeps gaps apart, in any order', () => {
    const merged = mergeSessions(
      [
        { start: 50, end: 80, value: 1 },
        { start: 0, end: 30, value: 1 },
        { start: 30, end: 40, value: 1 }, // touches the first
        { start: 35, end: 49, value: 1 },
      ],
      add,
    );
    expect(merged).toEqual([
      { start: 0, end: 49, value: 3 },
      { start: 50, end: 80, value: 1 },
    ]);
  });
  it('returns nothing for nothing', () => {
    expect(mergeSessions([], add)).toEqual([]);
  });
});

describe('isClosed', () => {
  it('closes when the watermark reaches end + lateness exactly', () => {
    const w = { start: 0, end: 60_000 };
    expect(isClosed(w, 30_000, 89_999)).toBe(false);
    expect(isClosed(w, 30_000, 90_000)).toBe(true);
  });
});
