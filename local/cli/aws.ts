import { NodeHttpHandler } from '@smithy/node-http-handler';
import { formatDuration, tryParseDuration } from '../../lambdas/core/pipeline/duration';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../emulators/constants';
import { UsageError } from './errors';

/** How long a command waits for an AWS endpoint (milliseconds). */
export interface Timeouts {
  /** Establishing the TCP connection. */
  readonly connectMs: number;
  /** The whole request, from sending it to the last byte of the answer. */
  readonly requestMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 3_000, requestMs: 10_000 };

/** Attempts per AWS call (the SDK retries throttling, 5xx and timeouts): a dead endpoint fails in about 2 × the timeout. */
export const DEFAULT_MAX_ATTEMPTS = 2;

/** The parseArgs options every command talking to AWS takes. */
export const TIMEOUT_OPTIONS = {
  'connect-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
} as const;

export const TIMEOUT_HELP = `      --connect-timeout D    give up connecting to an endpoint after D (default ${formatDuration(DEFAULT_TIMEOUTS.connectMs)},
                             or $TIDEWATCH_CONNECT_TIMEOUT)
      --request-timeout D    give up on a request that has no answer after D (default ${formatDuration(DEFAULT_TIMEOUTS.requestMs)},
                             or $TIDEWATCH_REQUEST_TIMEOUT); each call is tried ${DEFAULT_MAX_ATTEMPTS} times ($AWS_MAX_ATTEMPTS)`;

function duration(what: string, text: string): number {
  const r = tryParseDuration(text);
  if (!r.ok) throw new UsageError(`${what}: ${r.message}`);
  if (r.value <= 0) throw new UsageError(`${what} must be longer than 0 (given ${JSON.stringify(text)})`);
  return r.value;
}

/** Timeouts from the options, else the environment, else the defaults. */
export function resolveTimeouts(values: { readonly 'connect-timeout'?: string | undefined; readonly 'request-timeout'?: string | undefined }, env: NodeJS.ProcessEnv): Timeouts {
  const pick = (flag: string, name: string, given: string | undefined, fallback: number) => {
    if (given !== undefined) return duration(`--${flag}`, given);
    const fromEnv = env[name];
    if (fromEnv !== undefined && fromEnv !== '') return duration(`$${name}`, fromEnv);
    return fallback;
  };
  return {
    connectMs: pick('connect-timeout', 'TIDEWATCH_CONNECT_TIMEOUT', values['connect-timeout'], DEFAULT_TIMEOUTS.connectMs),
    requestMs: pick('request-timeout', 'TIDEWATCH_REQUEST_TIMEOUT', values['request-timeout'], DEFAULT_TIMEOUTS.requestMs),
  };
}

/**
 * HTTP/1.1 (kinesis-local's plain port refuses HTTP/2) with both timeouts
 * enforced: without `throwOnRequestTimeout` the request timeout only logs a warning.
 */
export function httpHandler(t: Timeouts): NodeHttpHandler {
  return new NodeHttpHandler({ connectionTimeout: t.connectMs, requestTimeout: t.requestMs, throwOnRequestTimeout: true });
}

export function maxAttempts(env: NodeJS.ProcessEnv): number {
  const n = Number(env['AWS_MAX_ATTEMPTS']);
  return Number.isInteger(n) && n >= 1 ? n : DEFAULT_MAX_ATTEMPTS;
}

export function isLocalEndpoint(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  try {
    return ['localhost', '127.0.0.1', '[::1]', '0.0.0.0'].includes(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

/** Where a command's AWS calls go. */
export interface Target {
  /** undefined: AWS itself (the SDK's endpoint for the region). */
  readonly endpoint: string | undefined;
  readonly region: string | undefined;
  readonly timeouts: Timeouts;
  /** Dummy credentials (a local emulator accepts any). */
  readonly localCredentials: boolean;
}

/**
 * Picks endpoint and region: the option, else `AWS_ENDPOINT_URL_<SERVICE>`,
 * else `AWS_ENDPOINT_URL`, else `fallback` (a running local pipeline), else AWS.
 * A local endpoint with no credentials configured gets dummy ones.
 */
export function resolveTarget(
  service: 'DYNAMODB' | 'KINESIS',
  args: { readonly endpoint?: string | undefined; readonly region?: string | undefined; readonly timeouts: Timeouts; readonly fallbackEndpoint?: string | undefined },
  env: NodeJS.ProcessEnv,
): Target {
  const endpoint = args.endpoint ?? env[`AWS_ENDPOINT_URL_${service}`] ?? env['AWS_ENDPOINT_URL'] ?? args.fallbackEndpoint;
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) throw new UsageError(`an endpoint is an http:// or https:// URL (given ${JSON.stringify(endpoint)})`);
  const region = args.region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? (endpoint !== undefined ? LOCAL_REGION : undefined);
  const fromLocalPipeline = args.fallbackEndpoint !== undefined && endpoint === args.fallbackEndpoint;
  const hasCredentials = env['AWS_ACCESS_KEY_ID'] !== undefined || env['AWS_PROFILE'] !== undefined;
  return { endpoint, region, timeouts: args.timeouts, localCredentials: fromLocalPipeline || (isLocalEndpoint(endpoint) && !hasCredentials) };
}

/** The configuration of an SDK client for a target: timeouts, attempts, endpoint, region, credentials. */
export function clientConfig(target: Target, env: NodeJS.ProcessEnv) {
  return {
    ...(target.region !== undefined ? { region: target.region } : {}),
    ...(target.endpoint !== undefined ? { endpoint: target.endpoint } : {}),
    ...(target.localCredentials ? { credentials: LOCAL_CREDENTIALS } : {}),
    requestHandler: httpHandler(target.timeouts),
    maxAttempts: maxAttempts(env),
  };
}

/** What an AWS error was about, for the message. */
export interface ErrorContext {
  readonly service: 'DynamoDB' | 'Kinesis';
  readonly target: Target;
  /** e.g. `table "tidewatch-local-state"` or `stream "telemetry"`. */
  readonly resource?: string;
}

const HINT_LOCAL = 'is the pipeline running? (npm start prints its endpoints)';

function where(t: Target): string {
  return t.endpoint !== undefined ? `at ${t.endpoint}` : `in ${t.region ?? 'the default region'}`;
}

/**
 * One sentence naming what failed, where, and what to do, for the errors a
 * person meets: a missing table or stream, an endpoint that refuses or does not
 * answer, missing credentials or region, access denied.
 */
export function explainAwsError(err: unknown, ctx: ErrorContext): string {
  // Duck-typed: network errors may come from another realm than the SDK's (a test runner's sandbox).
  const e = err !== null && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string' ? (err as Error & { code?: string; $metadata?: { httpStatusCode?: number } }) : undefined;
  const name = e?.name ?? 'Error';
  const message = e?.message ?? String(err);
  const code = e?.code ?? (e?.cause as { code?: string } | undefined)?.code;
  const { service, target, resource } = ctx;
  const local = target.endpoint !== undefined && isLocalEndpoint(target.endpoint);
  const hint = local ? HINT_LOCAL : target.endpoint !== undefined ? 'check the endpoint' : 'check the name, the region and the AWS account you are using';
  if (name === 'ResourceNotFoundException') {
    return `${resource ?? 'the resource'} does not exist ${where(target)}: ${local ? HINT_LOCAL : `${hint} (a deployed stack's names are its outputs: StateTableName, StreamName…)`}`;
  }
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return `cannot connect to ${service} ${where(target)} (connection refused): ${hint}`;
  if (name === 'TimeoutError' || code === 'ETIMEDOUT' || /timed? ?out|exceeded the configured/i.test(message)) {
    if (/without establishing a connection/i.test(message)) {
      return `could not connect to ${service} ${where(target)} within ${formatDuration(target.timeouts.connectMs)} (--connect-timeout): ${hint}`;
    }
    return `${service} ${where(target)} did not answer within ${formatDuration(target.timeouts.requestMs)} (--request-timeout): ${hint}`;
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve the host of ${service} ${where(target)} (${code}): check the endpoint and your network`;
  if (code === 'ECONNRESET' || code === 'EPIPE') return `${service} ${where(target)} closed the connection (${code}): ${hint}`;
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return `no AWS credentials for ${service} ${where(target)}: configure them (aws configure, AWS_PROFILE, AWS_ACCESS_KEY_ID), or for the local pipeline give nothing (npm start must be running in this folder) or --endpoint`;
  }
  if (/Region is missing/i.test(message)) return `which AWS region? set AWS_REGION or give --region (or, for the local pipeline, run npm start in this folder or give --endpoint)`;
  if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException' || e?.$metadata?.httpStatusCode === 403) {
    return `${service} ${where(target)} refused the request${resource ? ` for ${resource}` : ''} (${name}: ${message}): check the credentials and their permissions`;
  }
  return `${service} ${where(target)}${resource ? `, ${resource}` : ''}: ${name}: ${message}`;
}
