import type { ASTNode } from '@marcbachmann/cel-js';
import { parseExpressionAst, tryCompileExpression } from '../expression';
import { CEL_NAMESPACES } from '../fastExpression';
import type { CompiledExpression } from '../types';
import type { Guard, OnNewFirst, SequenceSpec, SequenceStep } from './types';

/** Bounds of a sequence rule (stated in the README, checked by the compiler). */
export const SEQUENCE_BOUNDS = {
  minSteps: 2,
  maxSteps: 16,
  maxCount: 100,
  maxPartials: 64,
  /** One key's serialised state (DynamoDB items are at most 400 KB; aggregates keep far less). */
  maxStateBytes: 64 * 1024,
  maxBind: 16,
} as const;

export const SEQUENCE_DEFAULTS = {
  onNew: 'keep' as OnNewFirst,
  maxPartials: 10,
  maxStateBytes: SEQUENCE_BOUNDS.maxStateBytes,
} as const;

/** A step as written in the pipeline file (already type-checked by the schema). */
export interface RawStep {
  readonly where?: string;
  readonly count?: number;
  readonly bind?: readonly string[];
  readonly absent?: boolean;
}

export interface RawSequence {
  readonly steps: readonly RawStep[];
  readonly withinMs: number;
  readonly until?: string;
  readonly onNew?: OnNewFirst;
  readonly maxPartials?: number;
  readonly maxStateBytes?: number;
}

/** A problem, with the field as a path inside the rule (`steps[1].where`). */
export interface SpecIssue {
  readonly field: string;
  readonly message: string;
  readonly offset?: number;
}

export type SpecResult = { readonly ok: true; readonly spec: SequenceSpec } | { readonly ok: false; readonly issues: readonly SpecIssue[] };

const STEP_REF = /\bsteps\s*\[\s*(\d+)\s*\]\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)/g;
const STRING_LITERAL = /'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g;
const IDENTIFIER = /(?<![.\w])[A-Za-z_][A-Za-z0-9_]*/g;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `steps[i].field` references in a CEL source (string literals ignored), and whether `steps` is used any other way. */
export function stepReferences(source: string): { refs: Array<{ step: number; field: string }>; otherUse: boolean } {
  const code = source.replace(STRING_LITERAL, '""');
  const refs: Array<{ step: number; field: string }> = [];
  for (const m of code.matchAll(STEP_REF)) refs.push({ step: Number(m[1]), field: m[2]! });
  const rest = code.replace(STEP_REF, '0');
  return { refs, otherUse: /(?<![.\w])steps\b/.test(rest) };
}

/** Top-level identifiers a CEL source may read as payload fields (an over-approximation: extra names are harmless). */
function identifiersOf(source: string): string[] {
  const code = source.replace(STRING_LITERAL, '""').replace(STEP_REF, '0');
  return [...new Set(code.match(IDENTIFIER) ?? [])];
}

/** Identifiers that never read a payload field as it is: `event` (the whole payload), cel-js's namespaces and type names. */
const NOT_FIELDS = new Set(['event', ...CEL_NAMESPACES, 'type', 'int', 'uint', 'double', 'string', 'bool', 'bytes', 'list', 'map', 'null_type', 'dyn']);

/** The payload field a node reads as it is: `name` or `event.name`; undefined for anything else. */
function fieldRead(node: ASTNode): string | undefined {
  if (node.op === 'id') return typeof node.args === 'string' && !NOT_FIELDS.has(node.args) ? node.args : undefined;
  if (node.op === '.') {
    const [base, key] = node.args as [ASTNode, unknown];
    return base.op === 'id' && base.args === 'event' && typeof key === 'string' && key !== 'event' ? key : undefined;
  }
  return undefined;
}

function stringLiteral(node: ASTNode): string | undefined {
  return node.op === 'value' && typeof node.args === 'string' ? node.args : undefined;
}

/**
 * A guard found in a node, and the source of what is left to check once it
 * admits an event: null nothing, undefined the whole node.
 */
interface Found {
  readonly field: string;
  readonly values: readonly string[];
  readonly rest: string | null | undefined;
}

/** The source of a node, when it parses back to the same tree (else null: the node is kept whole). */
function sourceOf(node: ASTNode): string | null {
  const text = node.input.slice(node.start, node.end);
  const again = parseExpressionAst(text);
  return again.ok && treeOf(again.ast) === treeOf(node) ? text : null;
}

/** A node's operators and operands, without source positions. */
function treeOf(n: ASTNode): string {
  const plain = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(plain);
    if (typeof x === 'bigint') return `${x}n`;
    if (x !== null && typeof x === 'object' && 'op' in x && 'args' in x) return { op: (x as ASTNode).op, args: plain((x as ASTNode).args) };
    if (x instanceof Uint8Array) return { bytes: [...x] };
    return x;
  };
  return JSON.stringify(plain(n));
}

function guardOfNode(node: ASTNode): Found | undefined {
  switch (node.op) {
    case '&&': {
      // True only when both sides are: a guard of either side is one of the whole. Once it admits
      // the event, its own test is true, and `true && x` is x (a value or the same error).
      const [l, r] = node.args as [ASTNode, ASTNode];
      const left = guardOfNode(l);
      const found = left ?? guardOfNode(r);
      if (found === undefined) return undefined;
      const other = found.rest === undefined ? null : sourceOf(left !== undefined ? r : l);
      if (other === null) return { field: found.field, values: found.values, rest: undefined };
      const rest = found.rest === null ? other : left !== undefined ? `(${found.rest}) && (${other})` : `(${other}) && (${found.rest})`;
      return { field: found.field, values: found.values, rest };
    }
    case '||': {
      // True only when one side is: both sides need a guard, on the same field. Nothing is left to
      // check only when both sides are exact; else the whole node is checked once the guard admits.
      const [l, r] = node.args as [ASTNode, ASTNode];
      const a = guardOfNode(l);
      const b = a && guardOfNode(r);
      if (a === undefined || b === undefined || a.field !== b.field) return undefined;
      return { field: a.field, values: [...new Set([...a.values, ...b.values])], rest: a.rest === null && b.rest === null ? null : undefined };
    }
    case '==': {
      // CEL equality with a string is true only for that string (any other type: false or an error).
      const [l, r] = node.args as [ASTNode, ASTNode];
      const field = fieldRead(l) ?? fieldRead(r);
      const value = fieldRead(l) !== undefined ? stringLiteral(r) : stringLiteral(l);
      return field !== undefined && value !== undefined ? { field, values: [value], rest: null } : undefined;
    }
    case 'in': {
      const [l, list] = node.args as [ASTNode, ASTNode];
      const field = fieldRead(l);
      if (field === undefined || list.op !== 'list') return undefined;
      const values = (list.args as ASTNode[]).map(stringLiteral);
      return values.every((v) => v !== undefined) ? { field, values: [...new Set(values as string[])], rest: null } : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * A necessary condition of a condition on one event (see Guard): the
 * condition can only be true when the payload's own field is one of the
 * strings; and, once it is, what is left to check: the condition without the
 * guard's test (`kind == "http" && status >= 500` leaves `status >= 500`),
 * null when nothing is left, undefined for the whole condition. Undefined
 * when the condition has no such part. Only what CEL makes certain counts: a
 * conjunct of `&&` (both sides must be true), both sides of `||` on the same
 * field, `field == "s"` (`"s" == field`), and `field in ["s", ...]` with string
 * literals only.
 */
export function guardOf(source: string): Found | undefined {
  const parsed = parseExpressionAst(source);
  return parsed.ok ? guardOfNode(parsed.ast) : undefined;
}

/** The guard of a compiled condition, its rest compiled (the whole condition when the rest does not compile alone). */
function compiledGuard(source: string, whole: CompiledExpression, what: string): Guard | undefined {
  const found = guardOf(source);
  if (found === undefined) return undefined;
  if (found.rest === null) return { field: found.field, values: found.values, rest: null };
  const rest = found.rest === undefined ? undefined : tryCompileExpression(found.rest, { what, result: 'bool' });
  return { field: found.field, values: found.values, rest: rest?.ok === true ? rest.expression : whole };
}

/**
 * Checks and compiles a sequence: steps (2 to 16, only the last may be
 * absent, counts 1 to 100), `steps[i].field` references (only to earlier,
 * present steps; the field is then bound automatically), `until`, the
 * partial-match policy and the state bound. Every problem is reported.
 */
export function buildSequenceSpec(raw: RawSequence, what: string): SpecResult {
  const issues: SpecIssue[] = [];
  const n = raw.steps.length;
  if (n < SEQUENCE_BOUNDS.minSteps || n > SEQUENCE_BOUNDS.maxSteps) {
    issues.push({ field: 'steps', message: `a sequence has ${SEQUENCE_BOUNDS.minSteps} to ${SEQUENCE_BOUNDS.maxSteps} steps (given ${n})` });
  }
  if (!(Number.isInteger(raw.withinMs) && raw.withinMs > 0)) issues.push({ field: 'within', message: 'must be a positive duration, e.g. 15m' });
  const binds: Array<Set<string>> = raw.steps.map((s) => new Set(s.bind ?? []));
  const compiled: Array<{ where?: CompiledExpression; dynamic: boolean }> = [];
  const keep = new Set<string>();
  let wholePayload = false;
  raw.steps.forEach((s, i) => {
    const field = `steps[${i}]`;
    if (s.absent === true && i !== n - 1) issues.push({ field: `${field}.absent`, message: 'only the last step may be absent ("A then no B within T")' });
    if (s.absent === true && i === 0) issues.push({ field: `${field}.absent`, message: 'the first step cannot be absent: a sequence starts with an event' });
    if (s.count !== undefined && !(Number.isInteger(s.count) && s.count >= 1 && s.count <= SEQUENCE_BOUNDS.maxCount)) {
      issues.push({ field: `${field}.count`, message: `must be an integer from 1 to ${SEQUENCE_BOUNDS.maxCount} (given ${String(s.count)})` });
    }
    if (s.absent === true && s.count !== undefined && s.count !== 1) issues.push({ field: `${field}.count`, message: 'an absent step has no count (one event of it cancels the match)' });
    if ((s.bind?.length ?? 0) > SEQUENCE_BOUNDS.maxBind) issues.push({ field: `${field}.bind`, message: `at most ${SEQUENCE_BOUNDS.maxBind} fields` });
    for (const b of s.bind ?? []) if (!FIELD_NAME.test(b)) issues.push({ field: `${field}.bind`, message: `"${b}" is not a top-level field name (letters, digits, _)` });
    if (s.absent === true && (s.bind?.length ?? 0) > 0) issues.push({ field: `${field}.bind`, message: 'an absent step matches no event, so it binds nothing' });
    if (s.where !== undefined) {
      const { refs, otherUse } = stepReferences(s.where);
      if (otherUse) issues.push({ field: `${field}.where`, message: '`steps` may only be used as steps[N].field, N the index of an earlier step' });
      for (const r of refs) {
        if (r.step >= i) {
          const allowed = i === 0 ? 'the first step may not refer to steps' : i === 1 ? 'step 1 may refer to steps[0] only' : `step ${i} may refer to steps[0] to steps[${i - 1}]`;
          issues.push({ field: `${field}.where`, message: `steps[${r.step}] is not an earlier step: ${allowed}` });
        }
        else if (raw.steps[r.step]?.absent === true) issues.push({ field: `${field}.where`, message: `steps[${r.step}] is absent: it has no fields` });
        else binds[r.step]!.add(r.field);
      }
      const dynamic = refs.length > 0;
      const c = tryCompileExpression(s.where, { what: `${what} steps[${i}].where`, result: 'bool' });
      if (!c.ok) issues.push({ field: `${field}.where`, message: c.message, ...(c.offset !== undefined ? { offset: c.offset } : {}) });
      else compiled.push({ where: c.expression, dynamic });
      if (!c.ok) compiled.push({ dynamic });
      if (dynamic) {
        const ids = identifiersOf(s.where);
        if (ids.includes('event')) wholePayload = true;
        for (const id of ids) keep.add(id);
      }
    } else compiled.push({ dynamic: false });
  });
  let until: CompiledExpression | undefined;
  if (raw.until !== undefined) {
    if (stepReferences(raw.until).refs.length > 0 || stepReferences(raw.until).otherUse) issues.push({ field: 'until', message: '`until` is a condition on one event: it cannot refer to steps' });
    const c = tryCompileExpression(raw.until, { what: `${what} until`, result: 'bool' });
    if (!c.ok) issues.push({ field: 'until', message: c.message, ...(c.offset !== undefined ? { offset: c.offset } : {}) });
    else until = c.expression;
  }
  const untilGuard = raw.until === undefined || until === undefined ? undefined : compiledGuard(raw.until, until, `${what} until`);
  const onNew = raw.onNew ?? SEQUENCE_DEFAULTS.onNew;
  if (onNew !== 'keep' && onNew !== 'restart') issues.push({ field: 'onNew', message: `must be one of keep, restart (given ${JSON.stringify(onNew)})` });
  if (raw.maxPartials !== undefined && onNew === 'restart') issues.push({ field: 'maxPartials', message: 'only with onNew: keep (restart keeps one partial match per key)' });
  const maxPartials = onNew === 'restart' ? 1 : (raw.maxPartials ?? SEQUENCE_DEFAULTS.maxPartials);
  if (!(Number.isInteger(maxPartials) && maxPartials >= 1 && maxPartials <= SEQUENCE_BOUNDS.maxPartials)) {
    issues.push({ field: 'maxPartials', message: `must be an integer from 1 to ${SEQUENCE_BOUNDS.maxPartials} (given ${String(maxPartials)})` });
  }
  const maxStateBytes = raw.maxStateBytes ?? SEQUENCE_DEFAULTS.maxStateBytes;
  if (!(Number.isInteger(maxStateBytes) && maxStateBytes >= 1024 && maxStateBytes <= SEQUENCE_BOUNDS.maxStateBytes)) {
    issues.push({ field: 'maxStateBytes', message: `must be an integer from 1024 to ${SEQUENCE_BOUNDS.maxStateBytes} (given ${String(maxStateBytes)})` });
  }
  if (issues.length > 0) return { ok: false, issues };
  for (const b of binds) for (const f of b) keep.add(f);
  const steps: SequenceStep[] = raw.steps.map((s, i) => {
    const where = compiled[i]!.where;
    const guard = s.where !== undefined && where !== undefined && !compiled[i]!.dynamic ? compiledGuard(s.where, where, `${what} steps[${i}].where`) : undefined;
    return {
      ...(compiled[i]!.where ? { where: compiled[i]!.where } : {}),
      dynamic: compiled[i]!.dynamic,
      count: s.count ?? 1,
      bind: [...binds[i]!].sort(),
      absent: s.absent === true,
      ...(guard ? { guard } : {}),
    };
  });
  return {
    ok: true,
    spec: {
      steps,
      withinMs: raw.withinMs,
      ...(until ? { until } : {}),
      ...(untilGuard ? { untilGuard } : {}),
      onNew,
      maxPartials,
      maxStateBytes,
      keepFields: wholePayload ? null : [...keep].sort(),
    },
  };
}
