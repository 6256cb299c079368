import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BatchReport } from '../../../lambdas/core/Engine';
import { parsePipeline } from '../../../lambdas/core/pipeline';
import { Accounting } from '../../../local/Accounting';
import { PacedClock } from '../../../local/demo/PacedClock';
import { discoverRunningPipeline, pipelineEventTime, removeRunningPipeline, stateFilePath, writeRunningPipeline, type RunningPipeline } from '../../../local/discovery';

describe('PacedClock', () => {
  it('runs speed times the wall clock, slower when told, never backwards, and jumps forward only', () => {
    let wall = 1_000;
    const clock = new PacedClock(6, 1_000_000, () => wall);
    wall += 1000;
    expect(clock.now()).toBe(1_006_000);
    clock.setRate(1.5);
    wall += 1000;
    expect(clock.now()).toBe(1_007_500);
    clock.setRate(0);
    wall += 5000;
    expect(clock.now()).toBe(1_007_500);
    clock.setRate(100); // capped at speed
    expect(clock.rate).toBe(6);
    clock.jumpTo(1_000_000); // behind: no effect
    expect(clock.now()).toBe(1_007_500);
    clock.jumpTo(2_000_000);
    wall += 1000;
    expect(clock.now()).toBe(2_006_000);
    expect(() => new PacedClock(0)).toThrow(/speed must be a positive number/);
  });

  it('waits at its leash while nobody moves it (a stalled process), and does not make the time up later', () => {
    let wall = 0;
    const clock = new PacedClock(30, 1_000_000, () => wall);
    clock.leash(1_000_000 + 12_000); // the pacer allows 2 x 200 ms at 30x
    wall += 5000; // the process stalls for 5 s: unleashed, 150 s of event time would have passed
    expect(clock.now()).toBe(1_012_000);
    clock.leash(1_012_000 + 12_000); // the pacer looks again
    wall += 200;
    expect(clock.now()).toBe(1_018_000);
    clock.jumpTo(2_000_000); // a jump moves the leash with it
    expect(clock.now()).toBe(2_000_000);
    clock.leash(Infinity);
    wall += 1000;
    expect(clock.now()).toBe(2_030_000);
  });
});

describe('the running pipeline file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tw-discovery-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const state: RunningPipeline = {
    version: 1,
    pid: process.pid,
    startedAt: '2026-11-28T10:00:00Z',
    pipelineFile: '/p.yaml',
    dataDir: null,
    region: 'us-east-1',
    endpoints: { kinesis: 'http://127.0.0.1:1', dynamodb: 'http://127.0.0.1:2', sns: 'http://127.0.0.1:3' },
    table: 't',
    topicArn: 'arn',
    streams: [{ name: 's', shards: 2, watermark: null }],
    clock: { eventTime: 1_000_000, wallTime: 5_000, rate: 6 },
  };

  it('is found in the folder, or where $TIDEWATCH_LOCAL says; a dead pid makes it stale; only its writer removes it', () => {
    expect(stateFilePath({}, dir)).toBe(path.join(dir, '.tidewatch', 'local.json'));
    expect(stateFilePath({ TIDEWATCH_LOCAL: 'x.json' }, dir)).toBe(path.join(dir, 'x.json'));
    expect(discoverRunningPipeline({}, dir)).toEqual({ status: 'none', path: path.join(dir, '.tidewatch', 'local.json') });
    const file = stateFilePath({}, dir);
    writeRunningPipeline(file, state);
    expect(discoverRunningPipeline({}, dir)).toEqual({ status: 'running', path: file, state });
    removeRunningPipeline(file, process.pid + 1); // not its writer: stays
    expect(discoverRunningPipeline({}, dir).status).toBe('running');
    writeRunningPipeline(file, { ...state, pid: 2 ** 22 + 4321 });
    expect(discoverRunningPipeline({}, dir).status).toBe('stale');
    removeRunningPipeline(file, 2 ** 22 + 4321);
    expect(discoverRunningPipeline({}, dir).status).toBe('none');
  });

  it('tells the event time now from the clock it wrote down', () => {
    expect(pipelineEventTime(state, 6_000)).toBe(1_006_000);
    expect(pipelineEventTime(state, 4_000)).toBe(1_000_000);
  });
});

describe('Accounting', () => {
  const pipeline = parsePipeline(
    `streams:
  payments: { timestamp: at }
  logins: { timestamp: ts }
rules:
  - alert: Big
    stream: payments
    window: { tumbling: 1m }
    lateness: 30s
    aggregate: { n: 'count()' }
    when: 'n > 5.0'
  - alert: Bursts
    stream: payments
    window: { session: 30s }
    aggregate: { n: 'count()' }
    when: 'n > 5.0'
`,
    'p.yaml',
  );
  const T = Date.parse('2026-11-28T07:00:00Z');
  const report = (over: Partial<BatchReport>): BatchReport => ({
    shardId: 'shardId-000000000000',
    records: 0,
    decoded: 0,
    rejected: [],
    late: 0,
    duplicates: 0,
    perRule: {},
    keysWritten: 0,
    conflicts: 0,
    published: [],
    firstSequence: '1',
    lastSequence: '2',
    minArrivalTime: T,
    maxEventTime: T,
    watermark: T,
    retryFrom: null,
    error: null,
    ...over,
  });
  const rejection = (reason: 'schema' | 'not-json') => ({ reason, message: '', shardId: 's', sequenceNumber: '1', partitionKey: 'k', arrivalTime: T, data: '' });
  const stats = { matched: 0, filterErrors: 0, valueErrors: 0, conditionErrors: 0, overflow: 0, missingGroup: 0 };

  it('books every record of every batch, and explains the first late record of each rule once', () => {
    const books = new Accounting(pipeline, { now: () => T + 4 * 60_000 + 8000 });
    const notes = books.onBatch(
      'payments',
      report({
        records: 10,
        rejected: [rejection('schema'), rejection('schema'), rejection('not-json')],
        duplicates: 1,
        perRule: { Big: { ...stats, late: 2, firstLate: { eventTime: T - 2 * 60_000 + 10_000, watermark: T + 4 * 60_000 + 2000 } }, Bursts: { ...stats, late: 0 } },
        watermark: T + 4 * 60_000 + 2000,
        maxEventTime: T + 4 * 60_000 + 7000,
      }),
    );
    expect(notes).toEqual([
      "tidewatch: Big: a record with event time 06:58:10 was late: its window 06:58:00–06:59:00 closed once the watermark passed 06:59:30 (end + lateness 30s); the watermark was 07:04:02. Late records are counted, not aggregated; to land in open windows, send events near the pipeline's event time (tidewatch emit --event-time pipeline). (Shown once per rule.)",
    ]);
    expect(books.onBatch('payments', report({ records: 1, perRule: { Big: { ...stats, late: 1, firstLate: { eventTime: T, watermark: T } } } }))).toEqual([]);
    books.onBatch('payments', report({ records: 4, retryFrom: '3' })); // counted when its retry succeeds
    expect(books.counts('payments')).toEqual({ in: 11, accepted: 7, duplicates: 1, quarantined: { schema: 2, 'not-json': 1 }, late: { Big: 3 }, retried: 1, watermark: T + 4 * 60_000 + 2000 });
    expect(books.processedEventTime('payments')).toBe(T + 4 * 60_000 + 7000);
    expect(books.lines()).toEqual([
      'payments  11 in, 7 accepted, 3 late (Big 3), 1 duplicate, 3 quarantined (schema 2, not-json 1), 1 batch retried; watermark 07:04:02 (6s behind)',
      'logins    0 in, 0 accepted, 0 late, 0 duplicates, 0 quarantined; no watermark yet',
    ]);
  });
});
