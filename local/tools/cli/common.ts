/**
 * What the check / test / backtest commands share: their I/O, usage errors in
 * tidewatch's own words, and option parsing on node:util's parseArgs.
 * Exit codes (the CLI's convention): 0 ok, 1 failure or problems found, 2 usage error.
 */
import type { Readable } from 'node:stream';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { tryParseDuration } from '../../../lambdas/core/pipeline';

export interface ToolIo {
  readonly stdout: { write(s: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(s: string): unknown; readonly isTTY?: boolean };
  readonly stdin?: Readable;
  readonly env: NodeJS.ProcessEnv;
  /** Aborts a long run (Ctrl-C): stop reading, report what was done. */
  readonly signal?: AbortSignal;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A mistake in how the command was called: reported with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs, with its errors turned into UsageErrors that name the option. */
export function parseOptions<O extends Options>(command: string, argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const msg = e instanceof Error ? e.message : String(e);
    const option = /'(-{1,2}[^' ]+)/.exec(msg)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${option ?? msg} (see tidewatch ${command} --help)`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(/argument missing/.test(msg) ? `${option ?? 'an option'} needs a value` : `${option ?? 'an option'} takes no value`);
    }
    throw new UsageError(msg);
  }
}

/** A duration option (`30s`, `1m`, `0`). */
export function durationOption(name: string, text: string): number {
  const r = tryParseDuration(text);
  if (!r.ok) throw new UsageError(`${name}: ${r.message}`);
  return r.value;
}

/** A whole number option in [min, max]. */
export function integerOption(name: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''} (given ${JSON.stringify(text)})`);
  return n;
}

/** Writes the usage error and the command's usage; returns exit code 2. */
export function usageFailure(io: ToolIo, command: string, err: UsageError, usage: string): number {
  io.stderr.write(`tidewatch ${command}: ${err.message}\n\n${usage}\n`);
  return EXIT.usage;
}

/** An error's message (errors from another realm, such as Node's fs under jest, are not `instanceof Error`). */
export function messageOf(e: unknown): string {
  if (e !== null && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  return String(e);
}
