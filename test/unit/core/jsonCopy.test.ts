import fc from 'fast-check';
import { jsonCopy } from '../../../lambdas/core/InMemoryStateStore';

/** What the in-memory store copied with before, and must still give. */
const roundTrip = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

/** Exactly alike: Object.is on leaves (-0 is not 0), the same keys in the same order, the same prototypes, arrays as arrays. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

describe('jsonCopy (the in-memory store copies state as JSON would)', () => {
  it('equals the JSON round trip on any JSON-like value, odd members included', () => {
    const odd = fc.constantFrom<unknown>(-0, NaN, Infinity, -Infinity, undefined, () => 1, Symbol('s'), new Date(Date.UTC(2026, 0, 2)), 1.5e300, 'a\ud800b');
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.double(), fc.integer(), fc.string(), fc.boolean(), fc.constant(null), odd),
      array: fc.array(tie('node'), { maxLength: 5 }),
      object: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'toString', '0', '10', 'constructor')), tie('node'), { maxKeys: 5 }),
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('array'), tie('object')),
    }));
    fc.assert(
      fc.property(fc.oneof(value.array, value.object), (v) => {
        expect(same(jsonCopy(v), roundTrip(v))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps an own __proto__ field a field, makes -0 a 0 and shares nothing with the original', () => {
    const original = JSON.parse('{"__proto__":{"a":[1,-0]},"b":{"c":[{"d":2}]}}') as Record<string, unknown>;
    const copy = jsonCopy(original);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'b']);
    expect(Object.is((copy['__proto__'] as { a: number[] }).a[1], 0)).toBe(true);
    expect(copy['b']).not.toBe(original['b']);
    ((copy['b'] as { c: Array<{ d: number }> }).c[0]!).d = 3;
    expect((original['b'] as { c: Array<{ d: number }> }).c[0]!.d).toBe(2);
  });

  it('fails where JSON fails', () => {
    expect(() => jsonCopy({ n: 1n })).toThrow(TypeError);
    expect(() => jsonCopy(undefined)).toThrow(SyntaxError);
  });
});
