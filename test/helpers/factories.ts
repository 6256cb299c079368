import type { AggregateSpec, CompiledExpression, KinesisLikeRecord, Pipeline, StreamSpec, WindowRule, AbsenceRule, Rule } from '../../lambdas/core/types';

/** A fixed clock for tests. */
export const fixedClock = (t: number) => ({ now: () => t });

export const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);

/** A compiled expression from a plain function (for engine tests that do not test CEL). */
export function fn(source: string, f: (v: Record<string, unknown>) => unknown): CompiledExpression {
  return { source, evaluate: f };
}

export function streamSpec(overrides: Partial<StreamSpec> = {}): StreamSpec {
  return {
    name: 'telemetry',
    timestamp: { kind: 'field', field: 'ts' },
    idField: 'eventId',
    outOfOrdernessMs: 0,
    maxFutureMs: 5 * 60_000,
    idleTimeoutMs: 60_000,
    maxRecordBytes: 1024 * 1024,
    ...overrides,
  };
}

export function countAgg(name = 'total'): AggregateSpec {
  return { name, kind: 'count', source: 'count()' };
}

export function windowRule(overrides: Partial<WindowRule> = {}): WindowRule {
  return {
    type: 'window',
    name: 'R',
    stream: 'telemetry',
    groupBy: ['service'],
    window: { kind: 'tumbling', sizeMs: 60_000 },
    latenessMs: 0,
    aggregates: [countAgg()],
    when: fn('total >= 3', (v) => (v['total'] as number) >= 3),
    for: 1,
    emit: 'final',
    severity: 'warning',
    labels: {},
    annotations: { summary: '{{service}}: {{total}}' },
    ...overrides,
  };
}

export function absenceRule(overrides: Partial<AbsenceRule> = {}): AbsenceRule {
  return {
    type: 'absence',
    name: 'Silent',
    stream: 'telemetry',
    groupBy: ['host'],
    absentMs: 120_000,
    severity: 'critical',
    labels: {},
    annotations: {},
    ...overrides,
  };
}

export function pipelineOf(rules: Rule[], stream: StreamSpec = streamSpec()): Pipeline {
  return { file: 'test.yaml', streams: new Map([[stream.name, stream]]), rules };
}

let seq = 1000n;
/** A Lambda-shaped Kinesis record whose data is the JSON of `body` (or raw base64 with `rawData`). */
export function kinesisRecordFactory(
  body: unknown,
  opts: { shardId?: string; sequenceNumber?: string; arrivalMs?: number; rawData?: string; partitionKey?: string } = {},
): KinesisLikeRecord {
  seq += 1n;
  return {
    data: opts.rawData ?? Buffer.from(JSON.stringify(body), 'utf8').toString('base64'),
    partitionKey: opts.partitionKey ?? 'pk',
    sequenceNumber: opts.sequenceNumber ?? `4959${String(seq).padStart(52, '0')}`,
    approximateArrivalTimestamp: (opts.arrivalMs ?? T0) / 1000,
    shardId: opts.shardId ?? 'shardId-000000000000',
  };
}

/** Records with consecutive, growing sequence numbers on one shard. */
export function shardRecords(shardId: string, bodies: unknown[], firstSeq = 1n, arrivalMs = T0): KinesisLikeRecord[] {
  return bodies.map((b, i) => kinesisRecordFactory(b, { shardId, sequenceNumber: (10n ** 50n + firstSeq + BigInt(i)).toString(), arrivalMs }));
}
