import { Metrics } from '@aws-lambda-powertools/metrics';
import { PipelineMetrics } from '../../../lambdas/adapters/PipelineMetrics';
import type { BatchReport } from '../../../lambdas/core/Engine';
import { emptyStats as emptySequenceStats } from '../../../lambdas/core/cep/types';
import type { RejectReason, Rejection } from '../../../lambdas/core/types';
import { PIPELINE_METRICS } from '../../../lib/pipelineMetrics';

// Powertools prints EMF through the global console (so the test can read it) in dev mode, metrics enabled.
process.env['POWERTOOLS_DEV'] = 'true';
process.env['POWERTOOLS_METRICS_DISABLED'] = 'false';

interface EmfBlob {
  readonly _aws: { readonly CloudWatchMetrics: ReadonlyArray<{ readonly Dimensions: string[][]; readonly Metrics: ReadonlyArray<{ readonly Name: string }> }> };
  readonly [key: string]: unknown;
}

/** Runs `act` and returns the EMF blobs Powertools printed meanwhile. */
function captureEmf(act: () => void): EmfBlob[] {
  const lines: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((line: unknown) => {
    lines.push(String(line));
  });
  try {
    act();
  } finally {
    spy.mockRestore();
  }
  return lines.map((l) => JSON.parse(l) as EmfBlob);
}

function rejection(reason: string, i: number): Rejection {
  return { reason: reason as RejectReason, message: `rejected: ${reason}`, shardId: 'shardId-000000000000', sequenceNumber: String(i), partitionKey: 'p', arrivalTime: 0, data: '' };
}

function report(rejected: readonly Rejection[]): BatchReport {
  return {
    shardId: 'shardId-000000000000',
    records: 10,
    decoded: 10 - rejected.length,
    rejected,
    late: 0,
    duplicates: 0,
    perRule: {},
    keysWritten: 3,
    conflicts: 0,
    published: [],
    firstSequence: '1',
    lastSequence: '10',
    minArrivalTime: 1_000,
    maxEventTime: 1_500,
    watermark: 0,
    retryFrom: null,
    error: undefined,
  };
}

/** The blobs that carry RecordsRejected, as [dimension set, Reason, value]. */
function rejectedBlobs(blobs: readonly EmfBlob[]): Array<[string[], unknown, unknown]> {
  return blobs
    .filter((b) => b._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === 'RecordsRejected'))
    .map((b) => [[...b._aws.CloudWatchMetrics[0]!.Dimensions[0]!].sort(), b['Reason'], b['RecordsRejected']]);
}

describe('PipelineMetrics', () => {
  it('the ticker flushes each stream with its own Stream dimension', () => {
    // Arrange
    const pm = new PipelineMetrics(new Metrics({ namespace: 'tidewatch-test', serviceName: 'tidewatch-ticker' }));
    // Act
    const blobs = captureEmf(() => {
      pm.recordAdvance('a', { watermark: 0, windowsClosed: 2, published: [], conditionErrors: {}, stepErrors: {} });
      pm.recordAdvance('b', { watermark: 0, windowsClosed: 5, published: [], conditionErrors: {}, stepErrors: {} });
    });
    // Assert
    expect(blobs.map((b) => [b['Stream'], b['WindowsClosed']])).toEqual([
      ['a', 2],
      ['b', 5],
    ]);
  });

  it('counts rejected records once per stream without Reason (what the alarm watches) and once per reason, whatever the reasons are', () => {
    // Arrange: three reasons, one of them a reason the infrastructure has never heard of
    const metrics = new Metrics({ namespace: 'tidewatch-test', serviceName: 'tidewatch-processor' });
    const pm = new PipelineMetrics(metrics);
    const rejected = [rejection('schema', 1), rejection('not-json', 2), rejection('schema', 3), rejection('a-reason-added-later', 4)];
    // Act
    const blobs = captureEmf(() => {
      pm.recordBatch('telemetry', report(rejected), 2_000);
      metrics.publishStoredMetrics();
    });
    // Assert: the total with exactly the dimensions the alarm reads, and one metric per reason
    const total = [...PIPELINE_METRICS.metrics.recordsRejectedTotal.dimensions].sort();
    const perReason = [...PIPELINE_METRICS.metrics.recordsRejected.dimensions].sort();
    expect(rejectedBlobs(blobs).sort((x, y) => String(x[1]).localeCompare(String(y[1])))).toEqual([
      [perReason, 'a-reason-added-later', 1],
      [perReason, 'not-json', 1],
      [perReason, 'schema', 2],
      [total, undefined, 4],
    ]);
    expect(blobs.every((b) => b['Stream'] === 'telemetry' && b['service'] === 'tidewatch-processor')).toBe(true);
  });

  it('reports 0 rejected records for a clean batch, so the alarm sees data rather than silence', () => {
    const metrics = new Metrics({ namespace: 'tidewatch-test', serviceName: 'tidewatch-processor' });
    const pm = new PipelineMetrics(metrics);
    const blobs = captureEmf(() => {
      pm.recordBatch('telemetry', report([]), 2_000);
      metrics.publishStoredMetrics();
    });
    expect(rejectedBlobs(blobs)).toEqual([[[...PIPELINE_METRICS.metrics.recordsRejectedTotal.dimensions].sort(), undefined, 0]]);
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

describe('PipelineMetrics: rule expression errors', () => {
  it('emits RuleExpressionErrors per rule and kind of expression, only where there are some, from batches and ticks', () => {
    const lines: string[] = [];
    const metrics = new Metrics({ namespace: 'tidewatch-test', serviceName: 'tidewatch-processor' });
    const spy = jest.spyOn(console, 'log').mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    const pm = new PipelineMetrics(metrics);
    const stats = (filterErrors: number, valueErrors: number, conditionErrors: number, step?: number) => ({
      matched: 1,
      late: 0,
      filterErrors,
      valueErrors,
      conditionErrors,
      overflow: 0,
      missingGroup: 0,
      ...(step === undefined ? {} : { sequence: { ...emptySequenceStats(), conditionErrors: step } }),
    });
    try {
      pm.recordBatch(
        'telemetry',
        {
          shardId: 's',
          records: 1,
          decoded: 1,
          rejected: [],
          late: 0,
          duplicates: 0,
          perRule: { A: stats(2, 0, 1), B: stats(0, 0, 0), C: stats(0, 3, 0, 4), D: stats(0, 0, 0, 0) },
          keysWritten: 0,
          conflicts: 0,
          published: [],
          firstSequence: '1',
          lastSequence: '1',
          minArrivalTime: null,
          maxEventTime: null,
          watermark: 0,
          retryFrom: null,
          error: null,
        },
        0,
      );
      metrics.publishStoredMetrics();
      // The ticker, with its own Metrics (flushed by recordAdvance).
      new PipelineMetrics(new Metrics({ namespace: 'tidewatch-test', serviceName: 'tidewatch-ticker' })).recordAdvance('telemetry', {
        watermark: 0,
        windowsClosed: 1,
        published: [],
        conditionErrors: { A: 5 },
        stepErrors: { C: 6 },
      });
    } finally {
      spy.mockRestore();
    }
    const blobs = lines.map((l) => JSON.parse(l) as EmfBlob & Record<string, unknown>);
    const errors = blobs.filter((b) => b['RuleExpressionErrors'] !== undefined);
    expect(errors.map((b) => [b['Stream'], b['Rule'], b['Expression'], b['RuleExpressionErrors']])).toEqual([
      ['telemetry', 'A', 'where', 2],
      ['telemetry', 'A', 'when', 1],
      ['telemetry', 'C', 'aggregate', 3],
      ['telemetry', 'C', 'step', 4],
      ['telemetry', 'A', 'when', 5],
      ['telemetry', 'C', 'step', 6],
    ]);
    // The dimension set the dashboard searches on (lib/pipelineMetrics.ts), service included.
    for (const b of errors) expect([...b._aws.CloudWatchMetrics[0]!.Dimensions[0]!].sort()).toEqual(['Expression', 'Rule', 'Stream', 'service']);
  });
});
