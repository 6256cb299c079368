import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshall, type NativeAttributeValue } from '@aws-sdk/util-dynamodb';

/**
 * DynamoDB expressions built from named pieces instead of strings: a
 * condition is a value (`and(attributeExists(pk), attributeNotExists(closed))`),
 * an update is a record of what it sets, adds and removes. Repositories say
 * what they mean; {@link compile} writes the expression text with
 * placeholders for every name and value (so no attribute name can clash with
 * a reserved word), and observers (tests, the chaos harness, the benchmark)
 * read the structure from the request tag instead of parsing text.
 */

export type Comparison = '=' | '<' | '<=' | '>' | '>=';

export type Condition =
  | { readonly op: 'exists' | 'notExists'; readonly attr: string }
  | { readonly op: Comparison | 'beginsWith'; readonly attr: string; readonly value: NativeAttributeValue }
  | { readonly op: 'and' | 'or'; readonly parts: readonly Condition[] };

export const attributeExists = (attr: string): Condition => ({ op: 'exists', attr });
export const attributeNotExists = (attr: string): Condition => ({ op: 'notExists', attr });
export const equals = (attr: string, value: NativeAttributeValue): Condition => ({ op: '=', attr, value });
export const lessThan = (attr: string, value: NativeAttributeValue): Condition => ({ op: '<', attr, value });
export const atMost = (attr: string, value: NativeAttributeValue): Condition => ({ op: '<=', attr, value });
export const greaterThan = (attr: string, value: NativeAttributeValue): Condition => ({ op: '>', attr, value });
export const atLeast = (attr: string, value: NativeAttributeValue): Condition => ({ op: '>=', attr, value });
export const beginsWith = (attr: string, value: string): Condition => ({ op: 'beginsWith', attr, value });
export const and = (...parts: Condition[]): Condition => (parts.length === 1 ? parts[0]! : { op: 'and', parts });
export const or = (...parts: Condition[]): Condition => (parts.length === 1 ? parts[0]! : { op: 'or', parts });

/** What an UpdateItem does to the item, attribute by attribute. */
export interface UpdateSpec {
  /** SET name = value. */
  readonly set?: Readonly<Record<string, NativeAttributeValue>>;
  /** SET name = if_not_exists(name, value). */
  readonly setIfNotExists?: Readonly<Record<string, NativeAttributeValue>>;
  /** ADD name value (numbers; sets for string sets). */
  readonly add?: Readonly<Record<string, NativeAttributeValue>>;
  /** REMOVE name. */
  readonly remove?: readonly string[];
}

export interface CompiledExpressions {
  UpdateExpression?: string;
  ConditionExpression?: string;
  KeyConditionExpression?: string;
  FilterExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, AttributeValue>;
}

/** Placeholders of one request: `#n0`, `#n1`... for names, `:v0`, `:v1`... for values. */
class Placeholders {
  private readonly names = new Map<string, string>();
  private readonly values: Record<string, NativeAttributeValue> = {};
  private count = 0;

  name(attr: string): string {
    let n = this.names.get(attr);
    if (n === undefined) this.names.set(attr, (n = `#n${this.names.size}`));
    return n;
  }

  value(v: NativeAttributeValue): string {
    const p = `:v${this.count++}`;
    this.values[p] = v;
    return p;
  }

  condition(c: Condition): string {
    switch (c.op) {
      case 'exists':
        return `attribute_exists(${this.name(c.attr)})`;
      case 'notExists':
        return `attribute_not_exists(${this.name(c.attr)})`;
      case 'beginsWith':
        return `begins_with(${this.name(c.attr)}, ${this.value(c.value)})`;
      case 'and':
      case 'or':
        return c.parts.map((p) => (p.op === 'and' || p.op === 'or' ? `(${this.condition(p)})` : this.condition(p))).join(c.op === 'and' ? ' AND ' : ' OR ');
      default:
        return `${this.name(c.attr)} ${c.op} ${this.value(c.value)}`;
    }
  }

  update(u: UpdateSpec): string {
    const set = [
      ...Object.entries(u.set ?? {}).map(([a, v]) => `${this.name(a)} = ${this.value(v)}`),
      ...Object.entries(u.setIfNotExists ?? {}).map(([a, v]) => `${this.name(a)} = if_not_exists(${this.name(a)}, ${this.value(v)})`),
    ];
    const add = Object.entries(u.add ?? {}).map(([a, v]) => `${this.name(a)} ${this.value(v)}`);
    const remove = (u.remove ?? []).map((a) => this.name(a));
    return [set.length > 0 ? `SET ${set.join(', ')}` : '', add.length > 0 ? `ADD ${add.join(', ')}` : '', remove.length > 0 ? `REMOVE ${remove.join(', ')}` : ''].filter((s) => s !== '').join(' ');
  }

  done(out: CompiledExpressions): CompiledExpressions {
    if (this.names.size > 0) out.ExpressionAttributeNames = Object.fromEntries([...this.names].map(([attr, n]) => [n, attr]));
    if (this.count > 0) out.ExpressionAttributeValues = marshall(this.values, { removeUndefinedValues: true });
    return out;
  }
}

/** The expression parameters of one request. */
export function compile(parts: { update?: UpdateSpec; condition?: Condition; keyCondition?: Condition; filter?: Condition }): CompiledExpressions {
  const p = new Placeholders();
  const out: CompiledExpressions = {};
  if (parts.update) out.UpdateExpression = p.update(parts.update);
  if (parts.condition) out.ConditionExpression = p.condition(parts.condition);
  if (parts.keyCondition) out.KeyConditionExpression = p.condition(parts.keyCondition);
  if (parts.filter) out.FilterExpression = p.condition(parts.filter);
  return p.done(out);
}

/** The attributes an update touches (set, set if absent, added, removed). */
export function touchedBy(u: UpdateSpec): string[] {
  return [...Object.keys(u.set ?? {}), ...Object.keys(u.setIfNotExists ?? {}), ...Object.keys(u.add ?? {}), ...(u.remove ?? [])];
}
