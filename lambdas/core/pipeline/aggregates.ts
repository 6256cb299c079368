/**
 * Aggregate expressions: `count()`, `count(<condition>)`, `sum(x)`, `min(x)`,
 * `max(x)`, `avg(x)`, `distinct(x)`, `percentile(x, q)`.
 *
 * The string is parsed by the CEL parser (with the same limits as any
 * expression); its root must be a call to one of these functions. The argument
 * is cut out of the source and compiled as an ordinary CEL expression over the
 * event. No hand-written parser, no eval.
 */

import { parseExpressionAst, tryCompileExpression } from '../expression';
import type { ASTNode } from '@marcbachmann/cel-js';
import type { AggregateKind, AggregateSpec } from '../types';
import { didYouMean } from './suggest';

export const AGGREGATE_FUNCTIONS: readonly AggregateKind[] = ['count', 'sum', 'min', 'max', 'avg', 'distinct', 'percentile'];

const USAGE = 'count(), count(<condition>), sum(x), min(x), max(x), avg(x), distinct(x) or percentile(x, q)';

export type AggregateResult =
  | { readonly ok: true; readonly spec: AggregateSpec }
  | { readonly ok: false; readonly message: string; /** Offset into the aggregate's source. */ readonly offset?: number };

function fail(message: string, offset?: number): AggregateResult {
  return offset === undefined ? { ok: false, message } : { ok: false, message, offset };
}

/**
 * The text of the call's arguments region `fn( ... )`, cut at `until` (exclusive).
 * Node ranges of the CEL parser exclude enclosing parentheses, so an argument
 * such as `(a + b) * c` is cut from the call's own parentheses and commas instead.
 */
function argumentText(source: string, call: ASTNode, until: number): { text: string; offset: number } {
  const open = source.indexOf('(', call.start);
  const raw = source.slice(open + 1, until);
  const lead = raw.length - raw.trimStart().length;
  return { text: raw.trim(), offset: open + 1 + lead };
}

/** Compiles one named aggregate. `what` names it in runtime errors, e.g. `rule "X" aggregate "p99"`. */
export function compileAggregate(name: string, source: string, what: string): AggregateResult {
  const parsed = parseExpressionAst(source);
  if (!parsed.ok) return parsed;
  const root = parsed.ast;
  if (root.op !== 'call') {
    const name = root.op === 'rcall' ? root.args[0] : undefined;
    const hint = name && (AGGREGATE_FUNCTIONS as readonly string[]).includes(name) ? ` (write ${name}(x), not x.${name}())` : '';
    return fail(`expected an aggregate: ${USAGE}${hint}`, root.start);
  }
  const [fn, args] = root.args;
  if (!(AGGREGATE_FUNCTIONS as readonly string[]).includes(fn)) {
    return fail(`unknown aggregate function "${fn}"${didYouMean(fn, AGGREGATE_FUNCTIONS, { mean: 'avg', average: 'avg', p: 'percentile', quantile: 'percentile', unique: 'distinct', countDistinct: 'distinct' })}; expected ${USAGE}`, root.start);
  }
  const kind = fn as AggregateKind;
  const end = root.end - 1; // the call's closing parenthesis

  if (kind === 'count') {
    if (args.length === 0) return { ok: true, spec: { name, kind, source } };
    if (args.length > 1) return fail(`count takes nothing or one condition: count() or count(status >= 500) (given ${args.length} arguments)`, root.start);
    const arg = argumentText(source, root, end);
    const r = tryCompileExpression(arg.text, { what: `${what} condition`, result: 'bool' });
    if (!r.ok) return fail(`count(<condition>): ${r.message}`, arg.offset + (r.offset ?? 0));
    return { ok: true, spec: { name, kind, condition: r.expression, source } };
  }

  if (kind === 'percentile') {
    if (args.length !== 2) {
      return fail(`percentile needs a value and a quantile: percentile(<value>, <q>) with q in (0, 100], e.g. percentile(latencyMs, 99) (given ${args.length} argument${args.length === 1 ? '' : 's'})`, root.start);
    }
    const qNode = args[1]!;
    const q = qNode.op === 'value' && (typeof qNode.args === 'number' || typeof qNode.args === 'bigint') ? Number(qNode.args) : undefined;
    if (q === undefined || !(q > 0 && q <= 100)) {
      const given = source.slice(qNode.start, qNode.end);
      return fail(`percentile's quantile must be a number literal in (0, 100], e.g. 99 or 99.9 (given ${given})`, qNode.start);
    }
    const comma = source.lastIndexOf(',', qNode.start);
    const arg = argumentText(source, root, comma);
    const r = tryCompileExpression(arg.text, { what: `${what} value`, result: 'number' });
    if (!r.ok) return fail(`percentile(<value>, q): ${r.message}`, arg.offset + (r.offset ?? 0));
    return { ok: true, spec: { name, kind, value: r.expression, quantile: Number((q / 100).toPrecision(12)), source } };
  }

  if (args.length !== 1) return fail(`${kind} takes exactly one value: ${kind}(x) (given ${args.length} arguments)`, root.start);
  const arg = argumentText(source, root, end);
  const r = tryCompileExpression(arg.text, { what: `${what} value`, result: kind === 'distinct' ? 'scalar' : 'number' });
  if (!r.ok) return fail(`${kind}(<value>): ${r.message}`, arg.offset + (r.offset ?? 0));
  return { ok: true, spec: { name, kind, value: r.expression, source } };
}
