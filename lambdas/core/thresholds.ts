/**
 * The thresholds of a window rule: every place where its `when` compares one
 * of its aggregates with a constant (`p99 > 800.0`, `20 <= total`), read from
 * the parsed CEL expression (never from the text), so that a dashboard or the
 * local view can draw them as horizontal lines on the aggregate's graph.
 *
 * A comparison counts wherever it appears (under &&, ||, !, ?:), since each
 * one is a line the value crosses when the verdict may change. A constant may
 * be a literal, a negated literal or arithmetic of literals (`2.0 * 400.0`).
 * Comparisons of expressions of several aggregates (`errors / total > 0.05`)
 * are not thresholds of any one aggregate and are not returned.
 */
import type { ASTNode } from '@marcbachmann/cel-js';
import { parseExpressionAst } from './expression';
import type { WindowRule } from './types';

export type ThresholdOperator = '>' | '>=' | '<' | '<=' | '==' | '!=';

export interface Threshold {
  /** The aggregate compared. */
  readonly aggregate: string;
  /** The comparison with the aggregate on the left. */
  readonly op: ThresholdOperator;
  readonly value: number;
  /** E.g. `total >= 20`. */
  readonly text: string;
}

const COMPARISONS: ReadonlySet<string> = new Set(['>', '>=', '<', '<=', '==', '!=']);
/** The same comparison read from the other side: `20 < total` is `total > 20`. */
const FLIPPED: Readonly<Record<ThresholdOperator, ThresholdOperator>> = { '>': '<', '>=': '<=', '<': '>', '<=': '>=', '==': '==', '!=': '!=' };

/** The numeric value of a constant sub-expression, or null. */
function constant(node: ASTNode): number | null {
  switch (node.op) {
    case 'value': {
      const v = node.args;
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      // uint literals are objects whose valueOf() is a BigInt
      if (v !== null && typeof v === 'object' && typeof (v as { valueOf(): unknown }).valueOf() === 'bigint') return Number((v as { valueOf(): bigint }).valueOf());
      return null;
    }
    case '-_': {
      const x = constant(node.args);
      return x === null ? null : -x;
    }
    case '+':
    case '-':
    case '*':
    case '/': {
      const [l, r] = node.args as [ASTNode, ASTNode];
      const a = constant(l);
      const b = constant(r);
      if (a === null || b === null) return null;
      const v = node.op === '+' ? a + b : node.op === '-' ? a - b : node.op === '*' ? a * b : a / b;
      return Number.isFinite(v) ? v : null;
    }
    default:
      return null;
  }
}

/** Every AST node under `node`, itself included. */
function nodes(node: ASTNode): ASTNode[] {
  const out: ASTNode[] = [];
  const visit = (x: unknown, depth: number): void => {
    if (x === null || typeof x !== 'object') return;
    if ('op' in x && 'args' in x) {
      const n = x as ASTNode;
      out.push(n);
      if (n.op !== 'value' && n.op !== 'id') visit(n.args, 0);
    } else if (Array.isArray(x) && depth < 3) for (const y of x) visit(y, depth + 1);
  };
  visit(node, 0);
  return out;
}

function format(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/** The thresholds of `rule.when`, in the order they are written, each (aggregate, op, value) once. */
export function thresholdsOf(rule: Pick<WindowRule, 'when' | 'aggregates'>): Threshold[] {
  const parsed = parseExpressionAst(rule.when.source);
  if (!parsed.ok) return [];
  const aggregates = new Set(rule.aggregates.map((a) => a.name));
  const found = new Map<string, Threshold>();
  const ordered = nodes(parsed.ast).sort((a, b) => a.start - b.start);
  for (const n of ordered) {
    if (!COMPARISONS.has(n.op)) continue;
    const [l, r] = n.args as [ASTNode, ASTNode];
    const op = n.op as ThresholdOperator;
    let aggregate: string | null = null;
    let value: number | null = null;
    let side: ThresholdOperator = op;
    if (l.op === 'id' && aggregates.has(l.args)) {
      aggregate = l.args;
      value = constant(r);
    } else if (r.op === 'id' && aggregates.has(r.args)) {
      aggregate = r.args;
      value = constant(l);
      side = FLIPPED[op];
    }
    if (aggregate === null || value === null) continue;
    const text = `${aggregate} ${side} ${format(value)}`;
    if (!found.has(text)) found.set(text, { aggregate, op: side, value, text });
  }
  return [...found.values()];
}
