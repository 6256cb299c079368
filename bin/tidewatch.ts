/**
 * The tidewatch CLI (`npx tidewatch <command>`; bin/tidewatch.cjs runs this file through tsx).
 *
 *   npx tidewatch emit --stream telemetry events.ndjson
 *   npx tidewatch emit --stream telemetry --generate telemetry --rate 200 --duration 30s
 *   npx tidewatch windows --rule HighErrorRate --table T [--endpoint URL]
 *   npx tidewatch alerts | quarantine list | quarantine replay
 *
 * Every subcommand follows the conventions in local/cli: exit codes (EXIT),
 * usage errors in tidewatch's words (UsageError, parseCommandLine), connect and
 * request timeouts on every AWS call, and no AWS SDK Node.js-version notice.
 */
import '../local/cli/quietSdk';
import { CliError, EXIT, EXIT_CODES_HELP } from '../local/cli';
import { closest } from '../lambdas/core/pipeline/suggest';
import { INSPECT_USAGE, runInspect } from '../local/inspect/cli';
import { runBacktest } from '../local/tools/cli/backtest';
import { runCheck } from '../local/tools/cli/check';
import { runTest } from '../local/tools/cli/test';
import { EMIT_USAGE, runEmit } from '../local/producer/cli';
import { runView, VIEW_USAGE } from '../local/view/cli';

const COMMANDS = ['emit', 'windows', 'alerts', 'quarantine', 'check', 'test', 'backtest', 'view'] as const;

const USAGE = `usage: tidewatch <command> [options]

commands:
  emit        send NDJSON or synthetic telemetry to a Kinesis stream
  windows     list a rule's windows and their aggregates
  alerts      list alert states (firing, pending, inactive)
  quarantine  list or replay rejected records
  check       validate pipeline files (as cdk synth does) and warn about likely mistakes
  test        run rule unit tests (promtool-style YAML) on the engine, in memory
  backtest    run a pipeline over recorded events (NDJSON or a Kinesis stream) on virtual time
  view        a live web page of a pipeline's state (127.0.0.1, read-only)

While npm start runs in this folder, the commands find its pipeline file, table and
endpoints by themselves (.tidewatch/local.json).

Run 'tidewatch <command> --help' for the options of a command.

${EXIT_CODES_HELP}`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'emit': {
      // First Ctrl-C / SIGTERM: stop reading, send what is buffered, report. Second: quit now.
      // Signals within 0.5 s count as one (a terminal's Ctrl-C also arrives via bin/tidewatch.cjs).
      const controller = new AbortController();
      let firstAt = 0;
      const onSignal = () => {
        if (controller.signal.aborted) {
          if (Date.now() - firstAt > 500) process.exit(EXIT.interrupted);
          return;
        }
        firstAt = Date.now();
        process.stderr.write('\ntidewatch emit: interrupted, sending what is buffered (Ctrl-C again to quit now)\n');
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        return await runEmit(rest, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }
    case 'check':
      return runCheck(rest, { stdout: process.stdout, stderr: process.stderr, env: process.env });
    case 'test':
      return runTest(rest, { stdout: process.stdout, stderr: process.stderr, env: process.env });
    case 'backtest':
      return runBacktest(rest, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
    case 'windows':
    case 'alerts':
    case 'quarantine':
      return runInspect(command, rest, { stdout: process.stdout, stderr: process.stderr, env: process.env });
    case 'view':
      return runView(rest, { stdout: process.stdout, stderr: process.stderr, env: process.env, stopped: new Promise((r) => (process.once('SIGINT', r), process.once('SIGTERM', r))) });
    case undefined:
      process.stderr.write(`${USAGE}\n`);
      return EXIT.usage;
    case 'help':
    case '-h':
    case '--help':
      process.stdout.write(`${USAGE}\n\n${EMIT_USAGE}\n\n${INSPECT_USAGE}\n\n${VIEW_USAGE}\n`);
      return EXIT.ok;
    default: {
      const hit = closest(command, COMMANDS);
      process.stderr.write(`tidewatch: unknown command ${JSON.stringify(command)}${hit !== undefined ? ` (did you mean ${hit}?)` : ''}\n\n${USAGE}\n`);
      return EXIT.usage;
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tidewatch: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : EXIT.failure;
  },
);
