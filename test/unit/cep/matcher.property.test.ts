import fc from 'fast-check';
import { SequenceMatcher } from '../../../lambdas/core/cep/matcher';
import { buildSequenceSpec, type RawSequence } from '../../../lambdas/core/cep/spec';
import { emptyStats, type SequenceMatch, type SequenceSpec, type SequenceState } from '../../../lambdas/core/cep/types';
import type { JsonObject } from '../../../lambdas/core/types';
import { referenceMatches, type ReferenceEvent } from '../../helpers/sequenceReference';

/**
 * The matcher against the brute-force reference (test/helpers/sequenceReference.ts)
 * on random event streams: several keys, ties in event time, arrival out of
 * order within the allowed out-of-orderness, split into random batches with
 * the state serialised and parsed between batches (as the engine stores it).
 */

const SHAPES: Record<string, RawSequence> = {
  aThenB: { steps: [{ where: 'k == "a"' }, { where: 'k == "b"' }], withinMs: 300 },
  countThenB: { steps: [{ where: 'k == "a"', count: 3 }, { where: 'k == "b"' }], withinMs: 400 },
  boundCountry: { steps: [{ where: 'k == "a"' }, { where: 'k != "c" && c != steps[0].c' }, { where: 'k == "b" && c == steps[0].c' }], withinMs: 500 },
  absent: { steps: [{ where: 'k == "a"', bind: ['c'] }, { where: 'k == "b" && c == steps[0].c', absent: true }], withinMs: 200 },
  untilC: { steps: [{ where: 'k == "a"' }, { where: 'k == "b"', count: 2 }], withinMs: 400, until: 'k == "c" && c == "x"' },
  restart: { steps: [{ where: 'k == "a"' }, { where: 'k == "b"' }, { where: 'k == "a"', absent: true }], withinMs: 250, onNew: 'restart' },
  twoPartials: { steps: [{ where: 'k == "a"' }, { where: 'k == "b"' }], withinMs: 600, maxPartials: 2 },
  anyThenWhole: { steps: [{}, { where: 'event.k == "b" && steps[0].c == event.c' }], withinMs: 100 },
};

function compiled(name: string): SequenceSpec {
  const r = buildSequenceSpec(SHAPES[name]!, `rule "${name}"`);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.spec;
}

const OOO = 50;

interface GenEvent {
  key: number;
  time: number;
  k: string;
  c: string;
  jitter: number;
}

const eventArb = fc.record({
  key: fc.integer({ min: 0, max: 2 }),
  time: fc.integer({ min: 0, max: 80 }).map((t) => t * 10),
  k: fc.constantFrom('a', 'a', 'b', 'b', 'c', 'x'),
  c: fc.constantFrom('x', 'y'),
  jitter: fc.integer({ min: 0, max: OOO }),
});

function matchView(m: SequenceMatch) {
  return { id: m.id, ids: m.events.map((e) => e.id), times: m.events.map((e) => e.time), bindings: m.bindings, start: m.start, at: m.at };
}

describe('sequence matcher = brute-force reference (property)', () => {
  test.each(Object.keys(SHAPES))('%s', (name) => {
      const spec = compiled(name);
      let matched = 0;
      fc.assert(
        fc.property(fc.array(eventArb, { minLength: 20, maxLength: 80 }), fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }), (gen, cuts) => {
          const events = gen.map((g, i) => ({ ...g, id: `e${String(i).padStart(3, '0')}` }));
          // Arrival: by time + jitter (<= the out-of-orderness), so no event is late.
          const arrival = [...events].sort((a, b) => a.time + a.jitter - (b.time + b.jitter) || (a.id < b.id ? -1 : 1));
          const matcher = new SequenceMatcher(name, spec);
          const states = new Map<number, string>();
          const got = new Map<number, ReturnType<typeof matchView>[]>();
          const stats = emptyStats();
          let maxSeen = -Infinity;
          let at = 0;
          let cut = 0;
          const step = (batch: GenEvent[] & { id?: string }[], watermark: number, keys: Iterable<number>) => {
            for (const key of keys) {
              const state: SequenceState = states.has(key) ? (JSON.parse(states.get(key)!) as SequenceState) : SequenceMatcher.empty();
              const mine = (batch as Array<GenEvent & { id: string }>).filter((e) => e.key === key).map((e) => ({ id: e.id, time: e.time, payload: { k: e.k, c: e.c, n: 1 } as JsonObject }));
              matcher.ingest(state, mine, stats);
              const ms = matcher.advance(state, watermark, stats);
              matcher.enforceBound(state, stats);
              got.set(key, [...(got.get(key) ?? []), ...ms.map(matchView)]);
              states.set(key, JSON.stringify(state));
            }
          };
          while (at < arrival.length) {
            const n = cuts[cut++ % cuts.length]!;
            const batch = arrival.slice(at, at + n);
            at += n;
            for (const e of batch) maxSeen = Math.max(maxSeen, e.time);
            // The engine touches only the keys of the batch; others wait for the ticker.
            step(batch, maxSeen - OOO, new Set(batch.map((e) => e.key)));
            if (cut % 3 === 0) step([], maxSeen - OOO, [0, 1, 2]);
          }
          const final = maxSeen + spec.withinMs + 1;
          step([], final, [0, 1, 2]);
          expect(stats.late).toBe(0);
          expect(stats.evictedForSize + stats.droppedForSize).toBe(0);
          for (const key of [0, 1, 2]) {
            const ref = referenceMatches(
              name,
              spec,
              events.filter((e) => e.key === key).map((e): ReferenceEvent => ({ id: e.id, time: e.time, payload: { k: e.k, c: e.c, n: 1 } })),
              final,
            ).map((m) => ({ id: m.id, ids: m.eventIds, times: m.times, bindings: m.bindings, start: m.start, at: m.at }));
            expect(got.get(key) ?? []).toEqual(ref);
            matched += ref.length;
            // Everything is final: the key holds nothing.
            expect(JSON.parse(states.get(key) ?? '{"q":[],"p":[]}')).toMatchObject({ q: [], p: [] });
          }
        }),
        { numRuns: 150, seed: 17 },
      );
      // Not vacuous: the random streams do produce matches for every shape.
      expect(matched).toBeGreaterThan(20);
  });
});
