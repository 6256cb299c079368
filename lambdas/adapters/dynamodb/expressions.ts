import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { convertToAttr, type NativeAttributeValue } from '@aws-sdk/util-dynamodb';

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
  | { readonly op: 'and' | 'or'; readonly parts: readonly Condition[] }
  /** size(attr) <cmp> value: the number of elements of a set or list, the length of a string. */
  | { readonly op: 'size'; readonly attr: string; readonly cmp: Comparison; readonly value: number }
  /** contains(attr, value): a set holds the value, or a string the substring. */
  | { readonly op: 'contains'; readonly attr: string; readonly value: NativeAttributeValue }
  /** attr BETWEEN low AND high (both included; a key condition on a sort key may take it). */
  | { readonly op: 'between'; readonly attr: string; readonly low: NativeAttributeValue; readonly high: NativeAttributeValue };

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
export const sizeIs = (attr: string, cmp: Comparison, value: number): Condition => ({ op: 'size', attr, cmp, value });
export const contains = (attr: string, value: NativeAttributeValue): Condition => ({ op: 'contains', attr, value });
export const between = (attr: string, low: NativeAttributeValue, high: NativeAttributeValue): Condition => ({ op: 'between', attr, low, high });

/** What an UpdateItem does to the item, attribute by attribute. */
export interface UpdateSpec {
  /** SET name = value. */
  readonly set?: Readonly<Record<string, NativeAttributeValue>>;
  /** SET name = if_not_exists(name, value). */
  readonly setIfNotExists?: Readonly<Record<string, NativeAttributeValue>>;
  /**
   * SET name = if_not_exists(from, ifAbsent) + plus: a number computed from an attribute as the item
   * held it before this update (`from` may be `name` itself: an increment that can also be copied).
   */
  readonly setSum?: Readonly<Record<string, { readonly from: string; readonly ifAbsent: number; readonly plus: number }>>;
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

/** Placeholders of one request: `#n0`, `#n1`... for names, `:v0`, `:v1`... for values. Plain loops: this runs for every write. */
class Placeholders {
  private readonly names = new Map<string, string>();
  private readonly values: Record<string, AttributeValue> = {};
  private count = 0;

  name(attr: string): string {
    let n = this.names.get(attr);
    if (n === undefined) this.names.set(attr, (n = `#n${this.names.size}`));
    return n;
  }

  value(v: NativeAttributeValue): string {
    const p = `:v${this.count++}`;
    this.values[p] = convertToAttr(v, MARSHALL);
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
      case 'size':
        return `size(${this.name(c.attr)}) ${c.cmp} ${this.value(c.value)}`;
      case 'contains':
        return `contains(${this.name(c.attr)}, ${this.value(c.value)})`;
      case 'between':
        return `${this.name(c.attr)} BETWEEN ${this.value(c.low)} AND ${this.value(c.high)}`;
      case 'and':
      case 'or': {
        let out = '';
        for (const p of c.parts) {
          if (out !== '') out += c.op === 'and' ? ' AND ' : ' OR ';
          out += p.op === 'and' || p.op === 'or' ? `(${this.condition(p)})` : this.condition(p);
        }
        return out;
      }
      default:
        return `${this.name(c.attr)} ${c.op} ${this.value(c.value)}`;
    }
  }

  update(u: UpdateSpec): string {
    let set = '';
    for (const a in u.set) set += `${set === '' ? 'SET ' : ', '}${this.name(a)} = ${this.value(u.set[a])}`;
    for (const a in u.setIfNotExists) {
      const n = this.name(a);
      set += `${set === '' ? 'SET ' : ', '}${n} = if_not_exists(${n}, ${this.value(u.setIfNotExists[a])})`;
    }
    for (const a in u.setSum) {
      const c = u.setSum[a]!;
      set += `${set === '' ? 'SET ' : ', '}${this.name(a)} = if_not_exists(${this.name(c.from)}, ${this.value(c.ifAbsent)}) + ${this.value(c.plus)}`;
    }
    let add = '';
    for (const a in u.add) add += `${add === '' ? 'ADD ' : ', '}${this.name(a)} ${this.value(u.add[a])}`;
    let remove = '';
    for (const a of u.remove ?? []) remove += `${remove === '' ? 'REMOVE ' : ', '}${this.name(a)}`;
    let out = set;
    if (add !== '') out += out === '' ? add : ` ${add}`;
    if (remove !== '') out += out === '' ? remove : ` ${remove}`;
    return out;
  }

  done(out: CompiledExpressions): CompiledExpressions {
    if (this.names.size > 0) {
      const names: Record<string, string> = {};
      for (const [attr, n] of this.names) names[n] = attr;
      out.ExpressionAttributeNames = names;
    }
    if (this.count > 0) out.ExpressionAttributeValues = this.values;
    return out;
  }
}

/** How values are converted (util-dynamodb's marshalling, value by value). */
const MARSHALL = { removeUndefinedValues: true } as const;

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
  return [...Object.keys(u.set ?? {}), ...Object.keys(u.setIfNotExists ?? {}), ...Object.keys(u.setSum ?? {}), ...Object.keys(u.add ?? {}), ...(u.remove ?? [])];
}
