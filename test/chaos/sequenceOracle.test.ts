/**
 * The chaos oracle's sequence part (sequenceOracle.ts) on hand-made shards:
 * the one ambiguous case (a child shard's events older than its finished
 * parent's watermark, before the child reports) and nothing else.
 */
import { parsePipeline } from '../../lambdas/core/pipeline';
import type { SequenceRule } from '../../lambdas/core/types';
import type { EventMeta, SimRecord } from './kinesis';
import { chaosPipeline } from './oracle';
import { expectedMatches, inheritedBound, type OracleShard } from './sequenceOracle';
import { STREAM } from './world';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const S = 1000;
const pipeline = parsePipeline(chaosPipeline('json'), 'chaos-pipeline.yaml');
const spec = pipeline.streams.get(STREAM)!;
const rules = pipeline.rules.filter((r): r is SequenceRule => r.type === 'sequence' && r.name === 'ErrorUnanswered');

let seq = 1;
function shard(id: string, parents: string[], events: Array<[id: string, seconds: number, status: number, user: string]>): OracleShard {
  const records: SimRecord[] = events.map(([eventId, s, status, user]) => {
    const meta: EventMeta = { kind: 'event', eventId, t: T0 + s * S, service: 'api', status, latencyMs: 1, user };
    return { data: '', partitionKey: 'api', sequenceNumber: String(seq++), approximateArrivalTimestamp: 0, shardId: id, meta };
  });
  return { id, parents, records };
}

// Chaos seed 195, reduced: shard 2 is split into 4; 2's last event is at 10:01:48.379 (watermark 10:01:38.379,
// out-of-orderness 10 s); on 4, after its first event (10:01:40.001), an error of u20 at 10:01:35.255: not late for
// 4's own watermark (10:01:30.001), but the stream's watermark may already be at 2's final one when 4 first reports.
const shards = [
  shard('s0', [], [['h0', 0, 200, 'hello'], ['x0', 200, 200, 'other']]),
  shard('s2', [], [['h2', 0, 200, 'hello'], ['last', 108.379, 200, 'other']]),
  shard('s4', ['s2'], [['h4', 100.001, 200, 'hello'], ['e65', 95.255, 502, 'u20'], ['e70', 130, 502, 'u21']]),
];

test('a shard known from the start has no bound; a child is bounded by its parent\'s final watermark', () => {
  expect(spec.outOfOrdernessMs).toBe(10 * S);
  expect(Object.fromEntries(inheritedBound(shards, spec))).toEqual({ s0: -Infinity, s2: -Infinity, s4: T0 + 98.379 * S });
});

test('an ambiguous event: either outcome, the one the engine published; sure events stay sure', () => {
  const all = expectedMatches(shards, spec, rules);
  // Without what was published, every accepted event counts (the old oracle: e65 must fire).
  expect(all.map((m) => [m.group, m.eventIds])).toEqual([
    ['["u20"]', ['e65']],
    ['["u21"]', ['e70']],
  ]);
  const u20 = all[0]!.transitionId;
  const u21 = all[1]!.transitionId;
  // The engine counted e65 late (seed 195): the oracle takes it, as e65 is ambiguous.
  expect(expectedMatches(shards, spec, rules, new Set([u21])).map((m) => m.eventIds)).toEqual([['e70']]);
  // Or it matched it: taken as well.
  expect(expectedMatches(shards, spec, rules, new Set([u20, u21])).map((m) => m.eventIds)).toEqual([['e65'], ['e70']]);
  // e70 (10:02:10) is past the bound: not ambiguous, its match stays expected when the engine did not publish it.
  expect(expectedMatches(shards, spec, rules, new Set([u20])).map((m) => m.eventIds)).toEqual([['e65'], ['e70']]);
});

test('without a reshard nothing is ambiguous (chaos seed 86: a wrongly accepted late event stays a violation)', () => {
  const flat = [shard('s1', [], [['h1', 0, 200, 'hello'], ['big', 60, 200, 'other'], ['late', 45, 502, 'u1']])];
  // 'late' (10:00:45) is before s1's watermark (10:00:50): late by the records, so no match whatever was published.
  expect(expectedMatches(flat, spec, rules, new Set(['anything:firing']))).toEqual([]);
});
