/**
 * Many events in one Kinesis record (KPL aggregates from aws-kinesis-agg):
 * the engine applies a record whole or not at all. A batch that must stop
 * (a key write failed, a rule reached its group cap) stops at the first event
 * of a record, so that Lambda's retry from that record's sequence number
 * neither skips nor repeats any of its events, although the high-water mark
 * is kept per record.
 */
import { Engine } from '../../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import { RuleAggregates, type FixedPartialJson } from '../../../lambdas/core/partials';
import type { KinesisLikeRecord, WindowRule } from '../../../lambdas/core/types';
import type { ApplyOutcome, KeyDescriptor, SlotBuilder } from '../../../lambdas/core/StateStore';
import { kplAggregate } from '../../../local/producer/encode';
import { countAgg, kinesisRecordFactory, pipelineOf, streamSpec, T0, windowRule } from '../../helpers/factories';

const rule = windowRule({ aggregates: [countAgg('total')] });

/** A store whose apply fails for the keys `failing` names, until it is emptied. */
class FlakyStore extends InMemoryStateStore {
  failing = new Set<string>();
  override async apply(key: KeyDescriptor, shardId: string, build: SlotBuilder): Promise<ApplyOutcome> {
    if (this.failing.has(key.groupKey)) throw new Error(`injected failure for ${key.groupKey}`);
    return super.apply(key, shardId, build);
  }
}

async function kplRecord(services: string[], first: number): Promise<KinesisLikeRecord> {
  const [agg] = await kplAggregate(services.map((service, i) => ({ partitionKey: 'p', data: Buffer.from(JSON.stringify({ ts: T0 + first + i, service, eventId: `e${first + i}` })) })));
  return kinesisRecordFactory(null, { rawData: agg!.data.toString('base64') });
}

function counts(store: InMemoryStateStore, r: WindowRule = rule): Record<string, number> {
  const aggs = new RuleAggregates(r);
  const out: Record<string, number> = {};
  for (const { key, state } of store.dump()) {
    const acc = aggs.create();
    for (const s of Object.values(state.slots)) aggs.merge(acc, aggs.deserialize(s.partial as FixedPartialJson));
    out[key.groupKey] = aggs.results(acc)['total'] as number;
  }
  return out;
}

function engineOf(store: InMemoryStateStore, maxGroups?: number) {
  return new Engine({
    pipeline: pipelineOf([rule], streamSpec({ dedupeHorizonMs: null })),
    stream: 'telemetry',
    store,
    clock: { now: () => T0 + 60_000 },
    publish: async () => {},
    ...(maxGroups !== undefined ? { maxGroupsPerRulePerBatch: maxGroups } : {}),
  });
}

describe('many events per record: exactly once', () => {
  it('a key that fails stops the batch at its record, and the retry from that record counts every event once', async () => {
    // Arrange: record B holds events of api, db and web; the db key fails on the first delivery.
    const store = new FlakyStore();
    const engine = engineOf(store);
    const a = await kplRecord(['api', 'web'], 0);
    const b = await kplRecord(['api', 'db', 'web'], 10);
    const c = await kplRecord(['db', 'api'], 20);
    store.failing.add('["db"]');

    // Act
    const first = await engine.processBatch('shardId-000000000000', [a, b, c]);
    store.failing.clear();
    const retried = [a, b, c].slice([a, b, c].findIndex((r) => r.sequenceNumber === first.retryFrom));
    const second = await engine.processBatch('shardId-000000000000', retried);

    // Assert
    expect(first.retryFrom).toBe(b.sequenceNumber);
    expect(second.retryFrom).toBeNull();
    expect(counts(store)).toEqual({ '["api"]': 3, '["db"]': 2, '["web"]': 2 });
  });

  it('a group cap reached in the middle of a record stops the batch at the record, not inside it', async () => {
    // Arrange: at most 2 groups per batch; record B's second event is the third group.
    const store = new InMemoryStateStore();
    const engine = engineOf(store, 2);
    const a = await kplRecord(['api', 'web'], 0);
    const b = await kplRecord(['api', 'db', 'web'], 10);

    // Act
    const first = await engine.processBatch('shardId-000000000000', [a, b]);
    const afterFirst = counts(store);
    const second = await engine.processBatch('shardId-000000000000', [b]);

    // Assert: nothing of B was applied by the first batch, all of it by the second (a batch's first
    // record goes through whole even when it alone holds more groups than the cap).
    expect([first.retryFrom, first.perRule['R']!.overflow]).toEqual([b.sequenceNumber, 1]);
    expect(afterFirst).toEqual({ '["api"]': 1, '["web"]': 1 });
    expect(second.retryFrom).toBeNull();
    expect(counts(store)).toEqual({ '["api"]': 2, '["db"]': 1, '["web"]': 2 });
  });

  it('a redelivered aggregate counts once; a repeated event id inside a record is a producer duplicate', async () => {
    const store = new InMemoryStateStore();
    const engine = new Engine({ pipeline: pipelineOf([rule], streamSpec({ dedupeHorizonMs: 600_000 })), stream: 'telemetry', store, clock: { now: () => T0 + 60_000 }, publish: async () => {} });
    const [agg] = await kplAggregate(['x', 'y', 'x'].map((id, i) => ({ partitionKey: 'p', data: Buffer.from(JSON.stringify({ ts: T0 + i, service: 'api', eventId: id })) })));
    const r = kinesisRecordFactory(null, { rawData: agg!.data.toString('base64') });
    const first = await engine.processBatch('shardId-000000000000', [r]);
    await engine.processBatch('shardId-000000000000', [r]);
    expect(first.duplicates).toBe(1);
    expect(counts(store)).toEqual({ '["api"]': 2 });
  });

  it('events missing a groupBy field are counted per rule and grouped nowhere (not under null); JSON null is a group', async () => {
    const store = new InMemoryStateStore();
    const engine = engineOf(store);
    const [agg] = await kplAggregate([{ service: 'api' }, {}, { service: null }, { other: 1 }].map((o, i) => ({ partitionKey: 'p', data: Buffer.from(JSON.stringify({ ts: T0 + i, ...o })) })));
    const report = await engine.processBatch('shardId-000000000000', [kinesisRecordFactory(null, { rawData: agg!.data.toString('base64') })]);
    expect([report.decoded, report.perRule['R']!.missingGroup, report.perRule['R']!.matched]).toEqual([4, 2, 2]);
    expect(counts(store)).toEqual({ '["api"]': 1, '[null]': 1 });
  });
});
