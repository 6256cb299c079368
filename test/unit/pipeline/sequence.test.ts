import { parsePipeline } from '../../../lambdas/core/pipeline';
import { templateNames } from '../../../lambdas/core/pipeline/template';
import type { SequenceRule } from '../../../lambdas/core/types';
import { issueLines, STREAMS } from './helpers';

const rule = (lines: string[]) => STREAMS + ['  - alert: DeployThenErrors', '    stream: telemetry', ...lines].join('\n') + '\n';

describe('sequence rules in the pipeline file', () => {
  it('compiles by, within, steps (count, bind, absent), until, onNew, maxPartials and maxStateSize', () => {
    const p = parsePipeline(
      rule([
        '    severity: critical',
        '    sequence:',
        '      by: [service]',
        '      within: 15m',
        '      steps:',
        "        - where: 'kind == \"deploy\"'",
        '          bind: [version]',
        "        - where: 'kind == \"http\" && status >= 500 && version == steps[0].version'",
        '          count: 5',
        "        - where: 'kind == \"rollback\"'",
        '          absent: true',
        "      until: 'kind == \"freeze\"'",
        '      maxPartials: 4',
        '      maxStateSize: 32KiB',
        "    annotations: { summary: '{{service}} {{steps.0.version}}: {{matchedEvents}} events from {{matchStart}} to {{matchAt}} (within {{within}})' }",
      ]),
      'p.yaml',
    );
    const r = p.rules[0] as SequenceRule;
    expect(r.type).toBe('sequence');
    expect(r.groupBy).toEqual(['service']);
    expect(r.severity).toBe('critical');
    const q = r.sequence;
    expect(q.withinMs).toBe(15 * 60_000);
    expect(q.steps.map((s) => ({ where: s.where?.source, count: s.count, bind: s.bind, absent: s.absent, dynamic: s.dynamic }))).toEqual([
      { where: 'kind == "deploy"', count: 1, bind: ['version'], absent: false, dynamic: false },
      { where: 'kind == "http" && status >= 500 && version == steps[0].version', count: 5, bind: [], absent: false, dynamic: true },
      { where: 'kind == "rollback"', count: 1, bind: [], absent: true, dynamic: false },
    ]);
    expect(q.until?.source).toBe('kind == "freeze"');
    expect(q.onNew).toBe('keep');
    expect(q.maxPartials).toBe(4);
    expect(q.maxStateBytes).toBe(32 * 1024);
    expect(q.keepFields).toEqual(['kind', 'status', 'version']);
    expect(templateNames(r)).toEqual(['service', 'rule', 'severity', 'matchStart', 'matchAt', 'matchedEvents', 'within', 'steps.0.version']);
  });

  it('defaults: keep with 10 partial matches, a 64 KB state bound; groupBy works as the key too', () => {
    const p = parsePipeline(rule(['    groupBy: [host]', '    sequence:', '      within: 30m', '      steps:', "        - where: 'kind == \"start\"'", "        - where: 'kind == \"finish\"'", '          absent: true']), 'p.yaml');
    const r = p.rules[0] as SequenceRule;
    expect(r.groupBy).toEqual(['host']);
    expect({ onNew: r.sequence.onNew, maxPartials: r.sequence.maxPartials, maxStateBytes: r.sequence.maxStateBytes }).toEqual({ onNew: 'keep', maxPartials: 10, maxStateBytes: 65536 });
  });

  it('names the field and the allowed values of every mistake', () => {
    expect(
      issueLines(
        rule([
          '    window: { tumbling: 1m }',
          '    sequence:',
          '      by: [service]',
          '      within: 2w',
          '      steps:',
          "        - where: 'kind == \"a\"'",
          '          count: many',
          '          repeat: 2',
          "        - where: 'x == steps[3].y'",
          '      onNew: sometimes',
          '      maxPartals: 3',
        ]),
      ),
    ).toEqual([
      'p.yaml:7:5: rule "DeployThenErrors" field "window": not allowed in a sequence rule (a rule has one of window:, absent: or sequence:); window belongs to window rules',
      'p.yaml:10:15: rule "DeployThenErrors" field "sequence.within": "2w" is not a duration: expected <number><unit> parts such as 30s, 1m, 1h30m (units: ms, s, m, h, d)',
      'p.yaml:13:18: rule "DeployThenErrors" field "sequence.steps[0].count": expected a whole number of events from 1 to 100 (given "many")',
      'p.yaml:14:11: rule "DeployThenErrors" field "sequence.steps[0].repeat": unknown key (a step may have: where, count, bind, absent)',
      'p.yaml:16:14: rule "DeployThenErrors" field "sequence.onNew": expected one of keep | restart (given "sometimes")',
      'p.yaml:17:7: rule "DeployThenErrors" field "sequence.maxPartals": unknown key; did you mean "maxPartials"? (sequence may have: by, within, steps, until, onNew, maxPartials, maxStateSize)',
    ]);
    expect(issueLines(rule(['    sequence:', '      steps:', "        - where: 'kind == \"a\"'", "        - where: 'x == steps[1].y'", '          absent: true', '          count: 2']))).toEqual([
      'p.yaml:8:7: rule "DeployThenErrors" field "sequence.within": missing (required): the maximum span of a match, e.g. 15m (1s to 7d)',
    ]);
    expect(issueLines(rule(['    sequence:', '      within: 1m', '      steps:', "        - where: 'kind == \"a\"'", "        - where: 'x == steps[1].y'", '          absent: true', '          count: 2']))).toEqual([
      'p.yaml:11:18: rule "DeployThenErrors" field "sequence.steps[1].where": steps[1] is not an earlier step: step 1 may refer to steps[0] only',
      'p.yaml:13:18: rule "DeployThenErrors" field "sequence.steps[1].count": an absent step has no count (one event of it cancels the match)',
    ]);
    expect(issueLines(rule(['    groupBy: [a]', '    sequence:', '      by: [b]', '      within: 1m', '      steps:', "        - where: 'k == 1'", "        - where: 'k == 2'", "    annotations: { summary: '{{steps.1.x}}' }"]))).toEqual([
      'p.yaml:7:5: rule "DeployThenErrors" field "groupBy": a sequence rule has its key in sequence.by or in groupBy, not both',
      "p.yaml:14:30: rule \"DeployThenErrors\" field \"annotations.summary\": unknown name {{steps.1.x}} (this rule's templates may use: b, rule, severity, matchStart, matchAt, matchedEvents, within)",
    ]);
  });
});
