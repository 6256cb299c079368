import { Metrics } from '@aws-lambda-powertools/metrics';
import { PipelineMetrics } from '../../../lambdas/adapters/PipelineMetrics';

// Powertools prints EMF through the global console (so the test can read it) in dev mode, metrics enabled.
process.env['POWERTOOLS_DEV'] = 'true';
process.env['POWERTOOLS_METRICS_DISABLED'] = 'false';

describe('PipelineMetrics', () => {
  it('the ticker flushes each stream with its own Stream dimension', () => {
    // Arrange: capture the EMF blobs Powertools prints
    const lines: string[] = [];
    const metrics = new Metrics({ namespace: 'tidewatch-test', serviceName: 'tidewatch-ticker' });
    const spy = jest.spyOn(console, 'log').mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    const pm = new PipelineMetrics(metrics);
    // Act
    try {
      pm.recordAdvance('a', { watermark: 0, windowsClosed: 2, published: [] });
      pm.recordAdvance('b', { watermark: 0, windowsClosed: 5, published: [] });
    } finally {
      spy.mockRestore();
    }
    // Assert
    const blobs = lines.map((l) => JSON.parse(l) as { Stream: string; WindowsClosed: number });
    expect(blobs.map((b) => [b.Stream, b.WindowsClosed])).toEqual([
      ['a', 2],
      ['b', 5],
    ]);
  });
});
