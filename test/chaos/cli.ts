/**
 * Seeded fault-injection runs from the command line:
 *
 *   npm run test:chaos -- --seeds 200                 seeds 1..200
 *   npm run test:chaos -- --seed 17 --faults ddb-throttle,reshard
 *   npm run test:chaos -- --seeds 50 --start 1000 --disable reshard
 *   npm run test:chaos -- --seeds 20 --no-producer-duplicates   no producer resends among the faults
 *   npm run test:chaos -- --seeds 20 --quick          smaller workloads (the jest run)
 *   npm run test:chaos -- --list-faults
 *
 * Prints one line per seed, a minimal fault trace and a rerun command for each
 * failing seed, the figures of the run, and last, alone, `N passed, N failed`.
 * Exit code 1 when a seed failed. CHAOS_DEBUG=1 adds DynamoDB request counts
 * per phase and per kind of request.
 */
import { FAULT_DESCRIPTIONS, FAULT_KINDS, type FaultKind } from './faults';
import { formatTotals, parseKinds, runChaos } from './runChaos';

function usage(): never {
  console.error('usage: tsx test/chaos/cli.ts [--seeds N] [--start S] [--seed S] [--faults a,b] [--disable a,b] [--[no-]producer-duplicates] [--quick] [--no-shrink] [--list-faults]');
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let seeds = 20;
  let start = 1;
  let single: number | undefined;
  let faults: FaultKind[] | undefined;
  let disabled: FaultKind[] = [];
  let producerDuplicates = true;
  let shrink = true;
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage();
      return v;
    };
    const int = () => {
      const n = Number(value());
      if (!Number.isSafeInteger(n) || n < 0) usage();
      return n;
    };
    if (arg === '--seeds') seeds = int();
    else if (arg === '--start') start = int();
    else if (arg === '--seed') single = int();
    else if (arg === '--faults') faults = parseKinds(value());
    else if (arg === '--disable') disabled = parseKinds(value());
    else if (arg === '--producer-duplicates') producerDuplicates = true;
    else if (arg === '--no-producer-duplicates') producerDuplicates = false;
    else if (arg === '--no-shrink') shrink = false;
    else if (arg === '--quick') quick = true;
    else if (arg === '--list-faults') {
      for (const k of FAULT_KINDS) console.log(`${k.padEnd(20)} ${FAULT_DESCRIPTIONS[k]}`);
      return 0;
    } else usage();
  }
  const list = single !== undefined ? [single] : Array.from({ length: seeds }, (_, i) => start + i);
  const endpoint = process.env['TIDEWATCH_TEST_DYNAMODB_ENDPOINT'];
  console.log(
    `tidewatch chaos: ${list.length} seed(s) from ${list[0]}; faults ${faults ? faults.join(',') || 'none' : 'chosen per seed'}` +
      `${disabled.length > 0 ? `, disabled ${disabled.join(',')}` : ''}; producer duplicates ${producerDuplicates ? 'on' : 'off (--no-producer-duplicates)'}; ` +
      `DynamoDB ${endpoint ? `at ${endpoint} (TIDEWATCH_TEST_DYNAMODB_ENDPOINT)` : 'dynalite, started for the run'}`,
  );
  const summary = await runChaos({ seeds: list, faults, disabled, producerDuplicates, shrink, size: quick ? 'quick' : 'full', log: (line) => console.log(line) });
  for (const line of formatTotals(summary)) console.log(line);
  console.log(`${summary.passed} passed, ${summary.failed} failed`);
  return summary.failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
