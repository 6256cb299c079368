import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { beginsWith, equals } from '../../lambdas/adapters/dynamodb/expressions';
import { QuarantineRepository } from '../../lambdas/adapters/dynamodb/QuarantineRepository';
import { StateTable } from '../../lambdas/adapters/dynamodb/StateTable';
import { aggregateLayout, alertLayout, ATTR, dueLayout, modelLayout, paneLayout, type NativeItem } from '../../lambdas/adapters/dynamodb/tableLayout';
import { modelInAlertRecord, storedVerdict, type ModelRecord } from '../../lambdas/core/anomaly/rule';
import type { AnomalyVerdict } from '../../lambdas/core/anomaly/types';
import { TABLE } from '../../lambdas/core/contract';
import { quarantineOrder } from '../../lambdas/core/state/StateProtocol';
import { descriptor } from '../../lambdas/core/fold';
import { groupFromKey } from '../../lambdas/core/group';
import type { AlertState } from '../../lambdas/core/lifecycle';
import { RuleAggregates, type FixedPartialJson, type SessionPartialJson } from '../../lambdas/core/partials';
import { windowAcc, type StoredPane } from '../../lambdas/core/panes';
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
  /** Anomaly rules: the window's verdict as its model stored it (a window the model learned among its last 16). */
  readonly anomaly?: AnomalyVerdict;
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
  /** The record's data exactly as received (base64); for a sub-event, the sub-event's own bytes. */
  readonly data: string;
  /** Set for a sub-event of a record (a KPL user record, a log event, a line): its index in the record. */
  readonly index?: number;
  /** Set once `tidewatch quarantine replay` sent it again. */
  readonly replayed: ReplayMark | null;
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
  private readonly table: StateTable;

  constructor(
    client: DynamoDBClient,
    tableName: string,
    readonly pipeline: Pipeline,
  ) {
    this.table = new StateTable({ client, tableName });
  }

  private windowRule(name: string): WindowRule {
    const rule = this.pipeline.rules.find((r) => r.name === name);
    if (!rule) throw new Error(`no rule "${name}" in ${this.pipeline.file} (rules: ${this.pipeline.rules.map((r) => r.name).join(', ')})`);
    if (rule.type !== 'window') throw new Error(`rule "${name}" is an absence rule: it has no windows (try 'tidewatch alerts --rule ${name}')`);
    return rule;
  }

  /** Windows of a rule with their current aggregates, newest first. `all` includes evaluated (finished) windows. */
  async windows(ruleName: string, opts: { all?: boolean } = {}): Promise<WindowView[]> {
    const rule = this.windowRule(ruleName);
    // Every window (a scan), or the windows not yet evaluated (the due buckets and the due index, then each item).
    const items = opts.all
      ? await this.table.scan('aggregate', 'aggregate.list', aggregateLayout.rulePrefix(rule.name), beginsWith(ATTR.pk, aggregateLayout.rulePrefix(rule.name)))
      : await this.openKeys(rule.name)
          .then((keys) => this.fetch(keys, rule.window.kind === 'hopping'))
          // A due bucket lists its windows until the closer deletes it: the ones finished since are left out.
          .then((fetched) => fetched.filter((item) => aggregateLayout.decode(item).due));
    const ra = new RuleAggregates(rule);
    const out: WindowView[] = [];
    // Anomaly rules: one read of each group's model, for the verdicts of its learned windows: the model the alert item
    // keeps (anomaly/rule.ts, modelInAlertRecord), else the model item (a seasonal model, or one from before the move).
    const models = new Map<string, Promise<ModelRecord | undefined>>();
    const verdictOf = async (groupKey: string, start: number): Promise<AnomalyVerdict | null> => {
      if (!rule.anomaly) return null;
      let m = models.get(groupKey);
      if (!m) {
        const item = (): Promise<ModelRecord | undefined> => this.table.get('model', 'model.read', modelLayout.key(rule.name, groupKey)).then((it) => (it ? modelLayout.decode(it).record : undefined));
        m = modelInAlertRecord(rule.anomaly)
          ? this.table.get('alert', 'alert.read', alertLayout.key(rule.name, groupKey)).then(async (a) => (a ? alertLayout.decode(a).record.model : undefined) ?? item())
          : item();
        models.set(groupKey, m);
      }
      return storedVerdict(await m, start);
    };
    // Hopping rules (lambdas/core/panes.ts): an open window's value is the merge of its panes, kept on the items of the windows they start.
    const panesOf = new Map<string, StoredPane[]>();
    for (const item of items) {
      const a = aggregateLayout.decode(item);
      const pane = paneLayout.state(item);
      if (a.windowStart !== null && Object.keys(pane.slots).length > 0) panesOf.set(a.groupKey, [...(panesOf.get(a.groupKey) ?? []), { start: a.windowStart, state: pane }]);
    }
    for (const item of items) {
      const a = aggregateLayout.decode(item);
      if (a.groupKey === '') continue;
      if (rule.window.kind === 'hopping' && a.windowStart !== null && Object.keys(a.state.slots).length === 0 && !a.state.closed) {
        const panes = panesOf.get(a.groupKey) ?? [];
        const acc = windowAcc(ra, panes, a.windowStart, rule.window.sizeMs);
        const shards = new Set(panes.filter((p) => p.start >= a.windowStart! && p.start < a.windowEnd!).flatMap((p) => Object.keys(p.state.slots)));
        out.push({ rule: rule.name, group: groupFromKey(rule.groupBy, a.groupKey).labels, start: new Date(a.windowStart).toISOString(), end: new Date(a.windowEnd!).toISOString(), closed: false, shards: shards.size, values: ra.results(acc) });
        continue;
      }
      // The closed marker of a window judged empty (issue 19) is no window the group sent anything in.
      if (a.windowStart !== null && a.state.closed && Object.keys(a.state.slots).length === 0) continue;
      const group = groupFromKey(rule.groupBy, a.groupKey).labels;
      const partials = Object.values(a.state.slots).map((slot) => slot.partial);
      const closed = a.state.closed;
      if (a.windowStart !== null) {
        const acc = ra.create();
        for (const p of partials) ra.merge(acc, ra.deserialize(p as FixedPartialJson));
        // Nor the closed marker of a hopping window judged empty, which keeps its (empty) value: a put if absent (Engine.closeEmpty).
        if (closed && acc.n === 0) continue;
        const anomaly = await verdictOf(a.groupKey, a.windowStart);
        out.push({
          rule: rule.name,
          group,
          start: new Date(a.windowStart).toISOString(),
          end: new Date(a.windowEnd!).toISOString(),
          closed,
          shards: partials.length,
          values: ra.results(acc),
          ...(anomaly ? { anomaly } : {}),
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
      const items = await this.table.query('alert', 'alert.list', alertLayout.partition(name), { keyCondition: equals(ATTR.pk, alertLayout.partition(name)) });
      for (const item of items) {
        const { groupKey, record } = alertLayout.decode(item);
        const { state, outbox } = record;
        out.push({
          rule: name,
          group: groupFromKey(rule.groupBy, groupKey).labels,
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
    const records = await new QuarantineRepository(this.table).list(stream, opts.since ? { since: opts.since.getTime() } : {});
    const sorted = records.sort(quarantineOrder);
    return (opts.limit === undefined ? sorted : sorted.slice(0, opts.limit)).map((r) => ({
      stream,
      arrival: new Date(r.arrivalTime).toISOString(),
      reason: r.reason,
      message: r.message,
      shardId: r.shardId,
      sequenceNumber: r.sequenceNumber,
      partitionKey: r.partitionKey,
      data: r.data,
      ...(r.index === undefined ? {} : { index: r.index }),
      replayed: r.replayed ?? null,
    }));
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
    // The item may have expired (TTL) meanwhile: the repository then creates no stub.
    await new QuarantineRepository(this.table)
      .markReplayed(record.stream, { arrivalTime: Date.parse(record.arrival), shardId: record.shardId, sequenceNumber: record.sequenceNumber, ...(record.index === undefined ? {} : { index: record.index }) }, { at, to, sequenceNumber })
      .catch((err: unknown) => {
        throw new ReplayError('mark', err);
      });
  }

  /** The keys of a rule's items not finished: its due buckets' windows (fixed windows), and the due index (sessions, items from before buckets). */
  private async openKeys(rule: string): Promise<NativeItem[]> {
    const [indexed, buckets] = await Promise.all([
      this.table.query('aggregate', 'aggregate.list', aggregateLayout.duePartition(rule), { index: TABLE.dueIndex.name, keyCondition: equals(ATTR.duePk, aggregateLayout.duePartition(rule)) }),
      this.table.query('due', 'due.list', dueLayout.partition(rule), { keyCondition: equals(ATTR.pk, dueLayout.partition(rule)), consistent: true }),
    ]);
    const keys = new Map<string, NativeItem>();
    for (const item of buckets) {
      const b = dueLayout.decode(item);
      for (const groupKey of b.members) {
        const k = aggregateLayout.key(descriptor(rule, groupKey, { start: b.windowStart, end: b.windowEnd }));
        // The window's identity too: a hopping window only listed has no item (its value is in its panes, lambdas/core/panes.ts).
        keys.set(`${k.pk}\u0000${k.sk}`, { [ATTR.pk]: k.pk, [ATTR.sk]: k.sk, [ATTR.rule]: rule, [ATTR.groupKey]: groupKey, [ATTR.windowStart]: b.windowStart, [ATTR.windowEnd]: b.windowEnd, [ATTR.closeAt]: b.closeAt });
      }
    }
    for (const item of indexed) keys.set(`${String(item[ATTR.pk])}\u0000${String(item[ATTR.sk])}`, item);
    return [...keys.values()];
  }

  /**
   * Full items of the keys openKeys returned (gone ones left out; `listed`: a hopping rule's window listed in a due
   * bucket with no item is kept as listed, open, its value in its panes).
   */
  private async fetch(keys: readonly NativeItem[], listed = false): Promise<NativeItem[]> {
    const out: NativeItem[] = [];
    for (const k of keys) {
      const item = await this.table.get('aggregate', 'aggregate.read', { pk: String(k[ATTR.pk]), sk: String(k[ATTR.sk]) });
      if (item) out.push(item);
      else if (listed && k[ATTR.windowStart] !== undefined) out.push(k);
    }
    return out;
  }
}
