import { hasGroupFields } from '../../../lambdas/core/group';
import type { JsonObject } from '../../../lambdas/core/types';

const parsed = (json: string) => JSON.parse(json) as JsonObject;

describe('hasGroupFields', () => {
  it('holds for own fields of any JSON value, null included', () => {
    const p = parsed('{"service":"checkout","status":500,"ok":false,"tags":["a"],"none":null}');
    expect(hasGroupFields(['service'], p)).toBe(true);
    expect(hasGroupFields(['service', 'status', 'ok', 'tags', 'none'], p)).toBe(true);
    expect(hasGroupFields([], p)).toBe(true);
  });

  it('fails for a missing field, wherever it is in the list', () => {
    const p = parsed('{"service":"checkout","host":"web-1"}');
    expect(hasGroupFields(['region'], p)).toBe(false);
    expect(hasGroupFields(['service', 'region'], p)).toBe(false);
    expect(hasGroupFields(['region', 'service'], p)).toBe(false);
  });

  it('never takes what every object inherits for a field, and takes an own field of that name', () => {
    const p = parsed('{"service":"checkout"}');
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) expect(hasGroupFields([name], p)).toBe(false);
    const own = parsed('{"constructor":"c","toString":1,"__proto__":"p"}');
    expect(hasGroupFields(['constructor', 'toString', '__proto__'], own)).toBe(true);
  });
});
