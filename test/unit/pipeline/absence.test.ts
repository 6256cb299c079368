import { parsePipeline } from '../../../lambdas/core/pipeline';
import type { AbsenceRule } from '../../../lambdas/core/types';
import { issueLines, STREAMS } from './helpers';

const absence = (extra: string) =>
  STREAMS +
  ['  - alert: Silent', '    stream: telemetry', '    groupBy: [host]', '    absent: 2m', ...extra.split('\n').filter((l) => l !== '')].join('\n') +
  '\n';

describe('absence rules: resolveAfter and resolvedAnnotations', () => {
  it('compiles resolveAfter (default 0s) and resolved texts', () => {
    // GIVEN / WHEN
    const withBoth = parsePipeline(absence("    resolveAfter: 1m30s\n    resolvedAnnotations: { summary: '{{host}} back after {{silentFor}} at {{seenAgain}}' }"), 'p.yaml');
    const plain = parsePipeline(absence(''), 'p.yaml');

    // THEN
    expect(withBoth.rules[0]).toMatchObject({ type: 'absence', resolveAfterMs: 90_000, resolvedAnnotations: { summary: '{{host}} back after {{silentFor}} at {{seenAgain}}' } });
    expect((plain.rules[0] as AbsenceRule).resolveAfterMs).toBe(0);
    expect(plain.rules[0]).not.toHaveProperty('resolvedAnnotations');
  });

  it('refuses resolveAfter on a window rule, recovery names outside resolved absence texts, and bad durations', () => {
    const windowRule = [
      '  - alert: Errors',
      '    stream: telemetry',
      '    window: { tumbling: 1m }',
      "    aggregate: { total: 'count()' }",
      "    when: 'total > 1.0'",
      '    resolveAfter: 1m',
      "    resolvedAnnotations: { summary: 'back after {{silentFor}}' }",
    ].join('\n');
    expect(issueLines(STREAMS + windowRule + '\n')).toEqual([
      'p.yaml:10:5: rule "Errors" field "resolveAfter": resolveAfter belongs to absence rules (rules with absent:)',
      'p.yaml:11:49: rule "Errors" field "resolvedAnnotations.summary": unknown name {{silentFor}} ({{silentFor}} is for resolvedAnnotations of absence rules) (this rule\'s templates may use: rule, severity, window.start, window.end, total)',
    ]);
    expect(issueLines(absence("    resolveAfter: soon\n    annotations: { summary: 'silent for {{silentFor}}' }"))).toEqual([
      'p.yaml:9:19: rule "Silent" field "resolveAfter": "soon" is not a duration: expected <number><unit> parts such as 30s, 1m, 1h30m (units: ms, s, m, h, d)',
      'p.yaml:10:41: rule "Silent" field "annotations.summary": unknown name {{silentFor}} ({{silentFor}} is for resolvedAnnotations of absence rules) (this rule\'s templates may use: host, rule, severity, lastSeen, absentFor)',
    ]);
  });
});
