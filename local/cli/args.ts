import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest } from '../../lambdas/core/pipeline/suggest';
import { UsageError } from './errors';

type Options = NonNullable<ParseArgsConfig['options']>;

/** What `parseCommandLine` returns: typed option values and the positional arguments. */
export type CommandLine<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

function flag(name: string, options: Options): string {
  const short = options[name]?.short;
  return short ? `-${short}, --${name}` : `--${name}`;
}

/** The long option a `-x` / `--name` token refers to. */
function optionOf(token: string, options: Options): string | undefined {
  if (token.startsWith('--')) return token.slice(2).split('=')[0];
  const short = token.replace(/^-/, '');
  return Object.keys(options).find((k) => options[k]!.short === short);
}

/**
 * Node's parseArgs, with its errors said in tidewatch's words: the option
 * that was wrong, what it takes, and the closest known option for a typo.
 * Throws UsageError (exit code 2).
 *
 * `positionals`: how many positional arguments the command takes (0 = none).
 */
export function parseCommandLine<const O extends Options>(command: string, argv: readonly string[], options: O, positionals = 0): CommandLine<O> {
  let parsed: CommandLine<O>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true }) as CommandLine<O>;
  } catch (err) {
    throw translate(command, options, err);
  }
  if (parsed.positionals.length > positionals) {
    const extra = parsed.positionals[positionals]!;
    throw new UsageError(
      positionals === 0
        ? `unexpected argument ${JSON.stringify(extra)}: ${command} takes options only`
        : `unexpected argument ${JSON.stringify(extra)}: ${command} takes ${positionals === 1 ? 'one argument' : `${positionals} arguments`} at most`,
    );
  }
  return parsed;
}

function translate(command: string, options: Options, thrown: unknown): Error {
  // Not `instanceof Error`: Node's errors may come from another realm (a test runner's sandbox).
  if (thrown === null || typeof thrown !== 'object' || typeof (thrown as { message?: unknown }).message !== 'string') return new UsageError(String(thrown));
  const err = thrown as { message: string; code?: string };
  const code = err.code;
  const quoted = /'([^']+)'/.exec(err.message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const token = quoted.split('=')[0]!;
    const name = token.replace(/^-+/, '');
    const known = Object.keys(options);
    const hit = token.startsWith('--') ? closest(name, known) : undefined;
    return new UsageError(hit !== undefined ? `unknown option ${token} (did you mean --${hit}?)` : `unknown option ${token}; ${command} takes: ${known.map((k) => `--${k}`).join(', ')}`);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // "Option '-s, --stream <value>' argument missing", "Option '--json' does not take an argument",
    // "Option '-s, --stream' argument is ambiguous. Did you forget to specify the option argument for '-s'? …"
    const token = quoted.split(' ').find((t) => t.startsWith('--')) ?? quoted.split(' ')[0] ?? '';
    const name = optionOf(token.replace(/,$/, ''), options);
    const shown = name !== undefined ? flag(name, options) : token;
    if (/does not take an argument/.test(err.message)) return new UsageError(`${shown} takes no value`);
    if (/ambiguous/.test(err.message)) return new UsageError(`${shown} needs a value, and the next argument looks like an option: write ${name !== undefined ? `--${name}` : token}=VALUE if the value starts with -`);
    return new UsageError(`${shown} needs a value`);
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return new UsageError(`unexpected argument ${JSON.stringify(quoted)}: ${command} takes options only`);
  return new UsageError(err.message);
}
