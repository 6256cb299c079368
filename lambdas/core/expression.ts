/**
 * Safe expressions: CEL (Common Expression Language) through @marcbachmann/cel-js.
 *
 * Why CEL: it is not Turing-complete. There are no loops, no recursion, no
 * user-defined functions, no assignment and no access to the host (no `process`,
 * no `require`, no JavaScript property lookups beyond own fields of the data
 * passed in); the only iteration is the bounded comprehension macros
 * (`all`, `exists`, `exists_one`, `map`, `filter`) over a list that is already in
 * the data. On top of that we bound the *size* of an expression at compile time
 * (structural limits below), forbid nesting comprehensions (so cost is linear
 * in the data) and only accept literal, backtracking-safe regular expressions in
 * `matches`, so an expression's cost per event is small and predictable.
 *
 * Parse once, evaluate many: `compileExpression` parses and type-checks once;
 * `evaluate` runs the pre-checked AST (millions of evaluations per second for a
 * typical filter). Untyped event expressions in the common subset (fields,
 * literals, comparisons, `in` a literal list, `has`, `!`, `&&`, `||`) run as
 * closures built from that AST instead, with the same results (fastExpression.ts);
 * these accept the raw payload as their scope (`acceptsPayload`).
 *
 * Variables. For expressions over an event (`where`, aggregate arguments) every
 * top-level payload field is a variable, and `event` is the whole payload (see
 * `eventVariables`). CEL quirks users meet:
 *   - `type` (and the other type names `int`, `uint`, `double`, `string`, `bool`,
 *     `bytes`, `list`, `map`, `null_type`, `dyn`) are CEL identifiers for types:
 *     a payload field with one of these names must be written `event.type`,
 *     `event.bytes`, etc. A bare type name is rejected at compile time with that
 *     hint, except as a type literal compared with type(x): `type(x) == string`.
 *     `cel`, `optional` and `google` are CEL namespaces: the same remedy,
 *     `event.optional`. They are rejected at compile time except `cel` as the
 *     receiver of `cel.bind(...)` (optional types are not enabled), and a
 *     payload field named `cel` does not hide the macro.
 *   - JSON numbers are CEL doubles. Comparisons across int/double work
 *     (`status >= 500`), arithmetic does not: `latencyMs + 1` fails with
 *     "no such overload: double + int"; write `latencyMs + 1.0`. We do not
 *     rewrite user expressions; the error carries that hint.
 *   - A field missing from the event is an evaluation error ("Unknown variable"),
 *     unless the expression short-circuits first (`kind == "http" && status >= 500`
 *     is false, not an error, on a heartbeat without `status`). Guard optional
 *     fields with `has(event.field)`.
 */

import { Environment } from '@marcbachmann/cel-js';
import type { ASTNode } from '@marcbachmann/cel-js';
import type { CompiledExpression } from './types';
import { PipelineError } from './pipeline/errors';
import { didYouMean } from './pipeline/suggest';
import { BAIL, CEL_NAMESPACES, compileDirect, compileFast, eventRoot, EVENT_PAYLOAD, Fault } from './fastExpression';
import type { FastFn } from './fastExpression';

/** Structural limits enforced at parse time (hostile or accidental giant expressions are rejected). */
export const EXPRESSION_LIMITS = {
  maxAstNodes: 200,
  maxDepth: 24,
  maxListElements: 100,
  maxMapEntries: 100,
  maxCallArguments: 8,
} as const;

/**
 * Whether an expression's error is only that the event lacks a field it reads (`status` on a heartbeat,
 * `detail.bytes` on an event without it): an optional field, not a fault of the rule or the data. Such an
 * event does not match a condition and adds no value to an aggregate, and is not counted as an error
 * (RuleExpressionErrors counts the others: a wrong type, a bad operation, an error from a function).
 */
export function isMissingField(e: unknown): boolean {
  return e instanceof ExpressionError && (e.code === 'unknown_variable' || e.code === 'no_such_key');
}

/** Longest accepted expression source, in characters. */
export const MAX_EXPRESSION_LENGTH = 2000;

/** A runtime error of an expression (missing field, wrong type, ...). */
export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
  /** The expression as written. */
  readonly source: string;
  /** What the expression is, e.g. `rule "HighErrorRate" where`. */
  readonly what: string;
  /** cel-js error code when known, e.g. `unknown_variable`, `no_such_overload`. */
  readonly code?: string;

  constructor(what: string, source: string, message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.what = what;
    this.source = source;
    if (options.code !== undefined) this.code = options.code;
  }
}

/** Types a typed expression's variables may have. */
export type VariableType = 'double' | 'string' | 'bool' | 'dyn';

/** What the expression's result must be. */
export type ResultKind = 'bool' | 'number' | 'scalar' | 'any';

export interface CompileOptions {
  /** What the expression is, for messages: e.g. `rule "HighErrorRate" where`. */
  readonly what: string;
  /**
   * When given, the expression may use exactly these variables (typed, checked at
   * compile time). When absent, any identifier is a payload field (`dyn`).
   */
  readonly variables?: Readonly<Record<string, VariableType>>;
  /** Required result type (checked at compile time; `dyn` results pass). Default `any`. */
  readonly result?: ResultKind;
}

export type CompileResult =
  | { readonly ok: true; readonly expression: CompiledExpression; readonly type: string }
  | { readonly ok: false; readonly message: string; /** Offset into the source, when known. */ readonly offset?: number };

export type AstResult =
  | { readonly ok: true; readonly ast: ASTNode }
  | { readonly ok: false; readonly message: string; readonly offset?: number };

// Payload expressions: every unknown identifier is a dyn variable (a payload field).
const eventEnv = new Environment({ unlistedVariablesAreDyn: true, limits: EXPRESSION_LIMITS });

/** Identifiers that are CEL type names: as variables they denote the type, not a field. */
const CEL_TYPE_NAMES = new Set(['type', 'int', 'uint', 'double', 'string', 'bool', 'bytes', 'list', 'map', 'null_type', 'dyn']);
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

interface CelErrorLike {
  summary?: unknown;
  message?: unknown;
  code?: unknown;
  range?: { start?: unknown };
}

function errorSummary(e: unknown): string {
  const err = (e ?? {}) as CelErrorLike;
  if (typeof err.summary === 'string') return err.summary;
  if (typeof err.message === 'string') return err.message.split('\n')[0]!;
  return String(e);
}

function errorOffset(e: unknown): number | undefined {
  const start = (e as CelErrorLike | null)?.range?.start;
  return typeof start === 'number' ? start : undefined;
}

function errorCode(e: unknown): string | undefined {
  const code = (e as CelErrorLike | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Child nodes of an AST node, whatever its operator. */
function children(node: ASTNode): ASTNode[] {
  const out: ASTNode[] = [];
  const visit = (x: unknown, depth: number): void => {
    if (x === null || typeof x !== 'object') return;
    if ('op' in x && 'args' in x) out.push(x as ASTNode);
    else if (Array.isArray(x) && depth < 3) for (const y of x) visit(y, depth + 1);
  };
  if (node.op === 'value' || node.op === 'id') return out;
  visit(node.args, 0);
  return out;
}

/** Calls `f` on every node, with the number of comprehension bodies it is inside. */
function walk(node: ASTNode, f: (n: ASTNode, inComprehensionBody: number) => void, depth = 0): void {
  f(node, depth);
  if (node.op === 'rcall' && COMPREHENSIONS.has(node.args[0]) && node.args[2].length >= 2) {
    walk(node.args[1], f, depth);
    for (const a of node.args[2]) walk(a, f, depth + 1);
    return;
  }
  for (const c of children(node)) walk(c, f, depth);
}

/**
 * Why a regular expression may backtrack exponentially in JavaScript, or null.
 * Conservative: rejects a repeated group that itself contains repetition or
 * alternation (`(a+)+`, `(a|aa)*`, `(\w+\s?)*`) and backreferences.
 */
export function regexRisk(pattern: string): string | null {
  type Group = { rep: boolean; alt: boolean };
  const stack: Group[] = [{ rep: false, alt: false }];
  let last: Group | null = null; // the group just closed, if the previous atom was a group
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') return 'backreferences are not allowed';
      i += 2;
      last = null;
      continue;
    }
    if (ch === '[') {
      i++;
      if (pattern[i] === '^') i++;
      if (pattern[i] === ']') i++;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
      last = null;
      continue;
    }
    if (ch === '(') {
      stack.push({ rep: false, alt: false });
      i++;
      if (pattern[i] === '?') {
        const m = /^\?(?::|=|!|<=|<!|<[A-Za-z_]\w*>)/.exec(pattern.slice(i));
        i += m ? m[0].length : 1;
      }
      last = null;
      continue;
    }
    if (ch === ')') {
      const g = stack.length > 1 ? stack.pop()! : { rep: false, alt: false };
      const parent = stack[stack.length - 1]!;
      parent.rep ||= g.rep;
      last = g;
      i++;
      continue;
    }
    if (ch === '|') {
      stack[stack.length - 1]!.alt = true;
      last = null;
      i++;
      continue;
    }
    let repeats = false;
    let len = 0;
    if (ch === '*' || ch === '+') {
      repeats = true;
      len = 1;
    } else if (ch === '?') {
      len = 1;
    } else if (ch === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (m) {
        len = m[0].length;
        const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
        repeats = max > 1;
      }
    }
    if (len > 0) {
      if (repeats && last && (last.rep || last.alt)) {
        return 'a repeated group contains repetition or alternation (e.g. (a+)+ or (a|b)*), which can take exponential time';
      }
      if (repeats) stack[stack.length - 1]!.rep = true;
      i += len;
      if (pattern[i] === '?') i++;
      last = null;
      continue;
    }
    last = null;
    i++;
  }
  return null;
}

/** Policy checks CEL itself does not make. Returns a message and offset, or null. */
function policyViolation(ast: ASTNode, typed: boolean): { message: string; offset: number } | null {
  let found: { message: string; offset: number } | null = null;
  // A type name is legitimate as a type literal compared with type(x): `type(x) == string`.
  const typeLiterals = new Set<ASTNode>();
  // `cel` is legitimate as the receiver of its macro `cel.bind(...)` (optional types,
  // `optional.of(x)`, are not enabled, and `google` has no functions here).
  const receivers = new Set<ASTNode>();
  walk(ast, (node) => {
    if (node.op === 'rcall' && node.args[1].op === 'id' && node.args[1].args === 'cel') receivers.add(node.args[1]);
    if (node.op !== '==' && node.op !== '!=') return;
    const [l, r] = node.args;
    if (l.op === 'call' && l.args[0] === 'type') typeLiterals.add(r);
    if (r.op === 'call' && r.args[0] === 'type') typeLiterals.add(l);
  });
  walk(ast, (node, inBody) => {
    if (found) return;
    if (node.op === 'id') {
      const name = node.args;
      if (!typed && CEL_TYPE_NAMES.has(name) && !typeLiterals.has(node)) {
        found = {
          message: `\`${name}\` is a CEL type name, not your payload field: write event.${name}`,
          offset: node.start,
        };
      } else if (!typed && CEL_NAMESPACES.has(name) && !receivers.has(node)) {
        found = { message: `\`${name}\` is a CEL namespace, not your payload field: write event.${name}`, offset: node.start };
      } else if (name in Object.prototype) {
        found = { message: `"${name}" cannot be used as a name here: write event.${name} for a payload field`, offset: node.start };
      }
      return;
    }
    if (node.op === 'rcall' && COMPREHENSIONS.has(node.args[0]) && node.args[2].length >= 2 && inBody > 0) {
      found = {
        message: `comprehensions (${[...COMPREHENSIONS].join(', ')}) cannot be nested inside each other (cost would grow with the square of the list size)`,
        offset: node.start,
      };
      return;
    }
    const isMatches = (node.op === 'rcall' || node.op === 'call') && node.args[0] === 'matches';
    if (isMatches) {
      const args = node.op === 'rcall' ? node.args[2] : node.args[1];
      const pattern = args[args.length - 1];
      if (!pattern || pattern.op !== 'value' || typeof pattern.args !== 'string') {
        found = { message: 'matches() takes a string literal pattern, so it can be checked when the pipeline is loaded', offset: node.start };
        return;
      }
      const risk = regexRisk(pattern.args);
      if (risk) found = { message: `unsafe regular expression ${JSON.stringify(pattern.args)}: ${risk}`, offset: pattern.start };
    }
  });
  return found;
}

function resultAccepts(kind: ResultKind, type: string): boolean {
  if (type === 'dyn' || kind === 'any') return true;
  switch (kind) {
    case 'bool':
      return type === 'bool';
    case 'number':
      return type === 'double' || type === 'int' || type === 'uint';
    case 'scalar':
      return ['double', 'int', 'uint', 'string', 'bool'].includes(type);
  }
}

const RESULT_DESCRIPTION: Record<ResultKind, string> = {
  bool: 'a boolean (true/false)',
  number: 'a number',
  scalar: 'a string, number or boolean',
  any: 'a value',
};

/** Converts CEL results to plain JavaScript values: int/uint (BigInt) become numbers, deeply in lists and maps. */
function toPlain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v === null || typeof v !== 'object') return v;
  // uint values are objects whose valueOf() is a BigInt
  // (null-prototype objects have no valueOf)
  const valueOf = (v as { valueOf?: () => unknown }).valueOf;
  if (typeof valueOf === 'function' && typeof valueOf.call(v) === 'bigint') return Number(valueOf.call(v) as bigint);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [toPlain(k), toPlain(x)]));
  if (Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x);
    return out;
  }
  return v;
}

function runtimeHint(code: string | undefined, summary: string, typed: boolean): string {
  if (code === 'unknown_variable') {
    const name = /Unknown variable: (\S+)/.exec(summary)?.[1] ?? '?';
    return typed
      ? ` (no value was given for "${name}")`
      : ` (the event has no field "${name}"; guard optional fields with has(event.${name}))`;
  }
  if (/overload/.test(summary) && /\bint\b/.test(summary) && /\bdouble\b/.test(summary)) {
    return ' (JSON numbers are CEL doubles: write 1.0 rather than 1 in arithmetic, or convert with int(x) / double(x))';
  }
  if (/overload/.test(summary) && /null/.test(summary)) return ' (a value is null)';
  return '';
}

/** Parses with the structural limits; no type check. */
export function parseExpressionAst(source: string): AstResult {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    return { ok: false, message: `expression is too long (${source.length} characters; at most ${MAX_EXPRESSION_LENGTH})` };
  }
  if (source.trim() === '') return { ok: false, message: 'expression is empty' };
  try {
    return { ok: true, ast: eventEnv.parse(source).ast };
  } catch (e) {
    const offset = errorOffset(e);
    const summary = errorSummary(e);
    const message = errorCode(e) === 'limit_exceeded' ? `expression is too complex: ${summary}` : `invalid CEL: ${summary}`;
    return offset === undefined ? { ok: false, message } : { ok: false, message, offset };
  }
}

/** Compiles an expression, returning a message (with an offset into the source when known) instead of throwing. */
export function tryCompileExpression(source: string, opts: CompileOptions): CompileResult {
  const parsedAst = parseExpressionAst(source);
  if (!parsedAst.ok) return parsedAst;
  const typed = opts.variables !== undefined;
  const violation = policyViolation(parsedAst.ast, typed);
  if (violation) return { ok: false, ...violation };

  let env = eventEnv;
  if (opts.variables) {
    env = new Environment({ limits: EXPRESSION_LIMITS });
    for (const [name, type] of Object.entries(opts.variables)) env.registerVariable(name, type);
  }
  // Parsed again in `env` (typed variables); cheap, and only at load time.
  const run = env.parse(source);
  const checked = run.check();
  if (!checked.valid) {
    const e = checked.error;
    let message = errorSummary(e);
    const unknown = /^Unknown variable: (\S+)/.exec(message);
    if (unknown && opts.variables) {
      const names = Object.keys(opts.variables);
      message =
        `unknown name "${unknown[1]}": this expression may use ${names.length > 0 ? names.join(', ') : 'no names'}` +
        didYouMean(unknown[1]!, names);
    } else {
      message += runtimeHint(errorCode(e), message, typed);
    }
    const offset = errorOffset(e);
    return offset === undefined ? { ok: false, message } : { ok: false, message, offset };
  }
  const type = checked.type ?? 'dyn';
  const kind = opts.result ?? 'any';
  if (!resultAccepts(kind, type)) {
    return { ok: false, message: `must be ${RESULT_DESCRIPTION[kind]}, but this expression gives ${type}`, offset: 0 };
  }

  const what = opts.what;
  const interpreted: CompiledExpression = {
    source,
    evaluate(vars: Record<string, unknown>): unknown {
      let r: unknown;
      try {
        r = run(vars);
      } catch (e) {
        const summary = errorSummary(e);
        const code = errorCode(e);
        throw new ExpressionError(what, source, `${what}: ${summary}${runtimeHint(code, summary, typed)} in '${source}'`, {
          ...(code === undefined ? {} : { code }),
          cause: e,
        });
      }
      return typeof r === 'bigint' ? Number(r) : typeof r === 'object' && r !== null ? toPlain(r) : r;
    },
  };
  // Typed expressions (`when`) run once per window, not per event: the interpreter is fine there.
  // Names cel-js defines itself (`google`, `cel`, `optional`) are not payload fields.
  const isField = (name: string): boolean => !eventEnv.hasVariable(name);
  const fast = typed ? null : compileFast(run.ast, isField);
  const expression =
    fast !== null
      ? fastExpression(source, what, fast, interpreted, (general) => compileDirect(run.ast, isField, general))
      : typed
        ? interpreted
        : { source, evaluate: (vars: Record<string, unknown>) => interpreted.evaluate(interpreterScope(vars)) };
  return { ok: true, expression, type };
}

/**
 * The scope the interpreter needs for an expression over an event, from the raw
 * payload or eventVariables(payload): every field of the payload, and `event`
 * the payload without the self-reference eventVariables adds (so `event.event`
 * is only ever a real field), and without the fields named after CEL
 * namespaces at the top (they would hide `cel.bind`). A copy per evaluation:
 * the interpreter is the slow path (the fast closures read the scope as it is).
 */
function interpreterScope(vars: Record<string, unknown>): Record<string, unknown> {
  // Spreading copies own enumerable properties: the payload's fields, not the hidden `event`.
  const payload: Record<string, unknown> = { ...eventRoot(vars) };
  return withoutNamespaces({ ...payload, event: payload });
}

/** CEL_NAMESPACES as an array, for the per-event checks. */
const NAMESPACE_NAMES: readonly string[] = [...CEL_NAMESPACES];

function hasNamespaceField(payload: Readonly<Record<string, unknown>>): boolean {
  for (let i = 0; i < NAMESPACE_NAMES.length; i++) if (Object.prototype.hasOwnProperty.call(payload, NAMESPACE_NAMES[i]!)) return true;
  return false;
}

/**
 * A scope without top-level fields named after CEL namespaces: such a field
 * would hide the namespace (a field `cel` breaks `cel.bind(...)`); expressions
 * read it as `event.cel`.
 */
function withoutNamespaces(scope: Record<string, unknown>): Record<string, unknown> {
  for (let i = 0; i < NAMESPACE_NAMES.length; i++) if (Object.prototype.hasOwnProperty.call(scope, NAMESPACE_NAMES[i]!)) delete scope[NAMESPACE_NAMES[i]!];
  return scope;
}

/**
 * An untyped expression through its fast closure (see fastExpression.ts), with
 * the interpreter answering for the values the closure does not model. Takes
 * the raw payload or eventVariables(payload).
 */
function fastExpression(
  source: string,
  what: string,
  fast: FastFn,
  interpreted: CompiledExpression,
  direct: (general: FastFn) => FastFn | null,
): CompiledExpression {
  // A missing optional field throws on every event that lacks it, and building an
  // Error (its stack trace) costs microseconds. The error is about the data, not
  // the code, and its message depends only on the fault (a short, fixed set per
  // expression): each one is built once and thrown again (with its first stack).
  const errors = new Map<string, ExpressionError>();
  const fail = (f: Fault): never => {
    let e = errors.get(f.summary);
    if (e === undefined) {
      e = new ExpressionError(what, source, `${what}: ${f.summary}${runtimeHint(f.code, f.summary, false)} in '${source}'`, { code: f.code });
      errors.set(f.summary, e);
    }
    throw e;
  };
  const interpret = (vars: Record<string, unknown>): unknown => interpreted.evaluate(interpreterScope(vars));
  const general = (vars: Record<string, unknown>): unknown => {
    const r = fast(vars);
    switch (typeof r) {
      case 'boolean':
      case 'number':
      case 'string':
        return r;
      case 'bigint':
        return Number(r);
      case 'object':
        if (r === null) return r;
        if (r instanceof Fault) return r === BAIL ? interpret(vars) : fail(r);
        // A JSON object or list from the payload (the closures read null-prototype
        // objects too): the interpreter would return a plain copy of it.
        if (r.constructor === Object || r.constructor === undefined || Array.isArray(r)) return r;
    }
    return interpret(vars);
  };
  return { source, acceptsPayload: true, evaluate: direct(general) ?? general };
}

/**
 * Compiles a CEL expression once, for many evaluations.
 * Throws a PipelineError (one issue, field = `opts.what`) when it does not compile.
 */
export function compileExpression(source: string, opts: CompileOptions & { readonly file?: string }): CompiledExpression {
  const r = tryCompileExpression(source, opts);
  if (r.ok) return r.expression;
  const at = r.offset === undefined ? '' : ` (at offset ${r.offset} of '${source}')`;
  throw new PipelineError([{ file: opts.file ?? '<expression>', field: opts.what, message: r.message + at }]);
}

/**
 * The variables of an expression over an event: every top-level field, plus
 * `event` for the whole payload (which wins over a field named `event`); a
 * field named after a CEL namespace (`optional`, `cel`, `google`) is read as
 * `event.optional` only.
 */
export function eventVariables(payload: Readonly<Record<string, unknown>>): Record<string, unknown> {
  // No copy and no prototype trick: the freshly decoded payload itself is the
  // variable scope, with `event` added as a non-enumerable own property (so it
  // does not show up when the payload is iterated or serialised). Making each
  // payload a prototype (Object.create) forced V8 to rebuild it as a prototype
  // object per event and dominated the core's cost.
  // A payload with its own `event` field is copied instead, so `event.event` still reads that field.
  // The copy is marked so the fast closures find the payload (the copy's own `event` is not the field).
  // (A payload already given its `event` by an earlier call is reused as it is.)
  // A payload with a field named after a CEL namespace is copied too, without that field (see withoutNamespaces).
  if ((Object.prototype.hasOwnProperty.call(payload, 'event') && payload.event !== payload) || hasNamespaceField(payload)) {
    return Object.defineProperty(withoutNamespaces({ ...payload, event: payload }), EVENT_PAYLOAD, { value: payload });
  }
  const vars = payload as Record<string, unknown>;
  Object.defineProperty(vars, 'event', { value: payload, enumerable: false, configurable: true, writable: true });
  return vars;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const usableCache = new Map<string, boolean>();

/** True when `name` can be a typed variable of an expression (an identifier CEL accepts and does not reserve). */
export function isVariableName(name: string): boolean {
  if (!IDENT.test(name) || name in Object.prototype || CEL_TYPE_NAMES.has(name)) return false;
  let ok = usableCache.get(name);
  if (ok === undefined) {
    try {
      ok = new Environment({ limits: EXPRESSION_LIMITS }).registerVariable(name, 'double').check(name).type === 'double';
    } catch {
      ok = false;
    }
    usableCache.set(name, ok);
  }
  return ok;
}
