/**
 * `npx tsx bench/expressions.ts`: nanoseconds per evaluation of the sample
 * pipeline's per-event expressions (rule filters, aggregate conditions and
 * arguments), the cel-js interpreter against the fast closures.
 *
 * Events are demo telemetry (HTTP requests and a few heartbeats), decoded from
 * JSON as the core decodes them. Two figures, each variant measured in a
 * process of its own:
 *   - alone: one expression evaluated over every event (the best case: V8
 *     sees one expression);
 *   - all in turn: every expression per event, as the engine evaluates them
 *     (call sites then see all of them: the honest figure for the core).
 * Both include the cost of calling `evaluate` from a loop (the "noop" row:
 * an evaluate that only compares its argument). Errors (a heartbeat has no
 * `latencyMs`) are caught and counted, as the engine does. Best of several
 * rounds; on a shared machine expect noise.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Environment } from '@marcbachmann/cel-js';
import { compileExpression, EXPRESSION_LIMITS, eventVariables } from '../lambdas/core/expression';
import { loadPipeline } from '../lambdas/core/pipeline';
import { generateTelemetry, defaultIncident } from '../local/demo/telemetry';
import { SAMPLE_PIPELINE } from './workload';

type Evaluate = (vars: Record<string, unknown>) => unknown;

/** The expressions the core evaluates per event: filters and aggregate arguments, deduplicated. */
function perEventExpressions(file: string): string[] {
  const sources = new Set<string>();
  for (const rule of loadPipeline(file).rules) {
    if (rule.where) sources.add(rule.where.source);
    if (rule.type !== 'window') continue;
    for (const a of rule.aggregates) {
      if (a.condition) sources.add(a.condition.source);
      if (a.value) sources.add(a.value.source);
    }
  }
  return [...sources];
}

/** Demo events, each decoded from its JSON text (hidden classes as in the core); `copies` independent decodings. */
function decodedEvents(n: number, copies: number): Array<Array<Record<string, unknown>>> {
  const start = Date.UTC(2026, 10, 27, 10, 0, 0);
  const texts = generateTelemetry({ seed: 7, start, durationMs: Math.ceil(n / 1000) * 1000 + 60_000, ratePerSec: 1000, incident: defaultIncident(start - 120_000) })
    .slice(0, n)
    .map((g) => JSON.stringify(g.event));
  return Array.from({ length: copies }, () => texts.map((t) => JSON.parse(t) as Record<string, unknown>));
}

/** Best ns per evaluation of `fns` (each over every scope) across `rounds` rounds. */
function measure(fns: readonly Evaluate[], scopes: ReadonlyArray<Record<string, unknown>>, rounds: number): number {
  let best = Infinity;
  let errors = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < scopes.length; i++) {
      const s = scopes[i]!;
      for (let k = 0; k < fns.length; k++) {
        try {
          fns[k]!(s);
        } catch {
          errors++;
        }
      }
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / (scopes.length * fns.length));
  }
  if (errors > scopes.length * fns.length * rounds) throw new Error('unreachable: keeps the error count live');
  return best;
}

interface Row {
  readonly interpreter: number;
  readonly fastVars: number;
  readonly fastRaw: number;
}
type Variant = keyof Row;
const VARIANTS: readonly Variant[] = ['interpreter', 'fastVars', 'fastRaw'];

/**
 * ns per evaluation of `sources` (all of them per event) in one variant: the
 * interpreter over eventVariables (as the core ran before the fast path), the
 * fast path over eventVariables, or over the raw payload.
 */
function measureVariant(variant: Variant, sources: readonly string[], n: number, rounds: number): number {
  const events = decodedEvents(n, 1)[0]!;
  let fns: Evaluate[];
  if (variant === 'interpreter') {
    const env = new Environment({ unlistedVariablesAreDyn: true, limits: EXPRESSION_LIMITS });
    fns = sources.map((s) => {
      const run = env.parse(s);
      if (!run.check().valid) throw new Error(`${s} does not type-check`);
      return run as Evaluate;
    });
  } else {
    fns = sources.map((s) => {
      const e = compileExpression(s, { what: 'bench' });
      return (v: Record<string, unknown>): unknown => e.evaluate(v);
    });
  }
  return measure(fns, variant === 'fastRaw' ? events : events.map(eventVariables), rounds);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '20' },
      pipeline: { type: 'string', default: SAMPLE_PIPELINE },
      only: { type: 'string' },
      variant: { type: 'string', default: 'fastRaw' },
    },
  });
  const n = Number(values.events);
  const rounds = Number(values.rounds);
  const sources = perEventExpressions(values.pipeline!);
  if (values.only !== undefined) {
    // A child: one variant of one expression (or of all, in turn), alone in this process.
    const variant = values.variant as Variant;
    if (values.only === 'noop') {
      console.log(measure([(v) => v === null], decodedEvents(n, 1)[0]!, rounds));
    } else {
      console.log(measureVariant(variant, values.only === 'all' ? sources : [sources[Number(values.only)]!], n, rounds));
    }
    return;
  }

  const notFast = sources.filter((s) => compileExpression(s, { what: 'bench' }).acceptsPayload !== true);
  if (notFast.length > 0) console.log(`not on the fast path (interpreted): ${notFast.join(', ')}`);
  const child = (only: string, variant: Variant): number => {
    const args = [...process.execArgv, process.argv[1]!, '--only', only, '--variant', variant, '--events', String(n), '--rounds', String(rounds), '--pipeline', values.pipeline!];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`child ${only} ${variant} failed: ${r.stderr}`);
    return Number(r.stdout.trim().split('\n').pop());
  };
  const row = (only: string): Row => {
    const [interpreter, fastVars, fastRaw] = VARIANTS.map((v) => child(only, v)) as [number, number, number];
    return { interpreter, fastVars, fastRaw };
  };
  const line = (label: string, r: Row): void => {
    const cols = [r.interpreter, r.fastVars, r.fastRaw].map((x) => x.toFixed(1).padStart(10));
    console.log(`${label.padEnd(36)} ${cols.join(' ')} ${(r.interpreter / r.fastRaw).toFixed(1).padStart(7)}x`);
  };
  console.log(`${n} demo events, best of ${rounds} rounds, ns per evaluation (node ${process.version})`);
  console.log(`${'expression'.padEnd(36)} ${'cel-js'.padStart(10)} ${'fast(vars)'.padStart(10)} ${'fast(raw)'.padStart(10)} speedup`);
  const noop = child('noop', 'fastRaw');
  line('noop (loop and call)', { interpreter: noop, fastVars: noop, fastRaw: noop });
  sources.forEach((s, k) => line(`${s}  (alone)`, row(String(k))));
  line(`all ${sources.length}, in turn per event`, row('all'));

  // What the raw-payload form saves: eventVariables per event (it defines a property on the payload).
  let best = Infinity;
  let sink = 0;
  for (const events of decodedEvents(n, rounds)) {
    const t0 = process.hrtime.bigint();
    for (const e of events) if (eventVariables(e) === e) sink++;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / events.length);
  }
  console.log(`eventVariables(payload), per event: ${best.toFixed(1)} ns (${sink > 0 ? 'in place' : 'copied'})`);
}

main();
