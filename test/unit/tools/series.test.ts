import { MAX_SAMPLES, parseSeries, parseValues } from '../../../local/tools/series';

describe('promtool value notation', () => {
  it.each([
    ['-2+4x3', [-2, 2, 6, 10]],
    [' 1-2x4', [1, -1, -3, -5, -7]],
    ['1x4', [1, 1, 1, 1, 1]],
    ['1 _x3 5', [1, null, null, null, 5]],
    ['200x2 503 _ 200', [200, 200, 200, 503, null, 200]],
    ['1e3 .5 -0.25', [1000, 0.5, -0.25]],
    ['0+0.5x2', [0, 0.5, 1]],
  ])('expands %j as promtool does', (text, samples) => {
    expect(parseValues(text)).toEqual({ ok: true, samples });
  });

  it.each([
    ['stale', 0, /stale markers .* write _/],
    ['1 x 2', 2, /"x" is not a value: expected a number, a\+bxn, a-bxn, axn, _ or _xn/],
    ['1 Inf', 2, /cannot be infinite or NaN/],
    ['', 0, /no values/],
    [`1x${MAX_SAMPLES}`, 0, /at most 100000 steps/],
  ])('refuses %j, pointing at the token', (text, offset, message) => {
    expect(parseValues(text)).toEqual({ ok: false, offset, message: expect.stringMatching(message) });
  });
});

describe('series notation', () => {
  it('reads the name (the value field) and the labels (string fields), escapes included', () => {
    expect(parseSeries('status{kind="http", service="check\\"out"}')).toEqual({ ok: true, series: { name: 'status', labels: { kind: 'http', service: 'check"out' } } });
    expect(parseSeries('{__name__="latencyMs", host="web-1"}')).toEqual({ ok: true, series: { name: 'latencyMs', labels: { host: 'web-1' } } });
    expect(parseSeries('up')).toEqual({ ok: true, series: { name: 'up', labels: {} } });
  });

  it.each([
    ['{host="a"}', /needs a name: the field that holds each sample's value/],
    ['x{a=~"b"}', /exact values .*not matchers/],
    ['x{a="b", a="c"}', /label a is given twice/],
    ['x{a=b}', /expected a value in double quotes/],
    ['x{a="b"', /expected , or }/],
    ['x y', /unexpected "y"/],
  ])('refuses %j with a message that says why', (text, message) => {
    expect(parseSeries(text)).toEqual({ ok: false, offset: expect.any(Number), message: expect.stringMatching(message) });
  });
});
