/**
 * `tsx bench/kpl.ts [--seconds N]`: the two ways the processor could read KPL
 * aggregated records, on the bench:core batch aggregated 100 events a record:
 * aws-kinesis-agg's deaggregateSync (protobufjs; hands each user record back
 * as base64, which must be decoded again) and the core's own reader
 * (lambdas/core/kpl.ts: one pass, views of the bytes). Both check the MD5
 * trailer. Also prints each one's minified bundle size. Figures are the best
 * of alternating passes (see bench/workload.ts measureInterleaved).
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deaggregateSync } from 'aws-kinesis-agg';
import { buildSync } from 'esbuild';
import { deaggregate } from '../lambdas/core/kpl';
import type { KinesisLikeRecord } from '../lambdas/core/types';
import { buildCoreBatch, buildKplBatch, measureInterleaved } from './workload';

function ours(batch: readonly KinesisLikeRecord[]): number {
  let n = 0;
  for (const r of batch) {
    const agg = deaggregate(Buffer.from(r.data, 'base64'), true);
    if (!agg.ok) throw new Error(agg.message);
    for (const u of agg.records) n += u.data.length > 0 ? 1 : 0;
  }
  return n;
}

function theirs(batch: readonly KinesisLikeRecord[]): number {
  let n = 0;
  for (const r of batch) {
    deaggregateSync({ data: r.data, partitionKey: r.partitionKey, sequenceNumber: r.sequenceNumber, approximateArrivalTimestamp: r.approximateArrivalTimestamp, kinesisSchemaVersion: '1.0' }, true, (err, users) => {
      if (err) throw err;
      // The user record's bytes, as the core needs them.
      for (const u of users ?? []) n += Buffer.from(u.data, 'base64').length > 0 ? 1 : 0;
    });
  }
  return n;
}

function bundleBytes(source: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-kpl-size-'));
  const entry = join(dir, 'entry.ts');
  writeFileSync(entry, source);
  const outfile = join(dir, 'out.cjs');
  buildSync({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'cjs', minify: true, logLevel: 'error', nodePaths: [join(__dirname, '..', 'node_modules')] });
  return statSync(outfile).size;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' } } });
  const bench = buildCoreBatch(10_000);
  const kpl = await buildKplBatch(bench);
  const [a, b] = await measureInterleaved([ours, theirs], kpl, Number(values.seconds) * 1000);
  const ns = (rate: number) => (1e9 / rate).toFixed(0).padStart(6);
  console.log(`KPL de-aggregation, ${kpl.length} records of 100 demo events, MD5 checked, Node ${process.version}; best pass (median)`);
  console.log(`  core reader (lambdas/core/kpl.ts)     ${ns(a!.best)} ns/event (${ns(a!.median).trim()})`);
  console.log(`  aws-kinesis-agg deaggregateSync       ${ns(b!.best)} ns/event (${ns(b!.median).trim()})`);
  const root = join(__dirname, '..');
  console.log(`  bundle, minified: core reader ${bundleBytes(`export { deaggregate } from ${JSON.stringify(join(root, 'lambdas/core/kpl'))};`)} bytes; aws-kinesis-agg ${bundleBytes(`export { deaggregateSync } from ${JSON.stringify(join(root, 'node_modules/aws-kinesis-agg'))};`)} bytes`);
}

main().catch((err: unknown) => {
  console.error(`bench/kpl: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
