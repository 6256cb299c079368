import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, GetItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TABLE } from '../core/contract';
import type { EpochMs } from '../core/types';

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
 * Item: pk `MG#<rule>`, sk the hour as ISO-8601, set `g`, TTL `expiresAt`.
 * (A key of its own, outside the StateStore: the engine never reads it.)
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

  constructor(private readonly opts: DynamoDBGroupAdmissionOptions) {}

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
      if (await this.add(rule, hour, pending, `size(g) <= :room`, { ':room': { N: String(cap - pending.length) } }, state, cap)) pending = [];
    }
    for (const h of pending) {
      if (state.full) break;
      if (state.members.has(h)) continue;
      await this.add(rule, hour, [h], 'size(g) < :cap OR contains(g, :h)', { ':cap': { N: String(cap) }, ':h': { S: h } }, state, cap);
    }
    const admitted = new Set<string>();
    for (const [h, keys] of byHash) if (state.members.has(h)) for (const k of keys) admitted.add(k);
    return admitted;
  }

  private key(rule: string, hour: EpochMs): Record<string, AttributeValue> {
    return { [TABLE.partitionKey]: { S: `MG#${rule}` }, [TABLE.sortKey]: { S: new Date(hour).toISOString() } };
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
    const out = await this.opts.client.send(new GetItemCommand({ TableName: this.opts.tableName, Key: this.key(rule, hour), ConsistentRead: true, ProjectionExpression: 'g' }));
    return new Set(out.Item?.['g']?.SS ?? []);
  }

  /** ADDs hashes to the hour's set if `condition` holds; keeps `state` in step with the stored set. */
  private async add(rule: string, hour: EpochMs, hashes: readonly string[], condition: string, values: Record<string, AttributeValue>, state: HourState, cap: number): Promise<boolean> {
    this.counters.writes += 1;
    try {
      const out = await this.opts.client.send(
        new UpdateItemCommand({
          TableName: this.opts.tableName,
          Key: this.key(rule, hour),
          UpdateExpression: 'ADD g :add SET #ttl = :ttl',
          ConditionExpression: `attribute_not_exists(g) OR ${condition}`,
          ExpressionAttributeNames: { '#ttl': TABLE.ttlAttribute },
          ExpressionAttributeValues: { ...values, ':add': { SS: [...hashes] }, ':ttl': { N: String(Math.floor((hour + HOUR_MS + TTL_AFTER_HOUR_MS) / 1000)) } },
          ReturnValues: 'ALL_NEW',
        }),
      );
      for (const h of out.Attributes?.['g']?.SS ?? []) state.members.add(h);
      state.full = state.members.size >= cap;
      return true;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      // Others filled the set meanwhile: learn what it holds.
      this.counters.conflicts += 1;
      for (const h of await this.read(rule, hour)) state.members.add(h);
      state.full = state.members.size >= cap;
      return false;
    }
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
