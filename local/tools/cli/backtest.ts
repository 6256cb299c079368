/** `tidewatch backtest`: the CLI over tools/backtest.ts, with its sources (NDJSON files, stdin, a Kinesis stream). */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { alertMessage } from '../../../lambdas/adapters/SnsAlertPublisher';
import type { ClosedWindow } from '../../../lambdas/core/Engine';
import type { AlertTransition } from '../../../lambdas/core/lifecycle';
import { formatIssue, loadPipeline, PipelineError } from '../../../lambdas/core/pipeline';
import type { EpochMs, KinesisLikeRecord, Pipeline, StreamSpec } from '../../../lambdas/core/types';
import { anomalyText } from '../../format';
import { Backtest, type BacktestSummary } from '../backtest';
import { classifyLine, eventTimeOf, RecordMaker } from '../records';
import type { ReportContext } from '../replay';
import { durationOption, EXIT, integerOption, messageOf, parseOptions, UsageError, usageFailure, type ToolIo } from './common';

export const BACKTEST_USAGE = `usage: tidewatch backtest [options] [FILE... | -]
       tidewatch backtest [options] --kinesis-stream NAME [--from TIME] [--to TIME]

Runs a pipeline over recorded events on virtual time, with the engine the Lambdas
run, in memory, and prints what it would have sent: every alert transition and, with
--windows, every closed window's aggregates (and, for an anomaly rule, its score, the
expected value, the band and whether the model is still warming up). Nothing is
published, nothing written.

input (one of):
  FILE... | -                NDJSON files, or stdin (also when no FILE is given). A line is a
                             payload, or a Kinesis record as 'aws kinesis get-records' or
                             Lambda prints it (Data/data, ApproximateArrivalTimestamp, …)
  --kinesis-stream NAME      read a Kinesis stream (name or ARN): every shard, children after
                             parents, through the standard AWS credential chain
      --from TIME            records that arrived at or after TIME (AT_TIMESTAMP iterators):
                             ISO-8601, or a duration ago such as 2h (default: the oldest)
      --to TIME              records that arrived before TIME (default: now)
      --endpoint URL         Kinesis endpoint (default: AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, AWS)
      --region REGION

options:
      --pipeline FILE        pipeline file (default pipelines/sample.yaml)
      --stream NAME          the pipeline's stream the events belong to (default: its only one)
      --json                 one JSON object per line: transitions, windows, then the summary
      --windows              also print every closed window's aggregates per rule and group
      --no-flush             leave the windows open at the end of the input (default: the
                             watermark moves past every window, so every window is reported)
      --arrival-delay D      payload lines arrive at event time + D (default 0s); Kinesis
                             records keep their own arrival time
      --shards N             spread payload lines over N shards (default 1)
      --partition-key FIELD  payload field whose value picks the shard, as Kinesis does
      --batch-size N         records per batch per shard (default 10000; Lambda's BatchSize)
      --batch-window D       batching window of arrival time (default 10s; 0 = per millisecond)
      --tick D               the ticker's schedule (default 1m)
      --flap-windows N       a group flaps when an alert resolves at most N windows after it fired
                             (default 2; a window is the rule's step, or absent: for absence rules)
  -q, --quiet                no progress line on stderr
  -h, --help                 this help

Event time drives everything; arrival time moves the virtual clock (batches, ticker,
idle shards). emit: final and absence rules give the same answers at any batching;
an emit: early alert fires at the end of the batch in which its condition first holds,
so its time and values follow the batching: --batch-window 1s --batch-size 1000 (the
deployed defaults) time them closest to a deployment, at the price of a slower run on
streams of few events per second (each batch costs about as much as in Lambda). Absence rules are evaluated up to the watermark the input
reaches: the end of the input is not every group going silent.
Exit codes: 0 done, 1 the input or the pipeline could not be read, 2 usage error.`;

interface Parsed {
  readonly pipelineFile: string;
  readonly stream?: string;
  readonly files: string[];
  readonly kinesis?: { stream: string; from?: Date; to: Date; endpoint?: string; region?: string };
  readonly json: boolean;
  readonly windows: boolean;
  readonly flush: boolean;
  readonly arrivalDelayMs: number;
  readonly shards: number;
  readonly partitionKey?: string;
  readonly batchSize: number;
  readonly batchWindowMs: number;
  readonly tickEveryMs: number;
  readonly flapWindows: number;
  readonly quiet: boolean;
}

/** ISO-8601 (or epoch ms), or a duration before `now`. */
function timeOption(name: string, text: string, now: number): Date {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new UsageError(`${name} must be an ISO-8601 time such as 2026-11-27T10:00:00Z, or a duration ago such as 2h (given ${JSON.stringify(text)})`);
    return new Date(t);
  }
  if (/^\d{11,}$/.test(text)) return new Date(Number(text));
  return new Date(now - durationOption(name, text));
}

function parse(argv: readonly string[], io: ToolIo): Parsed | 'help' {
  const { values, positionals } = parseOptions('backtest', argv, {
    pipeline: { type: 'string', default: 'pipelines/sample.yaml' },
    stream: { type: 'string' },
    'kinesis-stream': { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    endpoint: { type: 'string' },
    region: { type: 'string' },
    json: { type: 'boolean', default: false },
    windows: { type: 'boolean', default: false },
    'no-flush': { type: 'boolean', default: false },
    'arrival-delay': { type: 'string', default: '0s' },
    shards: { type: 'string', default: '1' },
    'partition-key': { type: 'string' },
    'batch-size': { type: 'string', default: '10000' },
    'batch-window': { type: 'string', default: '10s' },
    tick: { type: 'string', default: '1m' },
    'flap-windows': { type: 'string', default: '2' },
    quiet: { type: 'boolean', short: 'q', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  const now = Date.now();
  const kinesisStream = values['kinesis-stream'];
  if (kinesisStream !== undefined && positionals.length > 0) throw new UsageError(`give input files or --kinesis-stream, not both (given ${positionals.join(' ')})`);
  for (const k of ['from', 'to', 'endpoint', 'region'] as const) {
    if (values[k] !== undefined && kinesisStream === undefined) throw new UsageError(`--${k} reads a Kinesis stream: give --kinesis-stream NAME`);
  }
  let kinesis: Parsed['kinesis'];
  if (kinesisStream !== undefined) {
    const from = values.from === undefined ? undefined : timeOption('--from', values.from, now);
    const to = values.to === undefined ? new Date(now) : timeOption('--to', values.to, now);
    if (from && from.getTime() >= to.getTime()) throw new UsageError(`--from (${from.toISOString()}) must be before --to (${to.toISOString()})`);
    kinesis = { stream: kinesisStream, ...(from ? { from } : {}), to, ...(values.endpoint !== undefined ? { endpoint: values.endpoint } : {}), ...(values.region !== undefined ? { region: values.region } : {}) };
  }
  const files = positionals.length === 0 && kinesis === undefined ? ['-'] : positionals;
  if (files.includes('-') && io.stdin === undefined) throw new UsageError('no standard input to read');
  const shards = integerOption('--shards', values.shards!, 1, 1024);
  if (values['partition-key'] !== undefined && values['partition-key'].trim() === '') throw new UsageError('--partition-key needs a field name');
  return {
    pipelineFile: values.pipeline!,
    ...(values.stream !== undefined ? { stream: values.stream } : {}),
    files,
    ...(kinesis ? { kinesis } : {}),
    json: values.json === true,
    windows: values.windows === true,
    flush: values['no-flush'] !== true,
    arrivalDelayMs: durationOption('--arrival-delay', values['arrival-delay']!),
    shards,
    ...(values['partition-key'] !== undefined ? { partitionKey: values['partition-key'] } : {}),
    batchSize: integerOption('--batch-size', values['batch-size']!, 1, 10_000),
    batchWindowMs: durationOption('--batch-window', values['batch-window']!),
    tickEveryMs: Math.max(1, durationOption('--tick', values.tick!)),
    flapWindows: integerOption('--flap-windows', values['flap-windows']!, 0, 1_000_000),
    quiet: values.quiet === true,
  };
}

/** A problem with the input (a file, a line): exit code 1. */
class InputError extends Error {
  override readonly name = 'InputError';
}

/** Whoever read the output stopped reading (EPIPE). */
class OutputClosed extends Error {
  override readonly name = 'OutputClosed';
}

/**
 * Plays NDJSON inputs in input order: payload lines arrive at their event
 * time + the delay. One async step per chunk read and per batching window
 * played, not per line (a backtest reads millions of lines).
 */
async function playNdjson(p: Parsed, stream: StreamSpec, io: ToolIo, push: (r: KinesisLikeRecord) => Promise<void> | undefined, onCount: (n: number) => void): Promise<void> {
  const maker = new RecordMaker({ shards: p.shards, ...(p.partitionKey !== undefined ? { partitionKey: p.partitionKey } : {}) });
  let last: EpochMs | null = null;
  let count = 0;
  const toRecord = (line: string): KinesisLikeRecord => {
    const kind = classifyLine(line);
    if (kind.kind === 'record') {
      last = kind.arrival;
      return maker.record(kind);
    }
    if (stream.timestamp.kind === 'arrival') throw new Error(`stream ${stream.name} takes event time from the arrival time ($arrival), which a payload line does not carry: give Kinesis records (with ApproximateArrivalTimestamp)`);
    const t = eventTimeOf(line, stream);
    // A line without an event time the engine can read is rejected by it: it arrives with the line before.
    if (t !== null) last = t + p.arrivalDelayMs;
    return maker.payload(line, last ?? 0);
  };
  for (const file of p.files) {
    const name = file === '-' ? 'stdin' : file;
    const input: Readable = file === '-' ? io.stdin! : createReadStream(file, { highWaterMark: 1 << 20 });
    input.setEncoding('utf8');
    let n = 0;
    let rest = '';
    const line = async (raw: string): Promise<void> => {
      n += 1;
      const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (text.trim() === '') return;
      const played = push(toRecord(text));
      if ((++count & 0x3fff) === 0) onCount(count);
      if (played) await played;
    };
    try {
      for await (const chunk of input as AsyncIterable<string>) {
        const text = rest + chunk;
        let start = 0;
        for (;;) {
          const nl = text.indexOf('\n', start);
          if (nl < 0) break;
          const raw = text.slice(start, nl);
          start = nl + 1;
          n += 1;
          const clean = raw.length > 0 && raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
          // A line starting with "{" is not blank: spare the trim (and its copy) for nearly every line.
          if (clean.length === 0 || (clean.charCodeAt(0) !== 123 && clean.trim() === '')) continue;
          const played = push(toRecord(clean));
          if ((++count & 0x3fff) === 0) onCount(count);
          if (played) await played;
        }
        rest = text.slice(start);
      }
      if (rest !== '') await line(rest);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new InputError(`cannot read ${name}: ${messageOf(e)}`);
      throw new InputError(`${name}:${n}: ${messageOf(e)}`);
    }
  }
}

const iso = (t: EpochMs) => new Date(t).toISOString();
const clock = (t: EpochMs) => iso(t).replace('T', ' ').slice(0, 19);
const fmt = (v: number | null) => (v === null ? '-' : Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));
const labelsText = (g: Readonly<Record<string, string | null>>) => Object.entries(g).map(([k, v]) => `${k}=${v ?? '(none)'}`).join(' ') || '(all)';
const valuesText = (v: Readonly<Record<string, number | null>>) => Object.entries(v).map(([k, x]) => `${k}=${fmt(x)}`).join(' ');
const span = (s: EpochMs, e: EpochMs) => `[${clock(s)} .. ${clock(e).slice(11)})`;

/** One transition as JSON: the message subscribers would receive, with the window flattened. */
export function transitionJson(t: AlertTransition, at: ReportContext): Record<string, unknown> {
  const m = alertMessage(t);
  return { type: 'transition', ...m, windowStart: m.window.start, windowEnd: m.window.end, ...(at.afterInput ? { afterInput: true } : {}) };
}

export function windowJson(w: ClosedWindow, at: ReportContext): Record<string, unknown> {
  return {
    type: 'window',
    rule: w.rule,
    group: w.group,
    windowStart: iso(w.window.start),
    windowEnd: iso(w.window.end),
    values: w.values,
    events: w.events,
    holds: w.holds,
    ...(w.anomaly ? { anomaly: { score: w.anomaly.score, expected: w.anomaly.expected, lower: w.anomaly.lower, upper: w.anomaly.upper, warming: w.anomaly.warming } } : {}),
    ...(at.afterInput ? { afterInput: true } : {}),
  };
}

function transitionLine(t: AlertTransition, at: ReportContext): string {
  const state = t.state === 'firing' ? 'FIRING  ' : 'RESOLVED';
  const summary = t.annotations['summary'];
  return `${clock(t.at)}  ${state}  ${t.severity.padEnd(8)}  ${t.rule}  ${labelsText(t.group)}  ${span(t.window.start, t.window.end)}  ${valuesText(t.values)}${t.anomaly ? `  ${anomalyText(t.anomaly)}` : ''}${summary ? `  ${summary}` : ''}${at.afterInput ? '  (end of input)' : ''}`;
}

function windowLine(w: ClosedWindow): string {
  return `${clock(w.window.end)}  window    ${w.rule}  ${labelsText(w.group)}  ${span(w.window.start, w.window.end)}  ${valuesText(w.values)}  events=${w.events}${w.anomaly ? `  ${anomalyText(w.anomaly)}` : ''}${w.holds ? '  (when holds)' : ''}`;
}

function summaryLines(s: BacktestSummary, seconds: number, cpuSeconds: number): string[] {
  const n = (x: number) => x.toLocaleString('en-US');
  const rejectedTotal = Object.values(s.rejected).reduce((a, b) => a + (b ?? 0), 0);
  const out = ['', 'summary'];
  const range = s.firstArrival !== null ? `, arrival ${iso(s.firstArrival)} .. ${iso(s.lastArrival!)}` : '';
  out.push(`  input     ${n(s.records)} records: ${n(s.events)} events, ${n(rejectedTotal)} rejected${range}`);
  if (rejectedTotal > 0) out.push(`  rejected  ${Object.entries(s.rejected).sort(([, a], [, b]) => (b ?? 0) - (a ?? 0)).map(([r, c]) => `${r} ${n(c ?? 0)}`).join(', ')}`);
  out.push(`  late      ${n(s.late)} (once per record and rule whose windows had all closed); producer duplicates dropped: ${n(s.duplicates)}`);
  out.push(`  windows   ${n(s.windowsClosed)} closed${s.flushed ? ' (the watermark moved past every window at the end)' : `, ${n(s.openWindows)} left open (--no-flush)`}; last event time ${s.lastEventTime !== null ? iso(s.lastEventTime) : '-'}`);
  const rules = Object.entries(s.alerts);
  const w = Math.max(4, ...rules.map(([r]) => r.length));
  out.push(`  alerts    ${'rule'.padEnd(w)}  fired  resolved  groups  flaps`);
  for (const [rule, a] of rules) out.push(`            ${rule.padEnd(w)}  ${String(a.fired).padStart(5)}  ${String(a.resolved).padStart(8)}  ${String(a.groups).padStart(6)}  ${String(a.flaps).padStart(5)}`);
  if (s.firingAtEnd > 0) out.push(`            ${s.firingAtEnd} still firing at the end`);
  const failing = Object.entries(s.expressionErrors);
  if (failing.length > 0) {
    out.push('  errors    expressions that raised errors (judged false: where/step no match, aggregate no value, when does not hold):');
    for (const [rule, e] of failing) out.push(`            ${rule.padEnd(w)}  ${Object.entries(e).map(([kind, c]) => `${kind} ${n(c ?? 0)}`).join(', ')}`);
  }
  if (s.flapping.length === 0) out.push(`  flapping  none (no alert fired and resolved within ${s.flapWindows} windows)`);
  else {
    out.push(`  flapping  fired then resolved within ${s.flapWindows} windows:`);
    for (const f of s.flapping.slice(0, 20)) out.push(`            ${f.rule}  ${labelsText(f.group)}  ${f.times} time${f.times === 1 ? '' : 's'}`);
    if (s.flapping.length > 20) out.push(`            … and ${s.flapping.length - 20} more groups (--json lists all)`);
  }
  out.push(`  time      ${seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} s of CPU), ${n(Math.round(s.records / Math.max(seconds, 1e-3)))} records/s`);
  return out;
}

export async function runBacktest(argv: readonly string[], io: ToolIo): Promise<number> {
  let p: Parsed;
  try {
    const r = parse(argv, io);
    if (r === 'help') {
      io.stdout.write(`${BACKTEST_USAGE}\n`);
      return EXIT.ok;
    }
    p = r;
  } catch (e) {
    if (e instanceof UsageError) return usageFailure(io, 'backtest', e, BACKTEST_USAGE);
    throw e;
  }
  const fail = (msg: string) => {
    io.stderr.write(`tidewatch backtest: ${msg}\n`);
    return EXIT.failed;
  };
  let pipeline: Pipeline;
  try {
    pipeline = loadPipeline(p.pipelineFile);
  } catch (e) {
    if (e instanceof PipelineError) return fail(`${p.pipelineFile} does not load:\n  ${e.issues.map(formatIssue).join('\n  ')}`);
    throw e;
  }
  const streams = [...pipeline.streams.keys()];
  const streamName = p.stream ?? (streams.length === 1 ? streams[0]! : undefined);
  if (streamName === undefined) return usageFailure(io, 'backtest', new UsageError(`${p.pipelineFile} declares several streams (${streams.join(', ')}): say which with --stream`), BACKTEST_USAGE);
  const stream = pipeline.streams.get(streamName);
  if (!stream) return usageFailure(io, 'backtest', new UsageError(`--stream ${streamName}: ${p.pipelineFile} declares ${streams.join(', ')}`), BACKTEST_USAGE);

  let kinesis: { client: import('@aws-sdk/client-kinesis').KinesisClient; read: typeof import('../kinesisSource').readKinesis } | undefined;
  if (p.kinesis) {
    const { kinesisClientFor } = await import('../../producer/cli');
    const { readKinesis } = await import('../kinesisSource');
    try {
      kinesis = { client: kinesisClientFor({ ...(p.kinesis.endpoint !== undefined ? { endpoint: p.kinesis.endpoint } : {}), ...(p.kinesis.region !== undefined ? { region: p.kinesis.region } : {}) }, io.env).client, read: readKinesis };
    } catch (e) {
      if (e instanceof Error && e.name === 'UsageError') return usageFailure(io, 'backtest', new UsageError(e.message), BACKTEST_USAGE);
      throw e;
    }
  }

  // Output piped into `head` or `less` that closes early: stop reading, quietly (nothing is lost: nothing was written anywhere).
  let outputClosed = false;
  const stdout = io.stdout as { write(s: string): unknown; on?: (event: 'error', f: (e: NodeJS.ErrnoException) => void) => unknown; off?: (event: 'error', f: (e: NodeJS.ErrnoException) => void) => unknown };
  let outputError: NodeJS.ErrnoException | null = null;
  const onOutputError = (e: NodeJS.ErrnoException) => {
    outputClosed = true;
    if (e.code !== 'EPIPE') outputError = e;
  };
  stdout.on?.('error', onOutputError);
  const write = (s: string) => {
    if (!outputClosed) io.stdout.write(`${s}\n`);
  };
  // What the end-of-input flush reports is sorted by time before it is printed (it comes rule by rule).
  const flushed: Array<{ at: EpochMs; line: string }> = [];
  const emit = (at: ReportContext, time: EpochMs, line: string) => (at.afterInput ? flushed.push({ at: time, line }) : write(line));
  const backtest = new Backtest({
    pipeline,
    stream: streamName,
    batchWindowMs: p.batchWindowMs,
    batchSize: p.batchSize,
    tickEveryMs: p.tickEveryMs,
    flapWindows: p.flapWindows,
    onTransition: (t, at) => emit(at, t.at, p.json ? JSON.stringify(transitionJson(t, at)) : transitionLine(t, at)),
    ...(p.windows ? { onWindow: (w: ClosedWindow, at: ReportContext) => emit(at, w.window.end, p.json ? JSON.stringify(windowJson(w, at)) : windowLine(w)) } : {}),
  });

  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const progress = progressLine(io, p.quiet, started);
  try {
    const push = (r: KinesisLikeRecord) => {
      if (outputClosed) throw new OutputClosed();
      return backtest.push(r);
    };
    const onCount = (n: number) => progress.tick(n, backtest.replay.stats().lastEventTime);
    if (p.kinesis && kinesis) {
      let count = 0;
      for await (const record of kinesis.read({ client: kinesis.client, stream: p.kinesis.stream, to: p.kinesis.to, ...(p.kinesis.from ? { from: p.kinesis.from } : {}), ...(io.signal ? { signal: io.signal } : {}) })) {
        const played = push(record);
        if ((++count & 0x3fff) === 0) onCount(count);
        if (played) await played;
      }
    } else {
      await playNdjson(p, stream, io, push, onCount);
    }
  } catch (e) {
    progress.done();
    if (e instanceof OutputClosed || (e instanceof InputError && outputClosed)) {
      stdout.off?.('error', onOutputError);
      return outputError ? fail(`cannot write the output: ${messageOf(outputError)}`) : EXIT.ok;
    }
    stdout.off?.('error', onOutputError);
    if (e instanceof InputError) return fail(e.message);
    // What AWS (or the network) said about the stream; anything else is a bug and is thrown.
    if (p.kinesis && e instanceof Error && ('$metadata' in e || /^(ECONNREFUSED|ENOTFOUND|ECONNRESET|ETIMEDOUT)$/.test(String((e as { code?: unknown }).code)))) {
      return fail(`reading Kinesis stream ${p.kinesis.stream}: ${e.name}: ${e.message}`);
    }
    throw e;
  } finally {
    kinesis?.client.destroy();
  }
  const closed = (): number => {
    stdout.off?.('error', onOutputError);
    return outputError ? fail(`cannot write the output: ${messageOf(outputError)}`) : EXIT.ok;
  };
  if (outputClosed) return closed();
  const summary = await backtest.finish(p.flush);
  progress.done();
  for (const f of flushed.sort((a, b) => a.at - b.at)) write(f.line);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  // CPU time of the process (all its threads: the garbage collector's helpers too), next to the wall clock.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  if (p.json) write(JSON.stringify({ type: 'summary', ...summary, seconds: Math.round(seconds * 1000) / 1000, cpuSeconds: Math.round(cpuSeconds * 1000) / 1000, recordsPerSecond: Math.round(summary.records / Math.max(seconds, 1e-3)) }));
  else for (const l of summaryLines(summary, seconds, cpuSeconds)) write(l);
  return closed();
}

/** A progress line on stderr for runs longer than 2 s: rewritten in place on a terminal, every 5 s otherwise. */
function progressLine(io: ToolIo, quiet: boolean, started: number) {
  const tty = io.stderr.isTTY === true;
  let lastAt = started;
  let shown = false;
  return {
    tick(records: number, eventTime: EpochMs | null) {
      if (quiet) return;
      const now = performance.now();
      if (now - started < 2000 || now - lastAt < (tty ? 500 : 5000)) return;
      lastAt = now;
      shown = true;
      const rate = Math.round(records / ((now - started) / 1000)).toLocaleString('en-US');
      const line = `tidewatch backtest: ${records.toLocaleString('en-US')} records, ${rate} records/s${eventTime !== null ? `, event time ${iso(eventTime)}` : ''}`;
      io.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    },
    done() {
      if (shown && tty) io.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}
