/** `tidewatch test [FILE...]`: the thin CLI over tools/ruleTest.ts. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runTestFile, type FileOutcome } from '../ruleTest';
import { EXIT, messageOf, parseOptions, UsageError, usageFailure, type ToolIo } from './common';

export const TEST_USAGE = `usage: tidewatch test [options] [FILE...]

Runs rule unit tests: YAML files in promtool's format (rule_files, tests, interval,
input_series with values like '1+0x10', alert_rule_test with eval_time, alertname and
exp_alerts) plus input_events and alert_transition_test for event streams. The rules
run on the real engine, in memory, on virtual time. Without FILE, every *.test.yaml
and *.test.yml under pipelines/ runs. The README describes the format.

options:
      --run REGEX   only the test groups whose name matches
  -h, --help        this help

The output ends with "N passed, N failed" (one per alert_rule_test and
alert_transition_test). Exit codes: 0 all passed, 1 a test failed or a file could
not be run, 2 usage error.`;

/** *.test.yaml / *.test.yml under `dir`, sorted. */
function discover(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (name === 'node_modules' || name.startsWith('.')) continue;
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.test\.ya?ml$/.test(name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

export async function runTest(argv: readonly string[], io: ToolIo): Promise<number> {
  let files: string[];
  let run: RegExp | undefined;
  try {
    const { values, positionals } = parseOptions('test', argv, {
      run: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    });
    if (values.help) {
      io.stdout.write(`${TEST_USAGE}\n`);
      return EXIT.ok;
    }
    if (values.run !== undefined) {
      try {
        run = new RegExp(values.run);
      } catch (e) {
        throw new UsageError(`--run: not a regular expression: ${messageOf(e)}`);
      }
    }
    files = positionals;
    if (files.length === 0) {
      let found: string[] = [];
      try {
        found = discover('pipelines');
      } catch {
        // no pipelines/ folder here
      }
      if (found.length === 0) throw new UsageError('no test files given, and none found under pipelines/ (*.test.yaml)');
      files = found;
    }
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, 'test', e, TEST_USAGE);
    throw e;
  }
  const out = (s: string) => io.stdout.write(`${s}\n`);
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    const r: FileOutcome = await runTestFile(file, run ? { run } : {});
    out(`Unit Testing: ${file}`);
    for (const e of r.errors) out(`  ERROR  ${e}`);
    for (const g of r.groups) {
      const bad = g.cases.filter((c) => !c.passed);
      out(`  ${bad.length === 0 ? 'PASS' : 'FAIL'}  ${g.name} (${g.cases.length} test${g.cases.length === 1 ? '' : 's'}${bad.length > 0 ? `, ${bad.length} failed` : ''})`);
      for (const c of bad) {
        out(`    FAILED  ${c.title}`);
        for (const d of c.details) out(`      ${d}`);
      }
    }
    if (r.errors.length === 0 && r.groups.length === 0) out(`  (no test group matches --run ${run?.source ?? ''})`);
    passed += r.passed;
    failed += r.failed;
  }
  out(`\n${passed} passed, ${failed} failed`);
  return failed > 0 ? EXIT.failed : EXIT.ok;
}
