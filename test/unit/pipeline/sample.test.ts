import { join } from 'node:path';
import { eventVariables } from '../../../lambdas/core/expression';
import { loadPipeline, renderTemplate, templateNames } from '../../../lambdas/core/pipeline';
import type { AbsenceRule, Rule, WindowRule } from '../../../lambdas/core/types';

const SAMPLE = join(__dirname, '../../../pipelines/sample.yaml');

const HTTP = { eventId: 'e-123', ts: '2026-11-27T10:00:01.234Z', kind: 'http', service: 'checkout', host: 'web-3', status: 200, latencyMs: 42.5, userId: 'u-17', bytes: 1234 };
const HEARTBEAT = { eventId: 'e-124', ts: '2026-11-27T10:00:02.000Z', kind: 'heartbeat', host: 'web-3' };

/** The rule as plain data: expressions by their source. */
function summarize(rule: Rule): unknown {
  const common = { name: rule.name, stream: rule.stream, where: rule.where?.source, groupBy: rule.groupBy, severity: rule.severity, labels: rule.labels, annotations: rule.annotations };
  if (rule.type === 'absence') return { type: 'absence', ...common, resolvedAnnotations: rule.resolvedAnnotations, absentMs: rule.absentMs, resolveAfterMs: rule.resolveAfterMs };
  if (rule.type === 'sequence') {
    const q = rule.sequence;
    return {
      type: 'sequence',
      ...common,
      withinMs: q.withinMs,
      steps: q.steps.map((st) => ({ where: st.where?.source, count: st.count, bind: st.bind, absent: st.absent })),
      until: q.until?.source,
      onNew: q.onNew,
      maxPartials: q.maxPartials,
      maxStateBytes: q.maxStateBytes,
    };
  }
  return {
    type: 'window',
    ...common,
    window: rule.window,
    latenessMs: rule.latenessMs,
    aggregates: rule.aggregates.map((a) => ({ name: a.name, kind: a.kind, value: a.value?.source, condition: a.condition?.source, quantile: a.quantile, source: a.source })),
    when: rule.when.source,
    for: rule.for,
    emit: rule.emit,
    ...(rule.anomaly ? { anomaly: rule.anomaly } : {}),
  };
}

function windowRule(name: string): WindowRule {
  const rule = loadPipeline(SAMPLE).rules.find((r) => r.name === name);
  if (rule?.type !== 'window') throw new Error(`no window rule ${name}`);
  return rule;
}

describe('pipelines/sample.yaml', () => {
  it('declares the telemetry stream with its settings and schema', () => {
    // Act
    const pipeline = loadPipeline(SAMPLE);

    // Assert
    expect(pipeline.file).toBe(SAMPLE);
    expect([...pipeline.streams.keys()]).toEqual(['telemetry']);
    expect(pipeline.streams.get('telemetry')).toEqual({
      name: 'telemetry',
      timestamp: { kind: 'field', field: 'ts' },
      idField: 'eventId',
      dedupeHorizonMs: 600000,
      validate: expect.any(Function),
      schemaPath: join(__dirname, '../../../pipelines/schemas/telemetry.schema.json'),
      outOfOrdernessMs: 5_000,
      maxFutureMs: 300_000,
      idleTimeoutMs: 60_000,
      maxRecordBytes: 1_048_576,
    });
  });

  it('compiles the seven rules to the exact model', () => {
    // Act
    const pipeline = loadPipeline(SAMPLE);

    // Assert
    expect(pipeline.rules.map(summarize)).toEqual([
      {
        type: 'window',
        name: 'HighErrorRate',
        stream: 'telemetry',
        where: 'kind == "http"',
        groupBy: ['service'],
        severity: 'critical',
        labels: { team: 'platform' },
        annotations: { summary: '{{service}}: {{errors}} of {{total}} requests failed in the last minute' },
        window: { kind: 'tumbling', sizeMs: 60_000 },
        latenessMs: 30_000,
        aggregates: [
          { name: 'errors', kind: 'count', value: undefined, condition: 'status >= 500', quantile: undefined, source: 'count(status >= 500)' },
          { name: 'total', kind: 'count', value: undefined, condition: undefined, quantile: undefined, source: 'count()' },
        ],
        when: 'errors / total > 0.05 && total >= 20',
        for: 1,
        emit: 'early',
      },
      {
        type: 'window',
        name: 'SlowResponses',
        stream: 'telemetry',
        where: 'kind == "http"',
        groupBy: ['service'],
        severity: 'warning',
        labels: {},
        annotations: { summary: '{{service}}: p99 latency {{p99}} ms' },
        window: { kind: 'hopping', sizeMs: 300_000, slideMs: 60_000 },
        latenessMs: 30_000,
        aggregates: [
          { name: 'p99', kind: 'percentile', value: 'latencyMs', condition: undefined, quantile: 0.99, source: 'percentile(latencyMs, 99)' },
          { name: 'total', kind: 'count', value: undefined, condition: undefined, quantile: undefined, source: 'count()' },
        ],
        when: 'p99 > 800.0 && total >= 50',
        for: 2,
        emit: 'final',
      },
      {
        type: 'window',
        name: 'ErrorSpike',
        stream: 'telemetry',
        where: 'kind == "http"',
        groupBy: ['service'],
        severity: 'warning',
        labels: {},
        annotations: { summary: '{{service}}: {{errors}} errors in a minute, expected about {{anomaly.expected}} (normal up to {{anomaly.upper}})' },
        window: { kind: 'tumbling', sizeMs: 60_000 },
        latenessMs: 30_000,
        aggregates: [
          { name: 'errors', kind: 'count', value: undefined, condition: 'status >= 500', quantile: undefined, source: 'count(status >= 500)' },
          { name: 'total', kind: 'count', value: undefined, condition: undefined, quantile: undefined, source: 'count()' },
        ],
        when: 'anomaly.score > 0.99 && errors >= 5.0 && total >= 20.0',
        for: 1,
        emit: 'final',
        anomaly: { of: 'errors', detector: 'robust', options: { direction: 'up', sensitivity: 4, warmup: 10, alpha: 0.1, shiftAfter: 6, minSpread: 2, season: 'week' }, fill: null },
      },
      {
        type: 'window',
        name: 'SessionBurst',
        stream: 'telemetry',
        where: 'kind == "http"',
        groupBy: ['host'],
        severity: 'info',
        labels: {},
        annotations: {
          summary: '{{host}}: {{requests}} requests from {{users}} users ({{volume}} bytes), mean {{mean}} ms, worst {{worst}} ms',
          window: '{{window.start}} .. {{window.end}}',
        },
        window: { kind: 'session', gapMs: 30_000 },
        latenessMs: 0,
        aggregates: [
          { name: 'requests', kind: 'count', value: undefined, condition: undefined, quantile: undefined, source: 'count()' },
          { name: 'users', kind: 'distinct', value: 'userId', condition: undefined, quantile: undefined, source: 'distinct(userId)' },
          { name: 'volume', kind: 'sum', value: 'event.bytes', condition: undefined, quantile: undefined, source: 'sum(event.bytes)' },
          { name: 'worst', kind: 'max', value: 'latencyMs', condition: undefined, quantile: undefined, source: 'max(latencyMs)' },
          { name: 'mean', kind: 'avg', value: 'latencyMs', condition: undefined, quantile: undefined, source: 'avg(latencyMs)' },
        ],
        when: 'requests >= 500.0',
        for: 1,
        emit: 'final',
      },
      {
        type: 'absence',
        name: 'HeartbeatMissing',
        stream: 'telemetry',
        where: 'kind == "heartbeat"',
        groupBy: ['host'],
        severity: 'critical',
        labels: {},
        annotations: { summary: '{{host}}: no heartbeat for {{absentFor}} (last seen {{lastSeen}})' },
        resolvedAnnotations: { summary: '{{host}}: heartbeat seen again after {{silentFor}}' },
        absentMs: 120_000,
        resolveAfterMs: 60_000,
      },
      {
        type: 'sequence',
        name: 'DeployThenErrors',
        stream: 'telemetry',
        where: undefined,
        groupBy: ['service'],
        severity: 'critical',
        labels: { team: 'platform' },
        annotations: { summary: '{{service}}: {{matchedEvents}} events, 5 errors within {{within}} of deploying {{steps.0.version}} ({{matchStart}} .. {{matchAt}})' },
        withinMs: 900_000,
        steps: [
          { where: 'kind == "deploy"', count: 1, bind: ['version'], absent: false },
          { where: 'kind == "http" && status >= 500', count: 5, bind: [], absent: false },
        ],
        until: 'kind == "deploy" && has(event.rollback) && event.rollback == true',
        onNew: 'keep',
        maxPartials: 10,
        maxStateBytes: 65_536,
      },
      {
        type: 'sequence',
        name: 'JobNeverFinished',
        stream: 'telemetry',
        where: undefined,
        groupBy: ['job'],
        severity: 'warning',
        labels: {},
        annotations: { summary: 'job {{job}} started on {{steps.0.host}} at {{matchStart}} and did not finish within {{within}}' },
        withinMs: 60_000,
        steps: [
          { where: 'kind == "job" && phase == "started"', count: 1, bind: ['host'], absent: false },
          { where: 'kind == "job" && phase == "finished"', count: 1, bind: [], absent: true },
        ],
        until: undefined,
        onNew: 'keep',
        maxPartials: 10,
        maxStateBytes: 65_536,
      },
    ]);
  });

  it('validates events against the JSON Schema', () => {
    // Arrange
    const validate = loadPipeline(SAMPLE).streams.get('telemetry')!.validate!;

    // Act
    const results = [
      validate(HTTP),
      validate(HEARTBEAT),
      validate({ ...HEARTBEAT, ts: 1_795_946_401_234 }),
      validate({ ...HTTP, service: undefined }),
      validate({ ...HTTP, status: 'oops' }),
      validate({ ...HEARTBEAT, kind: 'ping' }),
    ];

    // Assert
    expect(results).toEqual([
      null,
      null,
      null,
      "event must have required property 'service'",
      'event/status must be integer',
      'event/kind must be equal to one of the allowed values',
    ]);
  });

  it("evaluates the rules' expressions over sample events", () => {
    // Arrange
    const high = windowRule('HighErrorRate');
    const slow = windowRule('SlowResponses');
    const burst = windowRule('SessionBurst');
    const failed = eventVariables({ ...HTTP, status: 503 });

    // Act
    const where = [high.where!.evaluate(eventVariables(HTTP)), high.where!.evaluate(eventVariables(HEARTBEAT))];
    const errorsCondition = [high.aggregates[0]!.condition!.evaluate(failed), high.aggregates[0]!.condition!.evaluate(eventVariables(HTTP))];
    const values = [slow.aggregates[0]!.value!.evaluate(eventVariables(HTTP)), ...burst.aggregates.slice(1).map((a) => a.value!.evaluate(eventVariables(HTTP)))];
    const when = [
      high.when.evaluate({ errors: 3, total: 40, service: 'checkout' }),
      high.when.evaluate({ errors: 2, total: 40, service: 'checkout' }),
      high.when.evaluate({ errors: 19, total: 19, service: 'checkout' }),
    ];

    // Assert
    expect(where).toEqual([true, false]);
    expect(errorsCondition).toEqual([true, false]);
    expect(values).toEqual([42.5, 'u-17', 1234, 42.5, 42.5]);
    expect(when).toEqual([true, false, false]);
  });

  it('renders the annotations with every name the rule offers', () => {
    // Arrange
    const pipeline = loadPipeline(SAMPLE);
    const high = windowRule('HighErrorRate');
    const heartbeat = pipeline.rules.find((r): r is AbsenceRule => r.type === 'absence')!;

    // Act
    const names = pipeline.rules.map(templateNames);
    const text = renderTemplate(high.annotations.summary!, { service: 'checkout', errors: 3, total: 40 });
    const absent = renderTemplate(heartbeat.annotations.summary!, { host: 'web-3', absentFor: '2m', lastSeen: '2026-11-27T10:00:02.000Z' });

    // Assert
    expect(names).toEqual([
      ['service', 'rule', 'severity', 'errors', 'total', 'window.start', 'window.end'],
      ['service', 'rule', 'severity', 'p99', 'total', 'window.start', 'window.end'],
      ['service', 'rule', 'severity', 'errors', 'total', 'window.start', 'window.end', 'anomaly.score', 'anomaly.expected', 'anomaly.lower', 'anomaly.upper', 'anomaly.warming'],
      ['host', 'rule', 'severity', 'requests', 'users', 'volume', 'worst', 'mean', 'window.start', 'window.end'],
      ['host', 'rule', 'severity', 'lastSeen', 'absentFor'],
      ['service', 'rule', 'severity', 'matchStart', 'matchAt', 'matchedEvents', 'within', 'steps.0.version'],
      ['job', 'rule', 'severity', 'matchStart', 'matchAt', 'matchedEvents', 'within', 'steps.0.host'],
    ]);
    expect(text).toBe('checkout: 3 of 40 requests failed in the last minute');
    expect(absent).toBe('web-3: no heartbeat for 2m (last seen 2026-11-27T10:00:02.000Z)');
  });
});
