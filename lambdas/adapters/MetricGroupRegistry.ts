import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EpochMs } from '../core/types';
import { attributeNotExists, contains, or, sizeIs, type Condition } from './dynamodb/expressions';
import { StateTable } from './dynamodb/StateTable';
import { ATTR, metricGroupsLayout } from './dynamodb/tableLayout';

/**
 * Which groups of a rule may publish metrics in an hour: the cardinality cap,
 * shared by every Lambda container and shard.
 *
 * CloudWatch bills each metric (name + dimensions) for every hour in which it
 * receives data, so the cap is "at most N groups per rule and hour". A cap
 * kept in each container's memory would let every container (and so every
 * shard, and every cold start) admit its own N groups; a cap by hash alone
 * cannot bound an unknown number of groups. So the admitted groups are kept
 * in one state-table item per (rule, hour of event time): a string set of
 * group hashes that only grows, added to with a conditional `ADD` that holds
 * only while the set has room (or already holds the group). Hence:
 *
 * - bounded: at most `cap` groups per rule and hour, whatever the number of
 *   containers, shards, retries or concurrent closers (up to 64-bit hash
 *   collisions, which could only admit fewer distinct hashes than groups);
 * - deterministic for a window: the hour is the window end's (event time), so
 *   a window closed again (retry, concurrent ticker) gets the answer it got
 *   the first time: a group once in the set stays in it, and a full set stays
 *   full;
 * - first come, first served: which groups get in is the order in which
 *   their first window of the hour closed.
 *
 * Cost: per container, rule and hour, one consistent read when the hour is
 * first met, and one conditional write per flush that meets new groups while
 * the set has room (a flush of many closed windows adds its new groups in one
 * request); nothing once the container knows the set is full. Items expire
 * (TTL) two days after their hour.
 *
 * Item: see metricGroupsLayout in dynamodb/tableLayout.ts (one per rule and
 * hour, a string set of group hashes, TTL). Not part of the StateStore: the
 * engine never reads it.
 */
export interface GroupAdmission {
  /**
   * Of `groupKeys` (canonical group keys of `rule`), the ones admitted for the
   * hour starting at `hour`, admitting new ones while fewer than `cap` are.
   */
  admit(rule: string, hour: EpochMs, groupKeys: readonly string[], cap: number): Promise<ReadonlySet<string>>;
}

export const HOUR_MS = 3_600_000;
const TTL_AFTER_HOUR_MS = 2 * 86_400_000;
/** Hours of admissions a container remembers per rule. */
const HOURS_CACHED = 3;

/** The 64-bit hash of a group key kept in the set (16 hex characters). */
export function groupHash(groupKey: string): string {
  return createHash('sha256').update(groupKey).digest('hex').slice(0, 16);
}

interface HourState {
  readonly members: Set<string>;
  full: boolean;
}

export interface DynamoDBGroupAdmissionOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
}

export class DynamoDBGroupAdmission implements GroupAdmission {
  /** Requests made, for tests and cost checks. */
  readonly counters = { reads: 0, writes: 0, conflicts: 0 };
  private readonly cache = new Map<string, Map<EpochMs, HourState>>();
  private readonly table: StateTable;

  constructor(opts: DynamoDBGroupAdmissionOptions) {
    this.table = new StateTable({ client: opts.client, tableName: opts.tableName });
  }

  async admit(rule: string, hour: EpochMs, groupKeys: readonly string[], cap: number): Promise<ReadonlySet<string>> {
    const byHash = new Map<string, string[]>();
    for (const k of groupKeys) {
      const h = groupHash(k);
      byHash.set(h, [...(byHash.get(h) ?? []), k]);
    }
    const state = await this.hourState(rule, hour, cap);
    let pending = [...byHash.keys()].filter((h) => !state.members.has(h));
    if (pending.length > 0 && !state.full && pending.length <= cap - state.members.size) {
      // Usually one request: every new group of the flush, if they all still fit.
      if (await this.add(rule, hour, pending, sizeIs(ATTR.groupHashes, '<=', cap - pending.length), state, cap)) pending = [];
    }
    for (const h of pending) {
      if (state.full) break;
      if (state.members.has(h)) continue;
      await this.add(rule, hour, [h], or(sizeIs(ATTR.groupHashes, '<', cap), contains(ATTR.groupHashes, h)), state, cap);
    }
    const admitted = new Set<string>();
    for (const [h, keys] of byHash) if (state.members.has(h)) for (const k of keys) admitted.add(k);
    return admitted;
  }

  private async hourState(rule: string, hour: EpochMs, cap: number): Promise<HourState> {
    let hours = this.cache.get(rule);
    if (!hours) this.cache.set(rule, (hours = new Map()));
    let state = hours.get(hour);
    if (state) return state;
    state = { members: await this.read(rule, hour), full: false };
    state.full = state.members.size >= cap;
    hours.set(hour, state);
    for (const h of [...hours.keys()].sort((a, b) => a - b).slice(0, Math.max(0, hours.size - HOURS_CACHED))) hours.delete(h);
    return state;
  }

  private async read(rule: string, hour: EpochMs): Promise<Set<string>> {
    this.counters.reads += 1;
    return metricGroupsLayout.decode(await this.table.get('metricGroups', 'metricGroups.read', metricGroupsLayout.key(rule, hour)));
  }

  /** ADDs hashes to the hour's set if `room` holds (or the set does not exist yet); keeps `state` in step with the stored set. */
  private async add(rule: string, hour: EpochMs, hashes: readonly string[], room: Condition, state: HourState, cap: number): Promise<boolean> {
    this.counters.writes += 1;
    const out = await this.table.write(
      'metricGroups',
      'metricGroups.admit',
      metricGroupsLayout.key(rule, hour),
      {
        kind: 'update',
        update: { add: { [ATTR.groupHashes]: new Set(hashes) }, set: { [ATTR.expiresAt]: Math.floor((hour + HOUR_MS + TTL_AFTER_HOUR_MS) / 1000) } },
        condition: or(attributeNotExists(ATTR.groupHashes), room),
        returnNew: true,
      },
      'current',
    );
    // Written: the set as it is now. Refused (others filled the set meanwhile): the set as it is, returned with the refusal.
    for (const h of metricGroupsLayout.decode(out.ok ? out.attributes : out.current)) state.members.add(h);
    if (!out.ok) this.counters.conflicts += 1;
    state.full = state.members.size >= cap;
    return out.ok;
  }
}

/** The same admission in memory (tests, and the pure tools that run without a table). */
export class InMemoryGroupAdmission implements GroupAdmission {
  private readonly sets = new Map<string, Set<string>>();

  async admit(rule: string, hour: EpochMs, groupKeys: readonly string[], cap: number): Promise<ReadonlySet<string>> {
    const id = `${rule}\u0000${hour}`;
    let set = this.sets.get(id);
    if (!set) this.sets.set(id, (set = new Set()));
    const admitted = new Set<string>();
    for (const k of groupKeys) {
      const h = groupHash(k);
      if (!set.has(h) && set.size < cap) set.add(h);
      if (set.has(h)) admitted.add(k);
    }
    return admitted;
  }
}
