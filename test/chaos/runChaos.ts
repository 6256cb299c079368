/**
 * Seeded fault-injection runs of the REAL processor and ticker handlers
 * against dynalite, with a simulated Kinesis stream and event source mapping
 * (kinesis.ts, esm.ts), a virtual clock, and a brute-force oracle (oracle.ts).
 * The CLI (cli.ts) and the jest test (chaos.test.ts) are thin wrappers around
 * {@link runChaos}.
 *
 * One seed:
 *  1. A workload: 2-4 shards, 8-12 rounds of 20 s of virtual time (quick:
 *     4-6); each round 6-16 events (sometimes a burst) from 3 producers (with
 *     skewed clocks), hot services, out-of-order event times, some late events
 *     (2-12 minutes old), some broken records; partition keys are the service
 *     (hot keys) or random.
 *  2. Setup: each shard's first record is processed alone, without faults, so
 *     every shard holds the stream watermark back from the start.
 *  3. Rounds: the producers put their records (PutRecords may partially fail
 *     and be resent), a shard may be split or two merged; each shard with
 *     records gets one delivery with probability 0.4 (backlogs build up); the
 *     ticker (sometimes two) runs concurrently with the deliveries or in
 *     between. Every DynamoDB request goes through one scheduler that
 *     interleaves concurrent invocations in an order drawn from the seed.
 *  4. Drain: deliveries until every shard is consumed; then the clock jumps
 *     2 h ahead (every shard idle) and the ticker runs until nothing changes.
 *  5. Invariants (oracle.ts): exact aggregates per window, no loss, no double
 *     counting, quarantine complete, each expected alert transition recorded
 *     exactly once and published (again only after an ambiguous publish),
 *     outboxes empty, watermarks monotonic, no failure without a fault,
 *     liveness.
 *
 * Why the oracle can decide lateness from the records alone: the idle timeout
 * (1 h) is longer than the run, every shard has progress before the first
 * fault, and out-of-orderness (10 s) + lateness (60 s) exceeds twice the
 * clock skew (2 x 30 s) plus the producers' delay (8 s); so the stream
 * watermark never passes a window a non-late record of any shard still needs,
 * and only the engine's per-shard rule makes a record late. (The price: a
 * record never reaches a window after it was sealed, so that path is covered
 * by test/chaos/findings.test.ts, not here.) Sequence rules have no lateness
 * allowance: there a reshard child's events before it first reports can be
 * late by timing, and sequenceOracle.ts says how the oracle bounds them.
 */
import { cpus } from 'node:os';
import type { Random } from '../../local/demo/random';
import { parsePipeline } from '../../lambdas/core/pipeline';
import type { RejectReason, SequenceRule } from '../../lambdas/core/types';
import { alertLayout, ATTR, kindOf, quarantineLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { dropTestTables, freshTable, startTestDynamo } from '../helpers/dynamo';
import { ShardConsumer } from './esm';
import { FAULT_KINDS, FaultPlan, kindsForSeed, stream, type FaultKind, type InjectedFault } from './faults';
import { cloudWatchLogsControlRecord, cloudWatchLogsRecord, gzip, kplAggregate } from '../../local/producer/encode';
import { SimStream, type EventMeta, type PutEntry, type SimShard } from './kinesis';
import { chaosPipeline, compareAlerts, compareAmbiguousRecords, compareEvaluationOrder, compareModels, compareState, expect as expectFrom, expectedTransitions, type ChaosShape } from './oracle';
import { expectedMatches, sequenceTransitions } from './sequenceOracle';
import { STREAM, VirtualClock, World, type Container } from './world';

process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';

/** Minute-aligned start of every run's virtual time. */
export const T0 = Date.UTC(2026, 10, 27, 10, 0, 0);
const ROUND_MS = 20_000;
const MAX_DELAY_MS = 8_000;
const HOT = ['api', 'web', 'db'] as const;
const COLD = Array.from({ length: 3 }, (_, i) => `svc-${i}`);
const BAD: readonly RejectReason[] = ['bad-base64', 'not-json', 'no-timestamp', 'future-timestamp', 'bad-timestamp', 'not-object'];

export interface SeedStats {
  /** The seed's record shape: JSON (plain, gzip and KPL aggregates mixed) or CloudWatch Logs payloads. */
  shape: ChaosShape;
  records: number;
  /** Records holding several events (KPL aggregates, CloudWatch Logs payloads). */
  multiRecords: number;
  /** CloudWatch Logs CONTROL_MESSAGE records. */
  controls: number;
  /** Events without the group field, skipped by the rules. */
  missingGroup: number;
  events: number;
  duplicates: number;
  late: number;
  quarantined: number;
  windows: number;
  transitions: number;
  /** Anomaly models checked against the replay, and the anomaly rule's transitions among `transitions`. */
  models?: number;
  anomalyTransitions?: number;
  duplicateDeliveries: number;
  lost: number;
  doubled: number;
  invocations: number;
  tickerInvocations: number;
  ddbRequests: number;
  /** Items an index query did not return because of the index-lag fault. */
  hiddenByIndexLag: number;
  /** Alert writes applied whose response was lost, with transitions to publish at once. */
  ambiguousRecords: number;
  shards: number;
  faults: Partial<Record<FaultKind, number>>;
}

export interface SeedResult {
  readonly seed: number;
  readonly kinds: readonly FaultKind[];
  readonly ok: boolean;
  readonly violations: readonly string[];
  readonly trace: readonly InjectedFault[];
  readonly stats: SeedStats;
  readonly ms: number;
  /** Set when the seed failed and was shrunk: the smallest fault set found that still fails. */
  readonly minimal?: SeedResult;
}

export interface ChaosOptions {
  readonly seeds: readonly number[];
  /** Exactly these fault kinds for every seed (else each seed picks from the eligible kinds). */
  readonly faults?: readonly FaultKind[];
  /** Kinds no seed uses. */
  readonly disabled?: readonly FaultKind[];
  /** Producer duplicates (a naive producer resending a whole batch) eligible as a fault. @default true */
  readonly producerDuplicates?: boolean;
  /** Shrink failing seeds to a minimal fault set. @default true */
  readonly shrink?: boolean;
  /** Workload size. @default 'full' */
  readonly size?: ChaosSize;
  /** A DynamoDB endpoint to use (else TIDEWATCH_TEST_DYNAMODB_ENDPOINT, else a dynalite started for the run). */
  readonly endpoint?: string;
  readonly log?: (line: string) => void;
}

export interface ChaosSummary {
  readonly passed: number;
  readonly failed: number;
  readonly results: readonly SeedResult[];
  readonly ms: number;
  readonly producerDuplicates: boolean;
}

export function parseKinds(list: string): FaultKind[] {
  const kinds = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const k of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new Error(`unknown fault kind "${k}"; known: ${FAULT_KINDS.join(', ')}`);
  }
  return kinds as FaultKind[];
}

/** The command line that reruns a seed with exactly these faults. */
export function rerunCommand(seed: number, kinds: readonly FaultKind[], size: ChaosSize = 'full'): string {
  return `npm run test:chaos -- --seed ${seed}${size === 'quick' ? ' --quick' : ''} --faults ${kinds.length > 0 ? kinds.join(',') : '""'}`;
}

function encode(payload: unknown): string {
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64');
}

/** Zipf-like pick of 0..n-1 (small indexes are frequent). */
function zipf(r: Random, n: number): number {
  return Math.min(n - 1, Math.floor(n * r.next() ** 2.2));
}

/** A user event or a bad item before it is packed into records. */
interface Draft {
  readonly partitionKey: string;
  readonly meta: EventMeta;
  /** The event's payload (absent for a bad item that is not an object). */
  readonly body?: Record<string, unknown>;
  /** The record data of the item on its own (JSON shape): base64, possibly not valid base64. */
  readonly data: string;
}

class Producer {
  private next = 0;
  private putOps = 0;

  constructor(
    private readonly seed: number,
    private readonly sim: SimStream,
    private readonly faults: FaultPlan,
    private readonly clock: VirtualClock,
    private readonly rng: Random,
    private readonly skews: readonly number[],
    /** The stream's record shape, and the draws that pack events into records (kept apart from the events' draws). */
    private readonly shape: ChaosShape = 'json',
    private readonly shapes: Random = rng,
  ) {}

  /** The events of one round (τ = now). */
  private drafts(): Draft[] {
    const r = this.rng;
    const now = this.clock.t;
    const n = 6 + r.int(11) + (r.chance(0.1) ? 10 + r.int(15) : 0);
    const out: Draft[] = [];
    for (let i = 0; i < n; i++) {
      const id = `e-${this.seed}-${this.next++}`;
      const draw = r.next();
      const service = r.chance(0.7) ? HOT[zipf(r, HOT.length)]! : COLD[r.int(COLD.length)]!;
      const partitionKey = r.chance(0.5) ? service : `pk-${r.int(1_000_000)}`;
      const producer = r.int(this.skews.length);
      const t = draw < 0.05 ? now - 120_000 - r.int(600_000) : now + this.skews[producer]! - r.int(MAX_DELAY_MS + 1);
      const errorRate = service === 'api' ? 0.2 : service === 'web' ? 0.08 : 0.12;
      const status = r.chance(errorRate) ? 500 + r.int(4) : 200;
      const latencyMs = r.chance(0.03) ? 2000 + r.int(8000) : 5 + Math.round(400 * r.next() ** 3);
      const user = `u${zipf(r, 60)}`;
      const ts: number | string = r.chance(0.2) ? new Date(t).toISOString() : t;
      if (draw > 0.97) {
        const reason = BAD[r.int(BAD.length)]!;
        const body = { eventId: id, service, status, latencyMs, user, kind: 'http' };
        const data =
          reason === 'bad-base64'
            ? `%%${encode({ ...body, ts })}`
            : reason === 'not-json'
              ? Buffer.from(`{"eventId":"${id}","ts":`, 'utf8').toString('base64')
              : reason === 'no-timestamp'
                ? encode(body)
                : reason === 'future-timestamp'
                  ? encode({ ...body, ts: now + 86_400_000 })
                  : reason === 'bad-timestamp'
                    ? encode({ ...body, ts: 'yesterday' })
                    : encode([body]);
        out.push({ partitionKey, data, meta: { kind: 'bad', reason }, body: { ...body, ts: reason === 'future-timestamp' ? now + 86_400_000 : t } });
        continue;
      }
      // A few events lack the field the rules group by: counted and skipped, never grouped under null.
      const grouped = !this.shapes.chance(0.04);
      const body: Record<string, unknown> = grouped ? { eventId: id, ts, kind: 'http', service, status, latencyMs, user } : { eventId: id, ts, kind: 'http', status, latencyMs, user };
      out.push({ partitionKey, data: encode(body), body, meta: { kind: 'event', eventId: id, t, service: grouped ? service : null, status, latencyMs, user } });
    }
    return out;
  }

  /** The records of one round: the events packed into the stream's record shapes. */
  async round(): Promise<PutEntry[]> {
    const drafts = this.drafts();
    return this.shape === 'json' ? this.packJson(drafts) : this.packLogs(drafts);
  }

  /** Plain JSON records, gzip records and KPL aggregates (aws-kinesis-agg) of 2-6 events, mixed; a few broken aggregates and gzip members. */
  private async packJson(drafts: readonly Draft[]): Promise<PutEntry[]> {
    const q = this.shapes;
    const out: PutEntry[] = [];
    for (let i = 0; i < drafts.length; ) {
      const d = drafts[i]!;
      if (q.chance(0.3) && !(d.meta.kind === 'bad' && d.meta.reason === 'bad-base64')) {
        const group: Draft[] = [];
        const size = 2 + q.int(5);
        while (group.length < size && i < drafts.length && !(drafts[i]!.meta.kind === 'bad' && (drafts[i]!.meta as { reason: string }).reason === 'bad-base64')) group.push(drafts[i++]!);
        const aggs = await kplAggregate(group.map((g) => ({ partitionKey: g.partitionKey, data: Buffer.from(g.data, 'base64') })));
        if (aggs.length !== 1) throw new Error(`chaos: aws-kinesis-agg made ${aggs.length} records of ${group.length} small events`);
        const agg = aggs[0]!;
        if (q.chance(0.05)) {
          const corrupt = Buffer.from(agg.data);
          corrupt[corrupt.length - 1]! ^= 0x5a;
          out.push({ partitionKey: agg.partitionKey, data: corrupt.toString('base64'), meta: { kind: 'bad', reason: 'bad-kpl' } });
        } else {
          out.push({ partitionKey: agg.partitionKey, data: agg.data.toString('base64'), meta: { kind: 'multi', shape: 'kpl', events: group.map((g) => g.meta) } });
        }
        continue;
      }
      i++;
      if (d.meta.kind === 'bad' && d.meta.reason === 'bad-base64') out.push({ partitionKey: d.partitionKey, data: d.data, meta: d.meta });
      else if (q.chance(0.1)) {
        const zipped = gzip(Buffer.from(d.data, 'base64'));
        // A truncated gzip member is refused whole (its events cannot be read).
        if (q.chance(0.1)) out.push({ partitionKey: d.partitionKey, data: zipped.subarray(0, zipped.length - 4).toString('base64'), meta: { kind: 'bad', reason: 'bad-gzip' } });
        else out.push({ partitionKey: d.partitionKey, data: zipped.toString('base64'), meta: d.meta });
      } else out.push({ partitionKey: d.partitionKey, data: d.data, meta: d.meta });
    }
    return out;
  }

  /**
   * CloudWatch Logs subscription payloads (zlib gzip) of 1-5 log events, each a
   * logfmt line; bad log events (no key=value pairs, bad or future times),
   * payloads that are not subscription payloads or not gzip, and CONTROL_MESSAGEs.
   */
  private packLogs(drafts: readonly Draft[]): PutEntry[] {
    const q = this.shapes;
    const now = this.clock.t;
    const out: PutEntry[] = [];
    if (q.chance(0.15)) out.push({ partitionKey: `control-${q.int(1000)}`, data: cloudWatchLogsControlRecord().toString('base64'), meta: { kind: 'control' } });
    for (let i = 0; i < drafts.length; ) {
      const group = drafts.slice(i, i + 1 + q.int(5));
      i += group.length;
      const metas: EventMeta[] = [];
      const logEvents = group.map((d) => {
        const b = d.body ?? {};
        const line = (['eventId', 'kind', 'service', 'status', 'latencyMs', 'user'] as const)
          .filter((k) => b[k] !== undefined)
          .map((k) => `${k}=${String(b[k])}`)
          .join(' ');
        if (d.meta.kind === 'event') {
          metas.push(d.meta);
          return { id: d.meta.eventId, timestamp: d.meta.t, message: line };
        }
        // The JSON shape's bad items, as a log event can be bad.
        const kind = d.meta.reason === 'future-timestamp' ? 'future' : d.meta.reason === 'bad-timestamp' || d.meta.reason === 'no-timestamp' ? 'time' : 'text';
        metas.push({ kind: 'bad', reason: kind === 'future' ? 'future-timestamp' : kind === 'time' ? 'bad-timestamp' : 'no-match' });
        return { id: String(b['eventId'] ?? `bad-${i}`), timestamp: kind === 'future' ? now + 86_400_000 : kind === 'time' ? 5 : now, message: kind === 'text' ? ' ' : line };
      });
      const partitionKey = group[0]!.partitionKey;
      const logGroup = `/aws/lambda/${group[0]!.partitionKey.startsWith('pk-') ? 'shared' : group[0]!.partitionKey}`;
      const whole = q.next();
      if (whole < 0.03) {
        out.push({ partitionKey, data: gzip(JSON.stringify({ messageType: 'NOT_A_MESSAGE', logEvents })).toString('base64'), meta: { kind: 'bad', reason: 'not-cloudwatch-logs' } });
      } else if (whole < 0.05) {
        const zipped = cloudWatchLogsRecord({ logGroup, logStream: 'chaos', logEvents });
        out.push({ partitionKey, data: zipped.subarray(0, zipped.length - 4).toString('base64'), meta: { kind: 'bad', reason: 'bad-gzip' } });
      } else {
        out.push({ partitionKey, data: cloudWatchLogsRecord({ logGroup, logStream: 'chaos', logEvents }).toString('base64'), meta: { kind: 'multi', shape: 'cloudwatch-logs', events: metas } });
      }
    }
    return out;
  }

  /** PutRecords, with a partial failure and a resend when the Kinesis throttle fault hits. */
  put(entries: readonly PutEntry[], mayThrottle = true): void {
    if (entries.length === 0) return;
    this.putOps += 1;
    const f = this.faults;
    if (!mayThrottle || !f.roll('kinesis-throttle', this.putOps, () => `PutRecords of ${entries.length} records at ${this.clock.t - T0} ms partially failed`)) {
      this.sim.put(entries, this.clock.t);
      return;
    }
    const r = f.rng('kinesis-throttle');
    const mask = entries.map(() => r.chance(0.4));
    const failed = this.sim.put(entries, this.clock.t, (i) => mask[i]!);
    if (failed.length === 0) return;
    if (f.on('producer-duplicates')) {
      // A naive producer resends the whole batch: the records that had succeeded land again (same event ids, new sequence numbers).
      f.note('producer-duplicates', this.putOps, `${entries.length - failed.length} records resent with new sequence numbers`);
      this.sim.put(entries, this.clock.t);
    } else {
      this.sim.put(
        failed.map((i) => entries[i]!),
        this.clock.t,
      );
    }
  }

  /** A shard's first record (valid, not late, not throttled). */
  hello(shard: SimShard): PutEntry {
    const t = this.clock.t + 1;
    const eventId = `hello-${this.seed}-${shard.id}`;
    const meta: EventMeta = { kind: 'event', eventId, t, service: 'api', status: 200, latencyMs: 1, user: 'hello' };
    const partitionKey = this.sim.partitionKeyFor(shard, 'hello');
    if (this.shape === 'cloudwatch-logs') {
      const message = `eventId=${eventId} kind=http service=api status=200 latencyMs=1 user=hello`;
      const data = cloudWatchLogsRecord({ logGroup: '/aws/lambda/hello', logStream: 'chaos', logEvents: [{ id: eventId, timestamp: t, message }] });
      return { partitionKey, data: data.toString('base64'), meta: { kind: 'multi', shape: 'cloudwatch-logs', events: [meta] } };
    }
    return { partitionKey, data: encode({ eventId, ts: t, kind: 'http', service: 'api', status: 200, latencyMs: 1, user: 'hello' }), meta };
  }
}

/** Runs one seed with exactly the given fault kinds. */
/** `full`: 8-12 rounds of 6-16 events (the CLI's default); `quick`: 4-6 rounds and half the faults (the jest run). */
export type ChaosSize = 'full' | 'quick';

export async function runSeed(endpoint: string, seed: number, kinds: readonly FaultKind[], size: ChaosSize = 'full'): Promise<SeedResult> {
  const started = performance.now();
  const faults = new FaultPlan(seed, kinds, size === 'full' ? 1 : 0.5);
  const workload = stream(seed, 'workload');
  const esm = stream(seed, 'esm');
  // About a third of the seeds send CloudWatch Logs payloads; the others JSON with KPL aggregates and gzip mixed in.
  const shapes = stream(seed, 'shapes');
  const shape: ChaosShape = shapes.chance(0.3) ? 'cloudwatch-logs' : 'json';
  const pipeline = parsePipeline(chaosPipeline(shape), 'chaos-pipeline.yaml');
  const spec = pipeline.streams.get(STREAM)!;
  const table = await freshTable(endpoint);
  const clock = new VirtualClock(T0);
  const world = new World(endpoint, table, clock, pipeline, faults, stream(seed, 'interleaving'));
  const sim = new SimStream(2 + workload.int(3), stream(seed, 'kinesis'));
  const rounds = size === 'full' ? 8 + workload.int(5) : 4 + workload.int(3);
  const maxBatch = workload.pick([5, 10, 25]);
  const skewRng = faults.rng('clock-skew');
  const skews = [0, 1, 2].map(() => (faults.on('clock-skew') ? Math.round((skewRng.next() * 2 - 1) * (spec.maxFutureMs / 2)) : 0));
  if (faults.on('clock-skew')) faults.note('clock-skew', 0, `producer clocks skewed by ${skews.join(', ')} ms`);
  const producer = new Producer(seed, sim, faults, clock, workload, skews, shape, shapes);

  const consumers = new Map<string, ShardConsumer>();
  const consumer = (shard: SimShard): ShardConsumer => {
    let c = consumers.get(shard.id);
    if (!c) {
      c = new ShardConsumer(shard, world, faults, esm, maxBatch, () => shard.parents.every((p) => consumers.get(p)?.finished() ?? true));
      consumers.set(shard.id, c);
    }
    return c;
  };
  // Two ticker containers: the schedule may overlap a slow tick with the next one.
  const tickers: Array<Container | undefined> = [undefined, undefined];
  const tick = async (which = 0) => {
    const c = (tickers[which] ??= world.newContainer('ticker'));
    const out = await world.invokeTicker(c);
    if (c.dead) tickers[which] = undefined;
    return out;
  };
  // Index lag: one shard (and its children) is not read during the rounds, then catches up in the drain, creating
  // window items and moving the watermark past them within the index lag (issue 19's W1/W2 case).
  let stuck: string | null = faults.on('index-lag') ? faults.rng('index-lag').pick(sim.openShards()).id : null;
  if (stuck !== null) faults.note('index-lag', 0, `${stuck} is not read during the rounds (a lagging shard)`);
  const isStuck = (shard: SimShard): boolean => stuck !== null && (shard.id === stuck || shard.parents.some((p) => isStuck(sim.shards.get(p)!)));
  const step = async (lag: number, withTicker: boolean) => {
    const tasks: Array<Promise<unknown>> = [];
    for (const c of [...consumers.values()]) if (c.ready() && !isStuck(c.shard) && !esm.chance(lag)) tasks.push(c.step());
    if (withTicker) {
      tasks.push(tick());
      if (faults.rng('concurrent-ticker').chance(0.3)) tasks.push(tick(1));
    }
    await Promise.all(tasks);
    await world.observe('after a step', true);
  };

  try {
    // Setup: every shard's first record, alone and without faults, so every shard holds the watermark back.
    for (const shard of sim.openShards()) producer.put([producer.hello(shard)], false);
    for (const shard of sim.openShards()) await consumer(shard).step(1);
    faults.armed = true;

    // Reshard plan: 1-2 splits or merges in the middle of the run.
    const reshards = new Map<number, 'split' | 'merge'>();
    if (faults.on('reshard')) {
      const r = faults.rng('reshard');
      const count = 1 + r.int(2);
      for (let i = 0; i < count; i++) reshards.set(Math.floor(rounds / 4) + r.int(Math.floor(rounds / 2)), r.chance(0.6) ? 'split' : 'merge');
    }

    for (let round = 0; round < rounds && world.violations.length === 0; round++) {
      clock.t = T0 + (round + 1) * ROUND_MS;
      const reshard = reshards.get(round);
      if (reshard) {
        const open = sim.openShards();
        const r = faults.rng('reshard');
        let children: SimShard[];
        if (reshard === 'merge' && open.length >= 2) {
          const i = r.int(open.length - 1);
          children = [sim.merge(open[i]!, open[i + 1]!)];
          faults.note('reshard', round, `round ${round}: merged ${open[i]!.id} and ${open[i + 1]!.id} into ${children[0]!.id}`);
        } else {
          const parent = open[r.int(open.length)]!;
          children = sim.split(parent);
          faults.note('reshard', round, `round ${round}: split ${parent.id} into ${children.map((c) => c.id).join(' and ')}`);
        }
        for (const child of children) {
          producer.put([producer.hello(child)], false);
          consumer(child);
        }
      }
      const entries = await producer.round();
      const cut = workload.int(entries.length + 1);
      producer.put(entries.slice(0, cut));
      producer.put(entries.slice(cut));
      for (const shard of sim.openShards()) consumer(shard);
      const concurrentTick = faults.roll('concurrent-ticker', round, () => `round ${round}`);
      await step(0.6, concurrentTick);
      if (!concurrentTick && round % 3 === 2) await tick();
    }

    const phase = (name: string) => process.env['CHAOS_DEBUG'] && console.log(`  ${name}: ${world.counters.ddbRequests} requests, ${world.counters.invocations}+${world.counters.tickerInvocations} invocations`);
    phase('rounds');
    stuck = null;
    // Drain the stream.
    for (let i = 0; [...consumers.values()].some((c) => c.ready()) && world.violations.length === 0; i++) {
      if (i >= 3000) {
        world.violation('liveness: the shards were not drained after 3000 steps');
        break;
      }
      // Index lag: drain steps 100 ms apart, so a catch-up's batches fall within the lag of each other.
      clock.t += faults.on('index-lag') ? 100 : 1000;
      await step(0, faults.on('concurrent-ticker') && i % 3 === 0);
    }
    for (const c of consumers.values()) if (!c.finished() && c.shard.open === false) world.violation(`${c.shard.id} not finished`);

    phase('drain');
    // Final drain: every shard idle, the ticker closes everything and republishes what is left in outboxes.
    clock.t += 2 * 3_600_000;
    let quiet = 0;
    for (let i = 0; i < 60 && quiet < 2 && world.violations.length === 0; i++) {
      // Sometimes two tickers overlap (a slow tick and the next scheduled one).
      const [out, other] = await Promise.all([tick(), faults.on('concurrent-ticker') && i % 2 === 0 ? tick(1) : Promise.resolve(undefined)]);
      if (other === null) quiet = -1;
      const busy = quiet < 0 || out === null || [out, other].some((o) => o?.streams.some((s) => s.published > 0 || s.windowsClosed > 0));
      quiet = busy ? 0 : quiet + 1;
      clock.t += 31_000; // past the publish lease: unconfirmed transitions become claimable again
    }
    if (quiet < 2) world.violation('the ticker never settled in the final drain (60 ticks)');
    phase('final');
  } catch (err) {
    world.violation(`harness error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }

  // Invariants.
  const expected = expectFrom(
    [...sim.shards.values()].map((s) => s.records),
    spec,
  );
  const items = await world.scan();
  if (process.env['CHAOS_DEBUG']) console.log([...world.requestsByKind].sort((a, b) => b[1] - a[1]));
  world.destroy();
  const state = compareState(expected, items, pipeline);
  // Sequence rules: the brute-force matches over the accepted events (sequenceOracle.ts).
  const sequenceRules = pipeline.rules.filter((r): r is SequenceRule => r.type === 'sequence');
  const transitions = [
    ...expectedTransitions(
      expected,
      new Set(world.deliveries.map((d) => d.transitionId)),
    ),
    ...sequenceTransitions(
      expectedMatches(
        [...sim.shards.values()],
        spec,
        sequenceRules,
        new Set(world.deliveries.map((d) => d.transitionId)),
      ),
    ),
  ];
  const alerts = compareAlerts(transitions, world.deliveries, world.faultOps, world.alertVersions);
  const models = compareModels(expected, items);
  const violations = [...world.violations, ...state.violations, ...alerts.violations, ...models.violations, ...compareEvaluationOrder(expected, world.evaluatedThrough, world.restAt, world.firedIn), ...compareAmbiguousRecords(world.ambiguousRecords, world.deliveries, world.faultOps)];

  const quarantined = new Map<string, string>();
  const quarantineItems = items.filter((item) => kindOf(String(item[ATTR.pk])) === 'quarantine');
  for (const r of quarantineLayout.decode(STREAM, quarantineItems)) quarantined.set(`${r.shardId}/${r.sequenceNumber}${r.index === undefined ? '' : `#e${r.index}`}`, r.reason);
  for (const [id, reason] of expected.quarantined) {
    const got = quarantined.get(id);
    if (got === undefined) violations.push(`record ${id} (${reason}) was not quarantined`);
    else if (got !== reason) violations.push(`record ${id} quarantined as ${got}, expected ${reason}`);
  }
  for (const id of quarantined.keys()) if (!expected.quarantined.has(id)) violations.push(`record ${id} quarantined but valid`);
  const late = expected.late.get('Stats') ?? 0;
  // The unit of account is the user event (several per KPL aggregate or CloudWatch Logs record) or the quarantined item.
  const accounted = state.counted + quarantined.size + late + expected.duplicates + expected.missingGroup;
  if (accounted !== expected.items) {
    violations.push(
      `events not accounted for: ${expected.items} written (in ${expected.records} records, ${expected.controls} control messages), ${state.counted} counted + ${quarantined.size} quarantined + ${late} late + ${expected.duplicates} producer duplicates + ${expected.missingGroup} without a group field = ${accounted}`,
    );
  }
  for (const item of items) {
    if (kindOf(String(item[ATTR.pk])) !== 'alert') continue;
    const { record } = alertLayout.decode(item);
    const where = `alert ${String(item[ATTR.pk])} ${String(item[ATTR.sk])}`;
    if (record.outbox.length > 0) violations.push(`${where}: ${record.outbox.length} transition(s) left unpublished in the outbox`);
    if (record.state.status !== 'inactive') violations.push(`${where} still ${record.state.status} after every window closed`);
  }

  const stats: SeedStats = {
    shape,
    records: expected.records,
    multiRecords: [...sim.shards.values()].reduce((n, sh) => n + sh.records.filter((r) => r.meta.kind === 'multi').length, 0),
    controls: expected.controls,
    missingGroup: expected.missingGroup,
    events: expected.events,
    duplicates: expected.duplicates,
    late,
    quarantined: quarantined.size,
    windows: state.windows,
    transitions: alerts.expected,
    models: models.models,
    anomalyTransitions: transitions.filter((t) => t.anomaly !== undefined).length,
    duplicateDeliveries: alerts.duplicates,
    lost: state.lost,
    doubled: state.doubled,
    invocations: world.counters.invocations,
    tickerInvocations: world.counters.tickerInvocations,
    ddbRequests: world.counters.ddbRequests,
    hiddenByIndexLag: world.counters.hiddenByIndexLag,
    ambiguousRecords: world.ambiguousRecords.length,
    shards: sim.shards.size,
    faults: Object.fromEntries(faults.counts),
  };
  return { seed, kinds, ok: violations.length === 0, violations, trace: faults.trace, stats, ms: performance.now() - started };
}

/** Reruns a failing seed without each fault kind in turn, keeping every removal that still fails. */
async function shrink(endpoint: string, failing: SeedResult, size: ChaosSize, log: (line: string) => void): Promise<SeedResult> {
  let best = failing;
  for (const kind of failing.kinds) {
    const trial = best.kinds.filter((k) => k !== kind);
    const r = await runSeed(endpoint, failing.seed, trial, size);
    log(`    without ${kind}: ${r.ok ? 'passes (needed)' : 'still fails'}`);
    if (!r.ok) best = r;
  }
  return best;
}

function faultSummary(faults: Partial<Record<FaultKind, number>>): string {
  const parts = FAULT_KINDS.filter((k) => (faults[k] ?? 0) > 0).map((k) => `${k}×${faults[k]}`);
  return parts.length > 0 ? parts.join(' ') : 'none';
}

export function describeFailure(r: SeedResult, size: ChaosSize = 'full'): string[] {
  const m = r.minimal ?? r;
  const lines = [`seed ${r.seed} FAILED with faults: ${r.kinds.join(',') || 'none'}`];
  for (const v of r.violations.slice(0, 12)) lines.push(`  - ${v}`);
  if (r.violations.length > 12) lines.push(`  ... and ${r.violations.length - 12} more`);
  if (r.minimal) {
    lines.push(`  minimal fault set: ${m.kinds.join(',') || 'none (fails without faults)'}`);
    for (const v of m.violations.slice(0, 6)) lines.push(`  - ${v}`);
  }
  lines.push(`  fault trace (${m.trace.length}):`);
  for (const f of m.trace.slice(0, 40)) lines.push(`    @${f.at} ${f.kind}: ${f.detail}`);
  if (m.trace.length > 40) lines.push(`    ... and ${m.trace.length - 40} more`);
  lines.push(`  rerun: ${rerunCommand(r.seed, m.kinds, size)}`);
  return lines;
}

export function totals(results: readonly SeedResult[]) {
  const sum = (f: (s: SeedStats) => number) => results.reduce((a, r) => a + f(r.stats), 0);
  const faults: Partial<Record<FaultKind, number>> = {};
  for (const r of results) for (const [k, n] of Object.entries(r.stats.faults)) faults[k as FaultKind] = (faults[k as FaultKind] ?? 0) + (n ?? 0);
  return {
    seeds: results.length,
    records: sum((s) => s.records),
    multiRecords: sum((s) => s.multiRecords),
    cloudWatchSeeds: results.filter((r) => r.stats.shape === 'cloudwatch-logs').length,
    events: sum((s) => s.events),
    duplicates: sum((s) => s.duplicates),
    late: sum((s) => s.late),
    quarantined: sum((s) => s.quarantined),
    windows: sum((s) => s.windows),
    transitions: sum((s) => s.transitions),
    models: sum((s) => s.models ?? 0),
    anomalyTransitions: sum((s) => s.anomalyTransitions ?? 0),
    duplicateDeliveries: sum((s) => s.duplicateDeliveries),
    lost: sum((s) => s.lost),
    doubled: sum((s) => s.doubled),
    invocations: sum((s) => s.invocations + s.tickerInvocations),
    ddbRequests: sum((s) => s.ddbRequests),
    hiddenByIndexLag: sum((s) => s.hiddenByIndexLag),
    ambiguousRecords: sum((s) => s.ambiguousRecords),
    faults,
  };
}

export function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosSummary> {
  const log = opts.log ?? (() => undefined);
  const started = performance.now();
  const producerDuplicates = opts.producerDuplicates ?? true;
  const eligible = new Set<FaultKind>(FAULT_KINDS.filter((k) => !(opts.disabled ?? []).includes(k) && (k !== 'producer-duplicates' || producerDuplicates)));
  const dynamo = opts.endpoint ? undefined : await startTestDynamo();
  const endpoint = opts.endpoint ?? dynamo!.endpoint;
  const results: SeedResult[] = [];
  try {
    for (const seed of opts.seeds) {
      const kinds = opts.faults ? [...opts.faults] : kindsForSeed(seed, eligible);
      let r = await runSeed(endpoint, seed, kinds, opts.size);
      // On an existing endpoint (TIDEWATCH_TEST_DYNAMODB_ENDPOINT) each seed's table is deleted when it is done.
      await dropTestTables();
      if (r.ok) {
        log(
          `seed ${seed} ok: ${r.stats.records} ${r.stats.shape} records (${r.stats.multiRecords} of several events, ${r.stats.controls} control; ${r.stats.events} events, ${r.stats.late} late, ${r.stats.quarantined} quarantined, ${r.stats.duplicates} duplicates, ${r.stats.missingGroup} without a group) on ${r.stats.shards} shards, ` +
            `${r.stats.transitions} transitions, faults ${faultSummary(r.stats.faults)}, ${(r.ms / 1000).toFixed(1)} s`,
        );
      } else {
        log(`seed ${seed} FAILED (${r.violations.length} violations); shrinking its fault set ${kinds.join(',')}`);
        if (opts.shrink !== false && kinds.length > 0) r = { ...r, minimal: await shrink(endpoint, r, opts.size ?? 'full', log) };
        for (const line of describeFailure(r, opts.size)) log(line);
      }
      results.push(r);
    }
  } finally {
    await dynamo?.stop();
  }
  const failed = results.filter((r) => !r.ok).length;
  return { passed: results.length - failed, failed, results, ms: performance.now() - started, producerDuplicates };
}

export function formatTotals(s: ChaosSummary): string[] {
  const t = totals(s.results);
  return [
    `figures: ${t.seeds} seeds (${t.cloudWatchSeeds} of CloudWatch Logs payloads), ${t.records} records (${t.multiRecords} holding several events; ${t.events} distinct events, ${t.duplicates} producer duplicates, ${t.late} late, ${t.quarantined} quarantined), ${t.windows} windows, ${t.transitions} alert transitions`,
    `  anomaly models checked against the replay ${t.models}, anomaly transitions ${t.anomalyTransitions}`,
    `  faults injected: ${faultSummary(t.faults)}; index results hidden by index lag ${t.hiddenByIndexLag}; alert writes applied with a lost response ${t.ambiguousRecords}`,
    `  lost ${t.lost}, double-counted ${t.doubled}, duplicate deliveries after ambiguous publishes ${t.duplicateDeliveries}`,
    `  ${t.invocations} Lambda invocations, ${t.ddbRequests} DynamoDB requests; wall time ${(s.ms / 1000).toFixed(1)} s on ${machine()}`,
    `  producer duplicates ${s.producerDuplicates ? 'on' : 'off'}`,
  ];
}
