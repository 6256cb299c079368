/**
 * An engine over a store whose due list lags behind writes, as a DynamoDB
 * global secondary index does (eventually consistent): the in-memory store
 * hides, from dueKeys only, keys created less than LAG ms ago by the test's
 * clock; every other read is strongly consistent, as on DynamoDB. Shared by
 * the closing tests (test/unit/core/indexLag.test.ts, closingAtRest.test.ts).
 */
import { Engine } from '../../lambdas/core/Engine';
import { InMemoryStateStore } from '../../lambdas/core/InMemoryStateStore';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import type { ApplyOutcome, DueKey, KeyDescriptor, SlotBuilder } from '../../lambdas/core/StateStore';
import type { WindowRule } from '../../lambdas/core/types';
import { pipelineOf, shardRecords, streamSpec, T0 } from './factories';

export const M = 60_000;
/** How long a created key stays out of the due list. */
export const LAG = 5_000;
export const A = 'shardId-A';
export const B = 'shardId-B';

export class Clock {
  constructor(public t: number) {}
  now() {
    return this.t;
  }
}

/** An in-memory store whose due list does not show keys created less than LAG ago (the rest is strongly consistent). */
export class LaggingIndexStore extends InMemoryStateStore {
  private readonly created = new Map<string, number>();
  hidden = 0;
  constructor(private readonly clock: Clock) {
    super();
  }
  override async apply(key: KeyDescriptor, shardId: string, build: SlotBuilder): Promise<ApplyOutcome> {
    const out = await super.apply(key, shardId, build);
    if (out.status === 'applied' && !this.created.has(key.id)) this.created.set(key.id, this.clock.now());
    return out;
  }
  override async dueKeys(rule: string, watermark: number): Promise<DueKey[]> {
    const all = await super.dueKeys(rule, watermark);
    const shown = all.filter((d) => this.clock.now() - (this.created.get(d.key.id) ?? -Infinity) >= LAG);
    this.hidden += all.length - shown.length;
    return shown;
  }
}

/**
 * One rule on a lagging store (idle timeout 1 h: a silent shard keeps holding the watermark back).
 * `batch(shard, [[service, ts], ...])` processes one batch of that shard (sequence numbers go on per
 * shard) and expects no error; `summary()` lists what was published as "state service window values".
 */
export function laggingEngine(rule: WindowRule) {
  const clock = new Clock(T0 + 10 * M);
  const store = new LaggingIndexStore(clock);
  const published: AlertTransition[] = [];
  const engine = new Engine({
    pipeline: pipelineOf([rule], streamSpec({ idleTimeoutMs: 3_600_000 })),
    stream: 'telemetry',
    store,
    clock,
    publish: async (t) => {
      published.push(t);
    },
  });
  const seq = new Map<string, bigint>();
  const batch = async (shard: string, events: Array<[string, number]>) => {
    const bodies = events.map(([service, ts], i) => ({ eventId: `${shard}-${ts}-${i}`, service, ts }));
    const first = seq.get(shard) ?? 1n;
    seq.set(shard, first + BigInt(bodies.length));
    const r = await engine.processBatch(shard, shardRecords(shard, bodies, first));
    expect(r.error).toBeNull();
    return r;
  };
  const summary = () => published.map((t) => `${t.state} ${t.group['service']} ${(t.window.start - T0) / M} ${JSON.stringify(t.values)}`);
  return { clock, store, engine, published, batch, summary };
}
