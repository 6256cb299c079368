import { createHash } from 'node:crypto';
import { eventVariables } from '../../lambdas/core/expression';
import type { SequenceSpec } from '../../lambdas/core/cep/types';
import type { EpochMs, JsonObject } from '../../lambdas/core/types';

/**
 * Brute-force reference of sequence matching, for property tests and the
 * chaos oracle: all of a key's events at once, sorted by (time, id), every
 * condition evaluated on the whole payload, no buffering, masks, projection,
 * serialisation or bound. It states the semantics of lambdas/core/cep/matcher.ts
 * (and the README's "Sequence rules") as directly as possible.
 */
export interface ReferenceEvent {
  readonly id: string;
  readonly time: EpochMs;
  readonly payload: JsonObject;
}

export interface ReferenceMatch {
  readonly id: string;
  readonly eventIds: readonly string[];
  readonly times: readonly EpochMs[];
  readonly bindings: readonly JsonObject[];
  readonly start: EpochMs;
  readonly at: EpochMs;
}

interface Partial {
  step: number;
  inStep: number;
  t0: EpochMs;
  events: ReferenceEvent[];
  bindings: JsonObject[];
}

/** The matches of one key's events, with the watermark at `watermark` (events and deadlines before it are final). */
export function referenceMatches(rule: string, spec: SequenceSpec, events: readonly ReferenceEvent[], watermark: EpochMs): ReferenceMatch[] {
  const sorted = [...events].filter((e) => e.time < watermark).sort((a, b) => a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const steps = spec.steps;
  const last = steps.length - 1;
  const absent = steps[last]!.absent ? last : -1;
  const out: ReferenceMatch[] = [];
  let partials: Partial[] = [];
  const holds = (expr: SequenceSpec['until'], payload: JsonObject, bound: JsonObject[] | null): boolean => {
    if (expr === undefined) return true;
    const scope = bound === null ? { ...payload } : { ...payload, steps: bound };
    try {
      return expr.evaluate(eventVariables(scope)) === true;
    } catch {
      return false;
    }
  };
  const stepHolds = (i: number, e: ReferenceEvent, p: Partial | null): boolean => {
    const s = steps[i]!;
    return holds(s.where, e.payload, s.dynamic ? (p?.bindings.slice(0, i) ?? []) : null);
  };
  const emit = (p: Partial, at: EpochMs): void => {
    const ids = p.events.map((e) => e.id);
    out.push({
      id: createHash('sha256').update(`${rule}\n${ids.join('\n')}`).digest('hex').slice(0, 32),
      eventIds: ids,
      times: p.events.map((e) => e.time),
      bindings: steps.map((_, i) => p.bindings[i] ?? {}),
      start: p.t0,
      at,
    });
  };
  const resolve = (before: EpochMs): void => {
    partials = partials.filter((p) => {
      if (p.t0 + spec.withinMs >= before) return true;
      if (p.step === absent) emit(p, p.t0 + spec.withinMs);
      return false;
    });
  };
  const add = (p: Partial, e: ReferenceEvent): boolean => {
    if (p.inStep === 0) p.bindings[p.step] = Object.fromEntries(steps[p.step]!.bind.map((f) => [f, e.payload[f] ?? null]));
    p.events.push(e);
    p.inStep++;
    if (p.inStep === steps[p.step]!.count) {
      p.step++;
      p.inStep = 0;
    }
    return p.step === steps.length;
  };
  for (const e of sorted) {
    resolve(e.time);
    if (spec.until !== undefined && holds(spec.until, e.payload, null)) {
      partials = [];
      continue;
    }
    if (absent >= 0) partials = partials.filter((p) => !(p.step === absent && stepHolds(absent, e, p)));
    const p = partials.find((q) => q.step !== absent && q.step < steps.length && stepHolds(q.step, e, q));
    if (p !== undefined) {
      if (add(p, e)) {
        partials = partials.filter((q) => q !== p);
        emit(p, e.time);
      }
      continue;
    }
    if (!stepHolds(0, e, null)) continue;
    if (spec.onNew === 'restart') partials = [];
    const fresh: Partial = { step: 0, inStep: 0, t0: e.time, events: [], bindings: [] };
    add(fresh, e);
    partials.push(fresh);
    if (partials.length > spec.maxPartials) partials.shift();
  }
  resolve(watermark);
  return out;
}
