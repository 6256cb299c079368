/**
 * `npm run bench:core -- --json` as the "done when" states it: the
 * script bundles the core, runs it and prints one JSON object as its last line.
 * The figures themselves are the benchmark's business (never a timed test):
 * here only their shape and their consistency are checked, over a short run.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');

function benchCore(args: string[]) {
  return spawnSync(tsx, ['bench/bundled.ts', 'bench/core.ts', ...args], { cwd: root, encoding: 'utf8' });
}

describe('npm run bench:core', () => {
  it('prints {coreEventsPerSec, decodeEventsPerSec, ratio} as its last line with --json', () => {
    const r = benchCore(['--json', '--seconds', '0.3', '--records', '500']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const last = r.stdout.trimEnd().split('\n').pop()!;
    const result = JSON.parse(last) as Record<string, number>;
    // The plain-JSON figures first (as bench/run.ts reads them), then the KPL-aggregated ones.
    expect(Object.keys(result)).toEqual(['coreEventsPerSec', 'decodeEventsPerSec', 'ratio', 'kplEventsPerSec', 'kplDecodeEventsPerSec', 'kplRatio']);
    expect(Math.abs(result.kplRatio! - result.kplEventsPerSec! / result.kplDecodeEventsPerSec!)).toBeLessThan(0.0015);
    expect(Number.isInteger(result.coreEventsPerSec)).toBe(true);
    expect(Number.isInteger(result.decodeEventsPerSec)).toBe(true);
    expect(result.coreEventsPerSec).toBeGreaterThan(0);
    expect(result.decodeEventsPerSec).toBeGreaterThan(0);
    // The ratio is of the unrounded rates, rounded to three decimals.
    expect(Math.abs(result.ratio! - result.coreEventsPerSec! / result.decodeEventsPerSec!)).toBeLessThan(0.0015);
  });

  it('prints the readable report without --json, best and median pass', () => {
    const r = benchCore(['--seconds', '0.3', '--records', '500']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^tidewatch core benchmark: 500 records per batch, 7 rules \(pipelines\/sample\.yaml\)/);
    expect(r.stdout).toMatch(/0\.3 s of passes, floor and core alternating \(\d+ passes each\); best pass \(median pass\)/);
    expect(r.stdout).toMatch(/full core +[\d,]+ events\/s \([\d,]+\)/);
    expect(r.stdout).toMatch(/targets: full core >= 250,000 events\/s (MET|NOT MET); ratio >= 0\.5 (MET|NOT MET)/);
    expect(r.stdout).toMatch(/the same events KPL-aggregated \(100 per record, 5 records; 0\.15 s, \d+ passes each\)/);
    expect(r.stdout).toMatch(/de-aggregate \+ JSON\.parse +[\d,]+ events\/s/);
  });

  it('measures the rule variants with --variants: each against its own floor, rounds in turn, and the anomaly and sequence costs', () => {
    const r = benchCore(['--json', '--variants', '--seconds', '0.3', '--rounds', '2', '--records', '500']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout.trimEnd().split('\n').pop()!) as {
      decodeEventsPerSec: number;
      rounds: number;
      variants: Array<{ name: string; file: string; rules: number; coreEventsPerSec: number; ratio: number; ratios: number[] }>;
      anomalyCost: number;
      sequenceCost: number;
    };
    expect(result.variants.map((v) => [v.name, v.file, v.rules])).toEqual([
      ['sample', 'pipelines/sample.yaml', 7],
      ['sampleNoAnomaly', 'bench/pipelines/sample-no-anomaly.yaml', 6],
      ['base4', 'bench/pipelines/sample-base.yaml', 4],
      ['base4Seq1', 'bench/pipelines/sample-base-1seq.yaml', 5],
    ]);
    expect(result.rounds).toBe(2);
    // A variant's ratio is its best round's (each round a process of its own, against its own floor).
    for (const v of result.variants) {
      expect(v.ratios).toHaveLength(2);
      expect(v.ratio).toBe(Math.max(...v.ratios));
      expect(v.coreEventsPerSec).toBeGreaterThan(0);
    }
    const ratio = (name: string) => result.variants.find((v) => v.name === name)!.ratio;
    // (of the unrounded ratios: the printed ones are rounded to three decimals)
    expect(Math.abs(result.anomalyCost - (1 - ratio('sample') / ratio('sampleNoAnomaly')))).toBeLessThan(0.01);
    expect(Math.abs(result.sequenceCost - (1 - ratio('base4Seq1') / ratio('base4')))).toBeLessThan(0.01);
  });

  it('refuses a budget that is not a positive number of seconds', () => {
    const r = benchCore(['--json', '--seconds', 'soon']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('bench:core: --seconds must be a positive number of seconds, got "soon"');
    expect(r.stdout).toBe('');
  });

  it('refuses a batch size that is not a whole number of records', () => {
    const r = benchCore(['--json', '--records', '1e3.5']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('bench:core: --records must be a whole number of records per batch, 1 or more, got "1e3.5"');
  });
});
