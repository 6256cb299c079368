/**
 * `npx tsx bench/bundled.ts bench/spells.ts [--seconds 30]`: the machine's own
 * speed over time. Decodes the bench:core batch (base64 + JSON.parse, the
 * floor) pass after pass and prints each pass's thousands of events/s, twenty
 * to a line, with the seconds elapsed. On the shared development VM this shows
 * spells of about 0.5-3 s in which everything runs up to twice as slowly: why
 * bench:core alternates floor and core and keeps the best pass of each over
 * 10 s, and why one short run can land entirely in a slow spell.
 */
import { parseArgs } from 'node:util';
import { buildCoreBatch, decodeOnly } from './workload';

function main(): void {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' } } });
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number of seconds, got "${values.seconds}"`);
  const { records } = buildCoreBatch(10_000);
  console.log(`decode floor, thousands of events/s per pass of ${records.length.toLocaleString('en-US')} records, for ${seconds} s`);
  const t0 = performance.now();
  let line: string[] = [];
  const all: number[] = [];
  while (performance.now() - t0 < seconds * 1000) {
    const t = performance.now();
    const n = decodeOnly(records);
    const rate = n / ((performance.now() - t) / 1000);
    all.push(rate);
    line.push(String(Math.round(rate / 1000)).padStart(4));
    if (line.length === 20) {
      console.log(`${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s ${line.join('')}`);
      line = [];
    }
  }
  if (line.length > 0) console.log(`${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s ${line.join('')}`);
  all.sort((a, b) => a - b);
  const k = (q: number) => Math.round(all[Math.min(all.length - 1, Math.floor(q * all.length))]! / 1000);
  console.log(`passes ${all.length}: min ${k(0)}k, p10 ${k(0.1)}k, median ${k(0.5)}k, p90 ${k(0.9)}k, max ${k(1)}k events/s`);
}

try {
  main();
} catch (err) {
  console.error(`bench/spells.ts: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
