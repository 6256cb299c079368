import { advanceShard, shardWatermark, streamWatermark } from '../../../lambdas/core/watermark';

const policy = { outOfOrdernessMs: 5_000, idleTimeoutMs: 60_000 };

describe('watermarks', () => {
  it('a shard watermark is max event time minus the out-of-orderness, and never goes backwards', () => {
    let p = advanceShard(undefined, 's0', 100_000, 1);
    p = advanceShard(p, 's0', 90_000, 2);
    expect(p).toEqual({ shardId: 's0', maxEventTime: 100_000, lastActivity: 2 });
    expect(shardWatermark(p, policy)).toBe(95_000);
  });

  it('the stream watermark is the minimum over active shards', () => {
    const now = 200_000;
    const shards = [
      { shardId: 'a', maxEventTime: 150_000, lastActivity: now - 1000 },
      { shardId: 'b', maxEventTime: 120_000, lastActivity: now - 1000 },
    ];
    expect(streamWatermark(shards, policy, now)).toBe(115_000);
  });

  it('an idle shard follows the wall clock, lagging by idle timeout plus out-of-orderness', () => {
    const now = 1_000_000;
    const shards = [
      { shardId: 'a', maxEventTime: 990_000, lastActivity: now - 1000 },
      { shardId: 'b', maxEventTime: 100_000, lastActivity: now - 60_000 },
    ];
    expect(streamWatermark(shards, policy, now)).toBe(now - 65_000);
  });

  it('is monotonic: a new shard with older events does not move it back', () => {
    const now = 500_000;
    expect(streamWatermark([{ shardId: 'child', maxEventTime: 100_000, lastActivity: now }], policy, now, 300_000)).toBe(300_000);
  });

  it('is -Infinity with no shards and no history', () => {
    expect(streamWatermark([], policy, 1)).toBe(-Infinity);
  });
});
