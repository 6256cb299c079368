import { addedLatency, gathered } from '../../bench/sweep';

describe('the batching sweep model (bench/sweep.ts)', () => {
  it('a batch gathers for max(1 s poll, min(window, batch size / rate)) and holds min(batch size, rate x that)', () => {
    const r = 500;
    expect([gathered(100, 0, r), gathered(1000, 1, r), gathered(1000, 5, r), gathered(10_000, 0, r), gathered(10_000, 5, r), gathered(10_000, 30, 1000)]).toEqual([
      { batch: 100, gatherS: 1 },
      { batch: 500, gatherS: 1 },
      { batch: 1000, gatherS: 2 },
      { batch: 500, gatherS: 1 },
      { batch: 2500, gatherS: 5 },
      { batch: 10_000, gatherS: 10 },
    ]);
  });

  it('added latency: half the gather time on average (all of it at worst), the batches queued from the same poll, and the batch', () => {
    // 500 records per poll in batches of 100: five batches of 20 ms each, one after another.
    expect(addedLatency(100, 1, 500, 20)).toEqual({ mean: 500 + 2 * 20 + 20, worst: 1000 + 4 * 20 + 20, gatherMean: 500, gatherWorst: 1000, processing: 2 * 20 + 20 });
    expect(addedLatency(10_000, 5, 500, 300)).toEqual({ mean: 2500 + 300, worst: 5000 + 300, gatherMean: 2500, gatherWorst: 5000, processing: 300 });
  });
});
