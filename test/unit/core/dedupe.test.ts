import { hashValue } from '../../../lambdas/core/aggregates/murmur3';
import { DedupeIds, dedupeId, dedupeIdInto, dedupeSeq, dedupeSeqFingerprint, formatDedupeId, legacyFingerprint, parseDedupeId } from '../../../lambdas/core/dedupe';
import { oldEntry } from '../../helpers/legacyDedupe';

describe('dedupeId', () => {
  it('writes the first 96 bits of the id hash as 16 base64url characters', () => {
    const words = new Uint32Array(4);
    for (const id of ['e-7-13', '', 'ü-ñ-☃', 'x'.repeat(500), '123']) {
      hashValue(id, words);
      const bytes = Buffer.alloc(12);
      bytes.writeUInt32BE(words[0]!, 0);
      bytes.writeUInt32BE(words[1]!, 4);
      bytes.writeUInt32BE(words[2]!, 8);
      expect(dedupeId(id)).toBe(bytes.toString('base64url'));
      expect(dedupeId(id)).toMatch(/^[A-Za-z0-9_-]{16}$/);
    }
  });

  it('is deterministic and keeps 100,000 distinct ids apart', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(dedupeId(`e-${i}`));
    expect(seen.size).toBe(100_000);
    expect(dedupeId('e-1')).toBe(dedupeId('e-1'));
  });
});

describe('dedupeSeq', () => {
  it('writes the first 48 bits of the sequence number hash as 8 base64url characters (6 bytes)', () => {
    const words = new Uint32Array(4);
    for (const seq of ['49590338271490256608559692538361571095921575989136588898', '1', '12/3', '9'.repeat(129)]) {
      hashValue(seq, words);
      const bytes = Buffer.alloc(8);
      bytes.writeUInt32BE(words[0]!, 0);
      bytes.writeUInt32BE(words[1]!, 4);
      expect(dedupeSeq(seq)).toBe(bytes.subarray(0, 6).toString('base64url'));
      expect(Buffer.from(dedupeSeq(seq), 'base64url').length).toBe(6);
    }
    expect(new Set(Array.from({ length: 10_000 }, (_, i) => dedupeSeq(String(49590338271490256608559692538361571095921575989136588898n + BigInt(i))))).size).toBe(10_000);
  });
});

describe('word forms', () => {
  it('dedupeIdInto writes the first 64 bits of dedupeId, parseDedupeId reads them from the text, formatDedupeId writes them', () => {
    const out = new Uint32Array(6);
    const back = new Uint32Array(6);
    ['e-7-13', '', 'ü-ñ-☃'].forEach((id, k) => {
      dedupeIdInto(id, out, k);
      const bits64 = Buffer.from(new Uint8Array(out.buffer, 8 * k, 8)).swap32();
      expect(bits64.toString('hex')).toBe(Buffer.from(dedupeId(id), 'base64url').subarray(0, 8).toString('hex'));
      expect(parseDedupeId(dedupeId(id), back, k)).toBe(true);
      expect(formatDedupeId(out, k)).toBe(bits64.toString('base64url'));
      expect(formatDedupeId(out, k)).toHaveLength(11);
      expect(dedupeId(id).startsWith(formatDedupeId(out, k).slice(0, 10))).toBe(true);
    });
    expect(back).toEqual(out);
    // every character of the alphabet at every position (those of the last 32 bits are checked, not kept)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < 64; i++) {
      const text = Array.from({ length: 16 }, (_, p) => alphabet[(i + 7 * p) % 64]).join('');
      expect(parseDedupeId(text, back, 0)).toBe(true);
      expect(Buffer.from(new Uint8Array(back.buffer, 0, 8)).swap32().toString('hex')).toBe(Buffer.from(text, 'base64url').subarray(0, 8).toString('hex'));
      expect(formatDedupeId(back, 0)).toBe(Buffer.from(text, 'base64url').subarray(0, 8).toString('base64url'));
    }
    // ids that differ only in their last 32 bits are one id
    const a = new Uint32Array(2);
    const b = new Uint32Array(2);
    expect([parseDedupeId('BBBBBBBBBBBAAAAA', a, 0), parseDedupeId('BBBBBBBBBBB_____', b, 0)]).toEqual([true, true]);
    expect([...a]).toEqual([...b]);
  });

  it('parseDedupeId refuses what is not 16 base64url characters, leaving out untouched', () => {
    const out = new Uint32Array([1, 2, 3]);
    for (const bad of ['', 'AAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAAAA', 'AAAAAAAAAAAAAAA=', 'AAAAAAAAAAAAAAA+', 'AAAAAAAAAAAAAAA/', 'AAAAAAAAAAAAAAAé', 'AAAAAAAAAAAAAAA\u0100']) expect(parseDedupeId(bad, out, 0)).toBe(false);
    expect([...out]).toEqual([1, 2, 3]);
  });

  it('dedupeSeqFingerprint is the first 32 bits of dedupeSeq as a number; legacyFingerprint reduces the 48 of an 18-byte entry to the same', () => {
    for (const seq of ['49590338271490256608559692538361571095921575989136588898', '1', '12/3', '9'.repeat(129)]) {
      const f = dedupeSeqFingerprint(seq);
      expect(Number.isInteger(f) && f >= 0 && f < 2 ** 32).toBe(true);
      expect(f.toString(16).padStart(8, '0')).toBe(Buffer.from(dedupeSeq(seq), 'base64url').subarray(0, 4).toString('hex'));
      const f48 = Number.parseInt(Buffer.from(dedupeSeq(seq), 'base64url').toString('hex'), 16);
      expect(legacyFingerprint(f48)).toBe(f);
    }
    // A sub-event's: the old fingerprint was of `${seq}/${index}`, and reduces to the new one of (seq, index).
    for (const [seq, index] of [['49590338271490256608559692538361571095921575989136588898', 0], ['7', 12], ['7', -1]] as const) {
      expect(legacyFingerprint(oldEntry('x', seq, index).f48)).toBe(dedupeSeqFingerprint(seq, index));
    }
    expect([legacyFingerprint(0), legacyFingerprint(0xffff), legacyFingerprint(0x10000), legacyFingerprint(2 ** 48 - 1)]).toEqual([0, 0, 1, 2 ** 32 - 1]);
  });
});

describe('DedupeIds', () => {
  it('finds every id added, keeps the first fingerprint recorded, and tells apart ids that differ in either word', () => {
    const n = 5000;
    const ids = new Uint32Array(2 * n);
    for (let k = 0; k < n; k++) dedupeIdInto(`e-${k}`, ids, k);
    // ids that share the first word (the table's index) with another, differing in the second only (low bit, high bit)
    const near = new Uint32Array([ids[0]!, ids[1]! ^ 1, ids[0]!, ids[1]! ^ 0x80000000]);
    const t = new DedupeIds(2);
    const others0 = new Uint32Array(2);
    dedupeIdInto('refused', others0, 0);
    for (let k = 0; k < n; k++) expect(t.add(ids, k, k * 3)).toBe(-1);
    expect(t.size).toBe(n);
    expect(t.add(ids, 17, 999)).toBe(17 * 3);
    expect(t.size).toBe(n);
    for (let k = 0; k < n; k++) expect(t.get(ids, k)).toBe(k * 3);
    expect([t.get(near, 0), t.get(near, 1)]).toEqual([-1, -1]);
    // fingerprints are 32-bit unsigned: the largest reads back as itself, not as -1
    expect([t.add(near, 0, 2 ** 32 - 1), t.add(near, 1, 0), t.get(near, 0), t.get(near, 1), t.get(ids, 0)]).toEqual([-1, -1, 2 ** 32 - 1, 0, 0]);
    // a fingerprint that is not 32 bits is refused, not cut to its low 32 (an 18-byte entry's 48 are reduced by legacyFingerprint)
    for (const bad of [2 ** 32, 2 ** 48 - 1, -1, 0.5, Number.NaN]) expect(() => t.add(others0, 0, bad)).toThrow(RangeError);
    expect(t.get(others0, 0)).toBe(-1);
    const others = new Uint32Array(2);
    dedupeIdInto('never added', others, 0);
    expect(t.get(others, 0)).toBe(-1);
  });

  it('copy is independent; addAll adds the entries not held yet, in order', () => {
    const ids = new Uint32Array(8);
    for (let k = 0; k < 4; k++) dedupeIdInto(`id-${k}`, ids, k);
    const a = new DedupeIds();
    a.add(ids, 0, 10);
    a.add(ids, 1, 11);
    const b = new DedupeIds();
    b.add(ids, 1, 99);
    b.add(ids, 2, 12);
    b.add(ids, 3, 13);
    const c = a.copy();
    c.addAll(b);
    expect([a.size, a.get(ids, 2)]).toEqual([2, -1]);
    expect([c.size, c.get(ids, 0), c.get(ids, 1), c.get(ids, 2), c.get(ids, 3)]).toEqual([4, 10, 11, 12, 13]);
    expect(Array.from({ length: c.size }, (_, e) => formatDedupeId(c.idWords(), e))).toEqual([0, 1, 2, 3].map((k) => Buffer.from(dedupeId(`id-${k}`), 'base64url').subarray(0, 8).toString('base64url')));
  });
});

describe('stored forms', () => {
  it('never change (DynamoDB holds them: a changed fingerprint would take a redelivery for a duplicate)', () => {
    expect(dedupeId('e-1')).toBe('PUu9f71qyna8lrb2');
    expect(dedupeSeq('49590338271490256608559692538361571095921575989136588898')).toBe('J8A5U-Mc');
    // The 48 bits of the 18-byte entries were 0x27c03953e31c; 12-byte entries keep their first 32.
    expect(dedupeSeqFingerprint('49590338271490256608559692538361571095921575989136588898')).toBe(0x27c03953);
    const w = new Uint32Array(2);
    dedupeIdInto('e-1', w, 0);
    expect(formatDedupeId(w, 0)).toBe('PUu9f71qynY');
  });
});
