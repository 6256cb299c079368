/**
 * Decoding as the engine does it (decodeInto a DecodedBatch) against the floor (base64 + JSON.parse), in ns per event, on
 * the core batch (`buildCoreBatch(10000)`: the sample stream, its schema and
 * ISO-8601 event times). The two alternate, pass after pass, so that other
 * load on the machine hits both alike; the best pass of each is the figure to
 * compare, the median shows how noisy the run was.
 *
 * Bundled, as tsx adds overhead and noise of its own:
 *
 *   npx esbuild bench/decode.ts --bundle --platform=node --outfile=/tmp/decode-bench.js --external:protobufjs/minimal
 *   node /tmp/decode-bench.js [passes=200]
 */
import { DecodedBatch, decodeInto } from '../lambdas/core/decode';
import type { KinesisLikeRecord } from '../lambdas/core/types';
import { buildCoreBatch, decodeOnly } from './workload';

const passes = Number(process.argv[2] ?? 200);
const bench = buildCoreBatch(10_000);
const stream = bench.pipeline.streams.get(bench.stream)!;
// The engine always passes its (here empty) set of redacted fields.
const redact = new Set<string>();

function decodeAll(batch: readonly KinesisLikeRecord[]): number {
  const decoded = new DecodedBatch(batch.length);
  for (const r of batch) decodeInto(decoded, r, stream, bench.clock, redact);
  return decoded.length;
}

const runs: Array<[string, (b: readonly KinesisLikeRecord[]) => number]> = [
  ['floor', decodeOnly],
  ['decodeInto', decodeAll],
];
const samples = new Map<string, number[]>(runs.map(([name]) => [name, []]));
const WARM_UP = 5;
for (let pass = 0; pass < passes + WARM_UP; pass++) {
  for (const [name, run] of runs) {
    const t = performance.now();
    const n = run(bench.records);
    const ns = ((performance.now() - t) * 1e6) / bench.records.length;
    if (n !== bench.records.length) throw new Error(`${name} decoded ${n} of ${bench.records.length} records`);
    if (pass >= WARM_UP) samples.get(name)!.push(ns);
  }
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { best: s[0]!, median: s[s.length >> 1]! };
};
const floor = stats(samples.get('floor')!);
const decode = stats(samples.get('decodeInto')!);
console.log(`${bench.records.length} records, ${passes} passes each, Node ${process.version}`);
console.log(`  floor (base64 + JSON.parse)  best ${floor.best.toFixed(0).padStart(5)} ns/event   median ${floor.median.toFixed(0).padStart(5)}`);
console.log(`  decodeInto                   best ${decode.best.toFixed(0).padStart(5)} ns/event   median ${decode.median.toFixed(0).padStart(5)}`);
console.log(`  above the floor (best)       ${(decode.best - floor.best).toFixed(0).padStart(10)} ns/event`);
