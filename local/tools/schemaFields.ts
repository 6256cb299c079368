/**
 * What a stream's JSON Schema says about payload fields, for `tidewatch check`:
 * which fields it declares (at any depth it describes), their JSON types and,
 * when every declaration lists them, their possible values (`enum`/`const`).
 *
 * Declarations are gathered from `properties` through `allOf`, `anyOf`,
 * `oneOf`, `then`/`else`, `dependentSchemas`/`dependencies` and local `$ref`s
 * (`#/$defs/…`, `#/definitions/…`). The answers lean towards "anything is
 * possible": a field's values are restricted only when every declaration of
 * it restricts them, so a warning built on them is never a false alarm for a
 * schema it does not understand.
 */

export type JsonType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';

export interface FieldInfo {
  /** The JSON types it may have; null when any. */
  readonly types: ReadonlySet<JsonType> | null;
  /** The values it may have (from enum/const); null when not restricted. */
  readonly values: readonly unknown[] | null;
  /** Its own fields, when it is an object the schema describes. */
  readonly fields: SchemaFields | null;
}

export interface SchemaFields {
  readonly fields: ReadonlyMap<string, FieldInfo>;
  /** `patternProperties`: names matching one are declared too. */
  readonly patterns: readonly RegExp[];
}

type Schema = Record<string, unknown>;

const isObject = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v);

interface Draft {
  types: Set<JsonType> | null;
  values: unknown[] | null;
  /** Every declaration seen restricted the values. */
  restricted: boolean;
  children: Schema[];
}

class Collector {
  private readonly seenRefs = new Set<string>();
  constructor(private readonly root: Schema) {}

  /** The object schemas `s` stands for (itself and what it combines), refs resolved. */
  members(s: unknown, depth = 0): Schema[] {
    if (!isObject(s) || depth > 32) return [];
    const out: Schema[] = [s];
    const ref = s['$ref'];
    if (typeof ref === 'string') {
      const target = this.resolve(ref);
      if (target !== undefined && !this.seenRefs.has(ref)) {
        this.seenRefs.add(ref);
        out.push(...this.members(target, depth + 1));
        this.seenRefs.delete(ref);
      }
    }
    for (const key of ['allOf', 'anyOf', 'oneOf']) {
      const list = s[key];
      if (Array.isArray(list)) for (const sub of list) out.push(...this.members(sub, depth + 1));
    }
    for (const key of ['then', 'else']) out.push(...this.members(s[key], depth + 1));
    for (const key of ['dependentSchemas', 'dependencies']) {
      const deps = s[key];
      if (isObject(deps)) for (const sub of Object.values(deps)) if (isObject(sub)) out.push(...this.members(sub, depth + 1));
    }
    return out;
  }

  private resolve(ref: string): unknown {
    if (!ref.startsWith('#')) return undefined;
    let node: unknown = this.root;
    for (const raw of ref.slice(1).split('/').filter((p) => p !== '')) {
      const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (!isObject(node)) return undefined;
      node = node[part];
    }
    return node;
  }

  fieldsOf(schemas: readonly Schema[]): SchemaFields {
    const drafts = new Map<string, Draft>();
    const patterns: RegExp[] = [];
    for (const s of schemas.flatMap((x) => this.members(x))) {
      const props = s['properties'];
      if (isObject(props)) {
        for (const [name, sub] of Object.entries(props)) {
          const d = drafts.get(name) ?? { types: new Set<JsonType>(), values: [], restricted: true, children: [] };
          this.declare(d, sub);
          drafts.set(name, d);
        }
      }
      const pp = s['patternProperties'];
      if (isObject(pp)) {
        for (const p of Object.keys(pp)) {
          try {
            patterns.push(new RegExp(p, 'u'));
          } catch {
            // A pattern JavaScript cannot read: treat every name as declared.
            patterns.push(/(?:)/);
          }
        }
      }
    }
    const fields = new Map<string, FieldInfo>();
    for (const [name, d] of drafts) {
      fields.set(name, {
        types: d.types,
        values: d.restricted ? d.values : null,
        fields: d.children.length > 0 ? this.fieldsOf(d.children) : null,
      });
    }
    return { fields, patterns };
  }

  /** Adds one declaration (a property's subschema) to a field's draft. */
  private declare(d: Draft, sub: unknown): void {
    if (sub === true || !isObject(sub)) {
      d.types = null;
      d.restricted = false;
      return;
    }
    const alternatives = this.members(sub);
    let types: Set<JsonType> | null = null;
    let values: unknown[] | null = null;
    for (const m of alternatives) {
      const t = m['type'];
      if (typeof t === 'string' || Array.isArray(t)) {
        types ??= new Set();
        for (const x of Array.isArray(t) ? t : [t]) if (typeof x === 'string') types.add(x as JsonType);
      }
      if (Array.isArray(m['enum'])) (values ??= []).push(...(m['enum'] as unknown[]));
      if (Object.hasOwn(m, 'const')) (values ??= []).push(m['const']);
      if (isObject(m['properties']) || isObject(m['patternProperties'])) d.children.push(m);
    }
    // A oneOf/anyOf branch without a type makes the field's type open; enum values tell their own types.
    const branches = [sub['oneOf'], sub['anyOf']].filter(Array.isArray).flat() as unknown[];
    const untypedBranch = branches.some((b) => !isObject(b) || (b['type'] === undefined && b['enum'] === undefined && !Object.hasOwn(b, 'const') && b['$ref'] === undefined));
    if (types === null && values !== null) types = new Set(values.map(jsonTypeOf));
    if (types === null || untypedBranch) d.types = null;
    else if (d.types !== null) for (const t of types) d.types.add(t);
    if (values === null) d.restricted = false;
    else if (d.values !== null) d.values.push(...values);
  }
}

export function jsonTypeOf(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'object') return 'object';
  return typeof v === 'boolean' ? 'boolean' : 'string';
}

/** The fields a JSON Schema (parsed JSON) declares at its root; null when it describes no object fields at all. */
export function schemaFields(schema: unknown): SchemaFields | null {
  if (!isObject(schema)) return null;
  const c = new Collector(schema);
  const fields = c.fieldsOf([schema]);
  return fields.fields.size === 0 && fields.patterns.length === 0 ? null : fields;
}

/** Whether `name` is declared (by `properties` or a pattern). */
export function declares(s: SchemaFields, name: string): boolean {
  return s.fields.has(name) || s.patterns.some((p) => p.test(name));
}

/**
 * Follows a field path (`["a", "b"]` for `a.b`): the deepest declared field, or
 * the first name the schema does not declare where it describes the fields.
 */
export function lookup(s: SchemaFields, path: readonly string[]): { readonly field: FieldInfo | null; readonly undeclared?: { readonly index: number; readonly known: readonly string[] } } {
  let current: SchemaFields = s;
  let field: FieldInfo | null = null;
  for (let i = 0; i < path.length; i++) {
    const name = path[i]!;
    const f = current.fields.get(name);
    if (f === undefined) {
      if (current.patterns.some((p) => p.test(name))) return { field: null };
      return { field: null, undeclared: { index: i, known: [...current.fields.keys()] } };
    }
    field = f;
    if (i < path.length - 1) {
      if (f.fields === null) return { field: null };
      current = f.fields;
    }
  }
  return { field };
}
