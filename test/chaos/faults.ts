/**
 * The fault plan of one chaos seed: which kinds of fault are on, and, at each
 * opportunity, whether one is injected. Every kind draws from its own PRNG
 * stream (derived from the seed and the kind's name), so switching one kind
 * off does not shift the decisions of the others: a seed re-run with a subset
 * of its faults is the same run minus those faults.
 */
import { Random } from '../../local/demo/random';

export const FAULT_KINDS = [
  'redeliver',
  'bisect',
  'retry-from',
  'crash-before-state',
  'crash-between-state',
  'crash-after-state',
  'crash-after-publish',
  'ddb-throttle',
  'ddb-5xx',
  'sns-error',
  'kinesis-throttle',
  'reshard',
  'concurrent-ticker',
  'clock-skew',
  'cold-container',
  'warm-container',
  'producer-duplicates',
  // Appended last: kindsForSeed draws for every kind in this order, so earlier kinds keep their per-seed decisions.
  'index-lag',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export const FAULT_DESCRIPTIONS: Readonly<Record<FaultKind, string>> = {
  redeliver: 'the event source mapping delivers a batch again after it succeeded (lost checkpoint)',
  bisect: 'a batch that succeeded is reported as a function error (timeout): the mapping bisects it and retries the halves',
  'retry-from': 'after a successful batch the mapping retries from a sequence number inside it',
  'crash-before-state': 'the container dies at the first aggregate write of an invocation (nothing of the batch written)',
  'crash-between-state': 'the container dies at a later aggregate write (some aggregates of the batch written, others not), or the ticker between sealing a window, learning it (anomaly models) and finishing it, or a container at a due bucket write (the listing of the windows a batch wrote, the delete of a bucket closed)',
  'crash-after-state': 'the container dies after the state writes, at the alert record write or at the SNS publish (before SNS accepts)',
  'crash-after-publish': 'the container dies after SNS accepted a publish, before the outbox is confirmed',
  'ddb-throttle': 'a DynamoDB request fails with ProvisionedThroughputExceededException before it is sent',
  'ddb-5xx': 'a DynamoDB request fails with InternalServerError, before it is sent or after it was applied (lost response)',
  'sns-error': 'an SNS publish fails, before SNS accepted it or after (lost response)',
  'kinesis-throttle': "part of a producer's PutRecords fails with ProvisionedThroughputExceededException and is resent",
  reshard: 'a shard is split, or two adjacent shards are merged, mid-run',
  'concurrent-ticker': 'the ticker runs concurrently with the processor invocations (sometimes two tickers overlap)',
  'clock-skew': "producers' clocks are skewed by up to ±maxFuture/2",
  'cold-container': 'a retry is handled by a new (cold) container',
  'warm-container': 'a batch is handled by an idle warm container that last served another shard, or this shard long ago (stale caches)',
  'producer-duplicates': 'a producer resends a whole PutRecords batch after a partial failure: the same event ids land again with new sequence numbers',
  'index-lag':
    'the due index (a GSI, eventually consistent on DynamoDB, immediate on dynalite) does not show aggregate items created less than a per-seed lag (1-3 s of virtual time) ago; one shard is not read during the rounds and catches up in the drain (a lagging shard: the case where the lag matters)',
};

/** How often a kind fires at an opportunity, and at most how many times per seed (so every run terminates). */
const POLICY: Readonly<Record<FaultKind, { readonly p: number; readonly cap: number }>> = {
  redeliver: { p: 0.08, cap: 6 },
  bisect: { p: 0.06, cap: 4 },
  'retry-from': { p: 0.08, cap: 6 },
  'crash-before-state': { p: 0.12, cap: 3 },
  'crash-between-state': { p: 0.04, cap: 3 },
  'crash-after-state': { p: 0.2, cap: 3 },
  'crash-after-publish': { p: 0.25, cap: 3 },
  'ddb-throttle': { p: 0.012, cap: 8 },
  'ddb-5xx': { p: 0.01, cap: 6 },
  'sns-error': { p: 0.2, cap: 3 },
  'kinesis-throttle': { p: 0.3, cap: 8 },
  reshard: { p: 1, cap: 2 },
  'concurrent-ticker': { p: 0.5, cap: Infinity },
  'clock-skew': { p: 1, cap: Infinity },
  'cold-container': { p: 0.5, cap: Infinity },
  'warm-container': { p: 0.15, cap: 12 },
  'producer-duplicates': { p: 1, cap: Infinity },
  'index-lag': { p: 1, cap: Infinity },
};

/** FNV-1a, 32 bits: a stable seed for a named stream. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** An independent PRNG stream of a seed. */
export function stream(seed: number, name: string): Random {
  return new Random(hash32(`tidewatch-chaos/${seed}/${name}`));
}

/** The kinds a seed turns on (each eligible kind with probability 0.7), drawn from the seed's own plan stream. */
export function kindsForSeed(seed: number, eligible: ReadonlySet<FaultKind>): FaultKind[] {
  const r = stream(seed, 'plan');
  const out: FaultKind[] = [];
  for (const kind of FAULT_KINDS) {
    const draw = r.next(); // drawn for every kind, so eligibility does not shift the others
    if (eligible.has(kind) && draw < 0.7) out.push(kind);
  }
  return out;
}

export interface InjectedFault {
  /** Global operation number (DynamoDB request or SNS publish) or producer/mapping step at which it happened. */
  readonly at: number;
  readonly kind: FaultKind;
  readonly detail: string;
}

export class FaultPlan {
  readonly enabled: ReadonlySet<FaultKind>;
  readonly trace: InjectedFault[] = [];
  readonly counts = new Map<FaultKind, number>();
  /** Faults are only injected while armed (not during the setup phase). */
  armed = false;
  private readonly streams = new Map<FaultKind, Random>();

  constructor(
    readonly seed: number,
    enabled: Iterable<FaultKind>,
    /** Scales every kind's cap (smaller runs inject fewer faults). */
    private readonly capScale = 1,
  ) {
    this.enabled = new Set(enabled);
  }

  on(kind: FaultKind): boolean {
    return this.enabled.has(kind);
  }

  /** The kind's own stream, for the details of a fault (which variant, which position). */
  rng(kind: FaultKind): Random {
    let r = this.streams.get(kind);
    if (!r) {
      r = stream(this.seed, `fault/${kind}`);
      this.streams.set(kind, r);
    }
    return r;
  }

  /** Decides whether `kind` is injected at this opportunity; records it in the trace when it is. */
  roll(kind: FaultKind, at: number, detail: () => string, p = POLICY[kind].p): boolean {
    if (!this.armed || !this.enabled.has(kind)) return false;
    if (this.rng(kind).next() >= p) return false;
    const n = this.counts.get(kind) ?? 0;
    if (n >= Math.max(1, Math.round(POLICY[kind].cap * this.capScale))) return false;
    this.note(kind, at, detail());
    return true;
  }

  /** Records a fault that is not decided by `roll` (a mode such as clock skew, or a planned reshard). */
  note(kind: FaultKind, at: number, detail: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    this.trace.push({ at, kind, detail });
  }
}
