/**
 * The exit codes of every tidewatch command (`npm start` and each `npx tidewatch`
 * subcommand). One convention, so scripts and CI can rely on it.
 */
export const EXIT = {
  /** Done: everything asked for happened. */
  ok: 0,
  /** Something failed: an error, an unreachable endpoint, records that could not be sent. */
  failure: 1,
  /** The command line or the input was wrong: nothing (or only the valid part before it) was done. */
  usage: 2,
  /** Interrupted (Ctrl-C) before the input was all sent (`emit`), or a second Ctrl-C forced the stop. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The paragraph every `--help` ends with. */
export const EXIT_CODES_HELP = `exit codes: 0 ok, 1 failure (an error, an endpoint that does not answer, records that
could not be sent), 2 usage (a bad option, value or input line), 130 interrupted (Ctrl-C).`;
