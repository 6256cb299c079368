/**
 * The state table's layout, pinned: deployed tables hold items under these
 * keys, so a change here is a breaking change (a migration), never an accident.
 * This file (with tableLayout.ts) is the only one allowed to spell the prefixes.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import {
  dueLayout,
  aggregateLayout,
  alertLayout,
  dedupeLayout,
  ITEM_KINDS,
  ITEM_PREFIX,
  itemBytes,
  kindOf,
  progressLayout,
  QUARANTINE_CHUNK_BYTES,
  metricGroupsLayout,
  modelLayout,
  paneLayout,
  sequenceLayout,
  quarantineLayout,
  shortKey,
  slotAttributes,
  slotShardOf,
  splitUtf8,
  StateLayoutError,
  utf8Bytes,
  watermarkLayout,
} from '../../../lambdas/adapters/dynamodb/tableLayout';
import { DEDUPE_ENTRY_BYTES, dedupeId, dedupeIdInto, dedupeSeq, dedupeSeqFingerprint, LEGACY_DEDUPE_ENTRY_BYTES, legacyFingerprint } from '../../../lambdas/core/dedupe';
import { descriptor } from '../../../lambdas/core/Engine';
import type { Rejection } from '../../../lambdas/core/types';
import { dedupeIdsOf, dedupePairs, keptId } from '../../helpers/dedupeEntries';
import { OLD_ENTRY_BYTES, oldChunkItem, oldEntry, oldEntryOfText } from '../../helpers/legacyDedupe';

const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);

describe('table layout', () => {
  it('keys every item type as deployed tables hold them', () => {
    expect(aggregateLayout.key(descriptor('Errors', '["api"]', { start: T0, end: T0 + 60_000 }))).toEqual({ pk: 'K#Errors#["api"]', sk: `W#${T0}` });
    expect(aggregateLayout.key(descriptor('Burst', '["api"]', null))).toEqual({ pk: 'K#Burst#["api"]', sk: 'S' });
    expect(aggregateLayout.duePartition('Errors')).toBe('due#Errors');
    expect(aggregateLayout.rulePrefix('Errors')).toBe('K#Errors#');
    expect(alertLayout.key('Errors', '["api"]')).toEqual({ pk: 'A#Errors', sk: '["api"]' });
    expect(progressLayout.key('telemetry', 'shardId-000000000001')).toEqual({ pk: 'P#telemetry', sk: 'shardId-000000000001' });
    expect(watermarkLayout.key('telemetry')).toEqual({ pk: 'WM#telemetry', sk: '-' });
    expect(dedupeLayout.chunkKey('telemetry', 'shardId-000000000001', T0, 3)).toEqual({ pk: 'D#telemetry#shardId-000000000001', sk: `${T0}#000003` });
    expect(dedupeLayout.chunkKey('telemetry', 'shardId-000000000001', T0, 0)).toEqual({ pk: 'D#telemetry#shardId-000000000001', sk: String(T0) });
    expect(() => dedupeLayout.chunkKey('telemetry', 'x', T0, 1_000_000)).toThrow(StateLayoutError);
    expect(quarantineLayout.partition('telemetry')).toBe('Q#telemetry');
    expect(metricGroupsLayout.key('Errors', T0)).toEqual({ pk: 'MG#Errors', sk: new Date(T0).toISOString() });
    expect(sequenceLayout.key('DeployThenErrors', '["api"]')).toEqual({ pk: 'SQ#DeployThenErrors#["api"]', sk: '-' });
    expect(sequenceLayout.duePartition('DeployThenErrors')).toBe('dueSQ#DeployThenErrors');
    expect(slotAttributes('shardId-000000000001')).toEqual({ hwm: 'h_shardId-000000000001', partial: 'p_shardId-000000000001' });
    expect(slotShardOf('h_shardId-7')).toBe('shardId-7');
    expect(slotShardOf('p_shardId-7')).toBeUndefined();
  });

  it('tells every item type from its partition key, and nothing else', () => {
    const pks: Record<string, string> = {
      aggregate: aggregateLayout.key(descriptor('R', 'g', null)).pk,
      alert: alertLayout.key('R', 'g').pk,
      progress: progressLayout.key('s', 'x').pk,
      watermark: watermarkLayout.key('s').pk,
      dedupe: dedupeLayout.chunkKey('s', 'x', 0, 1).pk,
      quarantine: quarantineLayout.partition('s'),
      metricGroups: metricGroupsLayout.key('R', 0).pk,
      model: modelLayout.key('R', 'g').pk,
      sequence: sequenceLayout.key('R', 'g').pk,
      due: dueLayout.key('R', { start: 0, end: 60_000 }, 60_000, 'w', 0).pk,
    };
    expect(Object.fromEntries(Object.entries(pks).map(([kind, pk]) => [kind, kindOf(pk)]))).toEqual(Object.fromEntries(ITEM_KINDS.map((k) => [k, k])));
    expect(new Set(Object.values(ITEM_PREFIX)).size).toBe(ITEM_KINDS.length);
    expect(kindOf('due#R')).toBeUndefined();
    expect(kindOf('probe')).toBeUndefined();
  });

  it('keeps group keys up to 512 bytes and hashes longer ones, counting bytes (2 x 170 CJK characters are over 1,024 bytes)', () => {
    const cjk = JSON.stringify(['中'.repeat(170), '中'.repeat(170)]);
    expect(cjk.length).toBeLessThan(512);
    expect(utf8Bytes(cjk)).toBeGreaterThan(1024);
    expect(shortKey(cjk)).toMatch(/^h:[0-9a-f]{64}$/);
    expect(shortKey('x'.repeat(512))).toBe('x'.repeat(512));
    expect(utf8Bytes(alertLayout.key('R', cjk).sk)).toBeLessThanOrEqual(1024);
  });

  it('refuses a key DynamoDB would refuse, naming it, even where an emulator counts characters', () => {
    expect(() => progressLayout.key('telemetry', 'é'.repeat(600))).toThrow(StateLayoutError);
    expect(() => progressLayout.key('telemetry', 'é'.repeat(600))).toThrow(/progress item's sort key is 1200 bytes; DynamoDB allows 1024/);
    expect(() => watermarkLayout.key('s'.repeat(2049))).toThrow(/partition key is 2052 bytes; DynamoDB allows 2048/);
  });

  it('keeps an anomaly model in an alert item: its attributes, the recent verdicts as 49-byte entries, read back exactly; an item without them has no model', () => {
    const state = { status: 'inactive', consecutive: 0, evaluatedThrough: T0, evaluatedEnd: T0 + 60_000, episodeStart: null, alertId: null, firedInWindow: null, lastSeen: null } as const;
    const recent = [
      { start: T0, value: 10, verdict: { score: 0, expected: 10, lower: -Infinity, upper: Infinity, warming: true } },
      { start: T0 + 60_000, value: 12.345678901234567, verdict: { score: 0.9912345678901234, expected: 1 / 3, lower: -0.1, upper: 2 ** -1074, warming: false } },
    ];
    const model = { detector: 'robust', state: '{"v":1,"n":2}', last: T0 + 60_000, recent };
    const item = alertLayout.encode('R', '["x"]', { state, outbox: [], model }, 4, false);
    expect([item['detector'], item['mstate'], item['last'], (item['recent'] as Uint8Array).byteLength]).toEqual(['robust', '{"v":1,"n":2}', T0 + 60_000, 98]);
    expect(alertLayout.decode(item).record).toEqual({ state, outbox: [], model });
    // Before the model moved into the alert item (and on other rules' items): no model attributes, no model.
    const plain = alertLayout.encode('R', '["x"]', { state, outbox: [] }, 4, false);
    expect(Object.keys(plain).filter((k) => ['detector', 'mstate', 'last', 'recent'].includes(k))).toEqual([]);
    expect('model' in alertLayout.decode(plain).record).toBe(false);
    expect(() => alertLayout.decode({ ...item, recent: new Uint8Array(50) })).toThrow(/recent verdicts are not 49-byte entries \(50 bytes\)/);
  });

  it('reads back what it writes: an alert item, a dedupe item, a key item', () => {
    const record = { state: { status: 'firing', consecutive: 1, evaluatedThrough: T0, evaluatedEnd: T0 + 60_000, episodeStart: T0, alertId: 'a', firedInWindow: T0, lastSeen: null }, outbox: [] } as const;
    expect(alertLayout.decode(alertLayout.encode('R', '["x"]', record, 3, true))).toEqual({ rule: 'R', groupKey: '["x"]', version: 3, record });
    const pairs: Array<[string, number]> = [
      ['AAAAAAAAAAAAAAAA', 0x1234_5678],
      ['id00000000000007', 2 ** 32 - 1],
      ['-_09AZaz-_09AZaz', 0],
    ];
    const chunk = dedupeLayout.encodeChunk(dedupeLayout.chunkKey('s', 'x', 0, 2), dedupeIdsOf(pairs), 99);
    // The stored bytes, in `ids12` (not `ids`): the id's first 64 bits (of its base64url text decoded), then the fingerprint's 32, big-endian.
    expect(Object.keys(chunk).sort()).toEqual(['expiresAt', 'ids12', 'pk', 'sk']);
    expect(Buffer.from(chunk['ids12'] as Uint8Array).toString('hex')).toBe(
      ['AAAAAAAAAAAAAAAA', 'id00000000000007', '-_09AZaz-_09AZaz'].map((id, i) => Buffer.from(id, 'base64url').subarray(0, 8).toString('hex') + ['12345678', 'ffffffff', '00000000'][i]).join(''),
    );
    expect(Buffer.from(chunk['ids12'] as Uint8Array).toString('hex')).toBe('000000000000000012345678' + '89dd34d34d34d34dffffffff' + 'fbfd3d0196b3fbfd00000000');
    expect(DEDUPE_ENTRY_BYTES).toBe(12);
    const decoded = dedupeLayout.decodeBucket([chunk]);
    expect([dedupePairs(decoded.ids), decoded.bytes, decoded.version]).toEqual([pairs.map(([id, f]) => [keptId(id), f]), 3 * DEDUPE_ENTRY_BYTES, 2]);
    // A bucket's own keys, and those of the seconds it spans as one-second buckets filed them; not the next bucket's, nor others sharing a prefix.
    expect(dedupeLayout.ofBucket({ sk: '5000#000001' }, 5000)).toBe(true);
    expect(dedupeLayout.ofBucket({ sk: '5000' }, 5000)).toBe(true);
    expect(dedupeLayout.ofBucket({ sk: '9000#000002' }, 5000)).toBe(true);
    expect(dedupeLayout.ofBucket({ sk: '7000' }, 5000)).toBe(true);
    expect(dedupeLayout.ofBucket({ sk: '10000#000001' }, 5000)).toBe(false);
    expect(dedupeLayout.ofBucket({ sk: '50000#000001' }, 5000)).toBe(false);
    expect(dedupeLayout.ofBucket({ sk: '4000#000001' }, 5000)).toBe(false);
    expect(dedupeLayout.ofBucket({ sk: '5500#000001' }, 5000)).toBe(false);
    expect(dedupeLayout.ofBucket({ sk: '05000#000001' }, 5000)).toBe(false);
    // One range of sort keys from the bucket to its last second's chunks (a multiple of 5 s and its last second have as many digits).
    expect(dedupeLayout.bucketSortKeys(T0)).toEqual({ between: [String(T0), `${T0 + 4000}#~`] });
    expect(dedupeLayout.bucketSortKeys(9_999_995_000)).toEqual({ between: ['9999995000', '9999999000#~'] });
    expect(dedupeLayout.bucketSortKeys(-5000)).toEqual({ prefix: '-5000' });
    const slot = slotAttributes('s1');
    const item = { pk: 'ignored', [slot.hwm]: '0042', [slot.partial]: '{"n":1}', closeAt: T0, v: 4, rule: 'R', groupKey: 'g', windowStart: T0, windowEnd: T0 + 1, duePk: 'x' };
    expect(aggregateLayout.decode(item)).toEqual({
      rule: 'R',
      groupKey: 'g',
      windowStart: T0,
      windowEnd: T0 + 1,
      due: true,
      state: { slots: { s1: { hwm: '0042', partial: { n: 1 } } }, closed: false, closedThrough: null, closeAt: T0, version: 4 },
    });
  });

  it('keeps the pane versions a hopping window sealed with its value merged, by pane start less the window start; items without them read as before', () => {
    const key = descriptor('Hop', '["a"]', { start: T0, end: T0 + 180_000 });
    const mp = aggregateLayout.mergedPanes(key, { [String(T0 + 60_000)]: 3, [String(T0 + 120_000)]: 7 });
    expect(mp).toEqual({ mp: '{"60000":3,"120000":7}' });
    const final = slotAttributes('final');
    const sealed = { pk: 'K#Hop#["a"]', sk: `W#${T0}`, rule: 'Hop', groupKey: '["a"]', windowStart: T0, windowEnd: T0 + 180_000, closed: true, v: 5, [final.hwm]: '', [final.partial]: '{"n":2}', ...mp };
    expect(aggregateLayout.state(sealed)).toEqual({
      slots: { final: { hwm: '', partial: { n: 2 } } },
      closed: true,
      closedThrough: null,
      closeAt: null,
      version: 5,
      merged: { [String(T0 + 60_000)]: 3, [String(T0 + 120_000)]: 7 },
    });
    // A window finished before closes kept what they merged: no `merged`.
    const { mp: _none, ...before } = sealed;
    void _none;
    expect(aggregateLayout.state(before)).toEqual({ slots: { final: { hwm: '', partial: { n: 2 } } }, closed: true, closedThrough: null, closeAt: null, version: 5 });
    expect(() => aggregateLayout.state({ ...sealed, mp: '{"60000":"x"}' })).toThrow(StateLayoutError);
  });

  it('keeps with each pane slot the item version its last write produced (pv_<shard>); slots written before it was kept read without one', () => {
    const a = paneLayout.slotAttributes('s1');
    expect(a).toEqual({ hwm: 'ph_s1', partial: 'pp_s1', version: 'pv_s1' });
    const item = { pk: 'K#Hop#["a"]', sk: `W#${T0}`, windowStart: T0, windowEnd: T0 + 180_000, v: 7, [a.hwm]: '0042', [a.partial]: '{"f":{"n":2},"w":5}', [a.version]: 6 };
    expect(paneLayout.state(item).slots).toEqual({ s1: { hwm: '0042', partial: { f: { n: 2 }, w: 5 }, version: 6 } });
    const { [a.version]: _none, ...before } = item;
    void _none;
    expect(paneLayout.state(before).slots).toEqual({ s1: { hwm: '0042', partial: { f: { n: 2 }, w: 5 } } });
    // A slot rewritten by the code before versions were kept (a rollback: `ADD v 1`, a partial without `w`) leaves a
    // stale pv_: it is not that write's version, so it is not read as one.
    expect(paneLayout.state({ ...item, v: 8, [a.partial]: '{"f":{"n":3}}' }).slots).toEqual({ s1: { hwm: '0042', partial: { f: { n: 3 } } } });
    expect(() => paneLayout.state({ ...item, [a.version]: '6' })).toThrow(StateLayoutError);
    expect(() => paneLayout.state({ ...item, [a.version]: 0 })).toThrow(StateLayoutError);
  });

  it('splits quarantined data into chunks of at most 300 KiB in bytes, never inside a character, and joins them back', () => {
    const ascii = 'A'.repeat(QUARANTINE_CHUNK_BYTES * 2 + 5);
    expect(splitUtf8(ascii, QUARANTINE_CHUNK_BYTES).map((c) => c.length)).toEqual([QUARANTINE_CHUNK_BYTES, QUARANTINE_CHUNK_BYTES, 5]);
    const mixed = `${'é'.repeat(10)}😀${'中'.repeat(10)}`;
    const parts = splitUtf8(mixed, 7);
    expect(parts.join('')).toBe(mixed);
    for (const p of parts) expect(utf8Bytes(p)).toBeLessThanOrEqual(7);
    expect(parts).toContain('é😀');
    const r: Rejection = { reason: 'not-json', message: 'm', shardId: 's', sequenceNumber: '7', partitionKey: 'pk', arrivalTime: T0, data: `${'中'.repeat(QUARANTINE_CHUNK_BYTES / 3)}x` };
    const items = quarantineLayout.encode('telemetry', r, 1);
    expect(items.map((i) => i['sk'])).toEqual([`${new Date(T0).toISOString()}#s#7`, `${new Date(T0).toISOString()}#s#7#1`]);
    for (const i of items) expect(itemBytes(marshall(i))).toBeLessThan(400 * 1024);
    expect(quarantineLayout.decode('telemetry', [...items].reverse())).toEqual([{ ...r, stream: 'telemetry' }]);
    expect(() => quarantineLayout.decode('telemetry', items.slice(0, 1))).toThrow(/missing chunk 1 of 2/);
  });

  it('counts item sizes as DynamoDB does: names and values in UTF-8 bytes, numbers by significant digits', () => {
    expect(itemBytes({ ab: { S: 'é' } })).toBe(4);
    expect(itemBytes({ n: { N: '123456' } })).toBe(1 + 4);
    expect(itemBytes({ n: { N: '0.0012' } })).toBe(1 + 2);
    expect(itemBytes({ b: { BOOL: true }, z: { NULL: true } })).toBe(4);
    expect(itemBytes({ m: { M: { k: { S: 'vv' } } } })).toBe(1 + 3 + 1 + 1 + 2);
  });
});

describe('dedupe chunks written before 12-byte entries (deployed tables hold them until their TTL)', () => {
  it('an 18-byte chunk (`ids`: 96 bits of id hash, 48 of fingerprint) reads as its first 64 and 32 bits; its bytes count 18 an entry', () => {
    const old = [oldEntryOfText('AAAAAAAAAAAAAAAA', 0x1234_5678_9abc), oldEntryOfText('id00000000000007', 2 ** 48 - 1), oldEntryOfText('-_09AZaz-_09AZaz', 0)];
    const item = oldChunkItem('D#s#x', '0#000002', old, 99);
    // The bytes the code before wrote (pinned: the frozen encoder is checked too).
    expect(Buffer.from(item['ids'] as Uint8Array).toString('hex')).toBe(
      ['AAAAAAAAAAAAAAAA', 'id00000000000007', '-_09AZaz-_09AZaz'].map((id, i) => Buffer.from(id, 'base64url').toString('hex') + ['123456789abc', 'ffffffffffff', '000000000000'][i]).join(''),
    );
    expect([OLD_ENTRY_BYTES, LEGACY_DEDUPE_ENTRY_BYTES]).toEqual([18, 18]);
    const decoded = dedupeLayout.decodeBucket([item]);
    expect([dedupePairs(decoded.ids), decoded.bytes, decoded.version]).toEqual([
      [
        [keptId('AAAAAAAAAAAAAAAA'), 0x1234_5678],
        [keptId('id00000000000007'), 2 ** 32 - 1],
        [keptId('-_09AZaz-_09AZaz'), 0],
      ],
      3 * 18,
      2,
    ]);
    // The bytes as the code before DedupeIds wrote them (base64url text written as binary) read the same.
    const textual = Buffer.concat([Buffer.from('BBBBBBBBBBBBBBBB', 'base64url'), Buffer.from(dedupeSeq('12'), 'base64url')]);
    const before = dedupeLayout.decodeBucket([{ pk: 'D#s#x', sk: '0#000001', ids: new Uint8Array(textual), v: 1 }]);
    expect(dedupePairs(before.ids)).toEqual([[keptId('BBBBBBBBBBBBBBBB'), dedupeSeqFingerprint('12')]]);
    expect(Buffer.from(dedupeSeq('12'), 'base64url').subarray(0, 4).toString('hex')).toBe(dedupeSeqFingerprint('12').toString(16).padStart(8, '0'));
  });

  it('the attribute tells the formats apart where the length cannot: 36 bytes are three 12-byte entries or two 18-byte ones', () => {
    const fresh = dedupeLayout.encodeChunk(dedupeLayout.chunkKey('s', 'x', 0, 1), dedupeIdsOf([['AAAAAAAAAAAAAAAA', 1], ['BBBBBBBBBBBBBBBB', 2], ['CCCCCCCCCCCCCCCC', 3]]), 99);
    const old = oldChunkItem('D#s#x', '0#000001', [oldEntryOfText('DDDDDDDDDDDDDDDD', 4 * 0x10000 + 7), oldEntryOfText('EEEEEEEEEEEEEEEE', 5 * 0x10000)], 99);
    expect([(fresh['ids12'] as Uint8Array).byteLength, (old['ids'] as Uint8Array).byteLength]).toEqual([36, 36]);
    expect(dedupePairs(dedupeLayout.decodeBucket([fresh]).ids)).toEqual([
      [keptId('AAAAAAAAAAAAAAAA'), 1],
      [keptId('BBBBBBBBBBBBBBBB'), 2],
      [keptId('CCCCCCCCCCCCCCCC'), 3],
    ]);
    expect(dedupePairs(dedupeLayout.decodeBucket([old]).ids)).toEqual([
      [keptId('DDDDDDDDDDDDDDDD'), 4],
      [keptId('EEEEEEEEEEEEEEEE'), 5],
    ]);
  });

  it('one bucket mixing the layout before chunks, 18-byte chunks and 12-byte chunks reads as one, each entry counted in its own format', () => {
    // An item of the layout before chunks (JSON, whole sequence numbers) reads as chunk 0.
    // A JSON id that is not 16 base64url characters never matched an id (they were compared as strings): left out.
    const legacy = { pk: 'D#s#x', sk: '0', ids: JSON.stringify({ BBBBBBBBBBBBBBBB: '12', 'not-an-id': '5', 'BBBBBBBBBBBBBBB=': '6' }), v: 4 };
    const old = oldChunkItem('D#s#x', '0#000001', [oldEntryOfText('CCCCCCCCCCCCCCCC', 0xabcd_ef01_2345), oldEntryOfText('DDDDDDDDDDDDDDDD', 0x10000)], 99);
    const fresh = dedupeLayout.encodeChunk(dedupeLayout.chunkKey('s', 'x', 0, 2), dedupeIdsOf([['EEEEEEEEEEEEEEEE', dedupeSeqFingerprint('13')]]), 99);
    const expected = [
      [keptId('BBBBBBBBBBBBBBBB'), dedupeSeqFingerprint('12')],
      [keptId('CCCCCCCCCCCCCCCC'), 0xabcd_ef01],
      [keptId('DDDDDDDDDDDDDDDD'), 1],
      [keptId('EEEEEEEEEEEEEEEE'), dedupeSeqFingerprint('13')],
    ];
    const merged = dedupeLayout.decodeBucket([legacy, old, fresh]);
    expect([dedupePairs(merged.ids), merged.bytes, merged.version]).toEqual([expected, 18 + 2 * 18 + 12, 2]);
    // Chunks in any order: the same ids (in the order read) and the same bytes and version.
    const reordered = dedupeLayout.decodeBucket([fresh, old, legacy]);
    expect([dedupePairs(reordered.ids).sort(), reordered.bytes, reordered.version]).toEqual([[...expected].sort(), 18 + 2 * 18 + 12, 2]);
    // An id held by an old chunk and again by a new one (two writers' chunks): once, the first read kept, counted once.
    const again = dedupeLayout.encodeChunk(dedupeLayout.chunkKey('s', 'x', 0, 3), dedupeIdsOf([['CCCCCCCCCCCCCCCC', 7]]), 99);
    const twice = dedupeLayout.decodeBucket([old, again]);
    expect([dedupePairs(twice.ids), twice.bytes, twice.version]).toEqual([
      [
        [keptId('CCCCCCCCCCCCCCCC'), 0xabcd_ef01],
        [keptId('DDDDDDDDDDDDDDDD'), 1],
      ],
      2 * 18,
      3,
    ]);
  });

  it('an id recorded in an 18-byte chunk is found with the words the engine hands over now: a redelivery matches, a resend does not', () => {
    const records = [
      { id: 'order-17', seq: '49590338271490256608559692538361571095921575989136588898', index: -1 },
      { id: 'order-18', seq: '49590338271490256608559692538361571095921575989136588899', index: 3 },
      { id: dedupeId('x'), seq: '1', index: 0 },
    ];
    const old = oldChunkItem('D#s#x', '0#000001', records.map((r) => oldEntry(r.id, r.seq, r.index)), 99);
    const bucket = dedupeLayout.decodeBucket([old]);
    const words = new Uint32Array(2);
    for (const r of records) {
      dedupeIdInto(r.id, words, 0);
      const recorded = bucket.ids.get(words, 0);
      // the same record again (same sequence number and index): the same fingerprint, not a duplicate
      expect(recorded).toBe(dedupeSeqFingerprint(r.seq, r.index));
      expect(recorded).toBe(legacyFingerprint(oldEntry(r.id, r.seq, r.index).f48));
      // the producer's resend (another sequence number, or another sub-event index): another fingerprint, a duplicate
      expect(recorded).not.toBe(dedupeSeqFingerprint(`${r.seq}0`, r.index));
      expect(recorded).not.toBe(dedupeSeqFingerprint(r.seq, r.index + 1));
    }
    dedupeIdInto('order-19', words, 0);
    expect(bucket.ids.get(words, 0)).toBe(-1);
  });
});
