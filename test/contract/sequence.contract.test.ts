/**
 * Sequence rules over both state stores (in memory, and DynamoDB on dynalite
 * or TIDEWATCH_TEST_DYNAMODB_ENDPOINT): the engine's exactly-once effect for
 * sequence keys (redelivery, bisect, retry after a failed publish, the
 * ticker firing absent steps, two containers on one key) and the store's
 * sequence primitives (conditional put, due keys).
 */
import { sequenceMatchId } from '../../lambdas/core/cep/matcher';
import { Engine } from '../../lambdas/core/Engine';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import { parsePipeline } from '../../lambdas/core/pipeline';
import type { SequenceRecord, StateStore } from '../../lambdas/core/StateStore';
import type { KinesisLikeRecord } from '../../lambdas/core/types';
import { storeFixtures } from '../helpers/storeFixtures';
import { shardRecords, T0 } from '../helpers/factories';

const M = 60_000;
const S1 = 'shardId-000000000001';
const S2 = 'shardId-000000000002';

const { inMemory, onDynamoDB } = storeFixtures();
const fixtures = [inMemory, onDynamoDB];

const PIPELINE = parsePipeline(
  `
streams:
  telemetry: { timestamp: ts, id: eventId, outOfOrderness: 0s, idleTimeout: 1h }
rules:
  - alert: DeployThenErrors
    stream: telemetry
    severity: critical
    labels: { team: sre }
    sequence:
      by: [service]
      within: 15m
      steps:
        - where: 'kind == "deploy"'
          bind: [version]
        - where: 'kind == "error"'
          count: 2
    annotations: { summary: '{{service}} {{steps.0.version}}: {{matchedEvents}} events from {{matchStart}}' }
  - alert: JobNeverFinished
    stream: telemetry
    sequence:
      by: [job]
      within: 30m
      steps:
        - where: 'kind == "job.start"'
        - where: 'kind == "job.end"'
          absent: true
`,
  'sequence.yaml',
);

const ev = (eventId: string, minutes: number, fields: Record<string, unknown>) => ({ eventId, ts: T0 + minutes * M, ...fields });

/** deploy, two errors (a match), then an event that moves the watermark past them; a job that starts and never ends. */
function incident(firstSeq = 1n, shardId = S1): KinesisLikeRecord[] {
  return shardRecords(
    shardId,
    [
      ev('d1', 0, { kind: 'deploy', service: 'api', version: 'v7' }),
      ev('j1', 0.5, { kind: 'job.start', job: 'nightly' }),
      ev('e1', 1, { kind: 'error', service: 'api' }),
      ev('e2', 2, { kind: 'error', service: 'api' }),
      ev('x1', 3, { kind: 'other', service: 'api', job: 'none' }),
    ],
    firstSeq,
  );
}

const DEPLOY_MATCH = sequenceMatchId('DeployThenErrors', ['d1', 'e1', 'e2']);

function engineOn(store: StateStore, published: AlertTransition[], opts: { now?: number; failPublish?: () => boolean } = {}) {
  let now = opts.now ?? T0 + 3 * M;
  const engine = new Engine({
    pipeline: PIPELINE,
    stream: 'telemetry',
    store,
    clock: { now: () => now },
    publish: async (t) => {
      if (opts.failPublish?.()) throw new Error('SNS is down');
      published.push(t);
    },
  });
  return { engine, setNow: (t: number) => (now = t) };
}

describe.each(fixtures)('sequence rules, exactly once ($name)', (fixture) => {
  test('a match is published once with its deterministic id, payload, severity, labels and annotations; a redelivered batch writes and publishes nothing', async () => {
    const { store } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const { engine } = engineOn(store, published);
    const records = incident();
    const first = await engine.processBatch(S1, records);
    expect(first.retryFrom).toBeNull();
    expect(first.published.map((t) => t.alertId)).toEqual([DEPLOY_MATCH]);
    const t = first.published[0]!;
    expect(t).toEqual({
      alertId: DEPLOY_MATCH,
      transitionId: `${DEPLOY_MATCH}:firing`,
      rule: 'DeployThenErrors',
      state: 'firing',
      severity: 'critical',
      group: { service: 'api' },
      labels: { team: 'sre' },
      window: { start: T0, end: T0 + 2 * M },
      values: { matchedEvents: 3 },
      annotations: { summary: `api v7: 3 events from ${new Date(T0).toISOString()}` },
      at: T0 + 2 * M,
      sequence: {
        matchId: DEPLOY_MATCH,
        events: [
          { id: 'd1', time: T0, step: 0 },
          { id: 'e1', time: T0 + M, step: 1 },
          { id: 'e2', time: T0 + 2 * M, step: 1 },
        ],
        bindings: [{ version: 'v7' }, {}],
      },
    });
    // One write per sequence key touched by an event a step can use: DeployThenErrors/api and JobNeverFinished/nightly
    // (x1 of job "none" matches no step of JobNeverFinished: its key is not written).
    expect(first.keysWritten).toBe(2);
    expect(first.perRule['JobNeverFinished']!.sequence).toMatchObject({ ignored: 1 });
    expect(first.perRule['JobNeverFinished']!.missingGroup).toBe(3);

    const again = await engine.processBatch(S1, records);
    expect(again.published).toEqual([]);
    expect(again.keysWritten).toBe(0);
    expect(published.map((p) => p.alertId)).toEqual([DEPLOY_MATCH]);
  });

  test('bisect and retry from the middle: the same single match', async () => {
    const { store } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const { engine } = engineOn(store, published);
    const records = incident();
    await engine.processBatch(S1, records.slice(0, 2));
    await engine.processBatch(S1, records.slice(2, 3));
    await engine.processBatch(S1, records);
    await engine.processBatch(S1, records.slice(3));
    expect(published.map((p) => p.alertId)).toEqual([DEPLOY_MATCH]);
  });

  test('a failed publish after the state write: the retry publishes the same id (at least once), no second match', async () => {
    const { store } = await fixture.fresh();
    const published: AlertTransition[] = [];
    let failures = 1;
    const { engine } = engineOn(store, published, { failPublish: () => failures-- > 0 });
    const records = incident();
    const first = await engine.processBatch(S1, records);
    expect(first.retryFrom).toBe(records[0]!.sequenceNumber);
    expect(published).toEqual([]);
    const retry = await engine.processBatch(S1, records);
    expect(retry.retryFrom).toBeNull();
    expect(published.map((p) => p.transitionId)).toEqual([`${DEPLOY_MATCH}:firing`]);
    await engine.processBatch(S1, records);
    await engine.advance();
    expect(published.map((p) => p.transitionId)).toEqual([`${DEPLOY_MATCH}:firing`]);
  });

  test('an absent step fires from the ticker once the watermark passes the deadline, exactly once even with two tickers', async () => {
    const fresh = await fixture.fresh();
    const published: AlertTransition[] = [];
    const a = engineOn(fresh.store, published);
    const b = engineOn(fresh.another(), published);
    await a.engine.processBatch(S1, incident());
    published.length = 0;
    // Nothing more arrives: after the idle timeout (1h) the shard's watermark follows the wall clock, to T0 + 40m.
    a.setNow(T0 + 100 * M);
    b.setNow(T0 + 100 * M);
    const tick = await Promise.all([a.engine.advance(), b.engine.advance()]);
    await a.engine.advance();
    await b.engine.advance();
    const jobMatch = sequenceMatchId('JobNeverFinished', ['j1']);
    expect(published.map((p) => [p.alertId, p.at, p.group])).toEqual([[jobMatch, T0 + 0.5 * M + 30 * M, { job: 'nightly' }]]);
    expect(tick.flatMap((r) => r.published).map((p) => p.alertId)).toEqual([jobMatch]);
  });

  test('the job that ends within 30m does not fire; a late event is counted late, not matched', async () => {
    const { store } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const { engine } = engineOn(store, published, { now: T0 + 46 * M });
    await engine.processBatch(
      S1,
      shardRecords(S1, [ev('s', 0, { kind: 'job.start', job: 'j' }), ev('f', 29, { kind: 'job.end', job: 'j' }), ev('z', 45, { kind: 'other', job: 'j' })]),
    );
    await engine.advance();
    expect(published).toEqual([]);
    // The job key was advanced to T0 + 45m: an event at T0 + 10m is late for it.
    const late = await engine.processBatch(S1, shardRecords(S1, [ev('s2', 10, { kind: 'job.start', job: 'j' })], 50n));
    expect(late.perRule['JobNeverFinished']!.late).toBe(1);
    expect(late.late).toBe(1);
    await engine.advance();
    expect(published).toEqual([]);
  });

  test('an event late for its shard is late whichever container gets the batch (a warm container that served the shard long ago)', async () => {
    // Chaos seed 86: container A served shard 1 first, B went on with it, then A got it again with its cached progress.
    const fresh = await fixture.fresh();
    const published: AlertTransition[] = [];
    const a = engineOn(fresh.store, published, { now: T0 + 41 * M });
    const b = engineOn(fresh.another(), published, { now: T0 + 41 * M });
    // Shard 2 holds the stream's watermark at T0: only the shard's own watermark can make the event late.
    await a.engine.processBatch(S2, shardRecords(S2, [ev('h2', 0, { kind: 'other', job: 'none' })], 1n));
    await a.engine.processBatch(S1, shardRecords(S1, [ev('h1', 0, { kind: 'other', job: 'none' })], 1n));
    await b.engine.processBatch(S1, shardRecords(S1, [ev('z', 40, { kind: 'other', job: 'none' })], 5n));
    // Shard 1's watermark is T0 + 40m (out-of-orderness 0s): a job start at T0 + 2m is late there.
    const late = await a.engine.processBatch(S1, shardRecords(S1, [ev('s', 2, { kind: 'job.start', job: 'j' })], 10n));
    expect(late.perRule['JobNeverFinished']!.late).toBe(1);
    expect(late.perRule['JobNeverFinished']!.sequence?.late).toBe(1);
    expect(late.late).toBe(1);
    // Shard 2 moves on: the stream's watermark passes T0 + 32m (the start's deadline), nothing fires.
    await a.engine.processBatch(S2, shardRecords(S2, [ev('y', 45, { kind: 'other', job: 'none' })], 5n));
    await a.engine.advance();
    await b.engine.advance();
    expect(published).toEqual([]);
  });

  test('a child shard after a reshard: its events older than the stream watermark its finished parent left are counted late, not matched', async () => {
    // Chaos seed 195: the stream's watermark holds back the shards it knows (with progress); Lambda's event names no
    // parent, so a child is unknown until its first batch, and the watermark never goes back for it.
    const S3 = 'shardId-000000000003';
    const { store } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const { engine, setNow } = engineOn(store, published, { now: T0 + 51 * M });
    await engine.processBatch(S1, shardRecords(S1, [ev('h1', 0, { kind: 'other', job: 'none' }), ev('z', 40, { kind: 'other', job: 'none' })], 1n));
    await engine.processBatch(S2, shardRecords(S2, [ev('y', 50, { kind: 'other', job: 'none' })], 1n));
    // Shard 1 is finished (its children take over) and holds the stream's watermark at T0 + 40m.
    const first = await engine.processBatch(S3, shardRecords(S3, [ev('j-late', 35, { kind: 'job.start', job: 'j' }), ev('k', 45, { kind: 'job.start', job: 'k' })], 1n));
    expect(first.perRule['JobNeverFinished']!.late).toBe(1);
    expect(first.perRule['JobNeverFinished']!.sequence?.late).toBe(1);
    expect(first.late).toBe(1);
    // Every shard idle: the watermark follows the wall clock; k's start fires at its deadline, j's never.
    setNow(T0 + 200 * M);
    await engine.advance();
    expect(published.map((p) => [p.alertId, p.at])).toEqual([[sequenceMatchId('JobNeverFinished', ['k']), T0 + 75 * M]]);
  });

  test('maxGroupsPerRulePerBatch caps the keys a sequence rule touches in one batch: the batch stops at a record, Lambda retries from it, nothing lost or doubled', async () => {
    const { store } = await fixture.fresh();
    const published: AlertTransition[] = [];
    let now = T0 + 5 * M;
    const engine = new Engine({ pipeline: PIPELINE, stream: 'telemetry', store, clock: { now: () => now }, publish: async (t) => void published.push(t), maxGroupsPerRulePerBatch: 2 });
    const records = shardRecords(S1, ['a', 'b', 'c', 'a'].map((job, i) => ev(`s${i}`, i, { kind: 'job.start', job })));
    const first = await engine.processBatch(S1, records);
    // The third key (c) is over the cap: the batch stops at its record, the fourth (a again) is not applied either.
    expect(first.retryFrom).toBe(records[2]!.sequenceNumber);
    expect(String(first.error)).toContain('a sequence rule reached 2 keys in this batch');
    expect(first.perRule['JobNeverFinished']!.overflow).toBe(1);
    expect(first.perRule['JobNeverFinished']!.matched).toBe(2);
    expect(first.keysWritten).toBe(2);
    const retry = await engine.processBatch(S1, records.slice(2));
    expect(retry.retryFrom).toBeNull();
    expect(retry.perRule['JobNeverFinished']!).toMatchObject({ matched: 2, overflow: 0 });
    // Every start fires once at its deadline (30m after it), once every shard is idle.
    now = T0 + 200 * M;
    await engine.advance();
    await engine.advance();
    expect(published.map((p) => [p.group, p.at]).sort((x, y) => (x[1] as number) - (y[1] as number))).toEqual([
      [{ job: 'a' }, T0 + 30 * M],
      [{ job: 'b' }, T0 + 31 * M],
      [{ job: 'c' }, T0 + 32 * M],
      [{ job: 'a' }, T0 + 33 * M],
    ]);
  });

  test('a match is a one-shot finding: no resolve follows, and no alert of the rule stays active', async () => {
    const { store } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const { engine, setNow } = engineOn(store, published);
    await engine.processBatch(S1, incident());
    setNow(T0 + 200 * M);
    await engine.advance();
    await engine.advance();
    expect(published.filter((p) => p.rule === 'DeployThenErrors').map((p) => [p.alertId, p.state])).toEqual([[DEPLOY_MATCH, 'firing']]);
    expect(published.filter((p) => p.state !== 'firing')).toEqual([]);
    expect(await store.activeAlerts('DeployThenErrors')).toEqual([]);
    expect(await store.activeAlerts('JobNeverFinished')).toEqual([]);
  });

  test('events of one key on two shards are matched in event-time order', async () => {
    const { store } = await fixture.fresh();
    const published: AlertTransition[] = [];
    const { engine } = engineOn(store, published);
    // Both shards are known to the stream's watermark (a shard it does not know yet cannot hold it back).
    await engine.processBatch(S1, shardRecords(S1, [ev('a0', -1, { kind: 'other', service: 'api' })], 1n));
    // The errors arrive on shard 2 before the deploy arrives on shard 1.
    await engine.processBatch(S2, shardRecords(S2, [ev('e1', 1, { kind: 'error', service: 'api' }), ev('e2', 2, { kind: 'error', service: 'api' })]));
    await engine.processBatch(S1, shardRecords(S1, [ev('d1', 0, { kind: 'deploy', service: 'api', version: 'v7' })], 5n));
    expect(published).toEqual([]);
    await engine.processBatch(S1, shardRecords(S1, [ev('x', 5, { kind: 'other', service: 'api' })], 10n));
    expect(published).toEqual([]);
    await engine.processBatch(S2, shardRecords(S2, [ev('y', 5, { kind: 'other', service: 'api' })], 10n));
    expect(published.map((p) => p.alertId)).toEqual([DEPLOY_MATCH]);
  });
});

describe.each(fixtures)('sequence store primitives ($name)', (fixture) => {
  const record = (dueAt: number | null, ordinal = 0): SequenceRecord => ({ hwms: { [S1]: '1'.padStart(129, '0') }, state: { w: T0, q: [], p: [] }, out: [], ordinal, dueAt });

  test('applySequence: a conditional write on the version; a second container rebuilds on what is stored; null writes nothing', async () => {
    const { store, another } = await fixture.fresh();
    const other = another();
    const first = await store.applySequence('R', '["a"]', (cur) => (cur === undefined ? record(T0 + M, 1) : null));
    expect(first).toEqual({ status: 'applied', record: record(T0 + M, 1), conflicts: 0 });
    const seen: Array<SequenceRecord | undefined> = [];
    const second = await other.applySequence('R', '["a"]', (cur) => {
      seen.push(cur);
      return record(T0 + 2 * M, (cur?.ordinal ?? 0) + 1);
    });
    expect(second.status).toBe('applied');
    expect(second.record?.ordinal).toBe(2);
    // In memory the truth is believed; on DynamoDB a cold container first builds on nothing, then on the stored record.
    expect(seen[seen.length - 1]).toEqual(record(T0 + M, 1));
    expect(second.conflicts).toBe(seen.length - 1);
    const unchanged = await store.applySequence('R', '["a"]', () => null);
    expect(unchanged.status).toBe('unchanged');
  });

  test('dueSequences: keys due strictly before the watermark, by due time then group', async () => {
    const { store } = await fixture.fresh();
    await store.applySequence('R', '["b"]', () => record(T0 + 2 * M));
    await store.applySequence('R', '["a"]', () => record(T0 + 2 * M));
    await store.applySequence('R', '["c"]', () => record(T0 + M));
    await store.applySequence('R', '["d"]', () => record(null));
    await store.applySequence('Other', '["a"]', () => record(T0));
    expect(await store.dueSequences('R', T0 + 2 * M)).toEqual([{ groupKey: '["c"]', dueAt: T0 + M }]);
    expect(await store.dueSequences('R', T0 + 2 * M + 1)).toEqual([
      { groupKey: '["c"]', dueAt: T0 + M },
      { groupKey: '["a"]', dueAt: T0 + 2 * M },
      { groupKey: '["b"]', dueAt: T0 + 2 * M },
    ]);
  });
});
