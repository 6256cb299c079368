import { parsePipeline } from '../../../lambdas/core/pipeline';
import { groupRecords, runTestFile } from '../../../local/tools/ruleTest';
import { parseTestFile, TestFileError } from '../../../local/tools/testFile';

const PIPELINE = `streams:
  web:
    timestamp: ts
    id: id
rules:
  - alert: Errors
    stream: web
    where: 'kind == "http"'
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate:
      errors: 'count(status >= 500)'
      total: 'count()'
    when: 'errors >= 2.0'
    severity: critical
    labels: { team: sre }
    annotations:
      summary: '{{service}}: {{errors}} errors'
  - alert: Quiet
    stream: web
    groupBy: [host]
    absent: 1m
`;

/** runTestFile over files held in memory. */
function run(test: string, extra: Record<string, string> = {}) {
  const files: Record<string, string> = { 'p/pipeline.yaml': PIPELINE, 'p/x.test.yaml': test, ...extra };
  return runTestFile('p/x.test.yaml', {
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`);
      return text;
    },
  });
}

const head = 'rule_files: [pipeline.yaml]\ntests:\n';

describe('tidewatch test: running rule tests', () => {
  it('passes when the alerts firing at eval_time are exactly the expected ones (labels include severity and the rule labels)', async () => {
    // The rule is emit: final: the minute closes when the watermark (newest event - 5 s) reaches 1m,
    // with the sample at 1m10s, whose batch is invoked at 1m11s.
    const r = await run(`${head}  - interval: 10s
    input_series:
      - series: 'status{kind="http", service="api", host="h1"}'
        values: '200 500 503 200 200 200 200 200'
    alert_rule_test:
      - eval_time: 1m11s
        alertname: Errors
        exp_alerts:
          - exp_labels: { service: api, severity: critical, team: sre }
            exp_annotations: { summary: 'api: 2 errors' }
            exp_values: { errors: 2, total: 6 }
      - eval_time: 1m10s
        alertname: Errors
        exp_alerts: []
`);
    expect(r.errors).toEqual([]);
    expect({ passed: r.passed, failed: r.failed }).toEqual({ passed: 2, failed: 0 });
  });

  it('fails with a diff of expected against actual alerts', async () => {
    const r = await run(`${head}  - name: wrong
    interval: 10s
    input_series:
      - series: 'status{kind="http", service="api", host="h1"}'
        values: '500 503'
    alert_rule_test:
      - eval_time: 3m
        alertname: Errors
        exp_alerts:
          - exp_labels: { service: web, severity: critical, team: sre }
            exp_annotations: { summary: 'web: 2 errors' }
      - eval_time: 3m
        alertname: Errors
        exp_alerts:
          - exp_labels: { service: api, severity: critical, team: sre }
            exp_annotations: { summary: 'api: 3 errors' }
`);
    expect({ passed: r.passed, failed: r.failed }).toEqual({ passed: 0, failed: 2 });
    const [first, second] = r.groups[0]!.cases;
    // No event after 10s: the shard is idle from 1m10s, and the ticker's watermark (clock - 1m - 5s) closes the minute at the 3m tick.
    expect(first!.title).toBe('alert_rule_test #1: Errors at 3m (2000-01-01T00:03:00.000Z)');
    expect(first!.details).toEqual([
      'alertname: Errors, time: 3m (2000-01-01T00:03:00.000Z)',
      '  exp:',
      '    labels {service="web", severity="critical", team="sre"} annotations {summary="web: 2 errors"}',
      '  got:',
      '    labels {service="api", severity="critical", team="sre"} annotations {summary="api: 2 errors"} values {errors=2, total=2}',
      '  diff (- expected, + got):',
      '  - labels {service="web", severity="critical", team="sre"} annotations {summary="web: 2 errors"}',
      '  + labels {service="api", severity="critical", team="sre"} annotations {summary="api: 2 errors"} values {errors=2, total=2}',
    ]);
    expect(second!.details).toContain('      (an alert with these labels fires, but annotation summary: expected "api: 3 errors", got "api: 2 errors")');
  });

  it('checks transitions one for one, each comparing the fields it gives', async () => {
    const r = await run(`${head}  - interval: 10s
    input_series:
      - series: 'status{kind="http", service="api", host="h1"}'
        values: '500 500 200x10'
    alert_transition_test:
      - alertname: Errors
        exp_transitions:
          - state: firing
            window: { start: 0s, end: 1m }
            exp_values: { errors: 2, total: 6 }
          - state: resolved
            exp_labels: { service: api, severity: critical, team: sre }
            window: { start: 1m, end: 2m }
      - alertname: Errors
        exp_transitions:
          - state: firing
`);
    expect(r.groups[0]!.cases.map((c) => c.passed)).toEqual([true, false]);
    expect(r.groups[0]!.cases[1]!.details).toContain('  + resolved labels {service="api", severity="critical", team="sre"} window [1m, 2m) at 2m values {errors=0, total=6} (end-of-input flush)');
  });

  it('reads input_events: given events, raw records and NDJSON files with payloads and Kinesis records', async () => {
    const kinesisRecord = JSON.stringify({ SequenceNumber: '49700000000000000000000000000000000000000000000000000001', ApproximateArrivalTimestamp: Date.UTC(2000, 0, 1, 0, 0, 40) / 1000, PartitionKey: 'h1', Data: Buffer.from(JSON.stringify({ id: 'k1', ts: '2000-01-01T00:00:40Z', kind: 'http', service: 'db', status: 500 })).toString('base64') });
    const ndjson = [JSON.stringify({ id: 'f1', ts: '2000-01-01T00:00:20Z', kind: 'http', service: 'db', status: 503 }), 'not json at all', ''].join('\n');
    const r = await run(
      `${head}  - input_events:
      - { time: 5s, event: { kind: http, service: db, status: 200 } }
      - { time: 6s, raw: '{"broken' }
      - file: events.ndjson
      - file: records.ndjson
    alert_transition_test:
      - alertname: Errors
        exp_transitions:
          - { state: firing, exp_labels: { service: db, severity: critical, team: sre }, exp_values: { errors: 2, total: 3 } }
          - { state: resolved }
`,
      { 'p/events.ndjson': ndjson, 'p/records.ndjson': `${kinesisRecord}\n` },
    );
    expect(r.errors).toEqual([]);
    expect(r.groups[0]!.cases.map((c) => c.details)).toEqual([[]]);
  });

  it('reports problems of the file with file:line:column, before running anything', async () => {
    const r = await run(`${head}  - interval: 10s
    input_seris: []
    input_series:
      - series: 'status{kind="http"}'
        values: '1 2 x3'
    promql_expr_test: []
    alert_rule_test:
      - eval_time: soon
        alertname: Error
        exp_alerts: []
`);
    expect(r.errors).toEqual([
      'p/x.test.yaml:4:5: field "tests.0.input_seris": unknown key; did you mean "input_series"? (a test group may have: name, interval, start_timestamp, input_series, input_events, alert_rule_test, alert_transition_test, stream, shards, partition_key, arrival_delay, batch_window, batch_size, tick_interval, flush)',
      'p/x.test.yaml:8:5: field "tests.0.promql_expr_test": promql_expr_test: tidewatch has no PromQL: check aggregate values with alert_transition_test (exp_values) instead',
      'p/x.test.yaml:7:22: field "tests.0.input_series.0.values": "x3" is not a value: expected a number, a+bxn, a-bxn, axn, _ or _xn (e.g. 1+0x10)',
      'p/x.test.yaml:10:20: field "tests.0.alert_rule_test.0.eval_time": expected a duration from the test\'s start_timestamp (e.g. 5m, 1m30s) or an RFC 3339 time; "soon" is not a duration: expected <number><unit> parts such as 30s, 1m, 1h30m (units: ms, s, m, h, d)',
    ]);
    expect(r.failed).toBe(1);
  });

  it('names an alert the rule files do not have, with a suggestion', async () => {
    const r = await run(`${head}  - input_series: []
    alert_rule_test:
      - { eval_time: 1m, alertname: Error, exp_alerts: [] }
`);
    expect(r.errors).toEqual(['p/x.test.yaml:5:37: field "tests.0.alert_rule_test.0.alertname": no rule "Error" reads stream web in p/pipeline.yaml; did you mean "Errors"? (rules: Errors, Quiet)']);
  });

  it('says when a rule file does not load, as cdk synth would', async () => {
    const r = await run(`rule_files: [missing.yaml]\ntests:\n  - input_series: []\n    alert_rule_test: [{ eval_time: 1m, alertname: A, exp_alerts: [] }]\n`);
    expect(r.errors).toEqual([expect.stringMatching(/^p\/missing\.yaml: cannot read the pipeline file: ENOENT/)]);
  });
});

describe('how input_series become events', () => {
  it('makes sample k an event at start + k * interval: fields, labels (strings), the name holding the value, ts and a generated id', () => {
    const tf = parseTestFile(
      `rule_files: [p.yaml]
tests:
  - interval: 30s
    start_timestamp: 2026-01-01T00:00:00Z
    shards: 2
    partition_key: host
    arrival_delay: 2s
    input_series:
      - series: 'latencyMs{host="web-1", kind="http"}'
        values: '10 _ 30'
        fields: { status: 200 }
      - series: 'latencyMs{host="web-2", kind="http"}'
        values: '5'
        shard: 0
        arrival_delay: 0s
    input_events:
      - { time: 10s, arrival: 0s, event: { host: web-1, kind: http, status: 500 } }
    alert_rule_test: [{ eval_time: 1m, alertname: A, exp_alerts: [] }]
`,
      'x.test.yaml',
    );
    const stream = parsePipeline(PIPELINE, 'p.yaml').streams.get('web')!;
    const records = groupRecords(tf.groups[0]!, stream, () => '');
    const t = Date.UTC(2026, 0, 1);
    expect(records.map((r) => ({ body: JSON.parse(Buffer.from(r.data, 'base64').toString()), arrival: r.approximateArrivalTimestamp * 1000, shard: r.shardId }))).toEqual([
      // in arrival order; at the same millisecond, series before input_events
      { body: { host: 'web-2', kind: 'http', latencyMs: 5, ts: '2026-01-01T00:00:00.000Z', id: 't1-s2-0' }, arrival: t, shard: 'shardId-000000000000' },
      { body: { host: 'web-1', kind: 'http', status: 500, ts: '2026-01-01T00:00:10.000Z', id: 't1-e1' }, arrival: t, shard: 'shardId-000000000001' },
      { body: { status: 200, host: 'web-1', kind: 'http', latencyMs: 10, ts: '2026-01-01T00:00:00.000Z', id: 't1-s1-0' }, arrival: t + 2000, shard: 'shardId-000000000001' },
      { body: { status: 200, host: 'web-1', kind: 'http', latencyMs: 30, ts: '2026-01-01T00:01:00.000Z', id: 't1-s1-2' }, arrival: t + 62_000, shard: 'shardId-000000000001' },
    ]);
    // sequence numbers grow per shard
    const seqs = records.filter((r) => r.shardId === 'shardId-000000000001').map((r) => BigInt(r.sequenceNumber));
    expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)));
  });

  it('refuses a start_timestamp before 2000 (tidewatch rejects such event times), and promtool keys that make no sense here', () => {
    let err: unknown;
    try {
      parseTestFile('rule_files: [p.yaml]\ngroup_eval_order: [a]\ntests:\n  - start_timestamp: 0\n    input_series: []\n    alert_rule_test: [{ eval_time: 1m, alertname: A, exp_alerts: [] }]\n', 'x.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TestFileError);
    expect((err as TestFileError).message.split('\n')).toEqual([
      'x.yaml:2:1: field "group_eval_order": group_eval_order: tidewatch has no rule groups: every rule of a pipeline file is evaluated',
      'x.yaml:4:22: field "tests.0.start_timestamp": tidewatch refuses event times before 2000-01-01 (the default start): give a later start_timestamp',
    ]);
  });
});
