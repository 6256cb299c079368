/**
 * What the chaos runs' design turned up about event time, as the smallest
 * sequence of handler invocations that shows it (the chaos oracle keeps every
 * non-late record ahead of the stream watermark, so it cannot reach this path).
 */
import { descriptor } from '../../lambdas/core/Engine';
import { parsePipeline } from '../../lambdas/core/pipeline';
import { startTestDynamo } from '../helpers/dynamo';
import { b64, harness, records, T0 } from '../fuzz/harness';

const M = 60_000;
const PIPELINE = parsePipeline(
  `
streams:
  telemetry: { timestamp: ts, id: eventId, outOfOrderness: 0s, idleTimeout: 1m }
rules:
  - alert: Busy
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate: { n: 'count()' }
    when: 'n >= 1.0'
    emit: final
`,
  'findings.yaml',
);

let dynamo: { endpoint: string; stop: () => Promise<void> };
beforeAll(async () => {
  dynamo = await startTestDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

const onShard = (shardId: string, bodies: object[], firstSeq: number) =>
  records(bodies.map((b) => b64(JSON.stringify(b)))).map((r, i) => ({ ...r, shardId, sequenceNumber: String(10n ** 55n + BigInt(firstSeq + i)) }));

describe('lateness after the idle watermark closed a window', () => {
  it('a record for a window the stream watermark already closed is late whether or not its group had a state item there', async () => {
    // Regression test. Before 90ae6c6, Engine.fold judged lateness by the shard's own progress only and the store
    // refused only sealed items: a group with no item in the closed window got a new one, was counted, closed by
    // the next advance and alerted on minutes late (README: "Records for windows already closed are counted as
    // late"). Fixed by using the larger of the shard's and the stream's watermark.
    const h = await harness(dynamo.endpoint, PIPELINE);
    h.clock.t = T0 + 30_000;
    expect((await h.process(onShard('shardId-A', [{ eventId: 'a1', ts: T0 + 10_000, service: 'api' }], 1))).batchItemFailures).toEqual([]);
    expect((await h.process(onShard('shardId-B', [{ eventId: 'b1', ts: T0 + 20_000, service: 'web' }], 1))).batchItemFailures).toEqual([]);
    // Both shards idle: the watermark follows the wall clock (now - 1m) and closes window T0.
    h.clock.t = T0 + 10 * M;
    expect((await h.tick()).thrown).toBeUndefined();
    const before = h.messages().length;
    // Shard B speaks again, about window T0: once for a group that has an item there (sealed), once for one that has not.
    const res = await h.process(
      onShard(
        'shardId-B',
        [
          { eventId: 'b2', ts: T0 + 40_000, service: 'web' },
          { eventId: 'b3', ts: T0 + 30_000, service: 'db' },
        ],
        2,
      ),
    );
    expect(res.batchItemFailures).toEqual([]);
    await h.tick();
    const web = await h.runtime.store.read(descriptor('Busy', '["web"]', { start: T0, end: T0 + M }));
    const db = await h.runtime.store.read(descriptor('Busy', '["db"]', { start: T0, end: T0 + M }));
    const counts = (s: typeof web) => Object.values(s?.slots ?? {}).reduce((n, slot) => n + (slot.partial as { n: number }).n, 0);
    const newAlerts = h.messages().slice(before);
    expect({ web: counts(web), db: counts(db), newAlerts }).toEqual({ web: 1, db: 0, newAlerts: [] });
  });
});
