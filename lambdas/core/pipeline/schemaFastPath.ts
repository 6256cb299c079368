/**
 * A yes/no JSON Schema check for the keywords telemetry schemas use, compiled
 * to one function, run before ajv on every payload: when it says the payload
 * is valid, that is the verdict; when it says invalid, ajv validates it again
 * and its error is the message (so every message is ajv's, as before).
 *
 * Why: ajv's generated code builds error objects even for a payload that
 * passes (an `if` that does not match, the losing branch of a `oneOf`, each
 * an object pushed into an array) and counts the code points of every
 * string with min/maxLength twice. For the sample's schema that was about a
 * tenth of the core's time per event.
 *
 * The check must be exact (true exactly when ajv accepts), so it covers only
 * keywords whose meaning is the same in draft-07, 2019-09 and 2020-12 and
 * mirrors ajv's own tests: a property is present when `v[name] !== undefined`
 * (as ajv reads it), numbers count only when finite (ajv's strictNumbers),
 * lengths are in code points, patterns are compiled with the `u` flag, the
 * formats are the very functions ajv is given. A schema with any other
 * keyword ($ref, unevaluated*, patternProperties, multipleOf, non-primitive
 * enum or const, ...) gets no fast check: ajv alone validates it, as before.
 * test/unit/pipeline/schemaFastPath.test.ts compares the two on generated
 * payloads.
 */

/** A value of JSON the check may meet (anything a parser put in a payload). */
export type FastCheck = (payload: unknown) => boolean;

/** Annotations and containers that do not constrain the instance (definitions are only reached through $ref, which is unsupported). */
const IGNORED: ReadonlySet<string> = new Set([
  '$schema',
  '$id',
  '$comment',
  '$anchor',
  '$defs',
  'definitions',
  'title',
  'description',
  'default',
  'examples',
  'readOnly',
  'writeOnly',
  'deprecated',
]);

const SUPPORTED: ReadonlySet<string> = new Set([
  'type',
  'const',
  'enum',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'required',
  'properties',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'items',
  'minItems',
  'maxItems',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
]);

const TYPES: ReadonlySet<string> = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);

class Unsupported extends Error {}

function unsupported(why: string): never {
  throw new Unsupported(why);
}

const isPrimitive = (v: unknown): v is string | number | boolean | null => v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Code points of a string, as ajv's ucs2length counts them (a lone surrogate counts one). */
export function codePointLength(s: string): number {
  const n = s.length;
  let length = 0;
  let i = 0;
  while (i < n) {
    length++;
    const c = s.charCodeAt(i++);
    if (c >= 0xd800 && c <= 0xdbff && i < n && (s.charCodeAt(i) & 0xfc00) === 0xdc00) i++;
  }
  return length;
}

class Generator {
  readonly functions: string[] = [];
  readonly patterns: RegExp[] = [];
  readonly formatNames: string[] = [];

  constructor(private readonly formats: Readonly<Record<string, (s: string) => boolean>>) {}

  /** Compiles a subschema to a function of its own; returns the function's name. */
  schema(s: unknown): string {
    const name = `f${this.functions.length}`;
    this.functions.push('');
    const body = this.body(s);
    this.functions[Number(name.slice(1))] = `function ${name}(v) {\n${body}  return true;\n}`;
    return name;
  }

  private format(name: string): string {
    if (!Object.hasOwn(this.formats, name)) unsupported(`format ${name}`);
    let i = this.formatNames.indexOf(name);
    if (i < 0) i = this.formatNames.push(name) - 1;
    return `fm[${i}]`;
  }

  private body(s: unknown): string {
    if (s === true) return '';
    if (s === false) return '  return false;\n';
    if (s === null || typeof s !== 'object' || Array.isArray(s)) unsupported('a schema that is not an object or a boolean');
    const k = s as Record<string, unknown>;
    for (const key of Object.keys(k)) if (!SUPPORTED.has(key) && !IGNORED.has(key)) unsupported(key);
    let out = '';
    const has = (key: string): boolean => Object.hasOwn(k, key);

    if (has('type')) {
      const types = typeof k.type === 'string' ? [k.type] : Array.isArray(k.type) ? (k.type as unknown[]) : unsupported('type');
      if (types.length === 0) unsupported('empty type');
      const conds = types.map((t) => {
        if (typeof t !== 'string' || !TYPES.has(t)) unsupported(`type ${String(t)}`);
        switch (t) {
          case 'string':
            return 'typeof v === "string"';
          case 'number':
            return '(typeof v === "number" && isFinite(v))';
          case 'integer':
            return '(typeof v === "number" && !(v % 1) && !isNaN(v) && isFinite(v))';
          case 'boolean':
            return 'typeof v === "boolean"';
          case 'null':
            return 'v === null';
          case 'object':
            return '(v !== null && typeof v === "object" && !Array.isArray(v))';
          default:
            return 'Array.isArray(v)';
        }
      });
      out += `  if (!(${conds.join(' || ')})) return false;\n`;
    }
    if (has('const')) {
      if (!isPrimitive(k.const)) unsupported('const of an object, an array or a non-finite number');
      out += `  if (v !== ${JSON.stringify(k.const)}) return false;\n`;
    }
    if (has('enum')) {
      const values = Array.isArray(k.enum) ? (k.enum as unknown[]) : unsupported('enum');
      if (values.length === 0 || !values.every(isPrimitive)) unsupported('enum of objects or arrays');
      out += `  if (!(${values.map((e) => `v === ${JSON.stringify(e)}`).join(' || ')})) return false;\n`;
    }

    let str = '';
    if (has('maxLength')) {
      if (!isCount(k.maxLength)) unsupported('maxLength');
      // A string's code points are at most its UTF-16 units: only a longer string needs counting.
      str += `    if (v.length > ${k.maxLength} && cp(v) > ${k.maxLength}) return false;\n`;
    }
    if (has('minLength')) {
      if (!isCount(k.minLength)) unsupported('minLength');
      // ...and at least half of them.
      str += `    if (v.length < ${2 * k.minLength} && cp(v) < ${k.minLength}) return false;\n`;
    }
    if (has('pattern')) {
      if (typeof k.pattern !== 'string') unsupported('pattern');
      // A pattern the u flag refuses is ajv's to judge: in a subschema ajv never compiles (an `if` without
      // then/else) it loads, so the schema must load here too.
      let re: RegExp;
      try {
        re = new RegExp(k.pattern, 'u');
      } catch {
        unsupported('a pattern the u flag refuses');
      }
      const i = this.patterns.push(re) - 1;
      str += `    if (!re[${i}].test(v)) return false;\n`;
    }
    if (has('format')) {
      if (typeof k.format !== 'string') unsupported('format');
      str += `    if (!${this.format(k.format)}(v)) return false;\n`;
    }
    if (str !== '') out += `  if (typeof v === "string") {\n${str}  }\n`;

    let num = '';
    const limits: Array<[string, string]> = [
      ['minimum', '<'],
      ['maximum', '>'],
      ['exclusiveMinimum', '<='],
      ['exclusiveMaximum', '>='],
    ];
    for (const [key, fails] of limits) {
      if (!has(key)) continue;
      if (typeof k[key] !== 'number' || !Number.isFinite(k[key])) unsupported(key);
      num += `    if (v ${fails} ${JSON.stringify(k[key])}) return false;\n`;
    }
    if (num !== '') out += `  if (typeof v === "number" && isFinite(v)) {\n${num}  }\n`;

    let obj = '';
    if (has('required')) {
      const names = Array.isArray(k.required) ? (k.required as unknown[]) : unsupported('required');
      for (const n of names) {
        if (typeof n !== 'string') unsupported('required');
        // ajv's code for a required "" never fails (its test of the missing name is falsy for ""), below 200 names.
        if (n === '') unsupported('a required empty name');
        obj += `    if (v[${JSON.stringify(n)}] === undefined) return false;\n`;
      }
    }
    let props: Record<string, unknown> = {};
    if (has('properties')) {
      if (k.properties === null || typeof k.properties !== 'object' || Array.isArray(k.properties)) unsupported('properties');
      props = k.properties as Record<string, unknown>;
      // ajv drops a property named __proto__ from `properties`, but not always from additionalProperties' list (past 8 names it asks hasOwnProperty).
      if (Object.hasOwn(props, '__proto__')) unsupported('a property named __proto__');
      for (const [n, sub] of Object.entries(props)) {
        if (sub === true) continue;
        const f = this.schema(sub);
        obj += `    { const p = v[${JSON.stringify(n)}]; if (p !== undefined && !${f}(p)) return false; }\n`;
      }
    }
    if (has('additionalProperties') && k.additionalProperties !== true) {
      const known = Object.keys(props).map((n) => `key === ${JSON.stringify(n)}`);
      const extra = k.additionalProperties === false ? 'return false;' : `if (!${this.schema(k.additionalProperties)}(v[key])) return false;`;
      obj += `    for (const key in v) { ${known.length > 0 ? `if (${known.join(' || ')}) continue; ` : ''}${extra} }\n`;
    }
    if (has('minProperties') || has('maxProperties')) {
      if (has('minProperties') && !isCount(k.minProperties)) unsupported('minProperties');
      if (has('maxProperties') && !isCount(k.maxProperties)) unsupported('maxProperties');
      obj += '    { const n = Object.keys(v).length;';
      if (has('minProperties')) obj += ` if (n < ${k.minProperties}) return false;`;
      if (has('maxProperties')) obj += ` if (n > ${k.maxProperties}) return false;`;
      obj += ' }\n';
    }
    if (obj !== '') out += `  if (v !== null && typeof v === "object" && !Array.isArray(v)) {\n${obj}  }\n`;

    let arr = '';
    if (has('minItems')) {
      if (!isCount(k.minItems)) unsupported('minItems');
      arr += `    if (v.length < ${k.minItems}) return false;\n`;
    }
    if (has('maxItems')) {
      if (!isCount(k.maxItems)) unsupported('maxItems');
      arr += `    if (v.length > ${k.maxItems}) return false;\n`;
    }
    if (has('items')) {
      // One schema for every item means the same in the three drafts (the array form, a tuple, does not).
      if (Array.isArray(k.items)) unsupported('items as an array');
      if (k.items !== true) arr += `    for (let i = 0; i < v.length; i++) if (!${this.schema(k.items)}(v[i])) return false;\n`;
    }
    if (arr !== '') out += `  if (Array.isArray(v)) {\n${arr}  }\n`;

    const list = (key: string): string[] => {
      const subs = Array.isArray(k[key]) ? (k[key] as unknown[]) : unsupported(key);
      if (subs.length === 0) unsupported(`empty ${key}`);
      return subs.map((sub) => this.schema(sub));
    };
    if (has('allOf')) for (const f of list('allOf')) out += `  if (!${f}(v)) return false;\n`;
    if (has('anyOf')) out += `  if (!(${list('anyOf').map((f) => `${f}(v)`).join(' || ')})) return false;\n`;
    if (has('oneOf')) {
      out += `  { let n = 0;${list('oneOf').map((f) => ` if (${f}(v) && ++n > 1) return false;`).join('')} if (n !== 1) return false; }\n`;
    }
    if (has('not')) out += `  if (${this.schema(k.not)}(v)) return false;\n`;
    if (has('if')) {
      const cond = this.schema(k.if);
      const then = has('then') ? this.schema(k.then) : undefined;
      const otherwise = has('else') ? this.schema(k.else) : undefined;
      if (then !== undefined || otherwise !== undefined) {
        out += `  if (${cond}(v)) { ${then !== undefined ? `if (!${then}(v)) return false;` : ''} }`;
        out += ` else { ${otherwise !== undefined ? `if (!${otherwise}(v)) return false;` : ''} }\n`;
      }
    } else if (has('then') || has('else')) {
      unsupported('then or else without if');
    }
    return out;
  }
}

/**
 * The fast check of a schema ajv has compiled, or undefined when the schema
 * uses a keyword outside the covered set (then ajv alone decides).
 * `formats` must be the functions ajv validates the formats with.
 */
export function compileFastCheck(schema: unknown, formats: Readonly<Record<string, (s: string) => boolean>>): FastCheck | undefined {
  const gen = new Generator(formats);
  let root: string;
  try {
    root = gen.schema(schema);
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
  const fm = gen.formatNames.map((n) => formats[n]!);
  // The source holds only keywords' numbers and JSON-quoted strings; the patterns and formats are passed in.
  const source = `"use strict";\n${gen.functions.join('\n')}\nreturn ${root};`;
  // Compiled once per schema, as ajv itself does.
  return new Function('cp', 're', 'fm', source)(codePointLength, gen.patterns, fm) as FastCheck;
}
