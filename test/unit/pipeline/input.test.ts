/**
 * The stream options of #14 as a user writes them wrong: every problem is
 * reported at once, with file:line:col, the stream and the field, and says
 * what is allowed.
 */
import { issueLines } from './helpers';

const RULE = `rules:
  - alert: A
    stream: s
    groupBy: [detail..service]
    window: { tumbling: 1m }
    aggregate: { n: 'count()' }
    when: 'n > 0.0'
`;

describe('pipeline file: stream input options', () => {
  it('reports framing, parse, kpl, timestamp format, field paths and derived fields, each at its line', () => {
    // Arrange
    const text = `streams:
  s:
    framing: syslog
    parse: { regexp: 'x' }
    kpl: yes
    timestamp: { field: detail.at, format: 'dd/MMM/yyyy hh' }
    id: detail[
    fields:
      9lives: 'x'
      latencyS: 'latencyMs / '
${RULE}`;

    // Act
    const lines = issueLines(text);

    // Assert
    expect(lines).toEqual([
      'p.yaml:3:14: stream "s" field "framing": expected one of json | json-array | ndjson | cloudwatch-logs (given "syslog")',
      `p.yaml:4:12: stream "s" field "parse": expected json | logfmt | { regex: '<pattern with named groups (?<name>...)>' } (given { regexp: "x" }; did you mean "regex"?)`,
      'p.yaml:5:10: stream "s" field "kpl": expected true (de-aggregate KPL records, the default) or false (given "yes")',
      `p.yaml:6:44: stream "s" field "timestamp.format": time format "dd/MMM/yyyy hh": unknown letter "h" at offset 12 (expected one of auto | iso | epoch-ms | epoch-s, or a pattern of yyyy MM MMM dd HH mm ss SSS Z, punctuation and 'quoted' letters, e.g. "dd/MMM/yyyy:HH:mm:ss Z")`,
      'p.yaml:7:9: stream "s" field "id": expected ["key"] or [index] at offset 6 in "detail[": a field path is names joined by dots, with ["key"] for keys that are not names and [0] for array elements, e.g. detail.service or detail["detail-type"]',
      'p.yaml:9:7: stream "s" field "fields.9lives": derived field name "9lives" must be usable in expressions: letters, digits and _, not starting with a digit, and not a CEL reserved word or type name',
      'p.yaml:10:30: stream "s" field "fields.latencyS": invalid CEL: Unexpected token: EOF',
      'p.yaml:14:15: rule "A" field "groupBy.0": expected a name after "." at offset 7 in "detail..service": a field path is names joined by dots, with ["key"] for keys that are not names and [0] for array elements, e.g. detail.service or detail["detail-type"]',
    ]);
  });

  it('refuses a regex that can backtrack (the rule of CEL matches), one without named groups, and a parser on json-array', () => {
    const text = `streams:
  s:
    framing: cloudwatch-logs
    parse: { regex: '^(?<a>(\\w+\\s?)*)$' }
    timestamp: cloudwatch.timestamp
  t:
    framing: ndjson
    parse: { regex: '^\\d+ .*$' }
    timestamp: ts
  u:
    framing: json-array
    parse: logfmt
    timestamp: ts
${RULE.replace('[detail..service]', '[service]')}`;
    expect(issueLines(text)).toEqual([
      'p.yaml:4:21: stream "s" field "parse.regex": unsafe regular expression: a repeated group contains repetition or alternation (e.g. (a+)+ or (a|b)*), which can take exponential time (patterns that can backtrack exponentially are refused, as in CEL matches)',
      'p.yaml:8:21: stream "t" field "parse.regex": the regular expression has no named group: name each field, e.g. (?<status>[0-9]{3})',
      'p.yaml:12:12: stream "u" field "parse": framing json-array holds JSON objects: parse must be json (omit it)',
    ]);
  });
});
