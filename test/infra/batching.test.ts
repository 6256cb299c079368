/**
 * `batching: latency | cost` in the pipeline file: the event source mapping
 * each deploys (lib/batching.ts), the balanced default, the app's own
 * batchSize / maxBatchingWindow winning over the file, and clear errors.
 */
import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { build, cleanupFixtures, pipelineFile } from './support';

afterAll(() => cleanupFixtures());

const pipeline = (batching?: string) =>
  pipelineFile(`streams:
  telemetry:
    timestamp: ts${batching === undefined ? '' : `\n    batching: ${batching}`}
rules:
  - alert: Errors
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate: { total: 'count()' }
    when: 'total > 100.0'
`);

function mapping(batching?: string, streams?: Record<string, { batchSize?: number; maxBatchingWindow?: Duration }>): { BatchSize: number; MaximumBatchingWindowInSeconds: number } {
  const t = Template.fromStack(build({ pipeline: { pipelineFile: pipeline(batching), ...(streams ? { streams } : {}) } }));
  const all = Object.values(t.findResources('AWS::Lambda::EventSourceMapping')).map((r) => r['Properties'] as { BatchSize: number; MaximumBatchingWindowInSeconds: number });
  if (all.length !== 1) throw new Error(`expected one event source mapping, found ${all.length}`);
  return { BatchSize: all[0]!.BatchSize, MaximumBatchingWindowInSeconds: all[0]!.MaximumBatchingWindowInSeconds };
}

describe('batching: latency | cost', () => {
  it('deploys 10,000 records and a 1 s window by default, 1,000 and no window for latency, 10,000 and 5 s for cost', () => {
    expect([mapping(), mapping('latency'), mapping('cost')]).toEqual([
      { BatchSize: 10_000, MaximumBatchingWindowInSeconds: 1 },
      { BatchSize: 1_000, MaximumBatchingWindowInSeconds: 0 },
      { BatchSize: 10_000, MaximumBatchingWindowInSeconds: 5 },
    ]);
  });

  it("the app's own batchSize and maxBatchingWindow win over the pipeline file, field by field", () => {
    expect(mapping('cost', { telemetry: { batchSize: 500 } })).toEqual({ BatchSize: 500, MaximumBatchingWindowInSeconds: 5 });
    expect(mapping('latency', { telemetry: { maxBatchingWindow: Duration.seconds(2) } })).toEqual({ BatchSize: 1_000, MaximumBatchingWindowInSeconds: 2 });
  });

  it('refuses any other value, naming the field, the values allowed and the value given', () => {
    expect(() => mapping('cheap')).toThrow(/pipeline\.yaml:4:15: stream "telemetry" field "batching": expected one of latency \| cost \(given "cheap"\)/);
  });
});
