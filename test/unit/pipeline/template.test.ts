import { formatNumber, renderTemplate, templatePlaceholders } from '../../../lambdas/core/pipeline';

describe('formatNumber', () => {
  it.each([
    [0, '0'],
    [42, '42'],
    [-7, '-7'],
    [1234567, '1234567'],
    [0.0734, '0.0734'],
    [1234.5678, '1234.57'],
    [812.3, '812.3'],
    [1.5, '1.5'],
    [0.123456, '0.123'],
    [-0.5, '-0.5'],
    [2.999, '3'],
    [0.00001234, '0.0000123'],
    [Infinity, 'Infinity'],
    [NaN, 'NaN'],
  ])('formats %p as %p', (n, expected) => {
    // Act
    const text = formatNumber(n);

    // Assert
    expect(text).toBe(expected);
  });
});

describe('renderTemplate', () => {
  it('replaces names with strings, compact numbers and n/a for null', () => {
    // Arrange
    const template = '{{service}}: {{errors}} of {{total}} failed ({{ratio}}), p99 {{ p99 }} ms, mean {{mean}} from {{window.start}}';
    const values = { service: 'checkout', errors: 3, total: 40, ratio: 0.075, p99: 1234.5678, mean: null, 'window.start': '2026-11-27T10:00:00.000Z' };

    // Act
    const text = renderTemplate(template, values);

    // Assert
    expect(text).toBe('checkout: 3 of 40 failed (0.075), p99 1234.57 ms, mean n/a from 2026-11-27T10:00:00.000Z');
  });

  it('leaves unknown names and non-placeholders as written', () => {
    // Act
    const text = renderTemplate('{{nope}} {single} {{ }} {{a}}{{a}}', { a: 'x' });

    // Assert
    expect(text).toBe('{{nope}} {single} {{ }} xx');
  });

  it('does not look names up on the prototype', () => {
    // Act
    const text = renderTemplate('{{constructor}} {{toString}}', {});

    // Assert
    expect(text).toBe('{{constructor}} {{toString}}');
  });

  it('lists placeholders with their offsets', () => {
    // Act
    const placeholders = templatePlaceholders('{{host}}: no heartbeat for {{ absentFor }}');

    // Assert
    expect(placeholders).toEqual([
      { name: 'host', offset: 0 },
      { name: 'absentFor', offset: 27 },
    ]);
  });
});
