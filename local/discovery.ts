import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * How the CLI finds the pipeline `npm start` is running: `npm start` writes
 * this file (`.tidewatch/local.json` in the folder it runs in, or the path in
 * $TIDEWATCH_LOCAL) when the pipeline is up, refreshes it every few seconds
 * with the event time and the watermarks, and removes it when it stops. The
 * inspect commands and `tidewatch emit` read it, so that they need no
 * `--pipeline`, `--table` or `--endpoint` while it runs.
 */
export interface RunningPipeline {
  readonly version: 1;
  readonly pid: number;
  readonly startedAt: string;
  /** Absolute path of the pipeline file. */
  readonly pipelineFile: string;
  readonly dataDir: string | null;
  readonly region: string;
  readonly endpoints: { readonly kinesis: string; readonly dynamodb: string; readonly sns: string };
  readonly table: string;
  readonly topicArn: string;
  readonly streams: ReadonlyArray<{ readonly name: string; readonly shards: number; readonly watermark: number | null }>;
  /** The pipeline's clock when the file was written: event time = eventTime + (now - wallTime) * rate. */
  readonly clock: { readonly eventTime: number; readonly wallTime: number; readonly rate: number };
}

export const STATE_FILE_ENV = 'TIDEWATCH_LOCAL';

/** `$TIDEWATCH_LOCAL`, else `.tidewatch/local.json` under `cwd`. */
export function stateFilePath(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const given = env[STATE_FILE_ENV];
  return given !== undefined && given !== '' ? resolve(cwd, given) : join(cwd, '.tidewatch', 'local.json');
}

/** Writes the file atomically (readers never see half of it). */
export function writeRunningPipeline(path: string, state: RunningPipeline): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Removes the file if it is this process's (another `npm start` may have taken it over since). */
export function removeRunningPipeline(path: string, pid = process.pid): void {
  const found = readFile(path);
  if (found !== undefined && found.pid !== pid) return;
  rmSync(path, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readFile(path: string): RunningPipeline | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as RunningPipeline;
    return state.version === 1 && typeof state.pid === 'number' ? state : undefined;
  } catch {
    return undefined;
  }
}

export type Discovery =
  | { readonly status: 'running'; readonly path: string; readonly state: RunningPipeline }
  /** The file is left over from a pipeline that is no longer running (it was killed). */
  | { readonly status: 'stale'; readonly path: string; readonly state: RunningPipeline }
  | { readonly status: 'none'; readonly path: string };

export function discoverRunningPipeline(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Discovery {
  const path = stateFilePath(env, cwd);
  const state = readFile(path);
  if (state === undefined) return { status: 'none', path };
  return { status: alive(state.pid) ? 'running' : 'stale', path, state };
}

/** The running pipeline's event time now, from the clock it last wrote down. */
export function pipelineEventTime(state: RunningPipeline, now = Date.now()): number {
  return Math.floor(state.clock.eventTime + Math.max(0, now - state.clock.wallTime) * state.clock.rate);
}
