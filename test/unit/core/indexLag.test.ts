/**
 * Issue 19: closing windows when the due list lags behind writes (a GSI on
 * DynamoDB is eventually consistent). The store below hides, from dueKeys
 * only, keys created less than LAG ms ago (by the engine's clock); every
 * other read is strongly consistent, as on DynamoDB.
 */
import { Engine } from '../../../lambdas/core/Engine';
import { fn, pipelineOf, shardRecords, streamSpec, T0, windowRule } from '../../helpers/factories';
import { A, B, laggingEngine, M, type LaggingIndexStore } from '../../helpers/laggingIndex';

const setup = () => laggingEngine(windowRule({ when: fn('total >= 2', (v) => (v['total'] as number) >= 2) }));

describe('closing windows under index lag (issue 19)', () => {
  it('W1 created by a lagging shard that moves the watermark past W1 and W2 at once: W1 is closed before W2, not skipped (no alert record yet)', async () => {
    const { clock, store, engine, batch, summary } = setup();
    await batch(B, [['other', T0]]);
    // Shard A is ahead: api has one event in W2 (does not hold), and A's progress is at T0+5m.
    await batch(A, [
      ['api', T0 + M + 5_000],
      ['other', T0 + 5 * M],
    ]);
    clock.t += 10_000; // A's items are in the due index by now
    // Shard B (lagging) sends api's W1 (two events: holds) and moves the watermark to T0+5m in the same invocation.
    await batch(B, [
      ['api', T0 + 10_000],
      ['api', T0 + 20_000],
      ['other', T0 + 5 * M],
    ]);
    expect(store.hidden).toBeGreaterThan(0);
    clock.t += 10_000;
    await engine.advance();
    // Before the fix: [] (W2 closed first set evaluatedThrough past W1, which was then ignored).
    expect(summary()).toEqual(['firing api 0 {"total":2}', 'resolved api 1 {"total":1}']);
  });

  it('a firing group whose next window W1 lags in the index: no spurious resolve and new episode, W1 and W2 both hold', async () => {
    const { clock, store, engine, batch, summary } = setup();
    await batch(B, [['other', T0]]);
    await batch(A, [
      ['api', T0 + 1_000],
      ['api', T0 + 2_000],
      ['api', T0 + 2 * M + 1_000],
      ['api', T0 + 2 * M + 2_000],
      ['other', T0 + 5 * M],
    ]);
    clock.t += 10_000;
    await batch(B, [['other', T0 + M + 1_000]]); // closes W0: api fires
    expect(summary()).toEqual(['firing api 0 {"total":2}']);
    clock.t += 10_000;
    await batch(B, [
      ['api', T0 + M + 10_000],
      ['api', T0 + M + 20_000],
      ['other', T0 + 5 * M],
    ]);
    expect(store.hidden).toBeGreaterThan(0);
    clock.t += 10_000;
    await engine.advance();
    // Before the fix: firing 0, resolved 1 {} (W1 taken for an empty gap), firing 2 (a new episode), resolved 3.
    // W3 and W4 had nothing: W3 is sealed and judged empty (zero count), the alert resolves there.
    expect(summary()).toEqual(['firing api 0 {"total":2}', 'resolved api 3 {"total":0}']);
    expect(await store.read({ ...(await store.groupWindows('R', '["api"]', T0 + 2 * M, T0 + 3 * M))[0]!.key })).toEqual({ slots: {}, closed: true, closedThrough: null, closeAt: null, version: 1 });
  });

  it('a record that reaches a window after it was judged empty is counted late (sealed), not stored', async () => {
    const { clock, store, engine, batch, summary } = setup();
    await batch(B, [['other', T0]]);
    await batch(A, [
      ['api', T0 + 1_000],
      ['api', T0 + 2_000],
      ['other', T0 + 5 * M],
    ]);
    clock.t += 10_000;
    await batch(B, [['other', T0 + 5 * M]]); // W0 closes (api fires), W1 is judged empty (api resolves)
    await engine.advance();
    expect(summary()).toEqual(['firing api 0 {"total":2}', 'resolved api 1 {"total":0}']);
    // A processor that read the stream watermark before W1 was judged (a stale read: here, a new shard
    // with no progress and the watermark read as -Infinity) writes to W1: the closed marker refuses it.
    const stale = new Engine({
      pipeline: pipelineOf([windowRule({ when: fn('total >= 2', (v) => (v['total'] as number) >= 2) })], streamSpec({ idleTimeoutMs: 3_600_000 })),
      stream: 'telemetry',
      store: Object.assign(Object.create(store) as LaggingIndexStore, { getStreamWatermark: async () => -Infinity }),
      clock,
      publish: async () => undefined,
    });
    const r = await stale.processBatch('shardId-C', shardRecords('shardId-C', [{ eventId: 'c1', service: 'api', ts: T0 + M + 30_000 }]));
    expect({ late: r.late, perRule: r.perRule['R']!.late, firstLate: r.perRule['R']!.firstLate, error: r.error }).toEqual({ late: 1, perRule: 1, firstLate: { eventTime: T0 + M + 30_000, watermark: -Infinity }, error: null });
    expect(await store.read((await store.groupWindows('R', '["api"]', T0, T0 + M))[0]!.key)).toEqual({ slots: {}, closed: true, closedThrough: null, closeAt: null, version: 1 });
  });
});
