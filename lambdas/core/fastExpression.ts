/**
 * Closures for the common shape of event expressions, built from the AST that
 * cel-js already parsed and type-checked: field references and selections,
 * literals, comparisons, `in` a literal list, `has(a.b)`, `!`, `&&` and `||`.
 * They compute exactly what the cel-js interpreter computes over an event
 * (the same value, or an error with the same code and summary) in a few
 * nanoseconds instead of 50–200, which is what lets the core evaluate every
 * rule's filter and aggregate arguments per event. There is no code generation
 * (no eval, no `new Function`): each AST node becomes a small closure.
 *
 * Errors are values (`Fault`), not exceptions: CEL's && and || absorb an error
 * on either side (`status >= 500 && kind == "http"` is false on a heartbeat
 * without `status`), and a thrown Error would cost a stack trace per absorbed
 * error. The caller turns a Fault that reaches the top into an ExpressionError.
 *
 * Only JSON data is modelled: numbers, strings, booleans, null, plain objects
 * and arrays. Anything else met at run time (a Map, an object whose
 * `constructor` is not Object, a function, an object or list compared with
 * something) yields `BAIL`: the caller then asks the interpreter, so results
 * stay exact for any input, only slower for the rare odd one.
 *
 * The identifier `event` is the whole payload. The closures take either the
 * raw payload or `eventVariables(payload)` as their scope: `event.x` (x not
 * `event`) reads x from the scope itself, which holds the payload's fields in
 * both forms; `event` alone and `event.event` go through `eventRoot`.
 */

import type { ASTNode } from '@marcbachmann/cel-js';

/** A CEL evaluation error as a value; `code` and `summary` as cel-js gives them. */
export class Fault {
  constructor(
    readonly code: string,
    readonly summary: string,
  ) {}
}

/** Not an error: a value outside what the closures model was met, and the interpreter must answer. */
export const BAIL = new Fault('bail', 'a value the fast path does not model');

/**
 * An evaluator of its own for the commonest expressions — a payload field
 * (`latencyMs`, `event.bytes`), a field against a number (`status >= 500`) or against a
 * literal (`kind == "http"`) — answering the plain cases inline and handing
 * anything else (a missing field, a value of another type) to `general`,
 * the evaluator every fast expression has. Why: the general one calls its
 * closure from a function literal all expressions share, so V8 sees that
 * call as megamorphic and never inlines it; these literals stay monomorphic.
 * Returns null for any other shape (the general evaluator is then used).
 */
export function compileDirect(ast: ASTNode, isField: IsField, general: FastFn): FastFn | null {
  if (ast.op === 'id' || ast.op === '.') {
    const name = compileNode(ast, isField)?.variable;
    if (name !== undefined) {
      return (s) => {
        const v = s[name];
        return typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : general(s);
      };
    }
    // `event.bytes`: a field of the payload, read from the scope as the closures read it
    // (a plain object only: anything else, an own `constructor` field say, is the general path's).
    const path = selectPath(ast, isField);
    const key = path !== null && path.base === 'event' && path.keys.length === 1 && scopeHolds(path.keys[0]!) ? path.keys[0]! : undefined;
    if (key === undefined) return null;
    return (s) => {
      const v = s[key];
      return (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') && s.constructor === Object ? v : general(s);
    };
  }
  if (!COMPARISONS.has(ast.op)) return null;
  const [la, ra] = ast.args as [ASTNode, ASTNode];
  const l = compileNode(la, isField);
  const r = compileNode(ra, isField);
  const name = l?.variable;
  if (name === undefined || r?.constant === undefined) return null;
  const lit = canonical(r.constant.value);
  if (ast.op === '==' || ast.op === '!=') {
    const same = ast.op === '==';
    const litType = lit === null ? '' : typeof lit;
    return (s) => {
      const v = s[name];
      if (v === lit) return same;
      return typeof v === litType ? !same : general(s);
    };
  }
  if (typeof lit !== 'number') return null;
  const op = ast.op as Ordering;
  return (s) => {
    const v = s[name];
    return typeof v === 'number' ? compareNumbers(op, v, lit) : general(s);
  };
}

/**
 * Marks the copy `eventVariables` makes of a payload that has its own `event`
 * field (the copy's `event` is then the payload, not the field): the value is the payload.
 */
export const EVENT_PAYLOAD: unique symbol = Symbol('tidewatch.eventPayload');

/** Namespaces cel-js defines (`cel.bind(...)`; `optional` and `google`, whose functions are not enabled here): as names they are not payload fields. */
export const CEL_NAMESPACES: ReadonlySet<string> = new Set(['cel', 'google', 'optional']);

/**
 * Whether the scope holds the payload's field `key` as it is: every field but
 * `event` (the scope's own `event` is the payload) and the CEL namespaces
 * (left out of eventVariables' copy so that they do not hide the namespace).
 * Those are read from the payload itself (eventRoot).
 */
function scopeHolds(key: string): boolean {
  return key !== 'event' && !CEL_NAMESPACES.has(key);
}

export type Scope = Record<string, unknown>;
export type FastFn = (scope: Scope) => unknown;

/** The payload a scope (raw payload or `eventVariables(payload)`) stands for. */
export function eventRoot(scope: Scope): Scope {
  const copied = (scope as { [EVENT_PAYLOAD]?: Scope })[EVENT_PAYLOAD];
  return copied === undefined ? scope : copied;
}

type Scalar = number | bigint | string | boolean | null;

interface Node {
  readonly fn: FastFn;
  /**
   * cel-js's static type of the node: `dyn` for payload data, else the literal's
   * or operator's type. Only used to word errors as the interpreter does.
   */
  readonly type: string;
  /** Set for literals (folded, e.g. `-1`). */
  readonly constant?: { readonly value: Scalar };
  /**
   * Set for a bare top-level variable: comparisons read it themselves, one call
   * less per evaluation (calls between closures are most of the cost once V8
   * sees many expressions at the same call sites).
   */
  readonly variable?: string;
}

const hasOwn = Object.prototype.hasOwnProperty;
const getPrototypeOf = Object.getPrototypeOf;
const objectPrototype = Object.prototype;

/**
 * `o[key]` if it is an own field of `o` (a plain or null-prototype object), else undefined.
 * hasOwnProperty costs more than the rest of an evaluation, so it is only called
 * when an inherited property could answer: for a key Object.prototype has
 * (`constructor`, `toString`, ...), or an object with another prototype.
 */
function ownField(o: Scope, key: string, inheritable: boolean): unknown {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!inheritable) {
    const proto: unknown = getPrototypeOf(o);
    if (proto === objectPrototype || proto === null) return v;
  }
  return hasOwn.call(o, key) ? v : undefined;
}

/** Whether a key names a property every plain object inherits. */
function inheritable(key: string): boolean {
  return key in objectPrototype;
}

/** cel-js's name of a runtime value's type, or undefined for values the closures do not model. */
function typeName(v: unknown): string | undefined {
  switch (typeof v) {
    case 'number':
      return 'double';
    case 'bigint':
      return 'int';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'object':
      return v === null ? 'null' : undefined;
    default:
      return undefined;
  }
}

/** Whether v is a Fault, or a value the closures do not model (then BAIL). */
function notScalar(v: unknown): boolean {
  return v instanceof Fault || typeName(v) === undefined;
}

/** What a non-scalar operand stands for: its own Fault, else BAIL. */
function propagate(v: unknown): Fault {
  return v instanceof Fault ? v : BAIL;
}

/** A field selection step: the key, whether plain objects inherit it, and the error when it is absent. */
interface Step {
  readonly key: string;
  readonly inheritable: boolean;
  readonly missing: Fault;
}

function step(key: string): Step {
  return { key, inheritable: inheritable(key), missing: noSuchKey(key) };
}

/** Field `step.key` of `o` as cel-js's dynamic field access reads it (`step.missing` when absent). */
function field(o: unknown, step: Step): unknown {
  if (typeof o === 'object' && o !== null) {
    const c = o.constructor;
    if (c === Object || c === undefined) {
      const v = ownField(o as Scope, step.key, step.inheritable);
      return v === undefined ? step.missing : v;
    }
    if (o instanceof Fault) return o;
    // A list has no fields; anything else (Map, class instance, an own `constructor` field) is the interpreter's.
    return Array.isArray(o) ? step.missing : BAIL;
  }
  const t = typeof o;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'bigint' ? step.missing : BAIL;
}

/**
 * Field `key` of `o` as `has()` reads it: undefined when absent, BAIL for values
 * the interpreter would reject as unsupported (or that the closures do not model).
 */
function hasField(o: unknown, step: Step): unknown {
  if (typeof o === 'object' && o !== null) {
    const c = o.constructor;
    if (c === Object || c === undefined) {
      const v = ownField(o as Scope, step.key, step.inheritable);
      if (v === undefined) return undefined;
      if (typeof v !== 'object') return typeName(v) === undefined ? BAIL : v;
      return v === null || v.constructor === Object || v.constructor === undefined || Array.isArray(v) ? v : BAIL;
    }
    return Array.isArray(o) ? undefined : BAIL;
  }
  return typeName(o) === undefined ? BAIL : undefined;
}

function unknownVariable(name: string): Fault {
  return new Fault('unknown_variable', `Unknown variable: ${name}`);
}

function noSuchKey(key: string): Fault {
  return new Fault('no_such_key', `No such key: ${key}`);
}

function logicalOperand(v: unknown): Fault {
  const t = typeName(v);
  return t === undefined ? propagate(v) : new Fault('invalid_logical_operand', `Logical operator requires bool operands, got '${t}'`);
}

/** Whether an identifier is a payload field (or `event`), not a name cel-js defines. */
export type IsField = (name: string) => boolean;

/** A path `base.k1.k2...` over the payload: the base identifier and the selected keys. */
function selectPath(ast: ASTNode, isField: IsField): { base: string; keys: string[] } | null {
  const keys: string[] = [];
  let node = ast;
  while (node.op === '.') {
    keys.unshift(node.args[1]);
    node = node.args[0];
  }
  return node.op === 'id' && isField(node.args) ? { base: node.args, keys } : null;
}

/**
 * The start of a path: a variable, or for `event` the payload. `event.event` is
 * the payload's own `event` field: `eventVariables` gives the payload an own,
 * non-enumerable `event` that is the payload itself, which is not that field.
 * `event.optional` (a CEL namespace's name) is read from the payload itself.
 */
function pathBase(base: string, keys: readonly string[]): { fn: FastFn; rest: readonly string[] } {
  if (base !== 'event') return { fn: variable(base), rest: keys };
  if (scopeHolds(keys[0]!)) return { fn: (s) => s, rest: keys };
  if (keys[0] !== 'event') return { fn: eventRoot, rest: keys };
  const missing = noSuchKey('event');
  return {
    fn: (s) => {
      const root = eventRoot(s);
      const v = root.event;
      return v === undefined || v === root || !hasOwn.call(root, 'event') ? missing : v;
    },
    rest: keys.slice(1),
  };
}

/** A top-level variable, read as cel-js reads it (inherited names are rejected at compile time). */
function variable(name: string): FastFn {
  const missing = unknownVariable(name);
  return (s) => {
    const v = s[name];
    return v === undefined ? missing : v;
  };
}

function compilePath(base: string, keys: readonly string[]): FastFn {
  if (base === 'event' && keys.length === 0) return eventRoot;
  const start = pathBase(base, keys);
  const first = start.fn;
  const steps = start.rest.map(step);
  if (steps.length === 0) return first;
  if (steps.length === 1) {
    const only = steps[0]!;
    // `event.x`: the scope holds x (see pathBase)
    return base === 'event' && scopeHolds(keys[0]!) ? (s) => field(s, only) : (s) => field(first(s), only);
  }
  return (s) => {
    let v = first(s);
    for (let i = 0; i < steps.length; i++) v = field(v, steps[i]!);
    return v;
  };
}

/** `has(base.k1...kn)`: every key before the last must exist; then whether the last does. */
function compileHas(base: string, keys: readonly string[]): FastFn {
  const last = keys.length - 1;
  const steps = keys.map(step);
  // `event.event` is the payload's own field, not the self-reference eventVariables adds.
  const selfCheck = base === 'event' && keys[0] === 'event';
  const read: FastFn = base !== 'event' ? variable(base) : scopeHolds(keys[0]!) ? (s) => s : eventRoot;
  return (s) => {
    let o = read(s);
    if (o instanceof Fault) return o;
    for (let i = 0; i <= last; i++) {
      let v = hasField(o, steps[i]!);
      if (i === 0 && selfCheck && v === o) v = undefined;
      if (v === BAIL) return BAIL;
      if (v === undefined) return i === last ? false : steps[i]!.missing;
      o = v;
    }
    return true;
  };
}

function literal(value: Scalar): Node {
  const type = typeName(value)!;
  return { fn: () => value, type, constant: { value } };
}

function compileLiteral(v: unknown): Node | null {
  // Ints are BigInts; uint and bytes literals are objects and left to the interpreter.
  return typeName(v) === undefined ? null : literal(v as Scalar);
}

/** CEL equality over modelled values: same type and value, or int and double of equal value. */
function equal(a: Scalar, b: Scalar): boolean {
  if (a === b) return true;
  const ta = typeof a;
  const tb = typeof b;
  // == compares a BigInt with a double exactly (as cel-js does)
  return (ta === 'number' && tb === 'bigint') || (ta === 'bigint' && tb === 'number') ? a == b : false;
}

type Ordering = '<' | '<=' | '>' | '>=';

/** The result of an ordering, or null when CEL has no such overload for these types. */
function order(op: Ordering, a: Scalar, b: Scalar): boolean | null {
  const ta = typeof a;
  const tb = typeof b;
  const comparable = ta === 'number' || ta === 'bigint' ? tb === 'number' || tb === 'bigint' : ta === tb && (ta === 'string' || ta === 'boolean');
  if (!comparable) return null;
  // JavaScript orders strings, booleans and mixed number/BigInt pairs with the same operators as CEL.
  return compareNumbers(op, a as number, b as number);
}

/** `no such overload` worded as cel-js words it: payload values as dyn<type>, typed operands by their type. */
function noOverload(op: string, l: Node, a: Scalar, r: Node, b: Scalar): Fault {
  const name = (n: Node, v: Scalar): string => (n.type === 'dyn' ? `dyn<${typeName(v)!}>` : n.type);
  return new Fault('no_such_overload', `no such overload: ${name(l, a)} ${op} ${name(r, b)}`);
}

/** The value, with an int that is exactly a double as that double: CEL-equal, and compared without BigInt arithmetic. */
function canonical(v: Scalar): Scalar {
  if (typeof v !== 'bigint') return v;
  const n = Number(v);
  return BigInt(n) === v ? n : v;
}

function compileComparison(op: string, l: Node, r: Node): FastFn {
  if (op === '==' || op === '!=') {
    const c = r.constant ?? l.constant;
    const x = l.constant === undefined ? l : r;
    return c !== undefined && x.constant === undefined ? compileEqualsLiteral(op === '==', x, c.value) : compileEquals(op === '==', l, r);
  }
  const ordering = op as Ordering;
  const general = compileOrdering(ordering, l, r);
  const lit = r.constant === undefined || l.constant !== undefined ? undefined : canonical(r.constant.value);
  if (typeof lit !== 'number') return general;
  // `latencyMs > 800.0`, `status >= 500`: a payload number against a numeric
  // literal is decided here; anything else (an error, a string) by `general`.
  const name = l.variable;
  if (name !== undefined) {
    return (s) => {
      const v = s[name];
      return typeof v === 'number' ? compareNumbers(ordering, v, lit) : general(s);
    };
  }
  const L = l.fn;
  return (s) => {
    const v = L(s);
    return typeof v === 'number' ? compareNumbers(ordering, v, lit) : general(s);
  };
}

function compareNumbers(op: Ordering, a: number, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

/**
 * A field against a literal, the common case. An int literal that is exactly a
 * double is compared as that double (`status == 500`, status a JSON number); a
 * value of the literal's JavaScript type is then decided by ===.
 */
function compileEqualsLiteral(same: boolean, x: Node, lit: Scalar): FastFn {
  const key = canonical(lit);
  const keyType = key === null ? '' : typeof key;
  const decide = (v: unknown): unknown => (notScalar(v) ? propagate(v) : equal(v as Scalar, lit) === same);
  const name = x.variable;
  if (name !== undefined) {
    const missing = unknownVariable(name);
    return (s) => {
      const v = s[name];
      if (v === key) return same;
      if (typeof v === keyType) return !same;
      return v === undefined ? missing : decide(v);
    };
  }
  const X = x.fn;
  return (s) => {
    const v = X(s);
    if (v === key) return same;
    if (typeof v === keyType) return !same;
    return decide(v);
  };
}

/** Both operands, left then right, decided by `decide` once each is a scalar; else the first one's failure. */
function binary(l: Node, r: Node, decide: (a: Scalar, b: Scalar) => unknown): FastFn {
  const L = l.fn;
  const R = r.fn;
  return (s) => {
    const a = L(s);
    if (notScalar(a)) return propagate(a);
    const b = R(s);
    if (notScalar(b)) return propagate(b);
    return decide(a as Scalar, b as Scalar);
  };
}

function compileEquals(same: boolean, l: Node, r: Node): FastFn {
  return binary(l, r, (a, b) => equal(a, b) === same);
}

function compileOrdering(op: Ordering, l: Node, r: Node): FastFn {
  return binary(l, r, (a, b) => order(op, a, b) ?? noOverload(op, l, a, r, b));
}

function compileIn(l: Node, list: ASTNode, isField: IsField): FastFn | null {
  if (list.op !== 'list') return null;
  const members = new Set<Scalar>();
  for (const el of list.args) {
    const n = compileNode(el, isField);
    if (n?.constant === undefined) return null;
    members.add(canonical(n.constant.value));
  }
  const L = l.fn;
  return (s) => {
    const v = L(s);
    // Set membership is SameValueZero: -0 finds 0, and types never mix ("1" is not 1), as in CEL.
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) return members.has(v);
    if (typeof v === 'bigint') return members.has(canonical(v));
    return propagate(v);
  };
}

/**
 * `l && r` (or `l || r` with `decisive` true): the decisive value on either side
 * wins over an error on the other; otherwise the error the interpreter throws
 * (the right one's first, as it evaluates the right side last).
 */
function compileLogical(decisive: boolean, l: Node, r: Node): FastFn {
  const L = l.fn;
  const R = r.fn;
  return (s) => {
    const a = L(s);
    if (a === decisive) return decisive;
    const b = R(s);
    if (a === !decisive) return typeof b === 'boolean' ? b : logicalOperand(b);
    // The left is an error or not a bool.
    if (b === decisive) return decisive;
    if (a === BAIL || (!(a instanceof Fault) && typeName(a) === undefined)) return BAIL;
    if (b instanceof Fault) return b;
    if (b === !decisive) return a instanceof Fault ? a : logicalOperand(a);
    return logicalOperand(b);
  };
}

function compileNot(operand: Node): FastFn {
  const A = operand.fn;
  return (s) => {
    const v = A(s);
    if (typeof v === 'boolean') return !v;
    const t = typeName(v);
    return t === undefined ? propagate(v) : new Fault('no_such_overload', `no such overload: !${t}`);
  };
}

const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);

function compileNode(ast: ASTNode, isField: IsField): Node | null {
  switch (ast.op) {
    case 'value':
      return compileLiteral(ast.args);
    case '-_': {
      // Only a negated literal (`-1`, `-0.5`): folded, as CEL has no negative literals.
      const n = compileNode(ast.args, isField);
      const v = n?.constant?.value;
      return typeof v === 'number' || typeof v === 'bigint' ? literal(-v) : null;
    }
    case 'id':
    case '.': {
      const path = selectPath(ast, isField);
      if (path === null) return null;
      const fn = compilePath(path.base, path.keys);
      return path.keys.length === 0 && path.base !== 'event' ? { fn, type: 'dyn', variable: path.base } : { fn, type: 'dyn' };
    }
    case 'call': {
      const [name, args] = ast.args;
      if (name !== 'has' || args.length !== 1) return null;
      const path = selectPath(args[0]!, isField);
      return path && path.keys.length > 0 ? { fn: compileHas(path.base, path.keys), type: 'bool' } : null;
    }
    case '!_': {
      const n = compileNode(ast.args, isField);
      return n && { fn: compileNot(n), type: 'bool' };
    }
    case '&&':
    case '||': {
      const l = compileNode(ast.args[0], isField);
      const r = compileNode(ast.args[1], isField);
      return l && r && { fn: compileLogical(ast.op === '||', l, r), type: 'bool' };
    }
    case 'in': {
      const l = compileNode(ast.args[0], isField);
      const fn = l && compileIn(l, ast.args[1], isField);
      return fn ? { fn, type: 'bool' } : null;
    }
    default: {
      if (!COMPARISONS.has(ast.op)) return null;
      const [la, ra] = ast.args as [ASTNode, ASTNode];
      const l = compileNode(la, isField);
      const r = compileNode(ra, isField);
      return l && r && { fn: compileComparison(ast.op, l, r), type: 'bool' };
    }
  }
}

/**
 * A closure computing `ast` over an event scope, or null when the expression
 * is outside the subset. The AST must have passed cel-js's type check (e.g.
 * `1 == "a"` or `x < null` never get here), in an environment where every
 * identifier `isField` accepts is a payload field; the others (cel-js's own
 * `google`, `cel`, `optional` namespaces) leave the expression to the
 * interpreter. The result is a plain value (ints as BigInt), a Fault, or BAIL.
 */
export function compileFast(ast: ASTNode, isField: IsField): FastFn | null {
  return compileNode(ast, isField)?.fn ?? null;
}
