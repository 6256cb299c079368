import fc from 'fast-check';
import { Environment } from '@marcbachmann/cel-js';
import { compileExpression, eventVariables, ExpressionError, tryCompileExpression } from '../../../lambdas/core/expression';
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

// ---------------------------------------------------------------- exact cases

const PAYLOAD = { t: true, f: false, n: 1, z: 0, big: 2 ** 53, s: 'a', nl: null, o: { a: 1, s: 'x', b: { c: null } }, l: [1], kind: 'http' };

/** What the fast path gives for `source` over `payload`: the value, or the error's code and message. */
function fast(source: string, payload: Record<string, unknown> = PAYLOAD): unknown {
  const expr = tryCompileExpression(source, { what: 'where' });
  if (!expr.ok) throw new Error(`${source}: ${expr.message}`);
  expect(expr.expression.acceptsPayload).toBe(true);
  const raw = evaluate(expr.expression, clone(payload));
  // The same over eventVariables(payload), and the same as the interpreter's.
  expect(evaluate(expr.expression, eventVariables(clone(payload)))).toEqual(raw);
  assertSame(raw, interpret(source, clone(payload)), 'where');
  return 'value' in raw ? raw.value : { code: raw.code, message: raw.summary };
}

function error(code: string, summary: string, source: string): { code: string; message: string } {
  return { code, message: `where: ${summary} in '${source}'` };
}

describe('fast expressions: exact cases', () => {
  it.each([
    ['missing && false', false],
    ['false && missing', false],
    ['missing || true', true],
    ['true || missing', true],
    ['n && false', false],
    ['false || f', false],
    ['(n > 0.0 || missing) && !f', true],
  ])('absorbs errors in && and ||: %s is %j', (source, expected) => {
    // Act
    const result = fast(source);

    // Assert
    expect(result).toBe(expected);
  });

  it.each([
    ['missing && true', 'unknown_variable', 'Unknown variable: missing (the event has no field "missing"; guard optional fields with has(event.missing))'],
    ['true && missing', 'unknown_variable', 'Unknown variable: missing (the event has no field "missing"; guard optional fields with has(event.missing))'],
    ['missing || false', 'unknown_variable', 'Unknown variable: missing (the event has no field "missing"; guard optional fields with has(event.missing))'],
    // Both sides fail: the interpreter reports the right one (it evaluates it last).
    ['missing && other', 'unknown_variable', 'Unknown variable: other (the event has no field "other"; guard optional fields with has(event.other))'],
    ['n && true', 'invalid_logical_operand', "Logical operator requires bool operands, got 'double'"],
    ['missing || s', 'invalid_logical_operand', "Logical operator requires bool operands, got 'string'"],
    ['!n', 'no_such_overload', 'no such overload: !double'],
    ['!nl', 'no_such_overload', 'no such overload: !null (a value is null)'],
  ])('keeps the error when && / || / ! cannot decide: %s', (source, code, summary) => {
    // Act
    const result = fast(source);

    // Assert
    expect(result).toEqual(error(code, summary, source));
  });

  it.each([
    ['n == 1', true],
    ['n == 1.0', true],
    ['n != 1', false],
    ['n >= 1', true],
    ['n < 1', false],
    ['z == -0.0', true],
    ['z == -0', true],
    ['-1 < z', true],
    // 2^53 + 1 is an int no double equals: compared exactly, not rounded to 2^53.
    ['big == 9007199254740993', false],
    ['big < 9007199254740993', true],
    ['big == 9007199254740992', true],
    ['big in [9007199254740993]', false],
    ['n in [1, 2]', true],
    ['n in [1.0]', true],
    ['n in ["1"]', false],
    ['s in ["a", "b"]', true],
    ['nl in [null]', true],
    ['o in ["a"]', false],
    ['n == "1"', false],
    ['s != 1', true],
    ['nl == null', true],
    ['n == null', false],
    ['t == true', true],
    ['f < t', true],
    ['s < "b"', true],
  ])('compares as CEL does: %s is %j', (source, expected) => {
    // Act
    const result = fast(source);

    // Assert
    expect(result).toBe(expected);
  });

  it.each([
    ['s < 1', 'no such overload: dyn<string> < int'],
    ['n >= "a"', 'no such overload: dyn<double> >= string'],
    ['nl < 1.0', 'no such overload: dyn<null> < double (a value is null)'],
    ['"a" > n', 'no such overload: string > dyn<double>'],
    ['t <= n', 'no such overload: dyn<bool> <= dyn<double>'],
    ['(n > 0.0) < n', 'no such overload: bool < dyn<double>'],
  ])('fails on orderings across types: %s', (source, summary) => {
    // Act
    const result = fast(source);

    // Assert
    expect(result).toEqual(error('no_such_overload', summary, source));
  });

  it('rejects literal comparisons across types at compile time, as before', () => {
    // Act
    const results = ['"a" < 1', '1.0 == "a"', 'n < null'].map((s) => tryCompileExpression(s, { what: 'where' }).ok);

    // Assert
    expect(results).toEqual([false, false, false]);
  });

  it('reports missing fields and keys as the interpreter does', () => {
    // Act
    const results = ['x', 'event.x', 'o.x', 'o.s.y', 'has(o.x.y)', 'l.a'].map((s) => fast(s));

    // Assert
    expect(results).toEqual([
      error('unknown_variable', 'Unknown variable: x (the event has no field "x"; guard optional fields with has(event.x))', 'x'),
      error('no_such_key', 'No such key: x', 'event.x'),
      error('no_such_key', 'No such key: x', 'o.x'),
      error('no_such_key', 'No such key: y', 'o.s.y'),
      error('no_such_key', 'No such key: x', 'has(o.x.y)'),
      error('no_such_key', 'No such key: a', 'l.a'),
    ]);
  });

  it('reads fields as x or event.x, and has() them', () => {
    // Act
    const results = ['o.a', 'event.o.a', 'event.kind == kind', 'has(event.kind)', 'has(event.x)', 'has(o.b.c)', 'has(o.s.y)', 'has(s.x)', 'nl', 'o.b'].map((s) => fast(s));

    // Assert
    expect(results).toEqual([1, 1, true, true, false, true, false, false, null, { c: null }]);
  });

  it('reads a payload field named event as event.event, raw or through eventVariables', () => {
    // Arrange
    const payload = { kind: 'http', event: 'login' };

    // Act
    const results = ['event.event == "login" && event.kind == "http"', 'event.event', 'has(event.event)', 'event'].map((s) => fast(s, payload));
    const withoutField = ['has(event.event)', 'event.event'].map((s) => fast(s, { kind: 'http' }));

    // Assert: without such a field, event.event is missing (not the payload itself)
    expect(results).toEqual([true, 'login', true, payload]);
    expect(withoutField).toEqual([false, error('no_such_key', 'No such key: event', 'event.event')]);
  });

  it('leaves values JSON does not have to the interpreter', () => {
    // Arrange
    const expr = (s: string): CompiledExpression => compileExpression(s, { what: 'where' });
    const vars = { m: new Map([['a', 1]]), f: () => 1, odd: { constructor: 'x', a: 1 }, u: 5n };

    // Act
    const results = [expr('m.a == 1').evaluate(vars), expr('has(m.a)').evaluate(vars), expr('u == 5').evaluate(vars), expr('u').evaluate(vars)];
    const errors = ['f == 1', 'odd.a', 'has(odd.a)'].map((s) => {
      const r = evaluate(expr(s), vars);
      return 'code' in r ? r.code : r;
    });

    // Assert
    expect(results).toEqual([true, true, true, 5]);
    expect(errors).toEqual(['unsupported_type', 'unsupported_type', 'unsupported_type']);
  });

  it('keeps the interpreter for expressions outside the subset, and for typed ones', () => {
    // Arrange
    const expr = (s: string): CompiledExpression => compileExpression(s, { what: 'where' });
    const outside = ['cel.bind(x, n, x > 1.0)', 'size(s) > 2', 's.startsWith("a")', 'n + 1.0 > 2.0', '-n < 0.0', 'n > 0.0 ? s : "b"', 's in l', 'l[0] == 1', 'n == 1u', 'type(n) == double', 'l.exists(x, x == 1.0)', '[1.0] == l', 'o["a"] == 1'];

    // Act
    const compiled = outside.map((s) => tryCompileExpression(s, { what: 'where' }));
    const typed = compileExpression('errors > 1.0', { what: 'when', variables: { errors: 'double' } });

    // Assert
    expect(compiled.map((c) => c.ok && c.expression.acceptsPayload)).toEqual(outside.map(() => undefined));
    expect(typed.acceptsPayload).toBeUndefined();
    expect(compileExpression('size(s) > 0', { what: 'where' }).evaluate(eventVariables({ s: 'abc' }))).toBe(true);
    // `google`, `cel` and `optional` are cel-js's namespaces, not the payload's fields: refused
    // when loading, and read as event.google.
    expect(['google.x == 1', 'cel.x', 'optional.x'].map((s) => tryCompileExpression(s, { what: 'where' }).ok)).toEqual([false, false, false]);
    expect(expr('event.google.x').evaluate(eventVariables({ google: { x: 1 } }))).toBe(1);
  });
});
