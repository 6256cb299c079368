/**
 * A stream's optional JSON Schema, compiled once with ajv. Draft-07 by default;
 * draft 2019-09 or 2020-12 when the schema's `$schema` says so. Strict mode is on
 * for keywords (an unknown keyword such as `requried` is an error, not ignored).
 * Formats: date-time, date, time and uuid are known; any other `format` is an error.
 */

import Ajv from 'ajv';
import type { AnySchema, Options, ValidateFunction } from 'ajv';
import Ajv2019 from 'ajv/dist/2019';
import Ajv2020 from 'ajv/dist/2020';
import { parseRfc3339DateTime } from '../timestamp';
import { compileFastCheck } from './schemaFastPath';

export type SchemaResult =
  | { readonly ok: true; readonly validate: (payload: unknown) => string | null }
  | { readonly ok: false; readonly message: string };

const DRAFTS: Record<string, 'draft-07' | '2019-09' | '2020-12'> = {
  'http://json-schema.org/draft-07/schema': 'draft-07',
  'https://json-schema.org/draft-07/schema': 'draft-07',
  'https://json-schema.org/draft/2019-09/schema': '2019-09',
  'https://json-schema.org/draft/2020-12/schema': '2020-12',
};

/** The id under which ajv holds draft-07's meta-schema. */
const DRAFT_07_ID = 'http://json-schema.org/draft-07/schema#';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME = /^\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const SCHEMA_FORMATS: Readonly<Record<string, (s: string) => boolean>> = {
  'date-time': (s: string) => !Number.isNaN(parseRfc3339DateTime(s)),
  date: (s: string) => DATE.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)),
  time: (s: string) => TIME.test(s),
  uuid: (s: string) => UUID.test(s),
};

const OPTIONS: Options = {
  allErrors: false, // the first problem is enough to quarantine a record, and it is faster
  strict: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  logger: false,
  formats: SCHEMA_FORMATS,
};

const UNEVALUATED: ReadonlySet<string> = new Set(['unevaluatedProperties', 'unevaluatedItems']);

/** Whether any object in `value` has one of `keys` as a key (a property named so counts too: the answer errs towards true). */
function usesKeyword(value: unknown, keys: ReadonlySet<string>): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some((v) => usesKeyword(v, keys));
  for (const [k, v] of Object.entries(value)) if (keys.has(k) || usesKeyword(v, keys)) return true;
  return false;
}

/**
 * Compiles the text of a JSON Schema file; the validator returns null or a message such as "event/status must be integer".
 * `fastCheck: false` leaves out the fast check (schemaFastPath.ts): ajv alone, for the tests that compare the two.
 */
export function compileJsonSchema(text: string, fastCheck = true): SchemaResult {
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    return { ok: false, message: 'a JSON Schema must be an object' };
  }
  const declared = typeof schema === 'object' ? (schema as { $schema?: unknown }).$schema : undefined;
  let draft: 'draft-07' | '2019-09' | '2020-12' = 'draft-07';
  if (declared !== undefined) {
    const d = typeof declared === 'string' ? DRAFTS[declared.replace(/#$/, '')] : undefined;
    if (d === undefined) {
      return { ok: false, message: `unsupported $schema ${JSON.stringify(declared)}: use draft-07, 2019-09 or 2020-12 (${Object.keys(DRAFTS).join(', ')})` };
    }
    draft = d;
  }
  const ajv = draft === '2020-12' ? new Ajv2020(OPTIONS) : draft === '2019-09' ? new Ajv2019(OPTIONS) : new Ajv(OPTIONS);
  // Ajv 2019/2020 track which properties and items every subschema evaluated (an object
  // built per validated value) for the sake of unevaluatedProperties / unevaluatedItems
  // only. A schema without them validates the same untracked, with about 160 bytes less
  // garbage per event; the constructors force the option on, so it is turned off here.
  if (draft !== 'draft-07' && !usesKeyword(schema, UNEVALUATED)) (ajv.opts as { unevaluated?: boolean }).unevaluated = false;
  // ajv knows draft-07's meta-schema by its id, http://json-schema.org/draft-07/schema#; the https
  // spelling (the same draft, as json-schema.org also serves it) is compiled under that id.
  const compiled = draft === 'draft-07' && typeof declared === 'string' && declared.startsWith('https:') ? { ...(schema as object), $schema: DRAFT_07_ID } : schema;
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(compiled as AnySchema);
  } catch (e) {
    return { ok: false, message: `invalid JSON Schema (${draft}): ${e instanceof Error ? e.message : String(e)}` };
  }
  // The fast check's "valid" is the verdict; anything else is ajv's to decide and to explain.
  const fast = fastCheck ? compileFastCheck(schema, SCHEMA_FORMATS) : undefined;
  const slow = (payload: unknown): string | null => (validate(payload) ? null : ajv.errorsText(validate.errors, { dataVar: 'event' }));
  return { ok: true, validate: fast === undefined ? slow : (payload: unknown) => (fast(payload) ? null : slow(payload)) };
}
