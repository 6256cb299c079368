/**
 * The README's "What a record may contain" examples are pipeline files that
 * load: every YAML block of the section is compiled by the real loader, and
 * the CloudWatch Logs one is the file in pipelines/ (decoded in formats.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePipeline } from '../../../lambdas/core/pipeline';
import { REJECT_REASONS } from '../../../lib/pipelineMetrics';

const ROOT = join(__dirname, '..', '..', '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const start = readme.indexOf('## What a record may contain');
// The section runs to the next second-level heading.
const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('README: what a record may contain', () => {
  it('has the worked examples, and every one loads', () => {
    expect(blocks).toHaveLength(3);
    for (const text of blocks) expect(() => parsePipeline(text, 'README.md')).not.toThrow();
  });

  it('shows pipelines/cloudwatch-logs.yaml as it is (streams and rules, without its comments)', () => {
    const file = readFileSync(join(ROOT, 'pipelines', 'cloudwatch-logs.yaml'), 'utf8');
    const fromFile = parsePipeline(file, 'f.yaml');
    const fromReadme = parsePipeline(blocks[2]!, 'f.yaml');
    const shape = (p: typeof fromFile) => JSON.stringify({ streams: [...p.streams.values()].map((s) => ({ ...s, validate: undefined })), rules: p.rules.map((r) => ({ ...r, where: r.where?.source, ...(r.type === 'window' ? { when: r.when.source, aggregates: r.aggregates.map((a) => a.source) } : {}) })) });
    expect(shape(fromReadme)).toBe(shape(fromFile));
  });

  it('lists every rejection reason the core has', () => {
    for (const reason of REJECT_REASONS) expect(section).toContain(`| \`${reason}\` |`);
  });
});
