/**
 * The anomaly model kept in the alert record (lambdas/core/anomaly/rule.ts,
 * modelInAlertRecord; issue 21): the same answers from the in-memory store and
 * from DynamoDB (dynalite), and on DynamoDB the exact requests a closed window
 * costs.
 *
 * - A closed window of a robust rule learns its model in the alert record's
 *   one conditional write: no model item is read or written (one write and one
 *   read fewer than a seasonal rule's close, which keeps the model item: the
 *   path every anomaly rule took before).
 * - Exactly once: a retried close (another container, after a crash between
 *   the learning write and the window's finish) and two concurrent closers
 *   learn the window once and decide on the one stored verdict.
 * - Stored formats: an alert record from before the move (no model) and the
 *   model item the old code wrote: the first close reads the item once and
 *   continues it, moving it into the record; later closes read no model item.
 * - A confirm after a publish keeps the model in the record.
 */
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { learnInAlert, learnStep, MODEL_RETENTION_MS, storedVerdict, type AnomalySpec, type ModelRecord } from '../../lambdas/core/anomaly/rule';
import { DEFAULT_ANOMALY_OPTIONS, type AnomalyVerdict } from '../../lambdas/core/anomaly/types';
import { Engine, type ClosedWindow } from '../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../lambdas/core/InMemoryStateStore';
import type { AlertState, AlertTransition, StepResult } from '../../lambdas/core/lifecycle';
import { parsePipeline } from '../../lambdas/core/pipeline';
import type { Claim, StateStore } from '../../lambdas/core/StateStore';
import { anomalyPipelineText } from '../helpers/anomalyPipeline';
import { freshTable, instrumentedClient, returnOldItemOnConditionFailure, startTestDynamo, type RequestLog, type TestDynamo } from '../helpers/dynamo';
import { shardRecords, T0 } from '../helpers/factories';

const M = 60_000;
const SHARD = 'shardId-000000000000';
const G = JSON.stringify(['checkout']);

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

interface Stores {
  readonly store: StateStore;
  /** Another container on the same state (its own caches), with its own request log on DynamoDB. */
  another(): { store: StateStore; log?: RequestLog };
  /** DynamoDB: the requests made (undefined in memory). */
  readonly log?: RequestLog;
}

const fixtures: Array<{ name: string; fresh(): Promise<Stores> }> = [
  {
    name: 'in memory',
    fresh: async () => {
      const store = new InMemoryStateStore();
      return { store, another: () => ({ store: new InMemoryStateStore({ sharing: store }) }) };
    },
  },
  {
    name: 'DynamoDB',
    fresh: async () => {
      const tableName = await freshTable(dynamo.endpoint);
      const logged = () => {
        const { client, log } = instrumentedClient(dynamo.endpoint);
        // A failed condition hands back the stored item, as DynamoDB does (dynalite does not).
        returnOldItemOnConditionFailure(client, dynamo.endpoint);
        return { store: new DynamoDBStateStore({ client, tableName }), log };
      };
      const first = logged();
      return { ...first, another: logged };
    },
  },
];

const spec: AnomalySpec = { of: 'errors', detector: 'robust', options: { ...DEFAULT_ANOMALY_OPTIONS, warmup: 2 }, fill: null };
const claimAt = (now: number): Claim => ({ now, leaseMs: 30_000 });

/** The model a replay of the series learns (the independent expectation). */
function replayed(series: ReadonlyArray<[number, number]>): ModelRecord | undefined {
  let r: ModelRecord | undefined;
  for (const [start, v] of series) r = learnStep(spec, r, start, v, M) ?? r;
  return r;
}

/**
 * A lifecycle as onWindowClosed is: idempotent per window (evaluatedThrough), firing on a
 * verdict outside the band. `decided` records the verdict of every run.
 */
function lifecycle(start: number, decided: Array<AnomalyVerdict | null>) {
  return (s: AlertState, verdict: AnomalyVerdict | null): StepResult => {
    decided.push(verdict);
    if (s.evaluatedThrough !== null && start <= s.evaluatedThrough) return { state: s, transitions: [] };
    const state = { ...s, evaluatedThrough: start, evaluatedEnd: start + M };
    if (verdict === null || verdict.score <= 0.99 || s.status === 'firing') return { state, transitions: [] };
    const t: AlertTransition = { alertId: `a${start}`, transitionId: `a${start}:firing`, rule: 'R', state: 'firing', severity: 'warning', group: { service: 'checkout' }, labels: {}, window: { start, end: start + M }, values: { errors: 0 }, annotations: {}, at: start + M, anomaly: verdict };
    return { state: { ...state, status: 'firing', alertId: t.alertId }, transitions: [t] };
  };
}

/** Closes window `start` of (R, checkout) with `value` errors the way the engine does; the verdict the written step decided on. */
async function close(store: StateStore, start: number, value: number, decided: Array<AnomalyVerdict | null> = []): Promise<{ verdict: AnomalyVerdict | null | undefined; claimed: readonly AlertTransition[] }> {
  const seen: { verdict?: AnomalyVerdict | null } = {};
  const r = await store.updateAlert('R', G, learnInAlert(spec, start, { errors: value }, M, lifecycle(start, decided), seen), claimAt(T0 + 30 * M), undefined, { model: true });
  return { verdict: seen.verdict, claimed: r.claimed };
}

const ops = (log: RequestLog | undefined, prefix: string) => (log ? log.requests.filter((r) => r.request?.op.startsWith(prefix)).map((r) => `${r.request!.op}${r.conditionFailed ? ' (failed)' : ''}`) : undefined);

describe.each(fixtures)('anomaly model in the alert record: $name', (fixture) => {
  it('learns each window in the record: one conditional write of the alert item per closed window, no model item', async () => {
    const { store, log } = await fixture.fresh();
    const series: Array<[number, number]> = [[T0, 10], [T0 + M, 12], [T0 + 2 * M, 11]];
    for (const [start, v] of series) await close(store, start, v);
    // The first close found no model in the record (no record yet) and read the model item once; the others read nothing more.
    expect(ops(log, '')).toEqual(log ? ['alert.read', 'model.read', 'alert.record', 'alert.read', 'alert.record', 'alert.read', 'alert.record'] : undefined);
    const record = await store.readAlert('R', G);
    expect(record?.model).toEqual(replayed(series));
    expect(record?.state.evaluatedThrough).toBe(T0 + 2 * M);
    expect(await store.updateModel('R', G, () => null)).toBeUndefined();
  });

  it('a model kept in the record ends with its retention, as a model item does by its TTL: a group back after 30 days warms up again', async () => {
    const { store } = await fixture.fresh();
    const series: Array<[number, number]> = [[T0, 10], [T0 + M, 12], [T0 + 2 * M, 11], [T0 + 3 * M, 10]];
    for (const [start, v] of series) await close(store, start, v);
    expect((await close(store, T0 + 4 * M, 11)).verdict?.warming).toBe(false);
    // Within the retention (exactly 30 days after the last learned window) the model goes on; past it, a fresh one.
    const within = T0 + 4 * M + MODEL_RETENTION_MS;
    expect((await close(store, within, 11)).verdict?.warming).toBe(false);
    const back = within + MODEL_RETENTION_MS + M;
    const after = await close(store, back, 11);
    expect(after.verdict?.warming).toBe(true);
    expect((await store.readAlert('R', G))?.model).toEqual(replayed([[back, 11]]));
  });

  it('a retried close (another container, after the learning write) writes nothing and decides on the stored verdict', async () => {
    const { store, another } = await fixture.fresh();
    await close(store, T0, 10);
    const first = await close(store, T0 + M, 12);
    const stored = await store.readAlertVersion('R', G);
    // The retry sees another value: the window was sealed, it cannot change; a second learning would show here.
    const b = another();
    const decided: Array<AnomalyVerdict | null> = [];
    const again = await close(b.store, T0 + M, 99, decided);
    expect(again.verdict).toEqual(first.verdict);
    expect(decided).toEqual([first.verdict]);
    expect(await store.readAlertVersion('R', G)).toEqual(stored);
    expect(stored?.record.model).toEqual(replayed([[T0, 10], [T0 + M, 12]]));
    expect(storedVerdict(stored?.record.model, T0 + M)).toEqual(first.verdict);
    // The retry read the record, and nothing else: it decided to write nothing.
    expect(ops(b.log, '')).toEqual(b.log ? ['alert.read'] : undefined);
    // An older window than the last learned is not learned either.
    await close(store, T0, 50);
    expect(await store.readAlertVersion('R', G)).toEqual(stored);
  });

  it('two containers closing the same window concurrently: one learning write takes effect, both decide on its verdict', async () => {
    const { store, another } = await fixture.fresh();
    await close(store, T0, 10);
    await close(store, T0 + M, 12);
    const before = await store.readAlertVersion('R', G);
    const a = another();
    const b = another();
    const decidedA: Array<AnomalyVerdict | null> = [];
    const decidedB: Array<AnomalyVerdict | null> = [];
    const [x, y] = await Promise.all([close(a.store, T0 + 2 * M, 40, decidedA), close(b.store, T0 + 2 * M, 40, decidedB)]);
    const want = replayed([[T0, 10], [T0 + M, 12], [T0 + 2 * M, 40]]);
    const after = await store.readAlertVersion('R', G);
    expect(after?.version).toBe(before!.version + 1);
    expect(after?.record.model).toEqual(want);
    const verdict = storedVerdict(want, T0 + 2 * M);
    expect(verdict!.score).toBeGreaterThan(0.99);
    expect([x.verdict, y.verdict]).toEqual([verdict, verdict]);
    // The spike fired once: recorded and claimed by the one write that took effect.
    expect([...x.claimed, ...y.claimed].map((t) => t.transitionId)).toEqual([`a${T0 + 2 * M}:firing`]);
    expect(after?.record.outbox.map((o) => o.transition.anomaly)).toEqual([verdict]);
    // Both decided on the record as read; the loser's write failed, and it decided again on the stored record (the
    // window learned: the stored verdict, nothing to write).
    expect([decidedA.length, decidedB.length].sort()).toEqual([1, 2]);
    expect([...decidedA, ...decidedB]).toEqual([verdict, verdict, verdict]);
    // On DynamoDB the failed write handed the stored item back: no read after it.
    const both = [ops(a.log, ''), ops(b.log, '')].map((l) => l?.join(', ')).sort();
    expect(both).toEqual(a.log ? ['alert.read, alert.record', 'alert.read, alert.record (failed)'] : [undefined, undefined]);
  });

  it('an alert record and a model item from before the move: the first close reads the item once and continues it; the next reads none', async () => {
    const { store, log, another } = await fixture.fresh();
    // The old code: the model item learned minutes 0-2 (StateStore.updateModel), the alert record was stepped without a model.
    for (const [start, v] of [[T0, 10], [T0 + M, 12], [T0 + 2 * M, 11]] as const) {
      await store.updateModel('R', G, (cur) => learnStep(spec, cur, start, v, M));
      await store.updateAlert('R', G, (s) => ({ state: { ...s, evaluatedThrough: start, evaluatedEnd: start + M }, transitions: [] }), claimAt(T0 + 30 * M));
    }
    expect((await store.readAlert('R', G))?.model).toBeUndefined();
    log?.reset();
    const b = another();
    const first = await close(b.store, T0 + 3 * M, 13);
    const want = replayed([[T0, 10], [T0 + M, 12], [T0 + 2 * M, 11], [T0 + 3 * M, 13]]);
    expect((await store.readAlert('R', G))?.model).toEqual(want);
    expect(first.verdict).toEqual(storedVerdict(want, T0 + 3 * M));
    expect(ops(b.log, '')).toEqual(b.log ? ['alert.read', 'model.read', 'alert.record'] : undefined);
    b.log?.reset();
    await close(b.store, T0 + 4 * M, 12);
    expect(ops(b.log, '')).toEqual(b.log ? ['alert.read', 'alert.record'] : undefined);
    expect((await store.readAlert('R', G))?.model).toEqual(replayed([[T0, 10], [T0 + M, 12], [T0 + 2 * M, 11], [T0 + 3 * M, 13], [T0 + 4 * M, 12]]));
  });

  it('an old closer that learned a window in the model item and crashed before its alert step: the new close takes the stored verdict, learns nothing again', async () => {
    const { store } = await fixture.fresh();
    await store.updateModel('R', G, (cur) => learnStep(spec, cur, T0, 10, M));
    await store.updateAlert('R', G, (s) => ({ state: { ...s, evaluatedThrough: T0, evaluatedEnd: T0 + M }, transitions: [] }), claimAt(T0 + 30 * M));
    const old = await store.updateModel('R', G, (cur) => learnStep(spec, cur, T0 + M, 12, M));
    const decided: Array<AnomalyVerdict | null> = [];
    const r = await close(store, T0 + M, 99, decided);
    expect(r.verdict).toEqual(storedVerdict(old, T0 + M));
    expect(decided).toEqual([storedVerdict(old, T0 + M)]);
    const record = await store.readAlert('R', G);
    expect(record?.model).toEqual(old);
    expect(record?.state.evaluatedThrough).toBe(T0 + M);
  });

  it('confirming and releasing published transitions keep the model in the record', async () => {
    const { store } = await fixture.fresh();
    await close(store, T0, 10);
    await close(store, T0 + M, 12);
    const spike = await close(store, T0 + 2 * M, 40);
    expect(spike.claimed).toHaveLength(1);
    const ids = spike.claimed.map((t) => t.transitionId);
    await store.releaseClaims('R', G, ids);
    await store.confirmPublished('R', G, ids);
    const record = await store.readAlert('R', G);
    expect(record?.outbox).toEqual([]);
    expect(record?.model).toEqual(replayed([[T0, 10], [T0 + M, 12], [T0 + 2 * M, 40]]));
  });
});

// ------------------------------------------------------------------ the engine's requests per closed window

/** Minute i of `checkout`: `errors` 503s and 15 200s. */
function minute(i: number, errors: number) {
  const out = [];
  for (let k = 0; k < errors + 15; k++) out.push({ eventId: `checkout-${i}-${k}`, service: 'checkout', ts: new Date(T0 + i * M + k * 100).toISOString(), status: k < errors ? 503 : 200 });
  return out;
}

describe('a closed window of an anomaly rule on DynamoDB: requests', () => {
  /** Runs minutes 0..n-1 of checkout through an engine; the requests of the batch that closes the last one (minute n's). */
  async function lastClose(anomaly: string, n: number): Promise<{ log: RequestLog; closed: ClosedWindow[] }> {
    const tableName = await freshTable(dynamo.endpoint);
    const { client, log } = instrumentedClient(dynamo.endpoint);
    const store = new DynamoDBStateStore({ client, tableName });
    const pipeline = parsePipeline(anomalyPipelineText({ anomaly, minTotal: 20, summary: '{{service}}' }), 'anomaly.yaml');
    const closed: ClosedWindow[] = [];
    const engine = new Engine({ pipeline, stream: 'telemetry', store, clock: { now: () => T0 + 30 * M }, publish: async () => {}, onWindowClosed: (w) => closed.push(w) });
    let seq = 1n;
    for (let i = 0; i <= n; i++) {
      if (i === n) log.reset();
      const recs = minute(i, 10 + (i % 3));
      const report = await engine.processBatch(SHARD, shardRecords(SHARD, recs, seq));
      expect(report.error).toBeNull();
      seq += BigInt(recs.length);
    }
    return { log, closed };
  }
  const closing = (log: RequestLog) =>
    log.requests.filter((r) => /^(alert|model)\./.test(r.request?.op ?? '') || ['aggregate.seal', 'aggregate.finish', 'aggregate.read'].includes(r.request?.op ?? '')).map((r) => `${r.command.replace('Command', '')} ${r.request!.op}`);
  /** The close's writes (the batch's aggregate, dedupe and progress writes aside). */
  const writes = (log: RequestLog) => closing(log).filter((r) => /^(Put|Update)Item/.test(r)).length;

  it('robust (the model in the alert record): seal, read, one alert write learning the model, finish; no model item', async () => {
    const { log, closed } = await lastClose('{ of: errors, direction: up, warmup: 2 }', 4);
    expect(closed.map((w) => w.window.start)).toEqual([T0, T0 + M, T0 + 2 * M, T0 + 3 * M]);
    // (then the advance's query of the rule's active alerts)
    // (the first read: the window is listed in a due bucket, so the closer checks it is not finished already, Engine.closeGroup)
    expect(closing(log)).toEqual(['GetItem alert.read', 'GetItem aggregate.read', 'UpdateItem aggregate.seal', 'GetItem aggregate.read', 'PutItem alert.record', 'UpdateItem aggregate.finish', 'Query alert.list']);
    expect(log.requests.filter((r) => r.request?.item === 'model')).toEqual([]);
    expect(writes(log)).toBe(3);
  });

  it('seasonal (its own model item, the path every anomaly rule took before): one model read and one model write more', async () => {
    const { log, closed } = await lastClose('{ of: errors, direction: up, detector: seasonal, season: day, warmup: 2 }', 4);
    expect(closed.map((w) => w.window.start)).toEqual([T0, T0 + M, T0 + 2 * M, T0 + 3 * M]);
    expect(closing(log)).toEqual(['GetItem alert.read', 'GetItem aggregate.read', 'UpdateItem aggregate.seal', 'GetItem aggregate.read', 'GetItem model.read', 'PutItem model.learn', 'PutItem alert.record', 'UpdateItem aggregate.finish', 'Query alert.list']);
    expect(writes(log)).toBe(4);
  });
});
