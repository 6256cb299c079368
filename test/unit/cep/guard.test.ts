import fc from 'fast-check';
import { SequenceMatcher } from '../../../lambdas/core/cep/matcher';
import { buildSequenceSpec, guardOf, type RawSequence } from '../../../lambdas/core/cep/spec';
import { emptyStats, type SequenceSpec } from '../../../lambdas/core/cep/types';
import type { JsonObject, JsonValue } from '../../../lambdas/core/types';

/**
 * Guards (cep/types.ts Guard): the field test a step's `where` or `until`
 * implies, which lets the matcher skip the conditions an event cannot meet.
 * They must never change a result: the masks of a matcher with them equal
 * those of one without, on any payload.
 */

function spec(raw: RawSequence): SequenceSpec {
  const r = buildSequenceSpec(raw, 'rule "T"');
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.spec;
}

/** The same spec without guards: every condition evaluated whole, as before guards. */
function unguarded({ untilGuard: _u, ...s }: SequenceSpec): SequenceSpec {
  return { ...s, steps: s.steps.map(({ guard: _g, ...rest }) => rest) };
}

describe('guardOf', () => {
  test.each([
    ['kind == "deploy"', { field: 'kind', values: ['deploy'], rest: null }],
    ['"deploy" == kind', { field: 'kind', values: ['deploy'], rest: null }],
    ['event.kind == "x"', { field: 'kind', values: ['x'], rest: null }],
    ['kind == "http" && status >= 500', { field: 'kind', values: ['http'], rest: 'status >= 500' }],
    ['kind == "deploy" && has(event.rollback) && event.rollback == true', { field: 'kind', values: ['deploy'], rest: '(has(event.rollback)) && (event.rollback == true)' }],
    ['(a > 1 && kind == "q") && b', { field: 'kind', values: ['q'], rest: '(a > 1) && (b)' }],
    ['kind in ["a", "b", "a"] && (x > 1 || y)', { field: 'kind', values: ['a', 'b'], rest: 'x > 1 || y' }],
    ['k == "b" || k == "c"', { field: 'k', values: ['b', 'c'], rest: null }],
    // Not exact: "b" alone does not make the condition true, so the whole is checked.
    ['kind == "a" || (kind == "b" && z)', { field: 'kind', values: ['a', 'b'], rest: undefined }],
  ])('%s', (source, expected) => {
    expect(guardOf(source)).toEqual(expected);
  });

  test.each(['!(kind == "x")', 'kind != "x"', 'kind == 1', 'kind in ["a", 1]', 'type(x) == string', 'event == "x"', 'kind == "a" || other == "b"', 'x > 1', '[1].exists(kind, kind == "x")'])(
    'no guard: %s',
    (source) => {
      expect(guardOf(source)).toBeUndefined();
    },
  );

  test('the spec carries the guards of static steps and until, not of dynamic steps', () => {
    const s = spec({
      steps: [{ where: 'kind == "deploy"', bind: ['service'] }, { where: 'kind == "http" && status >= 500 && service == steps[0].service' }, { where: 'kind == "http" && status >= 500' }],
      withinMs: 1000,
      until: 'kind == "rollback" && ok',
    });
    expect(s.steps.map((st) => (st.guard === undefined ? null : { field: st.guard.field, values: st.guard.values, rest: st.guard.rest?.source ?? null }))).toEqual([
      { field: 'kind', values: ['deploy'], rest: null },
      null,
      { field: 'kind', values: ['http'], rest: 'status >= 500' },
    ]);
    expect(s.untilGuard?.rest?.source).toBe('ok');
  });
});

const SHAPES: Record<string, RawSequence> = {
  deployThenErrors: {
    steps: [{ where: 'kind == "deploy"', bind: ['version'] }, { where: 'kind == "http" && status >= 500', count: 2 }],
    withinMs: 1000,
    until: 'kind == "deploy" && has(event.rollback) && event.rollback == true',
  },
  mixedFields: { steps: [{ where: 'kind in ["a", "b"] && (status > 1 || flag)' }, { where: 'other == "a" && kind != "b"' }, { where: '"c" == event.kind || kind == "d"' }], withinMs: 1000 },
  inexactOr: { steps: [{ where: 'kind == "a" || (kind == "b" && flag)' }, { where: 'kind == "b"' }], withinMs: 1000, until: 'flag == true && kind == "c"' },
  withDynamic: { steps: [{ where: 'kind == "a"', bind: ['other'] }, { where: 'kind == "b" && other == steps[0].other' }, { where: '(status >= 2 && kind == "c") && flag' }], withinMs: 1000 },
  namespaceFields: { steps: [{ where: 'event.optional == "a" && event.cel != "b"' }, { where: 'event.optional in ["b", "c"]' }, { where: 'event.event == "a" && kind == "b"' }], withinMs: 1000 },
  fieldConstructor: { steps: [{ where: 'event.constructor == "a"' }, { where: 'event.toString == "b" && status > 0' }], withinMs: 1000 },
};

const value: fc.Arbitrary<JsonValue | undefined> = fc.oneof(
  fc.constantFrom<JsonValue | undefined>('a', 'b', 'c', 'd', 'deploy', 'http', 'x', '', undefined, null, true, false, 0, 1, 2, 500, 503),
  fc.constant<JsonValue>({ a: 1 }),
  fc.constant<JsonValue>(['a']),
);

const FIELDS = ['kind', 'other', 'status', 'flag', 'rollback', 'version', 'constructor', 'toString', '__proto__', 'optional', 'event', 'cel'];

/** Payloads as decoding makes them (JSON.parse: `__proto__` is then an own field like any other). */
const payloadArb = fc.array(value, { minLength: FIELDS.length, maxLength: FIELDS.length }).map((values) => {
  const parts = FIELDS.flatMap((f, i) => (values[i] === undefined ? [] : [`${JSON.stringify(f)}:${JSON.stringify(values[i])}`]));
  return JSON.parse(`{${parts.join(',')}}`) as JsonObject;
});

describe('guards never change a mask (property)', () => {
  test.each(Object.keys(SHAPES))('%s', (name) => {
    const s = spec(SHAPES[name]!);
    expect(s.steps.some((st) => st.guard !== undefined)).toBe(true);
    const guarded = new SequenceMatcher('T', s);
    const plain = new SequenceMatcher('T', unguarded(s));
    fc.assert(
      fc.property(fc.array(payloadArb, { minLength: 1, maxLength: 30 }), (payloads) => {
        const a = SequenceMatcher.empty();
        const b = SequenceMatcher.empty();
        const sa = emptyStats();
        const sb = emptyStats();
        const events = payloads.map((payload, i) => ({ id: `e${i}`, time: i, payload }));
        guarded.ingest(a, events, sa);
        plain.ingest(b, events, sb);
        expect(a).toEqual(b);
        expect(sa).toEqual(sb);
        for (const p of payloads) expect(guarded.relevant(p)).toBe(plain.relevant(p));
      }),
      { numRuns: 300 },
    );
  });
});
