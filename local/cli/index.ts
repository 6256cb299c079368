export { parseCommandLine, type CommandLine } from './args';
export {
  clientConfig,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_TIMEOUTS,
  explainAwsError,
  httpHandler,
  isLocalEndpoint,
  maxAttempts,
  resolveTarget,
  resolveTimeouts,
  TIMEOUT_HELP,
  TIMEOUT_OPTIONS,
  type ErrorContext,
  type Target,
  type Timeouts,
} from './aws';
export { CliError, UsageError } from './errors';
export { EXIT, EXIT_CODES_HELP, type ExitCode } from './exitCodes';
