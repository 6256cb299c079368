/**
 * `tidewatch check`: validates pipeline files as `cdk synth` does (the same
 * loader), and warns about likely mistakes that still load:
 *
 * - `undeclared-field`: a field in `where`, an aggregate's argument or
 *   `groupBy` that the stream's JSON Schema does not declare (`statuss`);
 * - `never-matches`: a `where` (or a `count(<condition>)`) that no event the
 *   schema allows can satisfy (`kind == "heartbeet"`, `status == "500"`); for
 *   an absence rule this means it never sees a group, so it never fires;
 * - `not-a-number`: `sum`, `min`, `max`, `avg` or `percentile` of a field the
 *   schema types as something other than a number;
 * - `early-for`: `emit: early` with `for` > 1 where the previous window is
 *   still open for all of the current one (lateness + the stream's
 *   outOfOrderness >= the window's step): the alert can only fire when the
 *   window closes, as with `emit: final`.
 *
 * What the loader already refuses (a `when` naming an aggregate the rule does
 * not define, a hopping window putting each event in more than 60 windows, …)
 * is reported as an error, exactly as `cdk synth` reports it.
 */
import { readFileSync } from 'node:fs';
import type { ASTNode } from '@marcbachmann/cel-js';
import { parseExpressionAst } from '../../lambdas/core/expression';
import { formatDuration, loadPipeline, PipelineError, type PipelineIssue } from '../../lambdas/core/pipeline';
import { didYouMean } from '../../lambdas/core/pipeline/suggest';
import { YamlSource, type Path } from '../../lambdas/core/pipeline/yamlSource';
import type { Pipeline, Rule, StreamSpec, WindowRule } from '../../lambdas/core/types';
import { windowStep } from '../../lambdas/core/windows';
import { fieldReferences, fieldTypes, neverMatches } from './celFields';
import { lookup, schemaFields, type SchemaFields } from './schemaFields';

export type Severity = 'error' | 'warning';

export interface CheckProblem extends PipelineIssue {
  readonly severity: Severity;
  /** `invalid` for what the loader refuses; the warning's name otherwise (see the file comment). */
  readonly code: 'invalid' | 'undeclared-field' | 'never-matches' | 'not-a-number' | 'early-for';
}

export interface CheckResult {
  readonly file: string;
  /** Whether the file loads (no errors). */
  readonly loaded: boolean;
  readonly rules: number;
  readonly streams: number;
  readonly problems: readonly CheckProblem[];
}

/** `file:line:col: warning: rule "X" field "y": message` */
export function formatProblem(p: CheckProblem): string {
  let where = p.file;
  if (p.line !== undefined) where += `:${p.line}${p.column !== undefined ? `:${p.column}` : ''}`;
  const parts: string[] = [];
  if (p.rule !== undefined) parts.push(p.rule.startsWith('#') ? `rule ${p.rule}` : `rule "${p.rule}"`);
  if (p.stream !== undefined) parts.push(`stream "${p.stream}"`);
  if (p.field !== '') parts.push(`field "${p.field}"`);
  return `${where}: ${p.severity}: ${parts.length > 0 ? `${parts.join(' ')}: ` : ''}${p.message}`;
}

/** Loads and checks one pipeline file. Problems come sorted by position. */
export function checkPipelineFile(file: string, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): CheckResult {
  const texts = new Map<string, string>();
  const read = (p: string): string => {
    const t = readFile(p);
    texts.set(p, t);
    return t;
  };
  let pipeline: Pipeline;
  try {
    pipeline = loadPipeline(file, read);
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    const problems = e.issues.map((i): CheckProblem => ({ ...i, severity: 'error', code: 'invalid' }));
    return { file, loaded: false, rules: 0, streams: 0, problems };
  }
  const src = new YamlSource(texts.get(file)!);
  const problems = lint(pipeline, src, (p) => texts.get(p));
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { file, loaded: true, rules: pipeline.rules.length, streams: pipeline.streams.size, problems };
}

const NUMERIC_AGGREGATES = new Set(['sum', 'min', 'max', 'avg', 'percentile']);

/** The warnings of a pipeline that loaded. */
function lint(pipeline: Pipeline, src: YamlSource, schemaText: (path: string) => string | undefined): CheckProblem[] {
  const out: CheckProblem[] = [];
  const schemas = new Map<string, { fields: SchemaFields; path: string } | null>();
  const schemaOf = (stream: StreamSpec) => {
    if (!schemas.has(stream.name)) {
      let info: { fields: SchemaFields; path: string } | null = null;
      const text = stream.schemaPath === undefined ? undefined : schemaText(stream.schemaPath);
      if (text !== undefined) {
        const fields = schemaFields(JSON.parse(text) as unknown);
        if (fields !== null) info = { fields, path: stream.schemaPath! };
      }
      schemas.set(stream.name, info);
    }
    return schemas.get(stream.name)!;
  };
  const warn = (code: CheckProblem['code'], rule: Rule, path: Path, field: string, message: string, offset?: number) => {
    const at = src.position(path, offset === undefined ? {} : { offsetInValue: offset });
    out.push({ severity: 'warning', code, file: pipeline.file, ...(at ? { line: at.line, column: at.column } : {}), rule: rule.name, field, message });
  };

  pipeline.rules.forEach((rule, i) => {
    const stream = pipeline.streams.get(rule.stream)!;
    const base: Path = ['rules', i];
    const schema = schemaOf(stream);
    if (schema !== null) {
      const undeclared = (path: readonly string[], consequence: string): string | null => {
        const found = lookup(schema.fields, path);
        if (found.undeclared === undefined) return null;
        const name = path.slice(0, found.undeclared.index + 1).join('.');
        const last = path[found.undeclared.index]!;
        const known = found.undeclared.known;
        return `field "${name}" is not declared by ${schema.path}${didYouMean(last, known)} (it declares ${known.join(', ') || 'no fields there'}): ${consequence}`;
      };
      // where
      if (rule.where) {
        const ast = parsed(rule.where.source);
        if (ast) {
          for (const ref of fieldReferences(ast)) {
            const msg = undeclared(ref.path, ref.guarded ? 'has() of it is false for every event the schema describes' : 'an event without it does not match this filter');
            if (msg) warn('undeclared-field', rule, [...base, 'where'], 'where', msg, ref.offset);
          }
          const never = neverMatches(ast, schema.fields);
          if (never) {
            const consequence = rule.type === 'absence' ? 'no group is ever seen, so this absence rule never fires' : 'no event is counted, so this rule never fires';
            warn('never-matches', rule, [...base, 'where'], 'where', `this filter matches no event the schema allows (${never.reason}): ${consequence}`, never.offset);
          }
        }
      }
      // groupBy
      rule.groupBy.forEach((g, j) => {
        const msg = undeclared([g], `events without it all fall in the group where ${g} is null`);
        if (msg) warn('undeclared-field', rule, [...base, 'groupBy', j], `groupBy.${j}`, msg);
      });
      // aggregate arguments
      if (rule.type === 'window') {
        for (const spec of rule.aggregates) {
          const ast = parsed(spec.source);
          if (!ast || ast.op !== 'call') continue;
          const args = spec.kind === 'percentile' ? ast.args[1].slice(0, 1) : ast.args[1];
          const path: Path = [...base, 'aggregate', spec.name];
          const field = `aggregate.${spec.name}`;
          for (const arg of args) {
            for (const ref of fieldReferences(arg)) {
              const consequence = spec.kind === 'count' ? `${spec.kind}(…) does not count an event without it` : `an event without it adds no value to ${spec.kind}(…)`;
              const msg = undeclared(ref.path, ref.guarded ? 'has() of it is false for every event the schema describes' : consequence);
              if (msg) warn('undeclared-field', rule, path, field, msg, ref.offset);
            }
          }
          const arg = args[0];
          if (arg === undefined) continue;
          if (spec.kind === 'count') {
            const never = neverMatches(arg, schema.fields);
            if (never) warn('never-matches', rule, path, field, `this condition holds for no event the schema allows (${never.reason}): ${spec.name} is always 0`, never.offset);
          } else if (NUMERIC_AGGREGATES.has(spec.kind)) {
            const t = fieldTypes(arg, schema.fields);
            if (t && ![...t.types].some((x) => x === 'number' || x === 'integer')) {
              warn('not-a-number', rule, path, field, `${t.name} is ${[...t.types].join(' or ')} in the schema, not a number: ${spec.kind}(${t.name}) gets no value from any event`, t.offset);
            }
          }
        }
      }
    }
    if (rule.type === 'window') earlyFor(rule, stream, base, warn);
  });
  return out;
}

function earlyFor(rule: WindowRule, stream: StreamSpec, base: Path, warn: (code: CheckProblem['code'], rule: Rule, path: Path, field: string, message: string) => void): void {
  if (rule.emit !== 'early' || rule.for <= 1 || rule.window.kind === 'session') return;
  const step = windowStep(rule.window);
  const delay = rule.latenessMs + stream.outOfOrdernessMs;
  if (delay < step) return;
  warn(
    'early-for',
    rule,
    [...base, 'for'],
    'for',
    `for: ${rule.for} with emit: early fires early only once the previous window has closed while this one still takes events, which needs lateness (${formatDuration(rule.latenessMs)}) + the stream's outOfOrderness (${formatDuration(stream.outOfOrdernessMs)}) to be less than the window's step (${formatDuration(step)}); as written the alert fires only when windows close, as with emit: final (lower lateness, or use for: 1)`,
  );
}

function parsed(source: string): ASTNode | null {
  const r = parseExpressionAst(source);
  return r.ok ? r.ast : null;
}
