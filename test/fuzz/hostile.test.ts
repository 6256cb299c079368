/**
 * Hostile and broken input through the REAL processor handler (and the ticker)
 * against dynalite: invalid base64, non-UTF-8, truncated and deeply nested
 * JSON, huge strings and arrays, prototype-pollution keys, numbers as strings,
 * NaN/Infinity, absurd timestamps, group values with separator characters or
 * megabytes long, multibyte group keys, and a group-key cardinality explosion.
 *
 * Invariants: every record is quarantined with its reason (and its data byte
 * for byte) or processed with exact aggregates; one record never makes the
 * batch fail; Object.prototype is not polluted; no item exceeds 400 KB and no
 * key exceeds DynamoDB's byte limits; memory stays bounded.
 *
 * The property runs 25 batches from a fixed seed; FUZZ_RUNS=500 FUZZ_SEED=<n>
 * explores further (a failure prints a shrunk counterexample, each record
 * shown by its label).
 */
import fc from 'fast-check';
import { distinctAggregator } from '../../lambdas/core/aggregates/distinct';
import { descriptor } from '../../lambdas/core/Engine';
import { groupOf, hasGroupFields } from '../../lambdas/core/group';
import { RuleAggregates, type FixedPartialJson } from '../../lambdas/core/partials';
import { parsePipeline } from '../../lambdas/core/pipeline';
import type { JsonObject, RejectReason, WindowRule } from '../../lambdas/core/types';
import { aggregateLayout, ATTR, fromAttributeValues, kindOf } from '../../lambdas/adapters/dynamodb/tableLayout';
import { startTestDynamo } from '../helpers/dynamo';
import { b64, collectGarbage, harness, itemBytes, MAX_ITEM_BYTES, MINUTE, NOW, records, T0, type Harness } from './harness';

const PIPELINE = parsePipeline(
  `
streams:
  telemetry:
    timestamp: ts
    id: eventId
    outOfOrderness: 1h
    maxFuture: 5m
    idleTimeout: 1h
rules:
  - alert: Fuzz
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate:
      n: 'count()'
      total: 'sum(value)'
      lo: 'min(value)'
      hi: 'max(value)'
      users: 'distinct(user)'
    when: 'n >= 1.0'
    emit: final
  - alert: Pair
    stream: telemetry
    groupBy: [service, region]
    window: { tumbling: 1m }
    aggregate:
      n: 'count()'
    when: 'n >= 1.0'
    emit: final
`,
  'fuzz-pipeline.yaml',
);
const RULES = PIPELINE.rules.filter((r): r is WindowRule => r.type === 'window');

let endpoint: string;
let stopDynalite: () => Promise<void>;
beforeAll(async () => {
  const d = await startTestDynamo();
  endpoint = d.endpoint;
  stopDynalite = d.stop;
});
afterAll(async () => {
  await stopDynalite();
});

// ------------------------------------------------------------------ generators

/** A generated record: its data (as Lambda delivers it) and what must become of it. */
interface Gen {
  readonly data: string;
  /** null: a valid event (processed); else the reasons it may be quarantined for. */
  readonly reject: readonly RejectReason[] | null;
  readonly label: string;
}

/** A record as fast-check prints it in a counterexample: its label, not megabytes of base64. */
function gen(data: string, reject: readonly RejectReason[] | null, label: string): Gen {
  return { data, reject, label, [fc.toStringMethod]: () => `<${label.slice(0, 160)}${reject ? ` → ${reject.join('|')}` : ''}>` } as Gen;
}

/** Uniform choice (fc.constantFrom alone favours the first entries, so long lists' tails would rarely be tried). */
const pick = <T>(...values: T[]): fc.Arbitrary<T> => fc.noBias(fc.constantFrom(...values));

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__'] as const;
const protoKey = pick(...PROTO_KEYS);
// Group values that look like the table's own keys: the partition key of rule Fuzz, group ["x"], and the sort key of window 0.
const keyLike = aggregateLayout.key(descriptor('Fuzz', '["x"]', { start: 0, end: MINUTE }));
const separator = pick('#', '\u0000', '\u0001', '|', '"', "'", '\\', '#|\u0000\u0001"\'', keyLike.pk, '["a","b"]', keyLike.sk, 'a\u0001b');
const loneSurrogates = fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 3 });
const multibyte = fc.integer({ min: 100, max: 300 }).map((n) => '中'.repeat(n));
const long = fc.tuple(fc.integer({ min: 257, max: 3000 }), fc.string({ maxLength: 3 })).map(([n, s]) => s + 'x'.repeat(n));
const groupText = fc.oneof(protoKey, separator, loneSurrogates, multibyte, long, fc.string({ unit: 'binary', maxLength: 12 }), pick('api', 'web', 'db'));
/** A group value as JSON text (undefined: the field is absent). Numbers and booleans become labels "42", "true". */
const groupJson: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 8, arbitrary: groupText.map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: pick('true', 'false', 'null', '"42"', '42') },
  { weight: 1, arbitrary: fc.tuple(protoKey, fc.integer()).map(([k, v]) => `{${JSON.stringify(k)}:{"polluted":${v}}}`) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const valueJson: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String) },
  {
    weight: 3,
    arbitrary: pick('"NaN"', '"Infinity"', '"-Infinity"', '"42"', '"1e999"', '1e999', '-1e999', 'null', 'true', '[1,2]', '{"__proto__":{"polluted":1}}', '"0x10"'),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const userJson = fc.oneof(pick('"__proto__"', '"constructor"', '"u1"', '"u2"', '7', 'true', 'null', '{"a":1}'), fc.string({ maxLength: 6 }).map((s) => JSON.stringify(s)));
const validTs = fc.integer({ min: T0, max: T0 + 4 * MINUTE - 1 });
const BAD_TS: ReadonlyArray<{ json: string | undefined; reject: RejectReason[] }> = [
  { json: '"1795773600000"', reject: ['bad-timestamp'] }, // a number as a string
  { json: '"NaN"', reject: ['bad-timestamp'] },
  { json: '1e999', reject: ['bad-timestamp'] }, // Infinity once parsed
  { json: '-1e999', reject: ['bad-timestamp'] },
  { json: '0', reject: ['bad-timestamp'] },
  { json: '1795773600', reject: ['bad-timestamp'] }, // epoch seconds
  { json: '"1970-01-01T00:00:00Z"', reject: ['bad-timestamp'] },
  { json: '"1999-12-31T23:59:59.999Z"', reject: ['bad-timestamp'] },
  { json: '"2026-11-27T10:00:00"', reject: ['bad-timestamp'] }, // no time zone
  { json: 'null', reject: ['bad-timestamp'] },
  { json: 'true', reject: ['bad-timestamp'] },
  { json: '[]', reject: ['bad-timestamp'] },
  { json: '{"__proto__":{"polluted":1}}', reject: ['bad-timestamp'] },
  { json: String(NOW + 86_400_000), reject: ['future-timestamp'] },
  { json: '"9999-12-31T23:59:59.999Z"', reject: ['future-timestamp'] },
  { json: '8.64e15', reject: ['future-timestamp'] }, // the last time a Date can hold
  { json: '1e300', reject: ['future-timestamp', 'bad-timestamp'] }, // beyond what a Date can hold
  { json: undefined, reject: ['no-timestamp'] },
];
const tsJson = fc.oneof(
  { weight: 8, arbitrary: validTs.map((t) => ({ json: String(t) as string | undefined, reject: null as RejectReason[] | null })) },
  { weight: 2, arbitrary: validTs.map((t) => ({ json: JSON.stringify(new Date(t).toISOString()) as string | undefined, reject: null as RejectReason[] | null })) },
  { weight: 3, arbitrary: pick(...BAD_TS) },
);
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

let ids = 0;
/** An event record: JSON text written by hand so that keys such as __proto__ stay own keys. */
const eventGen: fc.Arbitrary<Gen> = fc
  .record({
    ts: tsJson,
    service: groupJson,
    region: groupJson,
    value: valueJson,
    user: userJson,
    idKind: pick('plain', 'proto', 'long', 'number'),
    extras: fc.array(fc.tuple(protoKey, pick('{"polluted":"yes"}', '{"prototype":{"polluted":"yes"}}', '1', '"x"')), { maxLength: 3 }),
    deep: fc.option(fc.integer({ min: 10, max: 3000 }), { nil: undefined }),
  })
  .map((g) => {
    const n = ++ids;
    const eventId = g.idKind === 'number' ? String(n) : JSON.stringify(g.idKind === 'proto' ? `__proto__${n}` : g.idKind === 'long' ? `${'i'.repeat(2000)}${n}` : `e-${n}`);
    const pairs: Array<[string, string | undefined]> = [
      ['eventId', eventId],
      ['ts', g.ts.json],
      ['service', g.service],
      ['region', g.region],
      ['value', g.value],
      ['user', g.user],
      ...g.extras.filter(([k], i, all) => all.findIndex(([k2]) => k2 === k) === i),
      ['deep', g.deep === undefined ? undefined : nested(g.deep)],
    ];
    const text = `{${pairs
      .filter((p): p is [string, string] => p[1] !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
      .join(',')}}`;
    return gen(b64(text), g.ts.reject, `event ${text.slice(0, 120)}`);
  });

/** Valid base64 made invalid: an out-of-alphabet character, a dropped character, padding in the middle. */
const badBase64: fc.Arbitrary<Gen> = fc
  .tuple(fc.uint8Array({ minLength: 3, maxLength: 60 }), pick('!', '%', '*', ' ', '\n', '.', ':', 'é', '\u0000'), fc.nat(), pick('insert', 'replace', 'drop', 'pad'))
  .map(([bytes, bad, at, how]) => {
    const ok = Buffer.from(bytes).toString('base64');
    const i = at % ok.length;
    const data =
      how === 'insert' ? ok.slice(0, i) + bad + ok.slice(i) : how === 'replace' ? ok.slice(0, i) + bad + ok.slice(i + 1) : how === 'drop' ? ok.slice(0, i) + ok.slice(i + 1) : `${ok.slice(0, 4)}==${ok.slice(4)}AA`;
    return gen(data, ['bad-base64'], `bad base64 (${how} ${JSON.stringify(bad)})`);
  });

/** Bytes that are not UTF-8: a stray continuation byte, an overlong form, an encoded surrogate, a truncated sequence. */
const notUtf8: fc.Arbitrary<Gen> = fc
  .tuple(pick([0xff], [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80]), fc.nat({ max: 40 }))
  .map(([bad, at]) => {
    const text = Buffer.from(`{"ts":${T0},"service":"api","eventId":"x${at}"}`, 'utf8');
    const i = at % text.length;
    const bytes = Buffer.concat([text.subarray(0, i), Buffer.from(bad), text.subarray(i)]);
    return gen(bytes.toString('base64'), ['not-utf8'], `not UTF-8 (${bad.join(' ')} at ${i})`);
  });

const truncated: fc.Arbitrary<Gen> = fc.tuple(eventGen, fc.noBias(fc.nat())).map(([e, k]) => {
  const text = Buffer.from(e.data, 'base64').toString('utf8');
  const cut = k % text.length; // 0 .. length - 1: never the whole text
  return gen(b64(text.slice(0, cut)), ['not-json'], `truncated at ${cut} of ${text.length}: ${text.slice(0, 60)}`);
});

const notObject: fc.Arbitrary<Gen> = pick('[]', '42', '"x"', 'null', 'true', '[{"ts":1}]', nested(5000), '"__proto__"')
  .map((text) => gen(b64(text), ['not-object'], `not an object: ${text.slice(0, 20)}`));

const notJson: fc.Arbitrary<Gen> = pick('', ' ', '{', '{"ts":}', "{'ts':1}", '{"ts":1,}', 'NaN', '{"ts":NaN}', '{"ts":Infinity}', '\ufeff', '\ufeff\ufeff{}', '{"a":1}{"b":2}', nested(5000).slice(0, -1))
  .map((text) => gen(b64(text), ['not-json'], `not JSON: ${JSON.stringify(text.slice(0, 20))}`));

/**
 * Two events whose group values differ but join to the same text around a
 * separator character: ("x\u0000y", "z") and ("x", "y\u0000z"). Any key or
 * cache that joins the values with that character confuses them.
 */
const collidingPair: fc.Arbitrary<Gen[]> = fc
  .tuple(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), pick('\u0000', '\u0001', '#', '|', ','), validTs)
  .map(([x, y, z, sep, t]) =>
    [
      [`${x}${sep}${y}`, z],
      [x, `${y}${sep}${z}`],
    ].map(([service, region], i) =>
      gen(b64(JSON.stringify({ eventId: `pair-${++ids}`, ts: t + i, service, region, value: i + 1, user: 'u' })), null, `colliding group values ${JSON.stringify([service, region])}`),
    ),
  );

const recordGen: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 10, arbitrary: eventGen },
  { weight: 1, arbitrary: badBase64 },
  { weight: 1, arbitrary: notUtf8 },
  { weight: 1, arbitrary: truncated },
  { weight: 1, arbitrary: notObject },
  { weight: 1, arbitrary: notJson },
);

const batchGen: fc.Arbitrary<Gen[]> = fc
  .array(fc.oneof({ weight: 12, arbitrary: recordGen.map((g) => [g]) }, { weight: 1, arbitrary: collidingPair }), { minLength: 1, maxLength: 12 })
  .map((groups) => groups.flat());

// ------------------------------------------------------------------ oracle

interface Expected {
  n: number;
  total: number;
  lo: number | null;
  hi: number | null;
  users: Set<unknown>;
}

/** Exact aggregates of the valid events, by rule, group key and window start. */
function expectedAggregates(gens: readonly Gen[]): Map<string, Map<string, Map<number, Expected>>> {
  const out = new Map<string, Map<string, Map<number, Expected>>>(RULES.map((r) => [r.name, new Map()]));
  for (const g of gens) {
    if (g.reject !== null) continue;
    const payload = JSON.parse(Buffer.from(g.data, 'base64').toString('utf8')) as JsonObject;
    const t = typeof payload['ts'] === 'number' ? payload['ts'] : Date.parse(payload['ts'] as string);
    const start = Math.floor(t / MINUTE) * MINUTE;
    const value = Object.prototype.hasOwnProperty.call(payload, 'value') ? payload['value'] : undefined;
    const user = Object.prototype.hasOwnProperty.call(payload, 'user') ? payload['user'] : undefined;
    for (const rule of RULES) {
      // An event without one of the rule's groupBy fields is skipped by that rule (and counted), never grouped under null.
      if (!hasGroupFields(rule.groupBy, payload)) continue;
      const key = groupOf(rule.groupBy, payload).key;
      const byGroup = out.get(rule.name)!;
      const byStart = byGroup.get(key) ?? new Map<number, Expected>();
      byGroup.set(key, byStart);
      const e = byStart.get(start) ?? { n: 0, total: 0, lo: null, hi: null, users: new Set() };
      byStart.set(start, e);
      e.n += 1;
      if (typeof value === 'number' && Number.isFinite(value)) {
        e.total += value;
        e.lo = e.lo === null ? value : Math.min(e.lo, value);
        e.hi = e.hi === null ? value : Math.max(e.hi, value);
      }
      if (typeof user === 'string' || typeof user === 'number' || typeof user === 'boolean') e.users.add(user);
    }
  }
  return out;
}

function prototypeSnapshot(): string {
  return JSON.stringify([Object.getOwnPropertyNames(Object.prototype).sort(), Object.getOwnPropertyNames(Array.prototype).sort(), Object.getOwnPropertyNames(Function.prototype).sort()]);
}
const PROTOTYPES = prototypeSnapshot();

function assertUnpolluted(): void {
  const probe: Record<string, unknown> = {};
  expect(probe['polluted']).toBeUndefined();
  expect(({} as Record<string, unknown>)['prototype']).toBeUndefined();
  expect(prototypeSnapshot()).toBe(PROTOTYPES);
}

/** Processes one batch and checks every invariant; returns what was found wrong (empty when all holds). */
async function checkBatch(h: Harness, gens: readonly Gen[], opts: { tick: boolean }): Promise<string[]> {
  const problems: string[] = [];
  const batch = records(gens.map((g) => g.data));
  const res = await h.process(batch);
  if (res.thrown !== undefined) problems.push(`the handler threw: ${String(res.thrown)}`);
  if (res.batchItemFailures.length > 0) {
    const i = batch.findIndex((r) => r.sequenceNumber === res.batchItemFailures[0]);
    problems.push(`the batch failed at record ${i} (${gens[i]?.label.slice(0, 200)})`);
  }
  const quarantined = await h.quarantined();
  gens.forEach((g, i) => {
    const q = quarantined.get(batch[i]!.sequenceNumber);
    if (g.reject === null && q) problems.push(`record ${i} quarantined as ${q.reason}, expected processed: ${g.label.slice(0, 200)}`);
    if (g.reject !== null) {
      if (!q) problems.push(`record ${i} not quarantined, expected ${g.reject.join(' or ')}: ${g.label.slice(0, 200)}`);
      else if (!g.reject.includes(q.reason as RejectReason)) problems.push(`record ${i} quarantined as ${q.reason}, expected ${g.reject.join(' or ')}: ${g.label.slice(0, 200)}`);
      else if (q.data !== g.data) problems.push(`record ${i}: quarantined data differs from what was received (${q.data.length} vs ${g.data.length} characters)`);
    }
  });
  // Aggregates of the valid events, exact (distinct: exactly the HyperLogLog of the accepted values).
  const want = expectedAggregates(gens);
  let keys = 0;
  for (const rule of RULES) {
    const ra = new RuleAggregates(rule);
    for (const [group, byStart] of want.get(rule.name)!) {
      for (const [start, e] of byStart) {
        keys += 1;
        const state = await h.runtime.store.read(descriptor(rule.name, group, { start, end: start + MINUTE }));
        const acc = ra.create();
        for (const s of Object.values(state?.slots ?? {})) ra.merge(acc, ra.deserialize(s.partial as FixedPartialJson));
        const got = ra.results(acc);
        const hll = distinctAggregator.create();
        for (const u of e.users) distinctAggregator.add(hll, u);
        const exp: Record<string, number | null> =
          rule.name === 'Fuzz' ? { n: e.n, total: e.total, lo: e.lo, hi: e.hi, users: distinctAggregator.result(hll) } : { n: e.n };
        if (JSON.stringify(got) !== JSON.stringify(exp)) problems.push(`${rule.name} ${group.slice(0, 80)} ${new Date(start).toISOString()}: ${JSON.stringify(got)}, expected ${JSON.stringify(exp)}`);
      }
    }
  }
  if (opts.tick) {
    // Every window closes and every group alerts: alert items are keyed by the group too.
    h.clock.t = NOW + 2 * 3_600_000;
    const t = await h.tick();
    if (t.thrown !== undefined) problems.push(`the ticker threw: ${String(t.thrown)} ${String((t.thrown as AggregateError).errors?.[0] ?? '')}`);
  }
  const items = await h.scan();
  // Aggregate items holding a slot: the closed markers of windows judged empty (issue 19) hold none.
  const stateKeys = items.filter((i) => kindOf(i[ATTR.pk]!.S!) === 'aggregate' && Object.keys(aggregateLayout.state(fromAttributeValues(i)).slots).length > 0).length;
  if (stateKeys !== keys) problems.push(`${stateKeys} aggregate items, expected ${keys}`);
  for (const item of items) {
    const size = itemBytes(item);
    if (size > MAX_ITEM_BYTES) problems.push(`item ${item[ATTR.pk]!.S!.slice(0, 40)} is ${size} bytes`);
  }
  problems.push(...h.keyViolations);
  return problems;
}

// ------------------------------------------------------------------ tests

describe('hostile records through the real processor handler', () => {
  it('property: every record is quarantined with its reason or processed exactly; the batch never fails for one record', async () => {
    await fc.assert(
      fc.asyncProperty(batchGen, fc.boolean(), async (gens, tick) => {
        const h = await harness(endpoint, PIPELINE);
        const problems = await checkBatch(h, gens, { tick });
        h.client.destroy();
        assertUnpolluted();
        expect(problems).toEqual([]);
      }),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 25), seed: Number(process.env['FUZZ_SEED'] ?? 20261127) },
    );
  }, 180_000);

  it('an epoch-ms event time beyond what a Date can hold (1e300) is quarantined and does not fail the batch', async () => {
    // decode.ts builds its future-timestamp message with new Date(t).toISOString(), which throws for |t| > 8.64e15,
    // and Engine.processBatch decodes outside its try: the handler throws, Lambda retries the batch forever.
    const h = await harness(endpoint, PIPELINE);
    const gens: Gen[] = [
      { data: b64(JSON.stringify({ eventId: 'ok-1', ts: T0 + 1000, service: 'api', value: 1 })), reject: null, label: 'valid' },
      { data: b64(`{"eventId":"huge","ts":1e300,"service":"api","value":2}`), reject: ['future-timestamp', 'bad-timestamp'], label: 'ts 1e300' },
      { data: b64(JSON.stringify({ eventId: 'ok-2', ts: T0 + 2000, service: 'api', value: 3 })), reject: null, label: 'valid' },
    ];
    expect(await checkBatch(h, gens, { tick: false })).toEqual([]);
  });

  it('a group value nested 10^5 levels deep does not fail the batch (it is quarantined or grouped)', async () => {
    // group.ts labelValue() JSON.stringify()s non-string group values: past ~10^4 levels that overflows the stack,
    // inside Engine.fold: the whole batch is reported failed (retryFrom = its first record) on every retry.
    const h = await harness(endpoint, PIPELINE);
    const deep = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    const ok = { data: b64(JSON.stringify({ eventId: 'ok', ts: T0 + 1000, service: 'api', value: 5 })), reject: null, label: 'valid' };
    const res = await h.process(records([ok.data, b64(`{"eventId":"deep","ts":${T0 + 2000},"service":${deep}}`)]));
    expect(res.thrown).toBeUndefined();
    expect(res.batchItemFailures).toEqual([]);
    const state = await h.runtime.store.read(descriptor('Fuzz', '["api"]', { start: T0, end: T0 + MINUTE }));
    expect(state?.slots).toBeDefined();
  });

  it('a payload nested 10^5 levels deep in fields no rule reads is processed (and a deep top-level array quarantined)', async () => {
    const h = await harness(endpoint, PIPELINE);
    const gens: Gen[] = [
      { data: b64(`{"eventId":"d1","ts":${T0 + 1000},"service":"api","value":7,"x":${nested(100_000)}}`), reject: null, label: 'deep array field' },
      { data: b64(`{"eventId":"d2","ts":${T0 + 2000},"service":"api","value":8,"y":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`), reject: null, label: 'deep object field' },
      { data: b64(nested(100_000)), reject: ['not-object'], label: 'deep top-level array' },
      { data: b64(nested(100_000).slice(0, -1)), reject: ['not-json'], label: 'deep truncated array' },
    ];
    expect(await checkBatch(h, gens, { tick: true })).toEqual([]);
    assertUnpolluted();
  });

  it('records near 1 MiB (a huge string, a huge array, a group value of 700 KB) are processed; over 1 MiB they are quarantined in chunks; no item over 400 KB', async () => {
    const h = await harness(endpoint, PIPELINE);
    let n = 0;
    const big = (fields: string) => `{"eventId":"big-${++n}","ts":${T0 + 3000},${fields}}`;
    const gens: Gen[] = [
      { data: b64(big(`"service":"api","value":1,"blob":"${'b'.repeat(1_000_000)}"`)), reject: null, label: 'string of 1,000,000 characters' },
      { data: b64(big(`"service":"api","value":2,"list":[${Array.from({ length: 200_000 }, () => '0').join(',')}]`)), reject: null, label: 'array of 200,000 numbers' },
      { data: b64(big(`"service":"${'s'.repeat(700_000)}","region":"${'中'.repeat(80_000)}","value":3`)), reject: null, label: 'group values of 700,000 and 80,000 characters' },
      { data: b64(big(`"service":"api","blob":"${'c'.repeat(1_100_000)}"`)), reject: ['too-large'], label: 'record of 1.1 MB' },
    ];
    expect(await checkBatch(h, gens, { tick: true })).toEqual([]);
    const q = await h.quarantined();
    expect([...q.values()].map((x) => x.chunks)).toEqual([5]);
  }, 60_000);

  it('prototype-pollution keys in the payload and as group values: own groups, exact counts, Object.prototype untouched', async () => {
    const h = await harness(endpoint, PIPELINE);
    const gens: Gen[] = PROTO_KEYS.flatMap((k, i) => [
      {
        data: b64(`{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"polluted":1},"eventId":"p${i}","ts":${T0 + i},"service":${JSON.stringify(k)},"region":{"__proto__":{"polluted":"yes"}},"value":${i},"user":"__proto__"}`),
        reject: null,
        label: `group ${k}`,
      },
      { data: b64(`{"eventId":"q${i}","ts":${T0 + 100 + i},"service":{${JSON.stringify(k)}:{"polluted":"yes"}},"value":1,"user":${JSON.stringify(k)}}`), reject: null, label: `object group value with ${k}` },
    ]);
    expect(await checkBatch(h, gens, { tick: true })).toEqual([]);
    assertUnpolluted();
  });

  it('group values that join to the same text around a \\u0000 are different groups ("a\\u0000b","c" vs "a","b\\u0000c")', async () => {
    // Engine.groupOfCached() keys its group cache by the values joined with \u0000: these two events share a
    // cache key, so the second is counted in the first one's group (for any multi-field groupBy).
    const h = await harness(endpoint, PIPELINE);
    const gens: Gen[] = [
      gen(b64(JSON.stringify({ eventId: 'j1', ts: T0 + 1000, service: 'a\u0000b', region: 'c', value: 1 })), null, 'a\\0b | c'),
      gen(b64(JSON.stringify({ eventId: 'j2', ts: T0 + 2000, service: 'a', region: 'b\u0000c', value: 2 })), null, 'a | b\\0c'),
    ];
    expect(await checkBatch(h, gens, { tick: true })).toEqual([]);
  });

  it('group keys stay within DynamoDB key limits in bytes (two-field groupBy, multibyte values)', async () => {
    // DynamoDBStateStore.shortKey() hashes a group key longer than 512 *characters*; the alert item uses it as its
    // sort key, limited to 1024 *bytes*: 2 x 170 CJK characters are 1,027 bytes. DynamoDB rejects every read and
    // write of that alert item (dynalite counts characters and lets it through; the harness checks bytes), so the
    // window can never be closed and the ticker fails for the whole stream on every tick.
    const h = await harness(endpoint, PIPELINE);
    const gens: Gen[] = [{ data: b64(JSON.stringify({ eventId: 'cjk', ts: T0 + 1000, service: '中'.repeat(170), region: '中'.repeat(170), value: 1 })), reject: null, label: 'CJK pair' }];
    expect(await checkBatch(h, gens, { tick: true })).toEqual([]);
  });
});

describe('group-key cardinality explosion', () => {
  const COUNT_PIPELINE = parsePipeline(
    `
streams:
  telemetry: { timestamp: ts, id: eventId, outOfOrderness: 1h, maxFuture: 5m, idleTimeout: 1h }
rules:
  - alert: Card
    stream: telemetry
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate: { n: 'count()' }
    when: 'n >= 1000000.0'
    emit: final
`,
    'cardinality.yaml',
  );

  it('20,000 distinct groups in one batch: split at the group cap and retried, bounded memory, every record counted once', async () => {
    const h = await harness(endpoint, COUNT_PIPELINE);
    const N = 20_000;
    const batch = records(Array.from({ length: N }, (_, i) => b64(JSON.stringify({ eventId: `c${i}`, ts: T0 + (i % 60) * 1000, service: `svc-${i}` }))));
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    const res = await h.process(batch);
    collectGarbage();
    const grown = process.memoryUsage().heapUsed - before;
    expect(res.thrown).toBeUndefined();
    // Past 10,000 groups (maxGroupsPerRulePerBatch) the batch stops at the first record of a new group and
    // reports it: Lambda retries from there as the start of the next batch, which has room again.
    expect(res.batchItemFailures).toEqual([batch[10_000]!.sequenceNumber]);
    const retry = await h.process(batch.slice(10_000));
    expect(retry.batchItemFailures).toEqual([]);
    // The container keeps its caches (up to 50,000 aggregate keys): about 19 MB here for 10,000 keys.
    expect(grown).toBeLessThan(64 * 1024 * 1024);
    const items = await h.scan();
    const counted = items
      .filter((i) => kindOf(i[ATTR.pk]!.S!) === 'aggregate')
      .reduce((n, i) => n + Object.values(aggregateLayout.state(fromAttributeValues(i)).slots).reduce((m, slot) => m + (slot.partial as { n: number }).n, 0), 0);
    const quarantined = (await h.quarantined()).size;
    for (const item of items) expect(itemBytes(item)).toBeLessThan(MAX_ITEM_BYTES);
    expect({ counted, quarantined, lost: N - counted - quarantined }).toEqual({ counted: N, quarantined: 0, lost: 0 });
  }, 180_000);

  it('4,000 events of one second with 129-digit sequence numbers: the dedupe item stays under 400 KB and the batch succeeds', async () => {
    const h = await harness(endpoint, COUNT_PIPELINE);
    const batch = records(
      Array.from({ length: 4000 }, (_, i) => b64(JSON.stringify({ eventId: `s${i}`, ts: T0 + 1000, service: 'api' }))),
      129,
    );
    const res = await h.process(batch);
    expect(res.thrown).toBeUndefined();
    expect(res.batchItemFailures).toEqual([]);
    const items = await h.scan();
    const oversized = items.filter((i) => itemBytes(i) > MAX_ITEM_BYTES).map((i) => `${i[ATTR.pk]!.S} ${i[ATTR.sk]!.S}: ${itemBytes(i)} bytes`);
    expect(oversized).toEqual([]);
  }, 120_000);
});
