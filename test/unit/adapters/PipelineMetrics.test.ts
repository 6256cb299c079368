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

describe('PipelineMetrics: records of several events', () => {
  it('emits user events, CONTROL_MESSAGEs, derived-field errors, per-rule missing group fields and the rejected total', () => {
    // Arrange
    const lines: string[] = [];
    const metrics = new Metrics({ namespace: 'tidewatch-test', serviceName: 'tidewatch-processor' });
    const spy = jest.spyOn(console, 'log').mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    const pm = new PipelineMetrics(metrics);
    const stats = (missingGroup: number) => ({ matched: 1, late: 0, filterErrors: 0, valueErrors: 0, conditionErrors: 0, overflow: 0, missingGroup });
    const rejection = { reason: 'no-match' as const, message: 'm', shardId: 's', sequenceNumber: '1', partitionKey: 'p', arrivalTime: 0, data: '', index: 2 };
    // Act
    try {
      pm.recordBatch(
        'logs',
        {
          shardId: 's',
          records: 3,
          decoded: 40,
          rejected: [rejection, { ...rejection, index: 5 }],
          controlMessages: 1,
          derivedErrors: { latencyS: 2, slow: 1 },
          late: 0,
          duplicates: 0,
          perRule: { A: stats(4), B: stats(0) },
          keysWritten: 1,
          conflicts: 0,
          published: [],
          firstSequence: '1',
          lastSequence: '3',
          minArrivalTime: null,
          maxEventTime: null,
          watermark: 0,
          retryFrom: null,
          error: null,
        },
        0,
      );
      metrics.publishStoredMetrics();
    } finally {
      spy.mockRestore();
    }
    // Assert
    const blobs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const main = blobs.find((b) => b['EventsIn'] !== undefined)!;
    expect([main['RecordsIn'], main['EventsIn'], main['ControlMessages'], main['DerivedFieldErrors'], main['RecordsRejected']]).toEqual([3, 40, 1, 3, 2]);
    expect(blobs.filter((b) => b['GroupFieldMissing'] !== undefined).map((b) => [b['Rule'], b['GroupFieldMissing']])).toEqual([['A', 4]]);
    expect(blobs.filter((b) => b['Reason'] !== undefined).map((b) => [b['Reason'], b['RecordsRejected']])).toEqual([['no-match', 2]]);
  });
});
