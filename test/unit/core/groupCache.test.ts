import { cachedGroup, GroupCache, MAX_CACHED_GROUPS, MISSING_GROUP } from '../../../lambdas/core/fold';
import type { JsonObject } from '../../../lambdas/core/types';

const event = (o: Record<string, unknown>) => JSON.parse(JSON.stringify(o)) as JsonObject;

describe('cachedGroup', () => {
  it('hands out one slot per group of values, for one field and for several', () => {
    const one = new GroupCache();
    const a = cachedGroup(['service'], one, event({ service: 'checkout', host: 'h1' }));
    expect(cachedGroup(['service'], one, event({ service: 'checkout', host: 'h2' }))).toBe(a);
    expect(a.ref).toEqual({ key: '["checkout"]', labels: { service: 'checkout' } });
    const two = new GroupCache();
    const b = cachedGroup(['service', 'host'], two, event({ service: 'checkout', host: 'h1' }));
    expect(cachedGroup(['service', 'host'], two, event({ host: 'h1', service: 'checkout' }))).toBe(b);
    expect(cachedGroup(['service', 'host'], two, event({ service: 'checkout', host: 'h2' }))).not.toBe(b);
    expect(b.ref).toEqual({ key: '["checkout","h1"]', labels: { service: 'checkout', host: 'h1' } });
    expect(two.size).toBe(2);
  });

  it('keeps apart value lists that a joined key would merge', () => {
    const cache = new GroupCache();
    const x = cachedGroup(['a', 'b'], cache, event({ a: 'p\u0000q', b: 'r' }));
    const y = cachedGroup(['a', 'b'], cache, event({ a: 'p', b: 'q\u0000r' }));
    expect(x).not.toBe(y);
    expect(x.ref.key).toBe(JSON.stringify(['p\u0000q', 'r']));
    expect(y.ref.key).toBe(JSON.stringify(['p', 'q\u0000r']));
  });

  it('does not cache other values, and skips an event without a field', () => {
    const cache = new GroupCache();
    const n = cachedGroup(['service', 'status'], cache, event({ service: 'checkout', status: 500 }));
    expect(n.ref).toEqual({ key: '["checkout","500"]', labels: { service: 'checkout', status: '500' } });
    expect(cachedGroup(['service', 'status'], cache, event({ service: 'checkout', status: 500 }))).not.toBe(n);
    expect(cachedGroup(['service', 'host'], cache, event({ service: 'checkout' }))).toBe(MISSING_GROUP);
    expect(cache.size).toBe(0);
    expect(cache.root.size).toBe(0);
  });

  it('starts again empty past MAX_CACHED_GROUPS groups', () => {
    const cache = new GroupCache();
    const first = cachedGroup(['service', 'host'], cache, event({ service: 's', host: 'h0' }));
    for (let i = 1; i < MAX_CACHED_GROUPS; i++) cachedGroup(['service', 'host'], cache, event({ service: 's', host: `h${i}` }));
    expect(cache.size).toBe(MAX_CACHED_GROUPS);
    expect(cachedGroup(['service', 'host'], cache, event({ service: 's', host: 'h0' }))).toBe(first);
    const next = cachedGroup(['service', 'host'], cache, event({ service: 's', host: 'new' }));
    expect(cache.size).toBe(1);
    expect(next.ref.key).toBe('["s","new"]');
    expect(cachedGroup(['service', 'host'], cache, event({ service: 's', host: 'h0' }))).not.toBe(first);
  });
});
