import fc from 'fast-check';
import { Environment } from '@marcbachmann/cel-js';
import { eventVariables, ExpressionError, tryCompileExpression } from '../../../lambdas/core/expression';
import type { CompiledExpression } from '../../../lambdas/core/types';

// The reference: the cel-js interpreter itself, over a scope where `event` is the payload
// (a plain copy, so `event.event` can only be a real field of the payload).
const reference = new Environment({ unlistedVariablesAreDyn: true });

type Outcome = { readonly value: unknown } | { readonly code: string; readonly summary: string };

function interpret(source: string, payload: Record<string, unknown>): Outcome {
  const scope = { ...payload, event: payload };
  try {
    const r: unknown = reference.parse(source)(scope);
    return { value: typeof r === 'bigint' ? Number(r) : r };
  } catch (e) {
    // (cel-js fails with a plain TypeError on some odd objects, e.g. one whose `constructor` is null)
    const err = e as { code: string; summary?: string; message: string };
    return { code: err.code, summary: err.summary ?? err.message };
  }
}

function evaluate(expr: CompiledExpression, vars: Record<string, unknown>): Outcome {
  try {
    return { value: expr.evaluate(vars) };
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    return { code: e.code!, summary: e.message };
  }
}

/** A deep copy keeping prototypes (null-prototype objects stay so) and -0. */
function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(clone) as T;
  if (v === null || typeof v !== 'object') return v;
  const out = Object.create(Object.getPrototypeOf(v)) as Record<string, unknown>;
  for (const [k, x] of Object.entries(v)) out[k] = clone(x);
  return out as T;
}

/** The fast path's outcome equals the interpreter's: same value, or an error with the same code and summary. */
function assertSame(fast: Outcome, expected: Outcome, what: string): void {
  if ('value' in expected) {
    expect(fast).toEqual(expected);
  } else {
    expect('code' in fast && fast.code).toBe(expected.code);
    expect('summary' in fast && fast.summary.startsWith(`${what}: ${expected.summary}`)).toBe(true);
  }
}

// ---------------------------------------------------------------- generators

const IDENTIFIERS = ['a', 'b', 'n', 's', 'event'] as const;
const KEYS = ['a', 'b', 'x', 'event', 'constructor'] as const;

const leaf = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(0, -0, 1, 500, 1.5, -2.5, 2 ** 53, 2 ** 53 + 2, 1e21),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom('', 'a', 'b', 'http', '1', 'A', 'é'),
  fc.boolean(),
  fc.constant(null),
);

const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    { arbitrary: leaf, weight: 6 },
    { arbitrary: fc.dictionary(fc.constantFrom(...KEYS), tie('json'), { maxKeys: 3 }), weight: 2 },
    { arbitrary: fc.array(tie('json'), { maxLength: 2 }), weight: 1 },
  ),
}));

// Payloads as JSON.parse makes them; a few fields may be missing.
const payloads = fc.record({ a: json, b: json, n: json, s: json, event: json, c: json }, { requiredKeys: ['a', 'n', 's'] });

const keys = fc.oneof(fc.constant([]), fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 2 }));
const path = fc.tuple(fc.constantFrom(...IDENTIFIERS), keys).map(([id, ks]) => [id, ...ks].join('.'));

const ints = ['0', '1', '-1', '500', '-0', '9007199254740993'];
const doubles = ['0.0', '-0.0', '1.5', '500.0', '1e3', '-2.5', '9007199254740992.0'];
const strings = ['""', '"a"', '"http"', '"1"', '"é"'];
const literal = fc.constantFrom(...ints, ...doubles, ...strings, 'true', 'false', 'null');
const operand = fc.oneof(path, path, literal);

const comparison = fc
  .tuple(operand, fc.constantFrom('==', '!=', '<', '<=', '>', '>='), operand)
  .map(([l, op, r]) => `${l} ${op} ${r}`);

const membership = fc
  .tuple(path, fc.constantFrom(ints, doubles, strings, ['true'], ['null'], []))
  .chain(([p, pool]) =>
    fc.subarray(pool).map((items) => `${p} in [${items.join(', ')}]`),
  );

const has = fc
  .tuple(fc.constantFrom(...IDENTIFIERS), fc.array(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 3 }))
  .map(([id, keys]) => `has(${[id, ...keys].join('.')})`);

const { condition } = fc.letrec<{ condition: string }>((tie) => ({
  condition: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    comparison,
    membership,
    has,
    path,
    fc.constantFrom('true', 'false'),
    tie('condition').map((c) => `!${c}`),
    tie('condition').map((c) => `!(${c})`),
    fc.tuple(tie('condition'), tie('condition')).map(([l, r]) => `(${l} && ${r})`),
    fc.tuple(tie('condition'), tie('condition')).map(([l, r]) => `${l} || ${r}`),
  ),
}));

/**
 * Checks one expression over one payload: the fast path, given the raw payload
 * or eventVariables(payload), agrees with the interpreter. Returns false when the
 * expression does not compile (a type error such as `1 == "a"`).
 */
function agrees(source: string, payload: Record<string, unknown>): boolean {
  const compiled = tryCompileExpression(source, { what: 'where' });
  if (!compiled.ok) return false;
  expect(compiled.expression.acceptsPayload).toBe(true);
  const expected = interpret(source, clone(payload));
  assertSame(evaluate(compiled.expression, clone(payload)), expected, 'where');
  assertSame(evaluate(compiled.expression, eventVariables(clone(payload))), expected, 'where');
  return true;
}

describe('fast expressions agree with the cel-js interpreter', () => {
  it('on random conditions over random payloads', () => {
    let compiled = 0;
    let runs = 0;
    fc.assert(
      fc.property(condition, payloads, (source, payload) => {
        runs++;
        if (agrees(source, payload)) compiled++;
      }),
      { numRuns: 4000 },
    );
    // Most generated expressions type-check (the rest compare literals of different types).
    expect(compiled / runs).toBeGreaterThan(0.7);
  });

  it('on random value expressions (fields and literals)', () => {
    fc.assert(
      fc.property(fc.oneof(path, literal), payloads, (source, payload) => {
        agrees(source, payload);
      }),
      { numRuns: 1500 },
    );
  });
});
