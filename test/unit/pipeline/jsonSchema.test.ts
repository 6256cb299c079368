import { compileJsonSchema } from '../../../lambdas/core/pipeline/jsonSchema';

function validator(schema: unknown): (payload: unknown) => string | null {
  const r = compileJsonSchema(JSON.stringify(schema));
  if (!r.ok) throw new Error(r.message);
  return r.validate;
}

describe('compileJsonSchema', () => {
  const base = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: { kind: { enum: ['http', 'heartbeat'] } },
    allOf: [{ if: { properties: { kind: { const: 'http' } } }, then: { required: ['status'], properties: { status: { type: 'integer' } } } }],
  };

  it('keeps unevaluatedProperties working where a schema uses it (2020-12 and 2019-09)', () => {
    for (const $schema of ['https://json-schema.org/draft/2020-12/schema', 'https://json-schema.org/draft/2019-09/schema']) {
      const validate = validator({ ...base, $schema, unevaluatedProperties: false });
      expect(validate({ kind: 'http', status: 200 })).toBeNull();
      // `status` is evaluated by the `then` branch only when kind is http
      expect(validate({ kind: 'heartbeat', status: 200 })).toMatch(/must NOT have unevaluated properties/);
      expect(validate({ kind: 'http', status: 200, extra: 1 })).toMatch(/must NOT have unevaluated properties/);
    }
  });

  it('validates the same without unevaluated keywords (no evaluation tracking)', () => {
    const validate = validator(base);
    expect(validate({ kind: 'http', status: 200, extra: 1 })).toBeNull();
    expect(validate({ kind: 'http' })).toMatch(/must have required property 'status'/);
    expect(validate({ kind: 'http', status: 2.5 })).toMatch(/event\/status must be integer/);
    expect(validate({ kind: 'heartbeat' })).toBeNull();
    expect(validate({ kind: 'other' })).toMatch(/must be equal to one of the allowed values/);
  });

  it('keeps a nested unevaluatedItems working', () => {
    const validate = validator({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { tags: { type: 'array', prefixItems: [{ type: 'string' }], unevaluatedItems: false } },
    });
    expect(validate({ tags: ['a'] })).toBeNull();
    expect(validate({ tags: ['a', 'b'] })).toMatch(/must NOT have more than 1 items|unevaluated/);
  });

  it('takes draft-07 in either spelling of its $schema, and names the drafts it takes otherwise', () => {
    for (const $schema of ['http://json-schema.org/draft-07/schema#', 'http://json-schema.org/draft-07/schema', 'https://json-schema.org/draft-07/schema', 'https://json-schema.org/draft-07/schema#']) {
      const validate = validator({ $schema, type: 'object', properties: { a: { type: 'integer' } } });
      expect(validate({ a: 1 })).toBeNull();
      expect(validate({ a: 'x' })).toBe('event/a must be integer');
    }
    const r = compileJsonSchema(JSON.stringify({ $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' }));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/^unsupported \$schema "http:\/\/json-schema.org\/draft-04\/schema#": use draft-07, 2019-09 or 2020-12/);
  });
});
