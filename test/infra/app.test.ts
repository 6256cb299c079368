/**
 * bin/app.ts as `cdk synth` runs it (`npx tsx bin/app.ts`, context in
 * CDK_CONTEXT_JSON): a configuration mistake stops synth with a message, not
 * a stack trace, before anything is bundled.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupFixtures, pipelineFile, REPO_ROOT } from './support';

afterAll(() => cleanupFixtures());

function runApp(context: Record<string, unknown>): { status: number | null; stderr: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'tidewatch-app-'));
  try {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(REPO_ROOT, 'bin', 'app.ts')], {
      cwd: REPO_ROOT,
      env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context) },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: r.status, stderr: r.stderr };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

describe('bin/app.ts', () => {
  it('fails synth on an invalid pipeline file, naming file:line:col, the rule and the field', () => {
    // GIVEN a pipeline file whose rule reads an undeclared stream
    const file = pipelineFile(
      ['streams:', '  telemetry:', '    timestamp: ts', 'rules:', '  - alert: Quiet', '    stream: telemtry', '    absent: 5m', ''].join('\n'),
    );
    // WHEN the app runs with it
    const r = runApp({ 'tidewatch:pipelineFile': file });
    // THEN it exits 1 with the loader's message
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('tidewatch: invalid pipeline file');
    expect(r.stderr).toMatch(new RegExp(`${file}:6:\\d+: rule "Quiet" field "stream"`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('fails synth on a parallelization factor other than 1', () => {
    const r = runApp({ 'tidewatch:parallelizationFactor': '2' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('tidewatch: invalid configuration: stream "telemetry": parallelizationFactor must be 1 (given 2)');
  });
});
