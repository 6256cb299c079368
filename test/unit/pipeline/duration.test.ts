import fc from 'fast-check';
import { formatByteSize, formatDuration, parseDuration, tryParseByteSize, tryParseDuration } from '../../../lambdas/core/pipeline';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1.5s', 1_500],
    ['0.1s', 100],
    ['1h0m5s250ms', 3_605_250],
    ['0s', 0],
    ['0', 0],
  ])('parses %p as %p ms', (text, ms) => {
    // Act
    const value = parseDuration(text);

    // Assert
    expect(value).toBe(ms);
  });

  it.each([
    ['', 'expected a duration such as 30s, 1m, 1h30m; got an empty string'],
    ['5', 'a duration needs a unit: write 5s, 5m or 5ms (units: ms, s, m, h, d)'],
    ['-5s', 'a duration cannot be negative (given "-5s")'],
    ['5 minutes', '"5 minutes" is not a duration: expected <number><unit> parts such as 30s, 1m, 1h30m (units: ms, s, m, h, d)'],
    ['30m1h', '"30m1h" is not a duration: write the units largest first, each once (e.g. 1h30m)'],
    ['1m1m', '"1m1m" is not a duration: write the units largest first, each once (e.g. 1h30m)'],
    ['1.5ms', '"1.5ms" is not a whole number of milliseconds'],
  ])('rejects %p', (text, message) => {
    // Act
    const result = tryParseDuration(text);

    // Assert
    expect(result).toEqual({ ok: false, message });
    expect(() => parseDuration(text)).toThrow(new RangeError(message));
  });

  it('rejects numbers other than 0 and non-strings', () => {
    // Act
    const results = [tryParseDuration(5), tryParseDuration(true), tryParseDuration(0)];

    // Assert
    expect(results).toEqual([
      { ok: false, message: 'a duration needs a unit: write 5s, 5m or 5ms (units: ms, s, m, h, d)' },
      { ok: false, message: 'expected a duration such as 30s, 1m, 1h30m (units: ms, s, m, h, d)' },
      { ok: true, value: 0 },
    ]);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [500, '500ms'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [86_400_000, '1d'],
    [3_605_250, '1h5s250ms'],
    [-1_000, '-1s'],
  ])('formats %p ms as %p', (ms, text) => {
    // Act
    const formatted = formatDuration(ms);

    // Assert
    expect(formatted).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 * 86_400_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });
});

describe('byte sizes', () => {
  it.each([
    [1_048_576, 1_048_576],
    ['1MiB', 1_048_576],
    ['256KiB', 262_144],
    ['512B', 512],
    ['1.5KiB', 1_536],
    ['4096', 4_096],
  ])('parses %p as %p bytes', (input, bytes) => {
    // Act
    const result = tryParseByteSize(input);

    // Assert
    expect(result).toEqual({ ok: true, value: bytes });
  });

  it('rejects ambiguous and unknown units with a hint', () => {
    // Act
    const results = [tryParseByteSize('1MB'), tryParseByteSize('2kb'), tryParseByteSize('3 GiB'), tryParseByteSize(-1), tryParseByteSize('big')];

    // Assert
    expect(results).toEqual([
      { ok: false, message: '"1MB": unknown size unit "MB"; use B, KiB or MiB (1024-based) (did you mean MiB?)' },
      { ok: false, message: '"2kb": unknown size unit "kb"; use B, KiB or MiB (1024-based) (did you mean KiB?)' },
      { ok: false, message: '"3 GiB": unknown size unit "GiB"; use B, KiB or MiB (1024-based)' },
      { ok: false, message: 'expected a whole number of bytes (given -1)' },
      { ok: false, message: '"big" is not a size: expected e.g. 1MiB, 256KiB, 512B or a number of bytes' },
    ]);
  });

  it('formats sizes compactly', () => {
    // Act
    const texts = [formatByteSize(1_048_576), formatByteSize(1_536), formatByteSize(100), formatByteSize(10 * 1_048_576)];

    // Assert
    expect(texts).toEqual(['1MiB', '1.5KiB', '100B', '10MiB']);
  });
});
