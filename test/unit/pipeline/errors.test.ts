import { parsePipeline, PipelineError } from '../../../lambdas/core/pipeline';
import { issueLines, pipelineError, STREAMS } from './helpers';

/** A valid window rule, one field per line (line 5 is `- alert:` when placed first). */
function windowRule(fields: Record<string, string> = {}, name = 'HighErrorRate'): string {
  const all: Record<string, string> = {
    stream: 'telemetry',
    groupBy: '[service]',
    window: '{ tumbling: 1m }',
    aggregate: "{ errors: 'count(status >= 500)', total: 'count()' }",
    when: "'errors / total > 0.05'",
    ...fields,
  };
  const lines = [`  - alert: ${name}`];
  for (const [k, v] of Object.entries(all)) if (v !== '') lines.push(`    ${k}: ${v}`);
  return lines.join('\n') + '\n';
}

const RULE_KEYS = 'alert, stream, where, groupBy, severity, labels, annotations, resolvedAnnotations, window, lateness, aggregate, when, for, emit, metrics, anomaly, absent, resolveAfter, sequence';

describe('pipeline file errors', () => {
  it('reports an unknown key with a suggestion, as a structured issue', () => {
    // Arrange
    const text = STREAMS + windowRule({ severty: 'critical' });

    // Act
    const error = pipelineError(text);

    // Assert
    expect(error).toBeInstanceOf(PipelineError);
    expect(error.name).toBe('PipelineError');
    expect(error.issues).toEqual([
      {
        file: 'p.yaml',
        line: 11,
        column: 5,
        rule: 'HighErrorRate',
        field: 'severty',
        message: `unknown key; did you mean "severity"? (a rule may have: ${RULE_KEYS})`,
      },
    ]);
    expect(error.message).toBe(`p.yaml:11:5: rule "HighErrorRate" field "severty": unknown key; did you mean "severity"? (a rule may have: ${RULE_KEYS})`);
  });

  it('suggests our name for keys from other tools (expr -> when)', () => {
    // Arrange
    const text = STREAMS + windowRule({ when: '', expr: "'total > 1.0'" });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:5:5: rule "HighErrorRate" field "when": missing (required): a CEL condition over the aggregates, e.g. \'total > 100.0\'',
      `p.yaml:10:5: rule "HighErrorRate" field "expr": unknown key; did you mean "when"? (a rule may have: ${RULE_KEYS})`,
    ]);
  });

  it('reports a window typo with the accepted shapes and what was given', () => {
    // Arrange
    const text = STREAMS + windowRule({ window: '{ tumblin: 1m }' });

    // Act
    const lines = issueLines(text, 'pipelines/sample.yaml');

    // Assert
    expect(lines).toEqual([
      'pipelines/sample.yaml:8:5: rule "HighErrorRate" field "window": expected one of { tumbling: <duration> } | { hopping: <duration>, every: <duration> } | { session: <duration> } (given { tumblin: "1m" }; did you mean "tumbling"?)',
    ]);
  });

  it('reports bad durations and out-of-range durations at the value', () => {
    // Arrange
    const text = STREAMS + windowRule({ window: '{ tumbling: 90q }', lateness: '2d', for: '5m' });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:8:25: rule "HighErrorRate" field "window.tumbling": "90q" is not a duration: expected <number><unit> parts such as 30s, 1m, 1h30m (units: ms, s, m, h, d)',
      'p.yaml:11:15: rule "HighErrorRate" field "lateness": must be between 0s and 1d (given "2d")',
      'p.yaml:12:10: rule "HighErrorRate" field "for": expected a whole number of consecutive windows from 1 to 100 (given "5m"); for counts windows, it is not a duration',
    ]);
  });

  it('rejects a hopping window whose every does not divide the size, or is not smaller', () => {
    // Arrange
    const text = STREAMS + windowRule({ window: '{ hopping: 5m, every: 2m }' }) + windowRule({ window: '{ hopping: 1m, every: 1m }' }, 'Other');

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:8:35: rule "HighErrorRate" field "window.every": every (2m) must divide the window size (5m) evenly, so that windows line up (e.g. every: 1m)',
      'p.yaml:14:35: rule "Other" field "window.every": every (1m) must be smaller than the window size (1m); a hopping window that moves by its whole size is { tumbling: 1m }',
    ]);
  });

  it('rejects a hopping window that would put each event into too many windows', () => {
    // Arrange
    const text = STREAMS + windowRule({ window: '{ hopping: 1h, every: 1s }' });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:8:35: rule "HighErrorRate" field "window.every": a hopping window of 1h every 1s puts each event into 3600 windows; at most 60 are allowed (use a larger every)',
    ]);
  });

  it('reports an unknown stream with a suggestion', () => {
    // Arrange
    const text = STREAMS + windowRule({ stream: 'telemtry' });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual(['p.yaml:6:13: rule "HighErrorRate" field "stream": unknown stream "telemtry"; did you mean "telemetry"? (declared: telemetry)']);
  });

  it('reports a duplicate alert name, pointing at the first one', () => {
    // Arrange
    const text = STREAMS + windowRule() + windowRule();

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual(['p.yaml:11:12: rule "HighErrorRate" field "alert": duplicate alert name "HighErrorRate": rule #1 (line 5) already uses it']);
  });

  it('reports unknown aggregate functions, wrong arity and bad percentile quantiles at the spot', () => {
    // Arrange
    const text =
      STREAMS +
      windowRule({
        aggregate: [
          '',
          "      p99: 'p99(latencyMs)'",
          "      p95: 'percentile(latencyMs)'",
          "      p0: 'percentile(latencyMs, 0)'",
          "      pq: 'percentile(latencyMs, q)'",
          "      errors: 'count(status >= 500, true)'",
          "      plain: 'latencyMs * 2.0'",
          "      total: 'count()'",
        ].join('\n'),
        when: "'total > 1.0'",
      });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:10:13: rule "HighErrorRate" field "aggregate.p99": unknown aggregate function "p99"; expected count(), count(<condition>), sum(x), min(x), max(x), avg(x), distinct(x) or percentile(x, q)',
      'p.yaml:11:13: rule "HighErrorRate" field "aggregate.p95": percentile needs a value and a quantile: percentile(<value>, <q>) with q in (0, 100], e.g. percentile(latencyMs, 99) (given 1 argument)',
      'p.yaml:12:34: rule "HighErrorRate" field "aggregate.p0": percentile\'s quantile must be a number literal in (0, 100], e.g. 99 or 99.9 (given 0)',
      'p.yaml:13:34: rule "HighErrorRate" field "aggregate.pq": percentile\'s quantile must be a number literal in (0, 100], e.g. 99 or 99.9 (given q)',
      'p.yaml:14:16: rule "HighErrorRate" field "aggregate.errors": count takes nothing or one condition: count() or count(status >= 500) (given 2 arguments)',
      'p.yaml:15:15: rule "HighErrorRate" field "aggregate.plain": expected an aggregate: count(), count(<condition>), sum(x), min(x), max(x), avg(x), distinct(x) or percentile(x, q)',
    ]);
  });

  it('checks the argument of an aggregate as CEL (type and functions)', () => {
    // Arrange
    const text = STREAMS + windowRule({ aggregate: "{ total: 'sum(\"x\")', n: 'avg(frobnicate(latencyMs))', big: 'count(status)' }", when: "'total > 1.0'" });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:9:30: rule "HighErrorRate" field "aggregate.total": sum(<value>): must be a number, but this expression gives string',
      'p.yaml:9:45: rule "HighErrorRate" field "aggregate.n": avg(<value>): found no matching overload for \'frobnicate(dyn)\'',
    ]);
  });

  it('rejects aggregate names that when cannot use or that clash with group labels', () => {
    // Arrange
    const text = STREAMS + windowRule({ aggregate: "{ p-99: 'count()', service: 'count()', bytes: 'count()', total: 'count()' }", when: "'total > 1.0'" });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:9:18: rule "HighErrorRate" field "aggregate.p-99": aggregate name "p-99" must be usable in when: letters, digits and _, not starting with a digit, and not a CEL reserved word or type name',
      'p.yaml:9:35: rule "HighErrorRate" field "aggregate.service": aggregate name "service" is also a groupBy label: rename the aggregate',
      'p.yaml:9:55: rule "HighErrorRate" field "aggregate.bytes": aggregate name "bytes" must be usable in when: letters, digits and _, not starting with a digit, and not a CEL reserved word or type name',
    ]);
  });

  it('rejects a when that references a name that is neither an aggregate nor a group label', () => {
    // Arrange
    const text = STREAMS + windowRule({ when: "'errors / totl > 0.05'" });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:10:21: rule "HighErrorRate" field "when": unknown name "totl": this expression may use errors, total, service; did you mean "total"?',
    ]);
  });

  it('type-checks when: it must be a boolean, and int arithmetic on aggregates gets a hint', () => {
    // Arrange
    const text = STREAMS + windowRule({ when: "'errors + total'" }) + windowRule({ when: "'errors + 1 > total'" }, 'Other');

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:10:12: rule "HighErrorRate" field "when": must be a boolean (true/false), but this expression gives double',
      'p.yaml:16:12: rule "Other" field "when": no such overload: double + int (JSON numbers are CEL doubles: write 1.0 rather than 1 in arithmetic, or convert with int(x) / double(x))',
    ]);
  });

  it('rejects window fields in an absence rule, and requires window fields in a window rule', () => {
    // Arrange
    const text =
      STREAMS +
      ['  - alert: HeartbeatMissing', '    stream: telemetry', '    absent: 2m', '    window: { tumbling: 1m }', '    emit: final', '  - alert: NoWindow', '    stream: telemetry', ''].join('\n');

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:8:5: rule "HeartbeatMissing" field "window": not allowed in an absence rule (a rule has either window: or absent:, not both); remove window:, or remove absent: to make this a window rule',
      'p.yaml:9:5: rule "HeartbeatMissing" field "emit": not allowed in an absence rule (a rule has either window: or absent:, not both); emit belongs to window rules',
      'p.yaml:10:5: rule "NoWindow" field "window": missing (required): one of { tumbling: <duration> } | { hopping: <duration>, every: <duration> } | { session: <duration> } (or absent: <duration> for an absence rule)',
      'p.yaml:10:5: rule "NoWindow" field "aggregate": missing (required): named aggregates, e.g. { total: \'count()\' }',
      'p.yaml:10:5: rule "NoWindow" field "when": missing (required): a CEL condition over the aggregates, e.g. \'total > 100.0\'',
    ]);
  });

  it('reports invalid CEL syntax at the offending character', () => {
    // Arrange
    const text = STREAMS + windowRule({ where: "'kind == '" });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual(['p.yaml:11:21: rule "HighErrorRate" field "where": invalid CEL: Unexpected token: EOF']);
  });

  it('rejects hostile expressions at load time: deep nesting, huge lists, nested loops, backtracking regexes', () => {
    // Arrange
    const deep = `${'('.repeat(500)}1${')'.repeat(500)} == 1`;
    const list = `status in [${Array.from({ length: 150 }, (_, i) => i).join(', ')}]`;
    const text =
      STREAMS +
      windowRule({ where: `'${deep}'` }, 'Deep') +
      windowRule({ where: `'${list}'` }, 'Wide') +
      windowRule({ where: "'tags.exists(a, tags.exists(b, a != b))'" }, 'Quadratic') +
      windowRule({ where: '\'path.matches("^(a+)+$")\'' }, 'Redos') +
      windowRule({ where: "'path.matches(pattern)'" }, 'DynamicRegex') +
      windowRule({ where: `'${'a'.repeat(2001)}'` }, 'Long');

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:11:37: rule "Deep" field "where": expression is too complex: Exceeded maxDepth (24)',
      'p.yaml:18:414: rule "Wide" field "where": expression is too complex: Exceeded maxListElements (100)',
      'p.yaml:25:28: rule "Quadratic" field "where": comprehensions (all, exists, exists_one, map, filter) cannot be nested inside each other (cost would grow with the square of the list size)',
      'p.yaml:32:26: rule "Redos" field "where": unsafe regular expression "^(a+)+$": a repeated group contains repetition or alternation (e.g. (a+)+ or (a|b)*), which can take exponential time',
      'p.yaml:39:13: rule "DynamicRegex" field "where": matches() takes a string literal pattern, so it can be checked when the pipeline is loaded',
      'p.yaml:46:12: rule "Long" field "where": expression is too long (2001 characters; at most 2000)',
    ]);
  });

  it('rejects a template with an unknown or malformed placeholder', () => {
    // Arrange
    const text = STREAMS + windowRule({ annotations: "{ summary: '{{servce}} {{errors}} {{window.start}} {{total}' }" });

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:11:30: rule "HighErrorRate" field "annotations.summary": unknown name {{servce}}; did you mean "service"? (this rule\'s templates may use: service, rule, severity, window.start, window.end, errors, total)',
      'p.yaml:11:69: rule "HighErrorRate" field "annotations.summary": malformed placeholder "{{total}": write {{name}} (letters, digits, _, - and .)',
    ]);
  });

  it('reports an unreadable, invalid or non-JSON schema file, resolved relative to the pipeline file', () => {
    // Arrange
    const streams = (schema: string) => `streams:\n  ${schema}:\n    timestamp: ts\n    schema: ${schema}.json\n`;
    const text = 'streams:\n' + ['missing', 'typo', 'broken'].map((s) => streams(s).split('\n').slice(1).join('\n')).join('') + "rules:\n  - alert: A\n    stream: typo\n    absent: 1m\n";
    const files: Record<string, string> = {
      'conf/typo.json': '{ "type": "object", "requried": ["ts"] }',
      'conf/broken.json': '{ "type": "object",',
    };
    const readSchema = (path: string): string => {
      const content = files[path];
      if (content === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
      return content;
    };

    // Act
    const lines = issueLines(text, 'conf/p.yaml', { readSchema });

    // Assert
    expect(lines.slice(0, 2)).toEqual([
      "conf/p.yaml:4:13: stream \"missing\" field \"schema\": cannot read JSON Schema file conf/missing.json: ENOENT: no such file or directory, open 'conf/missing.json'",
      'conf/p.yaml:7:13: stream "typo" field "schema": bad JSON Schema file conf/typo.json: invalid JSON Schema (draft-07): strict mode: unknown keyword: "requried"',
    ]);
    // the JSON.parse message itself varies with the Node version
    expect(lines[2]).toMatch(/^conf\/p\.yaml:10:13: stream "broken" field "schema": bad JSON Schema file conf\/broken\.json: not valid JSON: Expected double-quoted property name in JSON at position 19/);
    expect(lines).toHaveLength(3);
  });

  it('reports stream problems: special values, units, sizes, unknown keys', () => {
    // Arrange
    const text = ['streams:', '  s1:', '    timestamp: $now', '    outOfOrderness: 5', '    maxRecordSize: 20MB', '    idleTimeout: 0s', '    partitions: 4', 'rules:', '  - alert: A', '    stream: s1', '    absent: 1m', ''].join('\n');

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:3:16: stream "s1" field "timestamp": unknown special value "$now": the only one is $arrival (Kinesis arrival time)',
      'p.yaml:4:21: stream "s1" field "outOfOrderness": a duration needs a unit: write 5s, 5m or 5ms (units: ms, s, m, h, d)',
      'p.yaml:5:20: stream "s1" field "maxRecordSize": "20MB": unknown size unit "MB"; use B, KiB or MiB (1024-based) (did you mean MiB?)',
      'p.yaml:6:18: stream "s1" field "idleTimeout": must be between 1s and 1d (given "0s")',
      'p.yaml:7:5: stream "s1" field "partitions": unknown key (a stream may have: timestamp, id, framing, parse, kpl, gzip, fields, schema, outOfOrderness, maxFuture, idleTimeout, maxRecordSize, dedupe, batching)',
    ]);
  });

  it('reports invalid YAML with its position', () => {
    // Arrange
    const text = 'streams:\n  telemetry: { timestamp: ts\nrules: []\n';

    // Act
    const error = pipelineError(text);

    // Assert
    expect(error.issues.map((i) => [i.line, i.column, i.field])).toEqual([[3, 1, '']]);
    expect(error.message).toMatch(/^p\.yaml:3:1: invalid YAML: /);
  });

  it('reports an empty file and a file that is not a map', () => {
    // Act
    const empty = issueLines('');
    const list = issueLines('- alert: A\n');

    // Assert
    expect(empty).toEqual(['p.yaml: the file is empty: expected streams: and rules:']);
    expect(list).toEqual(['p.yaml:1:1: expected a map with streams: and rules: (given [{ alert: "A" }])']);
  });

  it('collects every problem of the file into one error, in file order', () => {
    // Arrange
    const text =
      STREAMS +
      windowRule({ window: '{ tumbling: 0s }', severty: 'critical' }) +
      windowRule({ stream: 'logs', emit: 'eventually' }, 'Second') +
      ['  - alert: Third', '    stream: telemetry', '    absent: 2m', '    labels: { team: 7 }', ''].join('\n') +
      'extra: true\n';

    // Act
    const error = pipelineError(text);

    // Assert
    expect(error.issues.map((i) => `${i.line}:${i.column} ${i.rule ?? '-'} ${i.field}`)).toEqual([
      '8:25 HighErrorRate window.tumbling',
      '11:5 HighErrorRate severty',
      '13:13 Second stream',
      '18:11 Second emit',
      '22:21 Third labels.team',
      '23:1 - extra',
    ]);
    expect(error.message.split('\n')[0]).toBe('6 problems in p.yaml:');
    expect(error.message.split('\n')[4]).toBe('  p.yaml:18:11: rule "Second" field "emit": expected one of early | final (given "eventually")');
  });

  it('names a rule without a usable alert name by its position', () => {
    // Arrange
    const text = STREAMS + '  - alert: 5\n    stream: telemetry\n    absent: 1m\n  - just a string\n';

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:5:12: rule #1 field "alert": expected the alert\'s name (given 5)',
      'p.yaml:8:5: rule #2: expected a rule: a map with alert:, stream:, and window: or absent: (given "just a string")',
    ]);
  });

  it('loads a minimal file with every default applied', () => {
    // Arrange
    const text = 'streams:\n  s:\n    timestamp: $arrival\nrules:\n  - alert: A\n    stream: s\n    window: { tumbling: 10s }\n    aggregate: { n: count() }\n    when: n > 0\n';

    // Act
    const pipeline = parsePipeline(text, 'p.yaml');

    // Assert
    expect(pipeline.streams.get('s')).toEqual({ name: 's', timestamp: { kind: 'arrival' }, dedupeHorizonMs: null, outOfOrdernessMs: 5000, maxFutureMs: 300000, idleTimeoutMs: 60000, maxRecordBytes: 1048576 });
    expect(pipeline.rules[0]).toMatchObject({ type: 'window', name: 'A', groupBy: [], severity: 'warning', labels: {}, annotations: {}, latenessMs: 0, for: 1, emit: 'final', window: { kind: 'tumbling', sizeMs: 10000 } });
    expect(pipeline.rules[0]!.where).toBeUndefined();
  });
});

describe('pipeline file: more rule checks', () => {
  it('checks groupBy, labels and ambiguous template names', () => {
    // Arrange
    const text =
      STREAMS +
      windowRule({ groupBy: '[service, service, rule]', labels: '{ service: x, team: payments }', annotations: "{ summary: '{{rule}} {{service}}' }" }) +
      windowRule({ groupBy: 'service' }, 'Other');

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:7:24: rule "HighErrorRate" field "groupBy.1": "service" is listed twice',
      'p.yaml:11:15: rule "HighErrorRate" field "labels.service": label "service" is also a groupBy label: its value would be ambiguous',
      'p.yaml:12:30: rule "HighErrorRate" field "annotations.summary": {{rule}} is ambiguous: it is both a groupBy label and a built-in name',
      'p.yaml:15:14: rule "Other" field "groupBy": expected a list of field paths, e.g. [service] or [detail.service] (given "service")',
    ]);
  });

  it('asks for every: in a hopping window, and rejects a rule that has both window and absent', () => {
    // Arrange
    const text = STREAMS + windowRule({ window: '{ hopping: 5m }' }) + windowRule({ absent: '2m' }, 'Both');

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:8:13: rule "HighErrorRate" field "window": a hopping window needs every: how far it moves, e.g. { hopping: 5m, every: 1m }',
      'p.yaml:14:5: rule "Both" field "window": not allowed in an absence rule (a rule has either window: or absent:, not both); remove window:, or remove absent: to make this a window rule',
      'p.yaml:15:5: rule "Both" field "aggregate": not allowed in an absence rule (a rule has either window: or absent:, not both); aggregate belongs to window rules',
      'p.yaml:16:5: rule "Both" field "when": not allowed in an absence rule (a rule has either window: or absent:, not both); when belongs to window rules',
    ]);
  });

  it('ignores x- top-level keys and supports YAML anchors and merge keys for shared settings', () => {
    // Arrange
    const text = [
      'x-http: &http',
      '  stream: telemetry',
      "  where: 'kind == \"http\"'",
      '  groupBy: [service]',
      'streams:',
      '  telemetry: { timestamp: ts }',
      'rules:',
      '  - alert: A',
      '    <<: *http',
      '    window: { tumbling: 1m }',
      "    aggregate: { total: 'count()' }",
      "    when: 'total > 10.0'",
      '',
    ].join('\n');

    // Act
    const rule = parsePipeline(text, 'p.yaml').rules[0]!;

    // Assert
    expect([rule.name, rule.stream, rule.where?.source, rule.groupBy]).toEqual(['A', 'telemetry', 'kind == "http"', ['service']]);
  });
});

describe('pipeline file: value types', () => {
  it('reports label names, non-string label values, non-map annotations and unknown severities', () => {
    // Arrange
    const text = STREAMS + ['  - alert: A', '    stream: telemetry', '    absent: 1m', '    labels: { "bad key": x, ok: 1 }', '    annotations: "nope"', '    severity: high', ''].join('\n');

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:8:15: rule "A" field "labels.bad key": label name "bad key" must be letters, digits and _ (not starting with a digit)',
      "p.yaml:8:33: rule \"A\" field \"labels.ok\": expected a string (given 1); quote values such as '1' or 'true'",
      'p.yaml:9:18: rule "A" field "annotations": expected a map of annotation names to strings (given "nope")',
      'p.yaml:10:15: rule "A" field "severity": expected one of critical | warning | info (given "high")',
    ]);
  });
});
