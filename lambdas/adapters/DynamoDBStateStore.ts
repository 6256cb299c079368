import { createHash } from 'node:crypto';
import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type QueryCommandInput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { TABLE } from '../core/contract';
import { descriptor } from '../core/Engine';
import { queryAll } from './paging';
import { INITIAL_ALERT_STATE, type AlertState, type StepResult } from '../core/lifecycle';
import type { PartialJson } from '../core/partials';
import type {
  AlertRecord,
  AlertUpdate,
  ApplyOutcome,
  Claim,
  DedupeEntries,
  OutboxEntry,
  DueKey,
  KeyDescriptor,
  KeyState,
  Slot,
  SlotBuilder,
  StateStore,
} from '../core/StateStore';
import type { EpochMs, Rejection } from '../core/types';
import type { ShardProgress } from '../core/watermark';

/**
 * The StateStore on DynamoDB. One table, generic keys (see TABLE in
 * contract.ts):
 *
 * | item             | pk                      | sk                         |
 * |------------------|-------------------------|----------------------------|
 * | aggregate key    | `K#<rule>#<group>`      | `W#<windowStart>` or `S`   |
 * | alert state      | `A#<rule>`              | `<group>`                  |
 * | shard progress   | `P#<stream>`            | `<shardId>`                |
 * | stream watermark | `WM#<stream>`           | `-`                        |
 * | quarantine       | `Q#<stream>`            | `<arrival ISO>#<shard>#<seq>[#e<index>][#<chunk>]` |
 *
 * An aggregate key item holds, per shard, `h_<shard>` (the high-water mark:
 * the highest sequence number folded in, zero-padded) and `p_<shard>` (that
 * shard's merged partial, JSON). A batch writes each key it touches once:
 *
 *   SET h_s = :new, p_s = :partial ... ADD v :1
 *   IF h_s = :hwmTheSlotWasBuiltOn (or attribute_not_exists(h_s)) AND attribute_not_exists(closed)
 *   RETURN ALL_NEW
 *
 * Fast path: the slot is cached from the previous batch of this shard (or the
 * key is new): one conditional write, no read, and the returned item gives the
 * merged view of every shard for `emit: early` rules. Slow path (a redelivery,
 * a cold container meeting an existing key): the condition fails, the item
 * comes back with the failure (or is read), the slot is rebuilt from only the
 * records above the stored HWM, and written again on that HWM.
 */
export interface DynamoDBStateStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** How long state outlives its window (TTL). @default 7 days */
  readonly retentionMs?: number;
  /** How long quarantined records are kept. @default 14 days */
  readonly quarantineMs?: number;
  /** Aggregate keys whose slots are cached between batches. @default 50000 */
  readonly cacheSize?: number;
  /** Attempts of a conditional write before giving up (the batch is retried). @default 8 */
  readonly maxAttempts?: number;
}

/** Counts of requests, for metrics and cost tests. */
export interface StoreCounters {
  writes: number;
  reads: number;
  queries: number;
  conflicts: number;
}

const DAY = 86_400_000;
/** Keep a quarantined payload's chunks well under DynamoDB's 400 KB item limit. */
const QUARANTINE_CHUNK_CHARS = 300 * 1024;
/** Bytes of ids kept per shard and second of event time (a shard takes at most 1,000 records/s): well under 400 KB. */
const DEDUPE_MAX_BUCKET_BYTES = 300 * 1024;

interface CachedKey {
  slots: Record<string, Slot>;
  closedThrough: EpochMs | null;
}

const S = (v: string): AttributeValue => ({ S: v });
const N = (v: number): AttributeValue => ({ N: String(v) });

export class DynamoDBStateStore implements StateStore {
  readonly counters: StoreCounters = { writes: 0, reads: 0, queries: 0, conflicts: 0 };
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly retentionMs: number;
  private readonly quarantineMs: number;
  private readonly cacheSize: number;
  private readonly maxAttempts: number;
  private readonly cache = new Map<string, CachedKey>();
  private readonly progressCache = new Map<string, ShardProgress>();
  private readonly dedupeCache = new Map<string, { ids: Record<string, string>; version: number }>();

  constructor(opts: DynamoDBStateStoreOptions) {
    this.client = opts.client;
    this.table = opts.tableName;
    this.retentionMs = opts.retentionMs ?? 7 * DAY;
    this.quarantineMs = opts.quarantineMs ?? 14 * DAY;
    this.cacheSize = opts.cacheSize ?? 50_000;
    this.maxAttempts = opts.maxAttempts ?? 8;
  }

  // ------------------------------------------------------------ aggregates

  async apply(key: KeyDescriptor, shardId: string, build: SlotBuilder): Promise<ApplyOutcome> {
    const hName = `h_${shardId}`;
    const pName = `p_${shardId}`;
    let cached = this.cache.get(key.id);
    let conflicts = 0;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const current = cached?.slots[shardId];
      const update = build(current, cached?.closedThrough ?? null);
      if (update === null) {
        return { status: 'unchanged', state: this.cachedState(cached), conflicts };
      }
      const names: Record<string, string> = { '#h': hName, '#p': pName, '#ttl': TABLE.ttlAttribute };
      const values: Record<string, AttributeValue> = {
        ':h': S(update.slot.hwm),
        ':p': S(JSON.stringify(update.slot.partial)),
        ':rule': S(key.rule),
        ':g': S(key.groupKey),
        ':due': S(`due#${key.rule}`),
        ':c': N(update.closeAt),
        ':ttl': N(Math.ceil((update.closeAt + this.retentionMs) / 1000)),
        ':one': N(1),
      };
      let set = '#h = :h, #p = :p, #rule = :rule, groupKey = :g, duePk = :due, #ttl = :ttl';
      names['#rule'] = 'rule';
      if (key.windowStart !== null) {
        set += ', windowStart = :ws, windowEnd = :we, closeAt = :c';
        values[':ws'] = N(key.windowStart);
        values[':we'] = N(key.windowEnd!);
      } else {
        // Session keys: closeAt is the minimum over shards; set it when absent or later than ours.
        set += ', closeAt = if_not_exists(closeAt, :c)';
      }
      const condition =
        (current === undefined ? 'attribute_not_exists(#h)' : '#h = :expected') + ' AND attribute_not_exists(closed)';
      if (current !== undefined) values[':expected'] = S(current.hwm);
      try {
        const out = await this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: this.keyOf(key),
            UpdateExpression: `SET ${set} ADD v :one`,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_NEW',
          }),
        );
        this.counters.writes += 1;
        let state = parseKeyState(out.Attributes ?? {});
        if (key.windowStart === null && state.closeAt !== null && update.closeAt < state.closeAt) {
          state = await this.lowerCloseAt(key, update.closeAt, state);
        }
        this.remember(key.id, state);
        return { status: 'applied', state, conflicts };
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        this.counters.writes += 1;
        this.counters.conflicts += 1;
        conflicts += 1;
        // Slow path: learn what is stored and rebuild on it.
        const stored = await this.read(key);
        if (stored === undefined) {
          cached = undefined;
          this.cache.delete(key.id);
          continue;
        }
        if (stored.closed) return { status: 'closed', conflicts };
        this.remember(key.id, stored);
        cached = this.cache.get(key.id);
      }
    }
    throw new Error(`DynamoDB state: key ${key.id} of shard ${shardId} kept changing under concurrent writes (${this.maxAttempts} attempts); the batch will be retried`);
  }

  /** Session keys: another shard set a later close time; lower it to ours (conditional, so the minimum wins). */
  private async lowerCloseAt(key: KeyDescriptor, closeAt: EpochMs, state: KeyState): Promise<KeyState> {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.keyOf(key),
          UpdateExpression: 'SET closeAt = :c ADD v :one',
          ConditionExpression: 'closeAt > :c',
          ExpressionAttributeValues: { ':c': N(closeAt), ':one': N(1) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      this.counters.writes += 1;
      return parseKeyState(out.Attributes ?? {});
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      this.counters.writes += 1;
      return state;
    }
  }

  async read(key: KeyDescriptor): Promise<KeyState | undefined> {
    const out = await this.client.send(new GetItemCommand({ TableName: this.table, Key: this.keyOf(key), ConsistentRead: true }));
    this.counters.reads += 1;
    return out.Item ? parseKeyState(out.Item) : undefined;
  }

  async dueKeys(rule: string, watermark: EpochMs): Promise<DueKey[]> {
    const items = await this.queryAll({
      TableName: this.table,
      IndexName: TABLE.dueIndex.name,
      KeyConditionExpression: 'duePk = :due AND closeAt <= :wm',
      ExpressionAttributeValues: { ':due': S(`due#${rule}`), ':wm': N(watermark) },
    });
    const out: DueKey[] = items.map((item) => {
      const windowStart = item['windowStart']?.N !== undefined ? Number(item['windowStart'].N) : null;
      const windowEnd = item['windowEnd']?.N !== undefined ? Number(item['windowEnd'].N) : null;
      const groupKey = item['groupKey']!.S!;
      return {
        key: descriptor(rule, groupKey, windowStart === null || windowEnd === null ? null : { start: windowStart, end: windowEnd }),
        closeAt: Number(item['closeAt']!.N),
      };
    });
    return out.sort((a, b) => a.closeAt - b.closeAt || (a.key.windowStart ?? 0) - (b.key.windowStart ?? 0) || (a.key.id < b.key.id ? -1 : 1));
  }

  async sealWindow(key: KeyDescriptor): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.keyOf(key),
          UpdateExpression: 'SET closed = :t ADD v :one',
          ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(closed)',
          ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
          ExpressionAttributeValues: { ':t': { BOOL: true }, ':one': N(1) },
        }),
      );
    } catch (err) {
      // Already sealed, or never written (an empty window): both fine.
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    } finally {
      this.counters.writes += 1;
    }
    this.cache.delete(key.id);
  }

  async finishWindow(key: KeyDescriptor): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.keyOf(key),
          UpdateExpression: 'REMOVE duePk, closeAt',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    } finally {
      this.counters.writes += 1;
    }
  }

  async advanceSessions(key: KeyDescriptor, closedThrough: EpochMs, nextCloseAt: EpochMs | null, expectedVersion: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.keyOf(key),
          UpdateExpression: nextCloseAt === null ? 'SET closedThrough = :ct ADD v :one REMOVE duePk, closeAt' : 'SET closedThrough = :ct, closeAt = :c ADD v :one',
          ConditionExpression: 'v = :v',
          ExpressionAttributeValues: {
            ':ct': N(closedThrough),
            ':one': N(1),
            ':v': N(expectedVersion),
            ...(nextCloseAt === null ? {} : { ':c': N(nextCloseAt) }),
          },
        }),
      );
      this.counters.writes += 1;
      const c = this.cache.get(key.id);
      if (c) c.closedThrough = closedThrough;
      return true;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      this.counters.writes += 1;
      this.counters.conflicts += 1;
      return false;
    }
  }

  // ------------------------------------------------------------ alerts

  async updateAlert(rule: string, groupKey: string, step: (state: AlertState) => StepResult, claim: Claim): Promise<AlertUpdate> {
    const Key = this.alertKey(rule, groupKey);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const got = await this.client.send(new GetItemCommand({ TableName: this.table, Key, ConsistentRead: true }));
      this.counters.reads += 1;
      const version = got.Item?.['v']?.N !== undefined ? Number(got.Item['v'].N) : null;
      const record = got.Item ? parseAlert(got.Item) : { state: INITIAL_ALERT_STATE, outbox: [] };
      const r = step(record.state);
      const until = claim.now + claim.leaseMs;
      const expired = record.outbox.filter((o) => o.claimedUntil <= claim.now);
      if (r.transitions.length === 0 && expired.length === 0 && sameState(r.state, record.state)) return { record, claimed: [] };
      const next: AlertRecord = {
        state: r.state,
        outbox: [
          ...record.outbox.map((o) => (o.claimedUntil <= claim.now ? { ...o, claimedUntil: until } : o)),
          ...r.transitions.map((transition) => ({ transition, claimedUntil: until })),
        ],
      };
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: {
              ...Key,
              rule: S(rule),
              groupKey: S(groupKey),
              state: S(JSON.stringify(next.state)),
              outbox: S(JSON.stringify(next.outbox)),
              active: { BOOL: next.state.status !== 'inactive' || next.outbox.length > 0 },
              v: N((version ?? 0) + 1),
            },
            ConditionExpression: version === null ? 'attribute_not_exists(#pk)' : 'v = :v',
            ExpressionAttributeNames: version === null ? { '#pk': TABLE.partitionKey } : undefined,
            ExpressionAttributeValues: version === null ? undefined : { ':v': N(version) },
          }),
        );
        this.counters.writes += 1;
        return { record: next, claimed: [...expired.map((o) => o.transition), ...r.transitions] };
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        this.counters.writes += 1;
        this.counters.conflicts += 1;
      }
    }
    throw new Error(`DynamoDB state: alert state of ${rule} ${groupKey} kept changing under concurrent writes (${this.maxAttempts} attempts)`);
  }

  async confirmPublished(rule: string, groupKey: string, transitionIds: readonly string[]): Promise<void> {
    const done = new Set(transitionIds);
    await this.rewriteOutbox(rule, groupKey, (outbox) => outbox.filter((o) => !done.has(o.transition.transitionId)));
  }

  async releaseClaims(rule: string, groupKey: string, transitionIds: readonly string[]): Promise<void> {
    const ids = new Set(transitionIds);
    await this.rewriteOutbox(rule, groupKey, (outbox) => outbox.map((o) => (ids.has(o.transition.transitionId) ? { ...o, claimedUntil: 0 } : o)));
  }

  private async rewriteOutbox(rule: string, groupKey: string, f: (outbox: OutboxEntry[]) => OutboxEntry[]): Promise<void> {
    const Key = this.alertKey(rule, groupKey);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const got = await this.client.send(new GetItemCommand({ TableName: this.table, Key, ConsistentRead: true }));
      this.counters.reads += 1;
      if (!got.Item) return;
      const rec = parseAlert(got.Item);
      const outbox = f([...rec.outbox]);
      if (JSON.stringify(outbox) === JSON.stringify(rec.outbox)) return;
      try {
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key,
            UpdateExpression: 'SET outbox = :o, active = :a ADD v :one',
            ConditionExpression: 'v = :v',
            ExpressionAttributeValues: {
              ':o': S(JSON.stringify(outbox)),
              ':a': { BOOL: rec.state.status !== 'inactive' || outbox.length > 0 },
              ':one': N(1),
              ':v': got.Item['v']!,
            },
          }),
        );
        this.counters.writes += 1;
        return;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        this.counters.writes += 1;
        this.counters.conflicts += 1;
      }
    }
    throw new Error(`DynamoDB state: outbox of ${rule} ${groupKey} kept changing (${this.maxAttempts} attempts)`);
  }

  private alertKey(rule: string, groupKey: string): Record<string, AttributeValue> {
    return { [TABLE.partitionKey]: S(`A#${rule}`), [TABLE.sortKey]: S(shortKey(groupKey)) };
  }

  async activeAlerts(rule: string): Promise<Array<{ groupKey: string; record: AlertRecord }>> {
    const items = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk',
      FilterExpression: 'active = :t',
      ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
      ExpressionAttributeValues: { ':pk': S(`A#${rule}`), ':t': { BOOL: true } },
      ConsistentRead: true,
    });
    return items.map((item) => ({ groupKey: item['groupKey']!.S!, record: parseAlert(item) }));
  }

  async absenceGroups(rule: string): Promise<Array<{ groupKey: string; record: AlertRecord }>> {
    const items = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
      ExpressionAttributeValues: { ':pk': S(`A#${rule}`) },
      ConsistentRead: true,
    });
    return items.map((item) => ({ groupKey: item['groupKey']!.S!, record: parseAlert(item) }));
  }

  // ------------------------------------------------------------ progress

  async getShardProgress(stream: string, shardId: string): Promise<ShardProgress | undefined> {
    const cached = this.progressCache.get(`${stream}\u0000${shardId}`);
    if (cached) return cached;
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: { [TABLE.partitionKey]: S(`P#${stream}`), [TABLE.sortKey]: S(shardId) }, ConsistentRead: true }),
    );
    this.counters.reads += 1;
    if (!out.Item) return undefined;
    const p = parseProgress(out.Item);
    this.progressCache.set(`${stream}\u0000${shardId}`, p);
    return p;
  }

  async putShardProgress(stream: string, p: ShardProgress): Promise<void> {
    const Key = { [TABLE.partitionKey]: S(`P#${stream}`), [TABLE.sortKey]: S(p.shardId) };
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key,
          UpdateExpression: 'SET maxEventTime = :m, lastActivity = :a',
          ConditionExpression: 'attribute_not_exists(maxEventTime) OR maxEventTime <= :m',
          ExpressionAttributeValues: { ':m': N(p.maxEventTime), ':a': N(p.lastActivity) },
        }),
      );
      this.counters.writes += 1;
      this.progressCache.set(`${stream}\u0000${p.shardId}`, p);
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      // Another writer is ahead in event time: only record the activity.
      this.counters.writes += 2;
      await this.client.send(
        new UpdateItemCommand({ TableName: this.table, Key, UpdateExpression: 'SET lastActivity = :a', ExpressionAttributeValues: { ':a': N(p.lastActivity) } }),
      );
      this.progressCache.delete(`${stream}\u0000${p.shardId}`);
    }
  }

  async listShardProgress(stream: string): Promise<ShardProgress[]> {
    const items = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
      ExpressionAttributeValues: { ':pk': S(`P#${stream}`) },
      ConsistentRead: true,
    });
    return items.map(parseProgress);
  }

  async getStreamWatermark(stream: string): Promise<EpochMs> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: { [TABLE.partitionKey]: S(`WM#${stream}`), [TABLE.sortKey]: S('-') }, ConsistentRead: true }),
    );
    this.counters.reads += 1;
    return out.Item?.['watermark']?.N !== undefined ? Number(out.Item['watermark'].N) : -Infinity;
  }

  async putStreamWatermark(stream: string, watermark: EpochMs): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { [TABLE.partitionKey]: S(`WM#${stream}`), [TABLE.sortKey]: S('-') },
          UpdateExpression: 'SET watermark = :w',
          ConditionExpression: 'attribute_not_exists(watermark) OR watermark < :w',
          ExpressionAttributeValues: { ':w': N(watermark) },
        }),
      );
    } catch (err) {
      // Someone moved it further already: watermarks never go backwards.
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    } finally {
      this.counters.writes += 1;
    }
  }

  // ------------------------------------------------------------ producer duplicates

  async dedupe(stream: string, shardId: string, entries: DedupeEntries, expiresAt: EpochMs): Promise<boolean[]> {
    const out = new Array<boolean>(entries.length).fill(false);
    const byBucket = new Map<number, number[]>();
    for (let i = 0; i < entries.length; i++) {
      const list = byBucket.get(entries.buckets[i]!) ?? [];
      list.push(i);
      byBucket.set(entries.buckets[i]!, list);
    }
    for (const [bucket, indexes] of byBucket) {
      const Key = { [TABLE.partitionKey]: S(`D#${stream}#${shardId}`), [TABLE.sortKey]: S(String(bucket)) };
      const cacheKey = `${stream}\u0000${shardId}\u0000${bucket}`;
      for (let attempt = 1; ; attempt++) {
        let cached = this.dedupeCache.get(cacheKey);
        if (!cached) {
          const got = await this.client.send(new GetItemCommand({ TableName: this.table, Key, ConsistentRead: true }));
          this.counters.reads += 1;
          cached = got.Item
            ? { ids: JSON.parse(got.Item['ids']!.S!) as Record<string, string>, version: Number(got.Item['v']!.N) }
            : { ids: {}, version: 0 };
        }
        const added: Record<string, string> = {};
        let size = JSON.stringify(cached.ids).length;
        for (const i of indexes) {
          const id = entries.ids[i]!;
          const seq = cached.ids[id] ?? added[id];
          if (seq === undefined) {
            // Past the cap the id is not recorded (so not deduplicated): the item stays under 400 KB.
            const bytes = id.length + entries.seqs[i]!.length + 6;
            if (size + bytes <= DEDUPE_MAX_BUCKET_BYTES) {
              added[id] = entries.seqs[i]!;
              size += bytes;
            }
            out[i] = false;
          } else {
            out[i] = seq !== entries.seqs[i];
          }
        }
        if (Object.keys(added).length === 0) {
          this.dedupeCache.set(cacheKey, cached);
          break;
        }
        const ids = { ...cached.ids, ...added };
        try {
          await this.client.send(
            new PutItemCommand({
              TableName: this.table,
              Item: { ...Key, ids: S(JSON.stringify(ids)), v: N(cached.version + 1), [TABLE.ttlAttribute]: N(Math.ceil(expiresAt / 1000)) },
              ConditionExpression: cached.version === 0 ? 'attribute_not_exists(#pk)' : 'v = :v',
              ExpressionAttributeNames: cached.version === 0 ? { '#pk': TABLE.partitionKey } : undefined,
              ExpressionAttributeValues: cached.version === 0 ? undefined : { ':v': N(cached.version) },
            }),
          );
          this.counters.writes += 1;
          this.dedupeCache.set(cacheKey, { ids, version: cached.version + 1 });
          if (this.dedupeCache.size > 4096) this.dedupeCache.delete(this.dedupeCache.keys().next().value!);
          break;
        } catch (err) {
          if (!(err instanceof ConditionalCheckFailedException)) throw err;
          this.counters.writes += 1;
          this.counters.conflicts += 1;
          this.dedupeCache.delete(cacheKey);
          if (attempt >= this.maxAttempts) throw new Error(`DynamoDB state: dedupe bucket ${bucket} of ${shardId} kept changing (${attempt} attempts)`, { cause: err });
        }
      }
    }
    return out;
  }

  // ------------------------------------------------------------ quarantine

  async quarantine(stream: string, rejections: readonly Rejection[]): Promise<void> {
    const requests: WriteRequest[] = [];
    for (const r of rejections) {
      // The data is kept exactly as received (base64 text, even when it is not valid base64), in chunks.
      const chunks = Math.max(1, Math.ceil(r.data.length / QUARANTINE_CHUNK_CHARS));
      // A sub-event of a record (KPL user record, log event, line) is filed under its record and index.
      const sk = `${new Date(r.arrivalTime).toISOString()}#${r.shardId}#${r.sequenceNumber}${r.index === undefined ? '' : `#e${r.index}`}`;
      const expiresAt = N(Math.ceil((r.arrivalTime + this.quarantineMs) / 1000));
      for (let i = 0; i < chunks; i++) {
        const item: Record<string, AttributeValue> = {
          [TABLE.partitionKey]: S(`Q#${stream}`),
          [TABLE.sortKey]: S(i === 0 ? sk : `${sk}#${i}`),
          data: S(r.data.slice(i * QUARANTINE_CHUNK_CHARS, (i + 1) * QUARANTINE_CHUNK_CHARS)),
          [TABLE.ttlAttribute]: expiresAt,
        };
        if (i === 0) {
          Object.assign(item, {
            reason: S(r.reason),
            message: S(r.message),
            shardId: S(r.shardId),
            sequenceNumber: S(r.sequenceNumber),
            partitionKey: S(r.partitionKey),
            arrivalTime: N(r.arrivalTime),
            chunks: N(chunks),
            ...(r.index === undefined ? {} : { subIndex: N(r.index) }),
          });
        }
        requests.push({ PutRequest: { Item: item } });
      }
    }
    for (let i = 0; i < requests.length; i += 25) await this.batchWrite(requests.slice(i, i + 25));
  }

  /** BatchWriteItem with retries of UnprocessedItems (exponential backoff); never ignores them. */
  private async batchWrite(requests: WriteRequest[]): Promise<void> {
    let pending = requests;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const out = await this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: pending } }));
      this.counters.writes += 1;
      pending = out.UnprocessedItems?.[this.table] ?? [];
      if (pending.length === 0) return;
      if (attempt >= this.maxAttempts) {
        throw new Error(`DynamoDB state: ${pending.length} quarantine items still unprocessed after ${attempt} attempts (throttled); the batch will be retried`);
      }
      await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt) * Math.random()));
    }
  }

  // ------------------------------------------------------------ helpers

  private keyOf(key: KeyDescriptor): Record<string, AttributeValue> {
    return {
      [TABLE.partitionKey]: S(`K#${key.rule}#${shortKey(key.groupKey)}`),
      [TABLE.sortKey]: S(key.windowStart === null ? 'S' : `W#${key.windowStart}`),
    };
  }

  private queryAll(input: QueryCommandInput): Promise<Array<Record<string, AttributeValue>>> {
    return queryAll(this.client, input, () => {
      this.counters.queries += 1;
    });
  }

  private remember(id: string, state: KeyState): void {
    if (this.cache.size >= this.cacheSize && !this.cache.has(id)) {
      // Evict the oldest entry (Map keeps insertion order).
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.delete(id);
    this.cache.set(id, { slots: { ...state.slots }, closedThrough: state.closedThrough });
  }

  private cachedState(cached: CachedKey | undefined): KeyState {
    return { slots: cached?.slots ?? {}, closed: false, closedThrough: cached?.closedThrough ?? null, closeAt: null, version: 0 };
  }
}

/** Group keys can be long: past 512 characters the item key uses their hash. */
function shortKey(groupKey: string): string {
  // DynamoDB limits a sort key to 1024 bytes and a partition key to 2048 (UTF-8), not characters.
  return Buffer.byteLength(groupKey, 'utf8') <= 512 ? groupKey : `h:${createHash('sha256').update(groupKey).digest('hex')}`;
}

/** A key item as the store writes it (also read by the inspect commands). */
export function parseKeyState(item: Record<string, AttributeValue>): KeyState {
  const slots: Record<string, Slot> = {};
  for (const [name, value] of Object.entries(item)) {
    if (name.startsWith('h_') && value.S !== undefined) {
      const shard = name.slice(2);
      const p = item[`p_${shard}`]?.S;
      if (p !== undefined) slots[shard] = { hwm: value.S, partial: JSON.parse(p) as PartialJson };
    }
  }
  return {
    slots,
    closed: item['closed']?.BOOL === true,
    closedThrough: item['closedThrough']?.N !== undefined ? Number(item['closedThrough'].N) : null,
    closeAt: item['closeAt']?.N !== undefined ? Number(item['closeAt'].N) : null,
    version: item['v']?.N !== undefined ? Number(item['v'].N) : 0,
  };
}

/** An alert item as the store writes it (also read by the inspect commands). */
export function parseAlert(item: Record<string, AttributeValue>): AlertRecord {
  return {
    state: item['state']?.S ? (JSON.parse(item['state'].S) as AlertState) : INITIAL_ALERT_STATE,
    outbox: item['outbox']?.S ? (JSON.parse(item['outbox'].S) as OutboxEntry[]) : [],
  };
}

function parseProgress(item: Record<string, AttributeValue>): ShardProgress {
  return {
    shardId: item[TABLE.sortKey]!.S!,
    maxEventTime: Number(item['maxEventTime']?.N ?? '-Infinity'),
    lastActivity: Number(item['lastActivity']?.N ?? '-Infinity'),
  };
}

function sameState(a: AlertState, b: AlertState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
