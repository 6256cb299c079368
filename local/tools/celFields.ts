/**
 * Static reading of event expressions for `tidewatch check`: which payload
 * fields an expression reads, and whether a filter can match anything a
 * stream's JSON Schema allows. Works on the AST the CEL parser gives
 * (lambdas/core/expression.ts); it never evaluates anything.
 */
import type { ASTNode } from '@marcbachmann/cel-js';
import { CEL_NAMESPACES } from '../../lambdas/core/fastExpression';
import { jsonTypeOf, lookup, type FieldInfo, type JsonType, type SchemaFields } from './schemaFields';

/** One payload field an expression reads. */
export interface FieldRef {
  /** `["status"]` for `status` or `event.status`; `["a", "b"]` for `a.b`. */
  readonly path: readonly string[];
  /** Offset of the reference in the expression's source. */
  readonly offset: number;
  /** Inside `has(...)`: the expression guards against the field being absent. */
  readonly guarded: boolean;
}

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const TYPE_NAMES = new Set(['type', 'int', 'uint', 'double', 'string', 'bool', 'bytes', 'list', 'map', 'null_type', 'dyn']);

/** The selection path of `a.b["c"]` rooted at an identifier: the identifier node and the keys; null for other shapes. */
function selection(node: ASTNode): { readonly base: ASTNode & { op: 'id' }; readonly keys: string[] } | null {
  const keys: string[] = [];
  let n: ASTNode = node;
  for (;;) {
    if (n.op === 'id') return { base: n, keys: keys.reverse() };
    if (n.op === '.' || n.op === '.?') {
      keys.push(n.args[1]);
      n = n.args[0];
      continue;
    }
    if ((n.op === '[]' || n.op === '[?]') && n.args[1].op === 'value' && typeof n.args[1].args === 'string') {
      keys.push(n.args[1].args);
      n = n.args[0];
      continue;
    }
    return null;
  }
}

/** The field path a selection stands for (`event.x.y` -> [x, y]; `x.y` -> [x, y]), or null when it reads no field. */
function fieldPath(node: ASTNode, bound: ReadonlySet<string>): { path: string[]; offset: number } | null {
  const sel = selection(node);
  if (sel === null) return null;
  const name = sel.base.args;
  if (bound.has(name)) return null;
  if (name === 'event') return sel.keys.length === 0 ? null : { path: sel.keys, offset: sel.base.start };
  if (TYPE_NAMES.has(name) || CEL_NAMESPACES.has(name)) return null;
  return { path: [name, ...sel.keys], offset: sel.base.start };
}

/** Every payload field the expression reads, in source order (the same field may appear more than once). */
export function fieldReferences(ast: ASTNode): FieldRef[] {
  const out: FieldRef[] = [];
  const visit = (node: ASTNode, bound: ReadonlySet<string>, guarded: boolean): void => {
    if (node.op === 'id' || node.op === '.' || node.op === '.?' || node.op === '[]' || node.op === '[?]') {
      const f = fieldPath(node, bound);
      if (f !== null) {
        out.push({ path: f.path, offset: f.offset, guarded });
        return;
      }
      if (node.op === 'id') return;
      // `a[i]`, `f(x).y`: the inner parts may read fields.
      if (node.op === '.' || node.op === '.?') visit(node.args[0], bound, guarded);
      else for (const a of node.args) visit(a, bound, guarded);
      return;
    }
    switch (node.op) {
      case 'value':
        return;
      case 'call': {
        const [fn, args] = node.args;
        for (const a of args) visit(a, bound, guarded || fn === 'has');
        return;
      }
      case 'rcall': {
        const [fn, receiver, args] = node.args;
        // Comprehensions and cel.bind bind their first argument in the rest.
        const binds = (COMPREHENSIONS.has(fn) && args.length >= 2) || (fn === 'bind' && receiver.op === 'id' && receiver.args === 'cel');
        if (binds && args[0]!.op === 'id') {
          if (!(fn === 'bind')) visit(receiver, bound, guarded);
          const inner = new Set(bound).add(args[0]!.args);
          args.slice(1).forEach((a, i) => visit(a, fn === 'bind' && i === 0 ? bound : inner, guarded));
          return;
        }
        visit(receiver, bound, guarded);
        for (const a of args) visit(a, bound, guarded);
        return;
      }
      case 'list':
        for (const a of node.args) visit(a, bound, guarded);
        return;
      case 'map':
        for (const [k, v] of node.args) {
          visit(k, bound, guarded);
          visit(v, bound, guarded);
        }
        return;
      case '!_':
      case '-_':
        visit(node.args, bound, guarded);
        return;
      default:
        for (const a of node.args as ASTNode[]) visit(a, bound, guarded);
    }
  };
  visit(ast, new Set(), false);
  return out;
}

/** Why a filter matches no event the schema allows, and where. */
export interface NeverMatches {
  readonly reason: string;
  readonly offset: number;
}

type Literal = string | number | boolean | null;

function literalOf(node: ASTNode): { value: Literal } | null {
  if (node.op === 'value') {
    const v = node.args;
    if (typeof v === 'bigint') return { value: Number(v) };
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) return { value: v };
    return null;
  }
  if (node.op === '-_' && node.args.op === 'value' && (typeof node.args.args === 'number' || typeof node.args.args === 'bigint')) return { value: -Number(node.args.args) };
  return null;
}

const show = (v: unknown): string => JSON.stringify(v);
const describeTypes = (t: ReadonlySet<JsonType>): string => [...t].map((x) => (x === 'integer' ? 'an integer' : x === 'array' || x === 'object' ? `an ${x}` : `a ${x}`)).join(' or ');
const isNumeric = (t: JsonType) => t === 'number' || t === 'integer';

/** Whether a literal can equal a value of these JSON types (CEL compares numbers across int/double). */
function typeAdmits(types: ReadonlySet<JsonType>, v: Literal): boolean {
  const t = jsonTypeOf(v);
  if (t === 'integer' || t === 'number') return [...types].some(isNumeric);
  return types.has(t);
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && a === b);
}

function closestValue(v: Literal, values: readonly unknown[]): string {
  if (typeof v !== 'string') return '';
  const strings = values.filter((x): x is string => typeof x === 'string');
  let best: string | undefined;
  let bestD = Infinity;
  for (const s of strings) {
    const d = distance(v.toLowerCase(), s.toLowerCase());
    if (d < bestD) [best, bestD] = [s, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(v.length / 3)) ? `; did you mean ${show(best)}?` : '';
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/**
 * Whether a filter (or a count condition) can be true for no event the
 * schema allows: a comparison with a value outside a field's `enum`/`const`,
 * or with a value of another type, joined by `&&` (either side) or `||`
 * (both sides). Anything it cannot decide counts as "may match".
 */
export function neverMatches(ast: ASTNode, schema: SchemaFields): NeverMatches | null {
  const field = (node: ASTNode): { info: FieldInfo; name: string; offset: number } | null => {
    const f = fieldPath(node, new Set());
    if (f === null) return null;
    const { field: info } = lookup(schema, f.path);
    return info === null ? null : { info, name: f.path.join('.'), offset: f.offset };
  };
  const comparison = (node: ASTNode & { args: [ASTNode, ASTNode] }): NeverMatches | null => {
    const [l, r] = node.args;
    const lf = field(l);
    const rf = field(r);
    const f = lf ?? rf;
    const lit = lf ? literalOf(r) : rf ? literalOf(l) : null;
    if (f === null || lit === null) return null;
    const { info, name, offset } = f;
    const v = lit.value;
    if (node.op === '==') {
      if (info.values !== null && !info.values.some((x) => sameValue(x, v))) {
        return { reason: `${name} is one of ${info.values.map(show).join(', ')} in the schema: == ${show(v)} is never true${closestValue(v, info.values)}`, offset };
      }
      if (info.types !== null && !typeAdmits(info.types, v)) {
        return { reason: `${name} is ${describeTypes(info.types)} in the schema: == ${show(v)} (${describeTypes(new Set([jsonTypeOf(v)]))}) is never true`, offset };
      }
      return null;
    }
    if (['<', '<=', '>', '>='].includes(node.op) && info.types !== null) {
      const litNumeric = typeof v === 'number';
      const fieldNumeric = [...info.types].some(isNumeric);
      const fieldString = info.types.has('string');
      if ((litNumeric && !fieldNumeric) || (typeof v === 'string' && !fieldString)) {
        return { reason: `${name} is ${describeTypes(info.types)} in the schema: comparing it with ${show(v)} is an error for every event, which a filter treats as "does not match"`, offset };
      }
    }
    return null;
  };
  const visit = (node: ASTNode): NeverMatches | null => {
    switch (node.op) {
      case 'value':
        return node.args === false ? { reason: 'the expression is the constant false', offset: node.start } : null;
      case '&&':
        return visit(node.args[0]) ?? visit(node.args[1]);
      case '||': {
        const a = visit(node.args[0]);
        const b = a && visit(node.args[1]);
        return a && b ? { reason: `${a.reason}, and ${b.reason}`, offset: a.offset } : null;
      }
      case '==':
      case '<':
      case '<=':
      case '>':
      case '>=':
        return comparison(node as ASTNode & { args: [ASTNode, ASTNode] });
      case 'in': {
        const [l, r] = node.args;
        const f = field(l);
        if (f === null || r.op !== 'list') return null;
        const lits = r.args.map(literalOf);
        if (lits.length === 0) return { reason: `${f.name} in [] is never true`, offset: f.offset };
        if (lits.some((x) => x === null)) return null;
        const values = lits.map((x) => x!.value);
        const { info } = f;
        if (info.values !== null && values.every((v) => !info.values!.some((x) => sameValue(x, v)))) {
          return { reason: `${f.name} is one of ${info.values.map(show).join(', ')} in the schema: none of ${values.map(show).join(', ')} is`, offset: f.offset };
        }
        if (info.types !== null && values.every((v) => !typeAdmits(info.types!, v))) {
          return { reason: `${f.name} is ${describeTypes(info.types)} in the schema: none of ${values.map(show).join(', ')} can equal it`, offset: f.offset };
        }
        return null;
      }
      default:
        return null;
    }
  };
  return visit(ast);
}

/** The JSON types a bare field reference has in the schema (null when unknown, or not a bare field). */
export function fieldTypes(ast: ASTNode, schema: SchemaFields): { readonly name: string; readonly types: ReadonlySet<JsonType>; readonly offset: number } | null {
  const f = fieldPath(ast, new Set());
  if (f === null) return null;
  const { field } = lookup(schema, f.path);
  return field?.types ? { name: f.path.join('.'), types: field.types, offset: f.offset } : null;
}
