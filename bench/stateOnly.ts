/**
 * `npx tsx bench/stateOnly.ts [--events N] [--batch 1000,10000]`: only the
 * state cost of tidewatch (the real handler on dynalite), per batch size,
 * with writes and write units per event by item kind; `--sweep`: only the
 * batching sweep (bench/sweep.ts). For working on the state layer;
 * `npm run bench` is the measurement of record.
 */
import { parseArgs } from 'node:util';
import { startDynalite } from './dynamo';
import { runTidewatch } from './state';
import { runSweep } from './sweep';
import { batchesOf, buildStateWorkload, expectedTotals, floorOf, samplePipeline, STATE_WORKLOAD } from './workload';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '20000' }, batch: { type: 'string', default: '1000,10000' }, 'dedupe-off': { type: 'boolean', default: false }, sweep: { type: 'boolean', default: false } } });

async function main(): Promise<void> {
  const dynalite = await startDynalite();
  try {
    const w = buildStateWorkload({ ...STATE_WORKLOAD, events: Number(args.events) });
    const pipeline = samplePipeline(!args['dedupe-off']);
    if (args.sweep) {
      console.log(JSON.stringify(await runSweep({ dynalite, pipeline, workload: w, lambdaMemoryMb: 1024 })));
      return;
    }
    for (const batch of String(args.batch).split(',').map(Number)) {
      const rounds = batchesOf(w, batch);
      const r = await runTidewatch({ name: `batch ${batch}`, dynalite, pipeline, rounds, batchSize: batch, expected: expectedTotals(rounds.flat().flatMap((b) => b.events)) });
      const f = floorOf(pipeline, rounds);
      const per = (x: Record<string, number>) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Number((v / r.events).toPrecision(3))]));
      console.log(
        JSON.stringify({
          batch,
          events: r.events,
          correct: r.check.ok,
          writesPerEvent: Number((r.counter.writes / r.events).toPrecision(4)),
          floorPerEvent: Number(((f.aggregates + f.absence) / f.records).toPrecision(4)),
          paneFloorPerEvent: Number(((f.paneAggregates + f.absence) / f.records).toPrecision(4)),
          vsFloor: Number((r.counter.writes / (f.aggregates + f.absence)).toPrecision(3)),
          vsPaneFloor: Number((r.counter.writes / (f.paneAggregates + f.absence)).toPrecision(3)),
          wruPerEvent: Number(((r.counter.wru + r.counter.gsiWru) / r.events).toPrecision(4)),
          byCommand: r.counter.byCommand,
          requestsByKindPerEvent: per(r.counter.byKind),
          wruByKindPerEvent: per(r.counter.wruByKind),
          writesByPurposePerEvent: per(r.counter.writesByPurpose),
          writesByOperation: r.counter.writesByOperation,
          writesByOperationAndOwner: r.counter.writesByOperationAndOwner,
          wruByPurposePerEvent: per(r.counter.wruByPurpose),
          engine: r.engine,
        }),
      );
    }
  } finally {
    await dynalite.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
