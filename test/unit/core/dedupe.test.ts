import { hashValue } from '../../../lambdas/core/aggregates/murmur3';
import { dedupeId, dedupeSeq } from '../../../lambdas/core/dedupe';

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

describe('stored forms', () => {
  it('never change (DynamoDB holds them: a changed fingerprint would take a redelivery for a duplicate)', () => {
    expect(dedupeId('e-1')).toBe('PUu9f71qyna8lrb2');
    expect(dedupeSeq('49590338271490256608559692538361571095921575989136588898')).toBe('J8A5U-Mc');
  });
});
