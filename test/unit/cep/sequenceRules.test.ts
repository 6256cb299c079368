import { SequenceRules } from '../../../lambdas/core/cep/SequenceRules';
import { DecodedBatch } from '../../../lambdas/core/decode';
import type { RuleBatchStats } from '../../../lambdas/core/fold';
import { InMemoryStateStore } from '../../../lambdas/core/InMemoryStateStore';
import { parsePipeline } from '../../../lambdas/core/pipeline';
import type { KinesisLikeRecord, SequenceRule } from '../../../lambdas/core/types';

/**
 * SequenceRules.processBatch's first pass: per rule, what each event was
 * (filtered, missing its key, ignored, keyed), the key cap, lateness bounds
 * and the batch's largest event time, counted only for the events the batch
 * applies when one rule's cap stops it.
 */

const rule = (name: string, by: string, where?: string) => [
  `  - alert: ${name}`,
  '    stream: telemetry',
  ...(where === undefined ? [] : [`    where: '${where}'`]),
  '    sequence:',
  `      by: [${by}]`,
  '      within: 1m',
  '      steps:',
  "        - where: 'kind == \"a\"'",
  "        - where: 'kind == \"b\"'",
];
const PIPELINE = parsePipeline(
  ['streams:', '  telemetry:', '    timestamp: ts', '    outOfOrderness: 5s', 'rules:', ...rule('ByJob', 'job', 'x > 0.0'), ...rule('ByHost', 'host')].join('\n') + '\n',
  'p.yaml',
);
const STREAM = PIPELINE.streams.get('telemetry')!;
const RULES = PIPELINE.rules.filter((r): r is SequenceRule => r.type === 'sequence');
const T0 = Date.UTC(2026, 0, 1);

function record(n: number): KinesisLikeRecord {
  return { data: '', partitionKey: 'p', sequenceNumber: String(1000 + n), approximateArrivalTimestamp: T0 / 1000, shardId: 'shard-1' };
}

const zero = (): RuleBatchStats => ({ matched: 0, late: 0, filterErrors: 0, valueErrors: 0, conditionErrors: 0, overflow: 0, missingGroup: 0 });

describe('SequenceRules.processBatch', () => {
  test('a later rule over the key cap stops the batch at a record: every rule counts only the events before it', async () => {
    const events = new DecodedBatch(8);
    const r = [0, 1, 2, 3].map(record);
    // Record 0: keyed for both; record 1: a new host; record 2 (three events): host h1 again,
    // an ignored event, then a third host, over ByHost's cap of 2 keys; record 3 never reached by ByHost.
    events.push({ kind: 'a', job: 'j1', host: 'h1', x: 1 }, T0 + 1000, r[0]!);
    events.push({ kind: 'a', job: 'j1', host: 'h2', x: 1 }, T0 + 9000, r[1]!);
    events.push({ kind: 'a', job: 'j1', host: 'h1', x: 1 }, T0 + 2000, r[2]!, 0);
    events.push({ kind: 'z', job: 'j1', host: 'h9', x: 1 }, T0 + 2000, r[2]!, 1);
    events.push({ kind: 'a', job: 'j2', host: 'h3', x: 1 }, T0 + 3000, r[2]!, 2);
    events.push({ kind: 'a', host: 'h1', x: 1 }, T0 + 4000, r[3]!);
    events.push({ kind: 'a', job: 'j3', host: 'h1', x: 'no' }, T0 + 4000, r[3]!);
    events.push({ kind: 'a', job: 'j3', host: 'h1', x: 0 }, T0 + 4000, r[3]!);
    const perRule = { ByJob: zero(), ByHost: zero() };
    const store = new InMemoryStateStore();
    const seq = new SequenceRules(STREAM, RULES, store, async () => [], async () => [], 2);
    let batchMax: number | null = null;
    const out = await seq.processBatch('shard-1', events, events.length, (m) => ((batchMax = m), T0 + 2500), { priorMax: T0, streamWatermark: -Infinity }, perRule);
    expect(out.failedAt).toBe(2);
    expect(String(out.failures[0])).toContain('a sequence rule reached 2 keys in this batch: the batch stops at sequence number 1002');
    // The largest time of every event below upTo, whatever the cap.
    expect(batchMax).toBe(T0 + 9000);
    expect(perRule.ByJob).toMatchObject({ matched: 2, missingGroup: 0, filterErrors: 0, overflow: 0, sequence: expect.objectContaining({ ignored: 0 }) });
    expect(perRule.ByHost).toMatchObject({ matched: 2, missingGroup: 0, filterErrors: 0, overflow: 1, sequence: expect.objectContaining({ ignored: 0 }) });
    expect(out.written).toBe(3);
  });

  test('without a cap every event is counted: filter errors, missing keys, ignored; late events against the shard before them', async () => {
    const events = new DecodedBatch(8);
    const r = [0, 1, 2, 3, 4, 5].map(record);
    events.push({ kind: 'a', job: 'j1', host: 'h1', x: 1 }, T0 + 20_000, r[0]!);
    // 10s behind the batch's largest time so far (20s): late (outOfOrderness 5s).
    events.push({ kind: 'b', job: 'j1', host: 'h1', x: 1 }, T0 + 10_000, r[1]!);
    events.push({ kind: 'b', job: 'j1', host: 'h1', x: 1 }, T0 + 16_000, r[2]!);
    events.push({ kind: 'z', job: 'j1', host: 'h1', x: 1 }, T0 + 16_000, r[3]!);
    events.push({ kind: 'a', host: 'h2', x: 1 }, T0 + 16_000, r[4]!);
    events.push({ kind: 'a', job: 'j2', x: 'no' }, T0 + 16_000, r[5]!);
    const perRule = { ByJob: zero(), ByHost: zero() };
    const seq = new SequenceRules(STREAM, RULES, new InMemoryStateStore(), async () => [], async () => []);
    const out = await seq.processBatch('shard-1', events, events.length, () => T0 + 30_000, { priorMax: T0, streamWatermark: -Infinity }, perRule);
    expect(out.failures).toEqual([]);
    expect(out.failedAt).toBe(Infinity);
    // ByJob: x > 0.0 fails on "no" (a filter error); h2 has no job; z is ignored.
    expect(perRule.ByJob).toMatchObject({ matched: 4, missingGroup: 1, filterErrors: 1, late: 1, sequence: expect.objectContaining({ ignored: 1, late: 1 }) });
    // ByHost: the event without a host is missing its key.
    expect(perRule.ByHost).toMatchObject({ matched: 5, missingGroup: 1, filterErrors: 0, late: 1, sequence: expect.objectContaining({ ignored: 1, late: 1 }) });
    expect(out.late).toBe(2);
  });
});
