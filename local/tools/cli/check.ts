/** `tidewatch check [PIPELINE...]`: the thin CLI over tools/check.ts. */
import { checkPipelineFile, formatProblem, type CheckResult } from '../check';
import { EXIT, parseOptions, UsageError, usageFailure, type ToolIo } from './common';

export const CHECK_USAGE = `usage: tidewatch check [options] [PIPELINE...]

Loads and validates pipeline files as cdk synth does (default: pipelines/sample.yaml)
and prints every problem as file:line:column, rule and field. It also warns about
likely mistakes that still load: fields the stream's JSON Schema does not declare
(in where, aggregate arguments, groupBy), filters no event the schema allows can
match, sum/min/max/avg/percentile of a field that is not a number, and emit: early
with a for that lateness keeps from firing early.

options:
      --json      print the result as one JSON object: { files: [...], problems: [...] }
      --strict    warnings count as problems (exit 1 when there is any)
  -q, --quiet     print problems only, no summary line per file
  -h, --help      this help

Exit codes: 0 no errors (warnings allowed unless --strict), 1 problems found, 2 usage error.`;

export async function runCheck(argv: readonly string[], io: ToolIo): Promise<number> {
  let files: string[];
  let json: boolean;
  let strict: boolean;
  let quiet: boolean;
  try {
    const { values, positionals } = parseOptions('check', argv, {
      json: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
      pipeline: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    });
    if (values.help) {
      io.stdout.write(`${CHECK_USAGE}\n`);
      return EXIT.ok;
    }
    files = [...(values.pipeline ?? []), ...positionals];
    if (files.length === 0) files = ['pipelines/sample.yaml'];
    json = values.json === true;
    strict = values.strict === true;
    quiet = values.quiet === true;
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, 'check', e, CHECK_USAGE);
    throw e;
  }
  const results: CheckResult[] = files.map((f) => checkPipelineFile(f));
  const errors = results.reduce((n, r) => n + r.problems.filter((p) => p.severity === 'error').length, 0);
  const warnings = results.reduce((n, r) => n + r.problems.filter((p) => p.severity === 'warning').length, 0);
  if (json) {
    io.stdout.write(
      `${JSON.stringify({
        ok: errors === 0 && (!strict || warnings === 0),
        errors,
        warnings,
        files: results.map((r) => ({ file: r.file, loaded: r.loaded, rules: r.rules, streams: r.streams, errors: r.problems.filter((p) => p.severity === 'error').length, warnings: r.problems.filter((p) => p.severity === 'warning').length })),
        problems: results.flatMap((r) => r.problems),
      })}\n`,
    );
  } else {
    for (const r of results) {
      for (const p of r.problems) io.stdout.write(`${formatProblem(p)}\n`);
      if (quiet) continue;
      const e = r.problems.filter((p) => p.severity === 'error').length;
      const w = r.problems.length - e;
      const what = r.loaded ? ` (${r.rules} rule${r.rules === 1 ? '' : 's'}, ${r.streams} stream${r.streams === 1 ? '' : 's'})` : '';
      const status = e > 0 ? `${e} error${e === 1 ? '' : 's'}${w > 0 ? `, ${w} warning${w === 1 ? '' : 's'}` : ''}` : w > 0 ? `OK with ${w} warning${w === 1 ? '' : 's'}` : 'OK';
      io.stdout.write(`${r.file}: ${status}${what}\n`);
    }
  }
  return errors > 0 || (strict && warnings > 0) ? EXIT.failed : EXIT.ok;
}
