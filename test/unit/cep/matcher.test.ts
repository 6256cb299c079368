import { SequenceMatcher, sequenceMatchId } from '../../../lambdas/core/cep/matcher';
import { buildSequenceSpec, type RawSequence } from '../../../lambdas/core/cep/spec';
import { emptyStats, type SequenceInput, type SequenceSpec } from '../../../lambdas/core/cep/types';
import type { JsonObject } from '../../../lambdas/core/types';

function spec(raw: RawSequence): SequenceSpec {
  const r = buildSequenceSpec(raw, 'rule "T"');
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.spec;
}

function ev(id: string, time: number, payload: JsonObject): SequenceInput {
  return { id, time, payload };
}

/** Runs all events in one ingest, then advances to `watermark`. */
function run(s: SequenceSpec, events: SequenceInput[], watermark: number) {
  const m = new SequenceMatcher('T', s);
  const state = SequenceMatcher.empty();
  const stats = emptyStats();
  m.ingest(state, events, stats);
  const matches = m.advance(state, watermark, stats);
  return { matches, stats, state, m };
}

const MIN = 60_000;

describe('sequence matcher: semantics', () => {
  test('five failed logins then a success within 10m: one match with the first five failures', () => {
    const s = spec({ steps: [{ where: 'outcome == "fail"', count: 5 }, { where: 'outcome == "ok"' }], withinMs: 10 * MIN });
    const events = [1, 2, 3, 4, 5, 6].map((i) => ev(`f${i}`, i * 1000, { outcome: 'fail' }));
    events.push(ev('s1', 7000, { outcome: 'ok' }));
    const { matches, state, stats } = run(s, events, 8000);
    expect(matches.map((x) => x.events.map((e) => e.id))).toEqual([['f1', 'f2', 'f3', 'f4', 'f5', 's1']]);
    expect(matches[0]!.id).toBe(sequenceMatchId('T', ['f1', 'f2', 'f3', 'f4', 'f5', 's1']));
    expect(matches[0]!.at).toBe(7000);
    expect(matches[0]!.start).toBe(1000);
    // f6 started a partial match of its own (count 1 of 5).
    expect(state.p).toEqual([{ s: 0, n: 1, t0: 6000, e: [[6000, 'f6', 0]], b: [{}] }]);
    expect(stats.late).toBe(0);
  });

  test('a success after 10m does not match; the partial expires (counted)', () => {
    const s = spec({ steps: [{ where: 'outcome == "fail"', count: 2 }, { where: 'outcome == "ok"' }], withinMs: 10 * MIN });
    const { matches, stats, state } = run(s, [ev('f1', 0, { outcome: 'fail' }), ev('f2', 1, { outcome: 'fail' }), ev('s', 10 * MIN + 1, { outcome: 'ok' })], 11 * MIN);
    expect(matches).toEqual([]);
    expect(stats.expired).toBe(1);
    expect(state.p).toEqual([]);
  });

  test('within is inclusive: an event at exactly t0 + within matches', () => {
    const s = spec({ steps: [{ where: 'x == 1' }, { where: 'x == 2' }], withinMs: 1000 });
    const { matches } = run(s, [ev('a', 0, { x: 1 }), ev('b', 1000, { x: 2 })], 1001);
    expect(matches.map((m) => m.id)).toEqual([sequenceMatchId('T', ['a', 'b'])]);
  });

  test('card used in two countries within an hour: steps[0].country is bound and reported', () => {
    const s = spec({ steps: [{ where: 'kind == "card"' }, { where: 'kind == "card" && country != steps[0].country' }], withinMs: 60 * MIN });
    expect(s.steps[0]!.bind).toEqual(['country']);
    expect(s.keepFields).toEqual(['country', 'kind']);
    const { matches } = run(s, [ev('a', 0, { kind: 'card', country: 'FR', amount: 3 }), ev('b', 10, { kind: 'card', country: 'FR' }), ev('c', 20, { kind: 'card', country: 'DE' })], 100);
    // a starts, b (same country) starts its own partial, c completes the oldest (a).
    expect(matches.map((m) => [m.events.map((e) => e.id), m.bindings])).toEqual([[['a', 'c'], [{ country: 'FR' }, {}]]]);
  });

  test('absent last step fires when the watermark passes the deadline, not before', () => {
    const s = spec({ steps: [{ where: 'kind == "start"', bind: ['job'] }, { where: 'kind == "finish"', absent: true }], withinMs: 30 * MIN });
    const m = new SequenceMatcher('T', s);
    const state = SequenceMatcher.empty();
    const stats = emptyStats();
    m.ingest(state, [ev('s1', 0, { kind: 'start', job: 'j1' })], stats);
    expect(m.advance(state, 30 * MIN, stats)).toEqual([]);
    expect(m.dueAt(state)).toBe(30 * MIN);
    const fired = m.advance(state, 30 * MIN + 1, stats);
    expect(fired).toEqual([{ id: sequenceMatchId('T', ['s1']), events: [{ id: 's1', time: 0, step: 0 }], bindings: [{ job: 'j1' }, {}], start: 0, at: 30 * MIN }]);
    expect(state.p).toEqual([]);
    expect(m.dueAt(state)).toBeNull();
  });

  test('absent step: the B within the span cancels (counted as negated)', () => {
    const s = spec({ steps: [{ where: 'kind == "start"' }, { where: 'kind == "finish"', absent: true }], withinMs: 1000 });
    const { matches, stats } = run(s, [ev('s', 0, { kind: 'start' }), ev('f', 1000, { kind: 'finish' })], 5000);
    expect(matches).toEqual([]);
    expect(stats.negated).toBe(1);
  });

  test('absent step: a B after the deadline does not cancel', () => {
    const s = spec({ steps: [{ where: 'kind == "start"' }, { where: 'kind == "finish"', absent: true }], withinMs: 1000 });
    const { matches } = run(s, [ev('s', 0, { kind: 'start' }), ev('f', 1001, { kind: 'finish' })], 5000);
    expect(matches.map((m) => m.at)).toEqual([1000]);
  });

  test('until expires every partial match of the key, and its event is used by no step', () => {
    const s = spec({ steps: [{ where: 'k == "a"' }, { where: 'k == "b" || k == "c"' }], withinMs: 1000, until: 'k == "c"' });
    const { matches, stats } = run(s, [ev('a1', 0, { k: 'a' }), ev('a2', 1, { k: 'a' }), ev('c', 2, { k: 'c' }), ev('b', 3, { k: 'b' })], 10);
    expect(matches).toEqual([]);
    expect(stats.untilCleared).toBe(2);
  });

  test('keep (default): every A starts its own partial, the oldest is evicted beyond maxPartials, B completes the oldest', () => {
    const s = spec({ steps: [{ where: 'k == "a"' }, { where: 'k == "b"' }], withinMs: 1000, maxPartials: 2 });
    const { matches, stats } = run(s, [ev('a1', 0, { k: 'a' }), ev('a2', 1, { k: 'a' }), ev('a3', 2, { k: 'a' }), ev('b1', 3, { k: 'b' }), ev('b2', 4, { k: 'b' }), ev('b3', 5, { k: 'b' })], 10);
    expect(matches.map((m) => m.events.map((e) => e.id))).toEqual([
      ['a2', 'b1'],
      ['a3', 'b2'],
    ]);
    expect(stats.evicted).toBe(1);
  });

  test('restart: a new A replaces the partial match', () => {
    const s = spec({ steps: [{ where: 'k == "a"' }, { where: 'k == "b"' }], withinMs: 1000, onNew: 'restart' });
    const { matches, stats } = run(s, [ev('a1', 0, { k: 'a' }), ev('a2', 1, { k: 'a' }), ev('b1', 3, { k: 'b' }), ev('b2', 4, { k: 'b' })], 10);
    expect(matches.map((m) => m.events.map((e) => e.id))).toEqual([['a2', 'b1']]);
    expect(stats.restarted).toBe(1);
  });

  test('event-time order, not arrival order; equal times break ties by event id', () => {
    const s = spec({ steps: [{ where: 'k == "a"' }, { where: 'k == "b"' }], withinMs: 1000 });
    const m = new SequenceMatcher('T', s);
    const state = SequenceMatcher.empty();
    const stats = emptyStats();
    m.ingest(state, [ev('b', 20, { k: 'b' })], stats);
    expect(m.advance(state, 5, stats)).toEqual([]);
    m.ingest(state, [ev('a', 10, { k: 'a' })], stats);
    expect(m.advance(state, 21, stats).map((x) => x.events.map((e) => e.id))).toEqual([['a', 'b']]);
    // A tie: "x1" < "x2", so the a at the same time as the b comes first only if its id is smaller.
    const tie = run(s, [ev('x2', 5, { k: 'b' }), ev('x1', 5, { k: 'a' })], 6);
    expect(tie.matches.map((x) => x.events.map((e) => e.id))).toEqual([['x1', 'x2']]);
    const noTie = run(s, [ev('x1', 5, { k: 'b' }), ev('x2', 5, { k: 'a' })], 6);
    expect(noTie.matches).toEqual([]);
  });

  test('an event older than what the key was advanced to is late: counted, not matched; a redelivered event is kept once', () => {
    const s = spec({ steps: [{ where: 'k == "a"' }, { where: 'k == "b"' }], withinMs: 1000 });
    const m = new SequenceMatcher('T', s);
    const state = SequenceMatcher.empty();
    const stats = emptyStats();
    m.ingest(state, [ev('b', 20, { k: 'b' }), ev('b', 20, { k: 'b' })], stats);
    expect(stats.duplicates).toBe(1);
    m.advance(state, 15, stats);
    m.ingest(state, [ev('a', 14, { k: 'a' }), ev('z', 3, { k: 'zzz' })], stats);
    expect(stats.late).toBe(2);
    expect(m.advance(state, 100, stats)).toEqual([]);
  });

  test('events matching nothing are not buffered', () => {
    const s = spec({ steps: [{ where: 'k == "a"' }, { where: 'k == "b"' }], withinMs: 1000 });
    const { state, stats } = run(s, [ev('x', 0, { k: 'x' })], -1);
    expect(state.q).toEqual([]);
    expect(stats.ignored).toBe(1);
  });

  test('the state bound: oldest partial matches are evicted first, then the newest buffered events are dropped; both counted', () => {
    const s = spec({ steps: [{ where: 'k == "a"', bind: ['pad'] }, { where: 'k == "b"' }], withinMs: 1_000_000, maxPartials: 64, maxStateBytes: 1024 });
    const m = new SequenceMatcher('T', s);
    const state = SequenceMatcher.empty();
    const stats = emptyStats();
    const pad = 'p'.repeat(100);
    m.ingest(state, Array.from({ length: 20 }, (_, i) => ev(`a${String(i).padStart(2, '0')}`, i, { k: 'a', pad })), stats);
    m.advance(state, 10, stats);
    const size = m.enforceBound(state, stats);
    expect(size).toBe(JSON.stringify(state).length);
    expect(size).toBeLessThanOrEqual(1024);
    // 10 partial matches (a00..a09) and 10 buffered events (a10..a19) did not fit in 1 KB.
    expect(state.p).toEqual([]);
    expect(stats.evictedForSize).toBe(10);
    expect(stats.droppedForSize).toBe(10 - state.q.length);
    expect(state.q.map((e) => e[1])).toEqual(Array.from({ length: state.q.length }, (_, i) => `a${String(10 + i).padStart(2, '0')}`));
    expect(state.q.length).toBe(8);
  });
});

describe('sequence spec validation', () => {
  const issues = (raw: RawSequence) => {
    const r = buildSequenceSpec(raw, 'rule "T"');
    return r.ok ? [] : r.issues.map((i) => `${i.field}: ${i.message}`);
  };
  test('names the field and the allowed values', () => {
    expect(issues({ steps: [{ where: 'a' }], withinMs: 1 })).toEqual(['steps: a sequence has 2 to 16 steps (given 1)']);
    expect(issues({ steps: [{ where: 'a', absent: true }, { where: 'b' }], withinMs: 1 })).toEqual([
      'steps[0].absent: only the last step may be absent ("A then no B within T")',
      'steps[0].absent: the first step cannot be absent: a sequence starts with an event',
    ]);
    expect(issues({ steps: [{ where: 'x == steps[0].y' }, { where: 'b == steps[1].y' }], withinMs: 1 })).toEqual([
      'steps[0].where: steps[0] is not an earlier step: the first step may not refer to steps',
      'steps[1].where: steps[1] is not an earlier step: step 1 may refer to steps[0] only',
    ]);
    expect(issues({ steps: [{ where: 'a' }, { where: 'size(steps) > 0' }], withinMs: 1 })).toEqual(['steps[1].where: `steps` may only be used as steps[N].field, N the index of an earlier step']);
    expect(issues({ steps: [{ where: 'a', count: 0 }, { where: 'b' }], withinMs: 1, onNew: 'sometimes' as never })).toEqual([
      'steps[0].count: must be an integer from 1 to 100 (given 0)',
      'onNew: must be one of keep, restart (given "sometimes")',
    ]);
    expect(issues({ steps: [{ where: 'a' }, { where: 'b' }], withinMs: 1, maxPartials: 65 })).toEqual(['maxPartials: must be an integer from 1 to 64 (given 65)']);
    expect(issues({ steps: [{ where: 'a' }, { where: 'b' }], withinMs: 1, onNew: 'restart', maxPartials: 3 })).toEqual(['maxPartials: only with onNew: keep (restart keeps one partial match per key)']);
    expect(issues({ steps: [{ where: 'a' }, { where: 'b' }], withinMs: 1, until: 'steps[0].x == 1' })).toEqual(['until: `until` is a condition on one event: it cannot refer to steps']);
    // A string literal mentioning steps is not a reference.
    expect(issues({ steps: [{ where: 'msg == "3 steps"' }, { where: 'b' }], withinMs: 1 })).toEqual([]);
  });
});
