import { EXIT } from './exitCodes';

/**
 * An error a command reports to the person who ran it: one message that says
 * what was wrong and what to do, and the exit code it ends with. Anything else
 * thrown out of a command is reported as a failure (exit code 1) with its message.
 */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  readonly exitCode: number;

  constructor(message: string, options: { readonly exitCode?: number; readonly cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.exitCode = options.exitCode ?? EXIT.failure;
  }
}

/** The command line (or the input) was wrong: exit code 2, and a pointer to `--help`. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';

  constructor(message: string) {
    super(message, { exitCode: EXIT.usage });
  }
}
