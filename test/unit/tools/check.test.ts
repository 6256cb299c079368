import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPipelineFile, formatProblem } from '../../../local/tools/check';
import { runCheck } from '../../../local/tools/cli/check';

const SCHEMA = JSON.stringify({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['ts', 'kind', 'host'],
  properties: {
    ts: { type: 'string' },
    kind: { enum: ['http', 'heartbeat'] },
    host: { type: 'string' },
    status: { type: 'integer' },
    latencyMs: { type: 'number' },
    region: { $ref: '#/$defs/region' },
    client: { type: 'object', properties: { version: { type: 'string' } } },
  },
  allOf: [{ if: { properties: { kind: { const: 'http' } } }, then: { properties: { service: { type: 'string' } } } }],
  $defs: { region: { enum: ['eu', 'us'] } },
});

const STREAM = `streams:
  web:
    timestamp: ts
    schema: s.json
rules:
`;

function check(rules: string, opts: { schema?: string | null } = {}) {
  const files: Record<string, string> = { 'p.yaml': STREAM.replace(opts.schema === null ? '    schema: s.json\n' : '', '') + rules, 's.json': opts.schema ?? SCHEMA };
  return checkPipelineFile('p.yaml', (p) => {
    const t = files[p];
    if (t === undefined) throw new Error(`ENOENT: ${p}`);
    return t;
  });
}

const lines = (rules: string, opts?: { schema?: string | null }) => check(rules, opts).problems.map(formatProblem);

const windowRule = (body: string) => `  - alert: A
    stream: web
    window: { tumbling: 1m }
${body}`;

describe('tidewatch check', () => {
  it('finds nothing to say about the sample pipeline', () => {
    const r = checkPipelineFile('pipelines/sample.yaml');
    expect(r).toMatchObject({ loaded: true, rules: 7, streams: 1, problems: [] });
  });

  it('warns about a field the schema does not declare, where it is written, with a suggestion', () => {
    // the new user's typo: it loads, and the rule never fires
    expect(lines(windowRule(`    aggregate: { errors: 'count(statuss >= 500)' }\n    when: 'errors > 5.0'\n`))).toEqual([
      'p.yaml:9:33: warning: rule "A" field "aggregate.errors": field "statuss" is not declared by s.json; did you mean "status"? (it declares ts, kind, host, status, latencyMs, region, client, service): count(…) does not count an event without it',
    ]);
  });

  it('reads fields in where (event.x, has(), nested a.b), groupBy and aggregate arguments, not comprehension variables', () => {
    const out = lines(
      windowRule(`    where: 'has(event.usr) && client.versoin == "1" && [1, 2].exists(x, x > 1) && service == "a"'
    groupBy: [hots]
    aggregate: { p: 'percentile(latency, 99)', s: 'sum(latencyMs)' }
    when: 's > 1.0'
`),
    );
    expect(out).toEqual([
      'p.yaml:9:17: warning: rule "A" field "where": field "usr" is not declared by s.json (it declares ts, kind, host, status, latencyMs, region, client, service): has() of it is false for every event the schema describes',
      'p.yaml:9:31: warning: rule "A" field "where": field "client.versoin" is not declared by s.json; did you mean "version"? (it declares version): an event without it does not match this filter',
      'p.yaml:10:15: warning: rule "A" field "groupBy.0": field "hots" is not declared by s.json; did you mean "host"? (it declares ts, kind, host, status, latencyMs, region, client, service): events without it all fall in the group where hots is null',
      'p.yaml:11:33: warning: rule "A" field "aggregate.p": field "latency" is not declared by s.json; did you mean "latencyMs"? (it declares ts, kind, host, status, latencyMs, region, client, service): an event without it adds no value to percentile(…)',
    ]);
  });

  it('warns about a filter no event the schema allows can match, absence rules first of all', () => {
    const out = lines(`  - alert: Silent
    stream: web
    where: 'kind == "heartbeet"'
    groupBy: [host]
    absent: 2m
${windowRule(`    where: 'status == "500" || region in ["asia"]'
    aggregate: { n: 'count(kind == "http" && latencyMs > "slow")' }
    when: 'n > 1.0'
`).replace('alert: A', 'alert: B')}`);
    expect(out).toEqual([
      'p.yaml:8:13: warning: rule "Silent" field "where": this filter matches no event the schema allows (kind is one of "http", "heartbeat" in the schema: == "heartbeet" is never true; did you mean "heartbeat"?): no group is ever seen, so this absence rule never fires',
      'p.yaml:14:13: warning: rule "B" field "where": this filter matches no event the schema allows (status is an integer in the schema: == "500" (a string) is never true, and region is one of "eu", "us" in the schema: none of "asia" is): no event is counted, so this rule never fires',
      'p.yaml:15:46: warning: rule "B" field "aggregate.n": this condition holds for no event the schema allows (latencyMs is a number in the schema: comparing it with "slow" is an error for every event, which a filter treats as "does not match"): n is always 0',
    ]);
  });

  it('warns about a numeric aggregate of a field that is not a number', () => {
    expect(lines(windowRule(`    aggregate: { worst: 'max(host)' }\n    when: 'worst > 1.0'\n`))).toEqual([
      'p.yaml:9:30: warning: rule "A" field "aggregate.worst": host is string in the schema, not a number: max(host) gets no value from any event',
    ]);
  });

  it('warns when lateness keeps emit: early with for > 1 from ever firing early', () => {
    const rule = (lateness: string) => windowRule(`    lateness: ${lateness}\n    aggregate: { n: 'count()' }\n    when: 'n > 1.0'\n    for: 2\n    emit: early\n`);
    expect(lines(rule('1m'))).toEqual([
      "p.yaml:12:10: warning: rule \"A\" field \"for\": for: 2 with emit: early fires early only once the previous window has closed while this one still takes events, which needs lateness (1m) + the stream's outOfOrderness (5s) to be less than the window's step (1m); as written the alert fires only when windows close, as with emit: final (lower lateness, or use for: 1)",
    ]);
    expect(lines(rule('50s'))).toEqual([]);
  });

  it('says nothing about fields when the stream has no schema', () => {
    expect(lines(windowRule(`    aggregate: { errors: 'count(statuss >= 500)' }\n    when: 'errors > 5.0'\n`), { schema: null })).toEqual([]);
  });

  it('reports what the loader refuses as errors, as cdk synth does: a when naming an aggregate the rule does not define, too many hopping windows', () => {
    const r = check(`${windowRule(`    aggregate: { errors: 'count()' }\n    when: 'erors > 5.0'\n`)}  - alert: B
    stream: web
    window: { hopping: 2h, every: 1m }
    aggregate: { n: 'count()' }
    when: 'n > 1.0'
`);
    expect(r.loaded).toBe(false);
    expect(r.problems.map(formatProblem)).toEqual([
      'p.yaml:10:12: error: rule "A" field "when": unknown name "erors": this expression may use errors; did you mean "errors"?',
      'p.yaml:13:35: error: rule "B" field "window.every": a hopping window of 2h every 1m puts each event into 120 windows; at most 60 are allowed (use a larger every)',
    ]);
  });
});

describe('tidewatch check (command)', () => {
  function io() {
    let out = '';
    let err = '';
    return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} }, out: () => out, err: () => err };
  }

  it('exits 0 on the sample, 1 on a broken copy, and warnings fail only with --strict', async () => {
    const ok = io();
    expect(await runCheck(['pipelines/sample.yaml'], ok.io)).toBe(0);
    expect(ok.out()).toBe('pipelines/sample.yaml: OK (7 rules, 1 stream)\n');

    const missing = io();
    expect(await runCheck(['no/such.yaml'], missing.io)).toBe(1);
    expect(missing.out()).toMatch(/^no\/such\.yaml: error: cannot read the pipeline file: (Error: )?ENOENT/);

    const dir = mkdtempSync(join(tmpdir(), 'tw-check-'));
    mkdirSync(`${dir}/schemas`);
    copyFileSync('pipelines/schemas/telemetry.schema.json', `${dir}/schemas/telemetry.schema.json`);
    const sample = readFileSync('pipelines/sample.yaml', 'utf8');
    writeFileSync(`${dir}/warn.yaml`, sample.replace('count(status >= 500)', 'count(statuss >= 500)'));
    writeFileSync(`${dir}/bad.yaml`, sample.replace('window: { tumbling: 1m }', 'window: { tumblin: 1m }'));
    const warn = io();
    expect(await runCheck([`${dir}/warn.yaml`], warn.io)).toBe(0);
    expect(warn.out()).toContain('warning: rule "HighErrorRate" field "aggregate.errors": field "statuss" is not declared');
    expect(warn.out()).toMatch(/warn\.yaml: OK with 1 warning \(7 rules, 1 stream\)\n$/);
    expect(await runCheck(['--strict', `${dir}/warn.yaml`], io().io)).toBe(1);

    const bad = io();
    expect(await runCheck([`${dir}/bad.yaml`, '--json'], bad.io)).toBe(1);
    const json = JSON.parse(bad.out()) as { ok: boolean; errors: number; problems: Array<Record<string, unknown>> };
    expect(json).toMatchObject({ ok: false, errors: 1, warnings: 0 });
    expect(json.problems).toEqual([
      { severity: 'error', code: 'invalid', file: `${dir}/bad.yaml`, line: lineOf(`${dir}/bad.yaml`, 'tumblin:'), column: 5, rule: 'HighErrorRate', field: 'window', message: 'expected one of { tumbling: <duration> } | { hopping: <duration>, every: <duration> } | { session: <duration> } (given { tumblin: "1m" }; did you mean "tumbling"?)' },
    ]);
  });

  it('is a usage error (exit 2) to give an unknown option', async () => {
    const c = io();
    expect(await runCheck(['--jsn'], c.io)).toBe(2);
    expect(c.err()).toMatch(/^tidewatch check: unknown option --jsn \(see tidewatch check --help\)\n\nusage: tidewatch check/);
  });
});

/** The 1-based line of the first line of a file that contains `text`. */
function lineOf(file: string, text: string): number {
  return readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;
}
