/**
 * The short chaos run of `npm test`: 20 seeds of the quick profile through the
 * real processor and ticker handlers against dynalite (see runChaos.ts). The
 * long run is `npm run test:chaos -- --seeds 200`. A failing seed is printed
 * with its minimal fault trace and the command that reruns it.
 */
import { describeFailure, formatTotals, runChaos } from './runChaos';

const SEEDS = Number(process.env['CHAOS_SEEDS'] ?? 20);

describe(`chaos: exactly-once effect under injected faults (${SEEDS} seeds, quick profile)`, () => {
  it('every seed keeps every invariant', async () => {
    const summary = await runChaos({ seeds: Array.from({ length: SEEDS }, (_, i) => i + 1), size: 'quick' });
    const failures = summary.results.filter((r) => !r.ok).flatMap((r) => describeFailure(r, 'quick'));
    if (failures.length > 0) console.log([...failures, ...formatTotals(summary)].join('\n'));
    expect(failures).toEqual([]);
    expect(summary.results.reduce((n, r) => n + r.stats.lost + r.stats.doubled, 0)).toBe(0);
    expect(summary.passed).toBe(SEEDS);
  }, 600_000);
});
