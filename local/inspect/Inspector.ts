import { ConditionalCheckFailedException, UpdateItemCommand, type AttributeValue, type DynamoDBClient, type QueryCommandInput, type ScanCommandInput } from '@aws-sdk/client-dynamodb';
import { parseAlert, parseKeyState } from '../../lambdas/adapters/DynamoDBStateStore';
import { queryAll, scanAll } from '../../lambdas/adapters/paging';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { TABLE } from '../../lambdas/core/contract';
import { groupFromKey } from '../../lambdas/core/group';
import type { AlertState } from '../../lambdas/core/lifecycle';
import { RuleAggregates, type FixedPartialJson, type SessionPartialJson } from '../../lambdas/core/partials';
import type { Pipeline, WindowRule } from '../../lambdas/core/types';

export interface WindowView {
  readonly rule: string;
  readonly group: Readonly<Record<string, string | null>>;
  /** ISO start/end; for session rules, one entry per session. */
  readonly start: string;
  readonly end: string;
  /** Sealed for evaluation (no more contributions). */
  readonly closed: boolean;
  /** Shards that fed it. */
  readonly shards: number;
  readonly values: Readonly<Record<string, number | null>>;
}

export interface AlertView {
  readonly rule: string;
  readonly group: Readonly<Record<string, string | null>>;
  readonly status: AlertState['status'];
  readonly alertId: string | null;
  readonly consecutive: number;
  readonly lastWindow: string | null;
  /** Transitions recorded but not yet confirmed published. */
  readonly unpublished: number;
}

export interface QuarantinedRecord {
  readonly stream: string;
  readonly arrival: string;
  readonly reason: string;
  readonly message: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  /** The record's data exactly as received (base64). */
  readonly data: string;
  /** Set once `tidewatch quarantine replay` sent it again. */
  readonly replayed: ReplayMark | null;
  /** The quarantine item's key (to mark it replayed). */
  readonly key: { readonly pk: string; readonly sk: string };
}

/** How a quarantined record was last replayed. */
export interface ReplayMark {
  /** Wall-clock time of the replay (ISO). */
  readonly at: string;
  readonly to: string;
  /** The sequence number Kinesis gave the replayed record. */
  readonly sequenceNumber: string;
  /** Times it was replayed. */
  readonly count: number;
}

/** A replay stopped: `stage` says which service failed (sending to Kinesis, or marking in DynamoDB). */
export class ReplayError extends Error {
  override readonly name = 'ReplayError';
  constructor(
    readonly stage: 'send' | 'mark',
    cause: unknown,
  ) {
    super(`replay: ${stage === 'send' ? 'PutRecords' : 'marking a replayed record'} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export interface ReplayResult {
  readonly sent: number;
  readonly failed: Array<{ sequenceNumber: string; error: string }>;
  /** Already replayed, so not sent again (without `force`). */
  readonly skipped: readonly QuarantinedRecord[];
}

/**
 * Reads what the pipeline holds in its state table — windows and their
 * aggregates, alert states, quarantined records — and replays quarantined
 * records into a stream. Works against AWS or any endpoint.
 */
export class Inspector {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    readonly pipeline: Pipeline,
  ) {}

  private windowRule(name: string): WindowRule {
    const rule = this.pipeline.rules.find((r) => r.name === name);
    if (!rule) throw new Error(`no rule "${name}" in ${this.pipeline.file} (rules: ${this.pipeline.rules.map((r) => r.name).join(', ')})`);
    if (rule.type !== 'window') throw new Error(`rule "${name}" is an absence rule: it has no windows (try 'tidewatch alerts --rule ${name}')`);
    return rule;
  }

  /** Windows of a rule with their current aggregates, newest first. `all` includes evaluated (finished) windows. */
  async windows(ruleName: string, opts: { all?: boolean } = {}): Promise<WindowView[]> {
    const rule = this.windowRule(ruleName);
    const items = opts.all
      ? await this.scanAll({ TableName: this.table, FilterExpression: 'begins_with(#pk, :p)', ExpressionAttributeNames: { '#pk': TABLE.partitionKey }, ExpressionAttributeValues: { ':p': { S: `K#${rule.name}#` } } })
      : await this.queryAll({
          TableName: this.table,
          IndexName: TABLE.dueIndex.name,
          KeyConditionExpression: 'duePk = :d',
          ExpressionAttributeValues: { ':d': { S: `due#${rule.name}` } },
        }).then((keys) => this.fetch(keys));
    const ra = new RuleAggregates(rule);
    const out: WindowView[] = [];
    for (const item of items) {
      const groupKey = item['groupKey']?.S;
      if (groupKey === undefined) continue;
      const group = groupFromKey(rule.groupBy, groupKey).labels;
      const state = parseKeyState(item);
      const partials = Object.values(state.slots).map((slot) => slot.partial);
      const closed = state.closed;
      if (item['windowStart']?.N !== undefined) {
        const acc = ra.create();
        for (const p of partials) ra.merge(acc, ra.deserialize(p as FixedPartialJson));
        out.push({
          rule: rule.name,
          group,
          start: new Date(Number(item['windowStart'].N)).toISOString(),
          end: new Date(Number(item['windowEnd']!.N)).toISOString(),
          closed,
          shards: partials.length,
          values: ra.results(acc),
        });
      } else {
        for (const s of ra.mergeSessionLists(partials.map((p) => ra.deserializeSessions(p as SessionPartialJson)))) {
          out.push({ rule: rule.name, group, start: new Date(s.start).toISOString(), end: new Date(s.end).toISOString(), closed, shards: partials.length, values: ra.results(s.value) });
        }
      }
    }
    return out.sort((a, b) => (a.start < b.start ? 1 : a.start > b.start ? -1 : JSON.stringify(a.group) < JSON.stringify(b.group) ? -1 : 1));
  }

  /** Alert states of every rule (or one), firing first. */
  async alerts(ruleName?: string): Promise<AlertView[]> {
    const rules = ruleName ? [ruleName] : this.pipeline.rules.map((r) => r.name);
    const out: AlertView[] = [];
    for (const name of rules) {
      const rule = this.pipeline.rules.find((r) => r.name === name);
      if (!rule) throw new Error(`no rule "${name}" in ${this.pipeline.file}`);
      const items = await this.queryAll({
        TableName: this.table,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
        ExpressionAttributeValues: { ':pk': { S: `A#${name}` } },
      });
      for (const item of items) {
        const { state, outbox } = parseAlert(item);
        out.push({
          rule: name,
          group: groupFromKey(rule.groupBy, item['groupKey']!.S!).labels,
          status: state.status,
          alertId: state.alertId,
          consecutive: state.consecutive,
          lastWindow: state.evaluatedThrough === null ? (state.lastSeen === null ? null : new Date(state.lastSeen).toISOString()) : new Date(state.evaluatedThrough).toISOString(),
          unpublished: outbox.length,
        });
      }
    }
    const rank = { firing: 0, pending: 1, inactive: 2 } as const;
    return out.sort((a, b) => rank[a.status] - rank[b.status] || a.rule.localeCompare(b.rule));
  }

  /** Quarantined records of a stream, oldest first, their chunks joined. */
  async quarantined(stream: string, opts: { since?: Date; limit?: number } = {}): Promise<QuarantinedRecord[]> {
    if (!this.pipeline.streams.has(stream)) throw new Error(`no stream "${stream}" in ${this.pipeline.file} (streams: ${[...this.pipeline.streams.keys()].join(', ')})`);
    const items = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: opts.since ? '#pk = :pk AND #sk >= :since' : '#pk = :pk',
      ExpressionAttributeNames: { '#pk': TABLE.partitionKey, ...(opts.since ? { '#sk': TABLE.sortKey } : {}) },
      ExpressionAttributeValues: { ':pk': { S: `Q#${stream}` }, ...(opts.since ? { ':since': { S: opts.since.toISOString() } } : {}) },
    });
    const chunks = new Map<string, string>();
    for (const item of items) chunks.set(item[TABLE.sortKey]!.S!, item['data']!.S!);
    const out: QuarantinedRecord[] = [];
    for (const item of items) {
      if (item['reason'] === undefined) continue; // a continuation chunk
      const sk = item[TABLE.sortKey]!.S!;
      const n = Number(item['chunks']?.N ?? '1');
      let data = item['data']!.S!;
      for (let i = 1; i < n; i++) {
        const part = chunks.get(`${sk}#${i}`);
        if (part === undefined) throw new Error(`quarantined record ${sk} is missing chunk ${i} of ${n}`);
        data += part;
      }
      out.push({
        stream,
        arrival: new Date(Number(item['arrivalTime']!.N)).toISOString(),
        reason: item['reason'].S!,
        message: item['message']!.S!,
        shardId: item['shardId']!.S!,
        sequenceNumber: item['sequenceNumber']!.S!,
        partitionKey: item['partitionKey']!.S!,
        data,
        replayed:
          item['replayedAt']?.S !== undefined
            ? { at: item['replayedAt'].S, to: item['replayedTo']?.S ?? stream, sequenceNumber: item['replayedSequenceNumber']?.S ?? '', count: Number(item['replays']?.N ?? '1') }
            : null,
        key: { pk: item[TABLE.partitionKey]!.S!, sk },
      });
      if (opts.limit !== undefined && out.length >= opts.limit) break;
    }
    return out;
  }

  /**
   * Sends quarantined records back into a stream, byte for byte, with their
   * partition keys (after fixing the producer or the schema), and marks each
   * one sent with the time, the stream and its new sequence number. A record
   * already marked is not sent again unless `force`. Failed ones are
   * reported (and left unmarked), never dropped silently.
   */
  async replay(records: readonly QuarantinedRecord[], kinesis: KinesisClient, streamName: string, opts: { force?: boolean; now?: () => Date } = {}): Promise<ReplayResult> {
    let sent = 0;
    const failed: Array<{ sequenceNumber: string; error: string }> = [];
    const skipped = opts.force ? [] : records.filter((r) => r.replayed !== null);
    const todo = opts.force ? records : records.filter((r) => r.replayed === null);
    const now = opts.now ?? (() => new Date());
    for (let i = 0; i < todo.length; i += 500) {
      const batch = todo.slice(i, i + 500);
      const out = await kinesis
        .send(
          new PutRecordsCommand({
            StreamName: streamName,
            Records: batch.map((r) => ({ Data: Buffer.from(r.data, 'base64'), PartitionKey: r.partitionKey })),
          }),
        )
        .catch((err: unknown) => {
          throw new ReplayError('send', err);
        });
      const results = out.Records ?? [];
      for (let j = 0; j < batch.length; j++) {
        const res = results[j];
        const record = batch[j]!;
        if (res === undefined || res.ErrorCode || res.SequenceNumber === undefined) {
          failed.push({ sequenceNumber: record.sequenceNumber, error: res?.ErrorCode ? `${res.ErrorCode}: ${res.ErrorMessage ?? ''}` : 'no result for this record' });
          continue;
        }
        sent += 1;
        await this.markReplayed(record, streamName, res.SequenceNumber, now().toISOString());
      }
    }
    return { sent, failed, skipped };
  }

  private async markReplayed(record: QuarantinedRecord, to: string, sequenceNumber: string, at: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: { [TABLE.partitionKey]: { S: record.key.pk }, [TABLE.sortKey]: { S: record.key.sk } },
          UpdateExpression: 'SET replayedAt = :at, replayedTo = :to, replayedSequenceNumber = :seq ADD replays :one',
          // The item may have expired (TTL) meanwhile: do not create a stub.
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
          ExpressionAttributeValues: { ':at': { S: at }, ':to': { S: to }, ':seq': { S: sequenceNumber }, ':one': { N: '1' } },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw new ReplayError('mark', err);
    }
  }

  /** Full items of the keys a due-index query returned. */
  private async fetch(keys: Array<Record<string, AttributeValue>>): Promise<Array<Record<string, AttributeValue>>> {
    const out: Array<Record<string, AttributeValue>> = [];
    for (const k of keys) {
      const items = await this.queryAll({
        TableName: this.table,
        KeyConditionExpression: '#pk = :pk AND #sk = :sk',
        ExpressionAttributeNames: { '#pk': TABLE.partitionKey, '#sk': TABLE.sortKey },
        ExpressionAttributeValues: { ':pk': k[TABLE.partitionKey]!, ':sk': k[TABLE.sortKey]! },
      });
      out.push(...items);
    }
    return out;
  }

  private queryAll(input: QueryCommandInput): Promise<Array<Record<string, AttributeValue>>> {
    return queryAll(this.client, input);
  }

  private scanAll(input: ScanCommandInput): Promise<Array<Record<string, AttributeValue>>> {
    return scanAll(this.client, input);
  }
}
