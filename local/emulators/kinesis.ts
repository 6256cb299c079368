import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { track } from './children';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './constants';
import { freePort } from './ports';

export interface KinesisEmulatorOptions {
  /** Plain-HTTP port. @default a free port */
  readonly port?: number;
  /** Streams created at startup (`INITIALIZE_STREAMS`); `start` waits until they are ACTIVE. */
  readonly streams?: ReadonlyArray<{ readonly name: string; readonly shards?: number }>;
  /**
   * Folder to persist streams and records in (`SHOULD_PERSIST_DATA`), loaded
   * again on the next start with the same folder. @default in memory only
   */
  readonly persistPath?: string;
  /** How often data is persisted when `persistPath` is set. @default 1000 */
  readonly persistIntervalMs?: number;
  /** Delay of CreateStream, DeleteStream, SplitShard, MergeShards, UpdateShardCount… (ms). @default 0 */
  readonly operationDelayMs?: number;
  /** Total shards the account may have (`SHARD_LIMIT`). @default 50 */
  readonly shardLimit?: number;
  /** kinesis-mock's own log level. @default 'WARN' */
  readonly logLevel?: 'ERROR' | 'WARN' | 'INFO' | 'DEBUG' | 'TRACE';
  /** Also append the emulator's output to this file. */
  readonly logFile?: string;
  /** @default 30000 */
  readonly startupTimeoutMs?: number;
  /** Aborts the start: the process is stopped and `startKinesis` rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface KinesisEmulator {
  /** `http://127.0.0.1:PORT` (plain HTTP/1.1: use `NodeHttpHandler`, as `client()` does). */
  readonly endpoint: string;
  readonly region: string;
  readonly pid: number;
  /** A shared client for this endpoint (HTTP/1.1, dummy credentials); destroyed by `stop()`. */
  client(): KinesisClient;
  /** Creates a stream and waits until it is ACTIVE; returns its ARN. */
  createStream(name: string, shardCount: number): Promise<string>;
  /** The emulator's recent output (last 500 lines). */
  logs(): string;
  /** Terminates the process (SIGTERM, then SIGKILL after 5 s) and waits for it to exit (idempotent). */
  stop(): Promise<void>;
}

/** Raised when kinesis-local does not come up; the message ends with its output. */
export class EmulatorStartError extends Error {
  override readonly name = 'EmulatorStartError';
  constructor(message: string, readonly output: string, options?: ErrorOptions) {
    super(`${message}\n--- kinesis-local output ---\n${output || '(none)'}`, options);
  }
}

const LOG_LINES = 500;
const ATTEMPTS = 3;

function packageDir(): string {
  return path.dirname(require.resolve('kinesis-local/package.json'));
}

function duration(ms: number): string {
  return `${Math.max(0, Math.round(ms))}ms`;
}

function localClient(endpoint: string, maxAttempts?: number): KinesisClient {
  return new KinesisClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 2000, requestTimeout: 30_000 }),
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Waits until the stream is ACTIVE (CreateStream and resharding are asynchronous). */
export async function waitForStreamActive(client: KinesisClient, streamName: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { StreamDescriptionSummary: s } = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (s?.StreamStatus === 'ACTIVE') return s.StreamARN!;
    if (Date.now() > deadline) throw new Error(`stream ${streamName} is still ${s?.StreamStatus} after ${timeoutMs} ms`);
    await sleep(25);
  }
}

/**
 * Starts kinesis-local (kinesis-mock compiled to JavaScript, the engine
 * LocalStack runs) as a child process on free ports, and waits until it
 * answers ListStreams. Polling consumers only: no SubscribeToShard.
 */
export async function startKinesis(opts: KinesisEmulatorOptions = {}): Promise<KinesisEmulator> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastError = err;
      if (opts.signal?.aborted) throw err;
      // Another process may have taken one of the free ports in between: try new ones.
      const portClash = err instanceof EmulatorStartError && /EADDRINUSE|address already in use/i.test(err.output);
      if (!portClash || opts.port !== undefined) throw err;
    }
  }
  throw lastError;
}

async function startOnce(opts: KinesisEmulatorOptions): Promise<KinesisEmulator> {
  const port = opts.port ?? (await freePort());
  const tlsPort = await freePort();
  const delay = duration(opts.operationDelayMs ?? 0);
  const inherited = { ...process.env };
  delete inherited['INITIALIZE_STREAMS'];
  const env: NodeJS.ProcessEnv = {
    ...inherited,
    KINESIS_MOCK_PLAIN_PORT: String(port),
    KINESIS_MOCK_TLS_PORT: String(tlsPort),
    AWS_REGION: LOCAL_REGION,
    LOG_LEVEL: opts.logLevel ?? 'WARN',
    ROOT_LOG_LEVEL: 'ERROR',
    SHARD_LIMIT: String(opts.shardLimit ?? 50),
    // An empty INITIALIZE_STREAMS is a configuration error for kinesis-local.
    ...(opts.streams?.length ? { INITIALIZE_STREAMS: opts.streams.map((s) => `${s.name}:${s.shards ?? 1}`).join(',') } : {}),
    SHOULD_PERSIST_DATA: opts.persistPath !== undefined ? 'true' : 'false',
    LOAD_DATA_IF_EXISTS: opts.persistPath !== undefined ? 'true' : 'false',
    ...(opts.persistPath !== undefined
      ? { PERSIST_PATH: path.resolve(opts.persistPath), PERSIST_FILE_NAME: 'kinesis-data.json', PERSIST_INTERVAL: duration(opts.persistIntervalMs ?? 1000) }
      : {}),
    ...Object.fromEntries(
      [
        'CREATE_STREAM_DURATION',
        'DELETE_STREAM_DURATION',
        'REGISTER_STREAM_CONSUMER_DURATION',
        'DEREGISTER_STREAM_CONSUMER_DURATION',
        'START_STREAM_ENCRYPTION_DURATION',
        'STOP_STREAM_ENCRYPTION_DURATION',
        'MERGE_SHARDS_DURATION',
        'SPLIT_SHARD_DURATION',
        'UPDATE_SHARD_COUNT_DURATION',
        'UPDATE_STREAM_MODE_DURATION',
      ].map((k) => [k, delay]),
    ),
  };
  const cwd = packageDir();
  // loopback.cjs makes it listen on 127.0.0.1 only and exit when this process is gone. Its own
  // process group: a terminal's Ctrl-C reaches the whole foreground group, and kinesis-local
  // must outlive the signal until the pipeline has stopped using it (stop() ends it).
  env['TIDEWATCH_PARENT_PID'] = String(process.pid);
  const child = spawn(process.execPath, ['--require', path.join(__dirname, 'loopback.cjs'), 'main.js'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  track(child);

  const lines: string[] = [];
  let partial = '';
  const capture = (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) lines.push(l);
    if (lines.length > LOG_LINES) lines.splice(0, lines.length - LOG_LINES);
    if (opts.logFile) appendFileSync(opts.logFile, chunk);
  };
  child.stdout!.on('data', capture);
  child.stderr!.on('data', capture);
  const logs = () => [...lines, partial].filter((l) => l !== '').join('\n');

  const endpoint = `http://127.0.0.1:${port}`;
  let shared: KinesisClient | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      shared?.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, 5000))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5000);
        }
      }
      child.stdout!.destroy();
      child.stderr!.destroy();
    })());

  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  const probe = localClient(endpoint, 1);
  const deadline = Date.now() + (opts.startupTimeoutMs ?? 30_000);
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      if (exited !== undefined) throw new EmulatorStartError(`kinesis-local ${exited} during startup (cwd ${cwd})`, logs());
      try {
        await probe.send(new ListStreamsCommand({}));
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new EmulatorStartError(`kinesis-local did not answer on ${endpoint} within ${opts.startupTimeoutMs ?? 30_000} ms`, logs(), { cause: err });
        await sleep(100);
      }
    }
    for (const s of opts.streams ?? []) await waitForStreamActive(probe, s.name);
  } catch (err) {
    probe.destroy();
    await stop();
    if (err instanceof EmulatorStartError || opts.signal?.aborted) throw err;
    throw new EmulatorStartError(`kinesis-local did not become ready: ${err instanceof Error ? err.message : String(err)}`, logs(), { cause: err });
  }
  probe.destroy();

  const client = () => (shared ??= localClient(endpoint));
  return {
    endpoint,
    region: LOCAL_REGION,
    pid: child.pid!,
    client,
    createStream: async (name, shardCount) => {
      await client().send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
      return waitForStreamActive(client(), name);
    },
    logs,
    stop,
  };
}
