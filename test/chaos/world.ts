/**
 * The world of one chaos seed: the virtual clock, the DynamoDB table (dynalite),
 * Lambda "containers" (each its own DynamoDB client, SNS client and caches, as
 * in test/integration/processor.test.ts), the fault injection points, and the
 * logs the invariants are checked against.
 *
 * Determinism: every DynamoDB request of the seed goes through one scheduler,
 * one request in flight at a time. Concurrent invocations (several shards, the
 * tickers) still interleave, request by request, in an order drawn from the
 * seed, but the order no longer depends on I/O timing, so "the Nth matching
 * request" is the same request on every run of the seed. The fault injectors sit in a DynamoDB
 * middleware (before the request is sent, or after it was applied, to lose its
 * response) and in the SNS mock.
 */
import { atRest } from '../../lambdas/core/closing';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient, InternalServerError, paginateScan, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { InternalErrorException, PublishCommand, SNSClient, type PublishCommandInput } from '@aws-sdk/client-sns';
import type { KinesisStreamBatchResponse } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { equals } from '../../lambdas/adapters/dynamodb/expressions';
import { stateRequestOf, StateTable, type StateRequest } from '../../lambdas/adapters/dynamodb/StateTable';
import { alertLayout, ATTR, progressLayout, watermarkLayout, type NativeItem } from '../../lambdas/adapters/dynamodb/tableLayout';
import { createRuntime } from '../../lambdas/adapters/runtime';
import { ENV } from '../../lambdas/core/contract';
import type { Pipeline } from '../../lambdas/core/types';
import { createProcessorHandler } from '../../lambdas/processor/handler';
import { createTickerHandler, type TickResult } from '../../lambdas/ticker/handler';
import { kinesisEvent } from '../../local/esm/lambdaShapes';
import { testClientConfig } from '../helpers/dynamo';
import { lambdaContext } from '../helpers/lambda';
import type { Random } from '../../local/demo/random';
import type { FaultPlan } from './faults';
import type { SimRecord } from './kinesis';

export const TOPIC = 'arn:aws:sns:us-east-1:123456789012:tidewatch-chaos';
export const STREAM = 'telemetry';

/** Thrown at and after the request where a container "dies" (the process is gone: no further request leaves it). */
export class ContainerCrash extends Error {
  override readonly name = 'ContainerCrash';
}

/**
 * One request at a time. Requests waiting when the previous one completes are
 * dispatched in an order drawn from the seed's own PRNG (after the event loop
 * has let every continuation enqueue its next request), so concurrent
 * invocations interleave differently from seed to seed, and identically on
 * every run of one seed.
 */
export class Scheduler {
  private busy = false;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly pick: (n: number) => number = () => 0) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    try {
      return await fn();
    } finally {
      setImmediate(() => {
        if (this.waiting.length === 0) {
          this.busy = false;
          return;
        }
        const [next] = this.waiting.splice(this.pick(this.waiting.length), 1);
        next!();
      });
    }
  }
}

export class VirtualClock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

/** A fault that hit an invocation: a crash, or a failed DynamoDB request (on `item`) or SNS publish (of `transitionId`). */
export interface FaultOp {
  readonly op: number;
  readonly kind: 'crash' | 'ddb' | 'sns';
  /** `pk|sk` of the item the DynamoDB request was about. */
  readonly item?: string;
  readonly transitionId?: string;
}

export interface Delivery {
  readonly transitionId: string;
  readonly op: number;
  readonly invocation: string;
  readonly message: PublishCommandInput;
}

interface Container {
  readonly id: string;
  readonly kind: 'processor' | 'ticker';
  dead: boolean;
  /** An invocation is running in it (Lambda runs one at a time per container). */
  busy: boolean;
  invocation: number;
  /** Aggregate writes (apply) issued in the current invocation. */
  applies: number;
  readonly client: DynamoDBClient;
  readonly sns: SNSClient;
  processor?: ReturnType<typeof createProcessorHandler>;
  ticker?: ReturnType<typeof createTickerHandler>;
}

export type InvokeOutcome = { readonly kind: 'ok'; readonly failures: readonly string[] } | { readonly kind: 'error'; readonly crashed: boolean };

const silent = () => new Logger({ logLevel: 'SILENT' });
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, trace: () => undefined };
const noMetrics = () => new Metrics({ namespace: 'tidewatch-chaos', serviceName: 'chaos', logger: quiet });

export class World {
  readonly scheduler: Scheduler;
  /** Global number of DynamoDB requests and SNS publishes so far. */
  op = 0;
  readonly deliveries: Delivery[] = [];
  /** Faults that hit each invocation (`container#n`). */
  readonly faultOps = new Map<string, FaultOp[]>();
  /** Every successful write of an alert item: item -> version -> transition ids in its outbox. */
  readonly alertVersions = new Map<string, Map<number, string[]>>();
  /** Every successful write of an alert item: item -> version -> the state's evaluatedThrough (windows evaluated in order, issue 19). */
  readonly evaluatedThrough = new Map<string, Map<number, number | null>>();
  /** Every successful write of an alert item: item -> version -> whether the state is at rest (closing.ts atRest: quiet close judges nothing then). */
  readonly restAt = new Map<string, Map<number, boolean>>();
  /** Every successful write of an alert item: item -> version -> the state's firedInWindow (emit: early: windows below it are bookkeeping only). */
  readonly firedIn = new Map<string, Map<number, number | null>>();
  readonly violations: string[] = [];
  readonly requestsByKind = new Map<string, number>();
  readonly counters = { invocations: 0, tickerInvocations: 0, crashes: 0, ddbRequests: 0, hiddenByIndexLag: 0 };
  /**
   * Index lag (fault 'index-lag'): when each aggregate item was first written (virtual time, `pk|sk`), and
   * how long (ms) a new item stays out of index query results (0: the fault is off for the seed).
   */
  private readonly firstWritten = new Map<string, number>();
  readonly indexLagMs: number;
  /** Last observed stream watermark and shard progress (monotonicity). */
  private lastWatermark = -Infinity;
  private readonly lastProgress = new Map<string, number>();
  private containers = 0;
  private readonly processors: Container[] = [];
  private readonly observer: StateTable;

  constructor(
    readonly endpoint: string,
    readonly table: string,
    readonly clock: VirtualClock,
    readonly pipeline: Pipeline,
    readonly faults: FaultPlan,
    interleaving: Random,
  ) {
    this.scheduler = new Scheduler((n) => interleaving.int(n));
    this.indexLagMs = faults.on('index-lag') ? 1000 + faults.rng('index-lag').int(2001) : 0;
    if (this.indexLagMs > 0) faults.note('index-lag', 0, `index queries do not show aggregate items created less than ${this.indexLagMs} ms (virtual) ago`);
    this.observer = new StateTable({ client: new DynamoDBClient(testClientConfig(endpoint)), tableName: table });
  }

  violation(message: string): void {
    if (!this.violations.includes(message)) this.violations.push(message);
  }

  private noteFault(c: Container, fault: FaultOp): void {
    const key = `${c.id}#${c.invocation}`;
    const list = this.faultOps.get(key) ?? [];
    list.push(fault);
    this.faultOps.set(key, list);
  }

  private crash(c: Container, op: number): never {
    c.dead = true;
    this.counters.crashes += 1;
    this.noteFault(c, { op, kind: 'crash' });
    throw new ContainerCrash(`chaos: container ${c.id} crashed at operation ${op}`);
  }

  newContainer(kind: 'processor' | 'ticker'): Container {
    const id = `${kind === 'processor' ? 'p' : 't'}${++this.containers}`;
    const client = new DynamoDBClient(testClientConfig(this.endpoint));
    const sns = new SNSClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const c: Container = { id, kind, dead: false, busy: false, invocation: 0, applies: 0, client, sns };
    if (kind === 'processor') this.processors.push(c);
    client.middlewareStack.add(
      (next, context) => async (args) =>
        this.scheduler.run(async () => {
          const op = ++this.op;
          this.counters.ddbRequests += 1;
          const command = context.commandName ?? 'unknown';
          const request = stateRequestOf(context);
          const tag = `${c.kind} ${command} ${request?.op ?? 'untagged'}${request?.reread ? ' (reread)' : ''}`;
          this.requestsByKind.set(tag, (this.requestsByKind.get(tag) ?? 0) + 1);
          const lostResponse = this.beforeRequest(c, op, command, request);
          const out = await next(args);
          this.afterWrite(request);
          if (command === 'QueryCommand') this.lagIndex(args.input as { IndexName?: string }, out.output as { Items?: Array<Record<string, { S?: string }>> });
          if (lostResponse) {
            if (request?.op === 'alert.record') this.noteAmbiguousRecord(c, op, request);
            throw new InternalServerError({ message: 'chaos: internal server error (the request was applied; its response is lost)', $metadata: { httpStatusCode: 500 } });
          }
          return out;
        }),
      { step: 'initialize', name: 'tidewatchChaos' },
    );
    mockClient(sns)
      .on(PublishCommand)
      .callsFake(async (input: PublishCommandInput) => this.publish(c, input));
    // Hopping rules list their older windows (issue 21, cost): the path the oracle checks (the deployed default registers them until switched).
    const runtime = createRuntime({ [ENV.table]: this.table, [ENV.topicArn]: TOPIC }, { dynamodb: client, sns, clock: this.clock, pipeline: this.pipeline });
    if (kind === 'processor') c.processor = createProcessorHandler({ logger: silent(), metrics: noMetrics(), runtime: () => runtime, stream: () => STREAM });
    else c.ticker = createTickerHandler({ logger: silent(), metrics: noMetrics(), runtime: () => runtime });
    return c;
  }

  /** Fault decisions before a DynamoDB request is sent; returns true when its response is to be lost after it is applied. */
  private beforeRequest(c: Container, op: number, command: string, request: StateRequest | undefined): boolean {
    if (c.dead) throw new ContainerCrash(`chaos: container ${c.id} is dead`);
    if (request === undefined) throw new Error(`chaos: ${command} without a state-store tag (container ${c.id})`);
    const f = this.faults;
    const pk = request.key.pk;
    // The alert item a failed request was about (the oracle lets a delivery repeat after a fault on its confirmation);
    // the write recording a step is not its confirmation.
    const item = request.key.sk !== undefined && request.op !== 'alert.record' ? `${pk}|${request.key.sk}` : undefined;
    const where = () => `${command} ${request.op} ${pk.slice(0, 60)} (container ${c.id}, invocation ${c.invocation})`;
    // Pane writes too (hopping rules): a crash after one of them, before the batch's check of the windows closed under it, leaves
    // its records in the pane for the retry to find (core/panes.ts, PaneWriter).
    const isApply = (command === 'UpdateItemCommand' && (request.op === 'aggregate.apply' || request.op === 'aggregate.paneApply')) || (command === 'PutItemCommand' && request.op === 'sequence.apply');
    if (isApply && c.kind === 'processor') {
      c.applies += 1;
      if (c.applies === 1 ? f.roll('crash-before-state', op, where) : f.roll('crash-between-state', op, () => `aggregate write #${c.applies}: ${where()}`)) {
        this.crash(c, op);
      }
    }
    // The ticker's state writes: sealing and finishing windows, and learning a closed window (anomaly models).
    // Sequence rules: the ticker's one conditional put per due key (buffered events, deadlines).
    const closing = (command === 'UpdateItemCommand' && request.item === 'aggregate') || (command === 'PutItemCommand' && request.item === 'model') || request.op === 'sequence.apply';
    if (c.kind === 'ticker' && closing && f.roll('crash-between-state', op, () => `window close: ${where()}`)) this.crash(c, op);
    // Due buckets: a processor that dies at the listing of the windows it wrote (after its key writes, before its progress),
    // a closer (processor or ticker) that dies at the delete of a bucket it closed.
    if (request.item === 'due' && request.op !== 'due.list' && f.roll('crash-between-state', op, () => `due list: ${where()}`)) this.crash(c, op);
    if (request.op === 'alert.record' && f.roll('crash-after-state', op, () => `at the alert record write: ${where()}`)) this.crash(c, op);
    if (f.roll('ddb-throttle', op, where)) {
      this.noteFault(c, { op, kind: 'ddb', item });
      throw new ProvisionedThroughputExceededException({ message: 'chaos: rate of requests exceeds the allowed throughput', $metadata: { httpStatusCode: 400 } });
    }
    const isWrite = command !== 'GetItemCommand' && command !== 'QueryCommand';
    // Issue 19: an alert write that records new transitions loses its response more often (after it is applied), so the
    // "published in the same invocation" check has cases to check.
    const recordsTransitions = request.op === 'alert.record' && this.newTransitions(request).length > 0;
    if (recordsTransitions ? f.roll('ddb-5xx', op, where, 0.25) : f.roll('ddb-5xx', op, where)) {
      this.noteFault(c, { op, kind: 'ddb', item });
      const after = isWrite && (recordsTransitions || f.rng('ddb-5xx').chance(0.5));
      if (after) {
        f.trace[f.trace.length - 1] = { ...f.trace[f.trace.length - 1]!, detail: `after it was applied: ${where()}` };
        return true;
      }
      throw new InternalServerError({ message: 'chaos: internal server error', $metadata: { httpStatusCode: 500 } });
    }
    return false;
  }

  /**
   * Index lag: a query on an index (eventually consistent on DynamoDB) does not return aggregate items
   * first written less than `indexLagMs` ago. Only omission is modelled (a new item not yet propagated),
   * the direction that can make a closer skip a window; a finished item that still shows is harmless
   * (closing is idempotent). Base-table reads and queries are strongly consistent and never filtered.
   */
  private lagIndex(input: { IndexName?: string }, output: { Items?: Array<Record<string, { S?: string }>> }): void {
    if (this.indexLagMs === 0 || input.IndexName === undefined || output.Items === undefined) return;
    const now = this.clock.now();
    const kept = output.Items.filter((i) => {
      const written = this.firstWritten.get(`${i['pk']?.S}|${i['sk']?.S}`);
      return written === undefined || now - written >= this.indexLagMs;
    });
    this.counters.hiddenByIndexLag += output.Items.length - kept.length;
    output.Items = kept;
  }

  /**
   * Alert writes that were applied but whose response was lost (issue 19): the transitions they newly
   * recorded, which the writer must publish in the same invocation (it reads the item back).
   */
  readonly ambiguousRecords: Array<{ readonly invocation: string; readonly op: number; readonly ids: readonly string[] }> = [];

  /** The transitions an alert write records that the item's previous version did not hold. */
  private newTransitions(request: StateRequest): string[] {
    if (request.write?.kind !== 'put') return [];
    const written = alertLayout.decode(request.write.item);
    const before = new Set(this.alertVersions.get(`${request.key.pk}|${request.key.sk}`)?.get(written.version - 1) ?? []);
    return written.record.outbox.map((o) => o.transition.transitionId).filter((id) => !before.has(id));
  }

  private noteAmbiguousRecord(c: Container, op: number, request: StateRequest): void {
    const ids = this.newTransitions(request);
    if (ids.length > 0) this.ambiguousRecords.push({ invocation: `${c.id}#${c.invocation}`, op, ids });
  }

  /** Records the outbox of every alert item version written (for "each transition recorded exactly once"), and when aggregate items appeared (index lag). */
  private afterWrite(request: StateRequest | undefined): void {
    if (request?.item === 'aggregate' && request.key.sk !== undefined) {
      const item = `${request.key.pk}|${request.key.sk}`;
      if (!this.firstWritten.has(item)) this.firstWritten.set(item, this.clock.now());
    }
    if (request?.item !== 'alert' || request.write?.kind !== 'put') return;
    const written = alertLayout.decode(request.write.item);
    const item = `${request.key.pk}|${request.key.sk}`;
    const ids = written.record.outbox.map((o) => o.transition.transitionId);
    const versions = this.alertVersions.get(item) ?? new Map<number, string[]>();
    if (versions.has(written.version)) this.violation(`alert item ${item} version ${written.version} written twice`);
    versions.set(written.version, ids);
    this.alertVersions.set(item, versions);
    const evaluated = this.evaluatedThrough.get(item) ?? new Map<number, number | null>();
    evaluated.set(written.version, written.record.state.evaluatedThrough);
    this.evaluatedThrough.set(item, evaluated);
    const rest = this.restAt.get(item) ?? new Map<number, boolean>();
    rest.set(written.version, atRest(written.record.state));
    this.restAt.set(item, rest);
    const fired = this.firedIn.get(item) ?? new Map<number, number | null>();
    fired.set(written.version, written.record.state.firedInWindow);
    this.firedIn.set(item, fired);
  }

  private async publish(c: Container, input: PublishCommandInput): Promise<{ MessageId: string }> {
    const op = ++this.op;
    if (c.dead) throw new ContainerCrash(`chaos: container ${c.id} is dead`);
    const f = this.faults;
    const transitionId = (JSON.parse(input.Message ?? '{}') as { transitionId?: string }).transitionId ?? '?';
    const where = () => `publish ${transitionId.slice(0, 12)}… (container ${c.id}, invocation ${c.invocation})`;
    if (f.roll('crash-after-state', op, () => `at the publish, before SNS accepted it: ${where()}`)) this.crash(c, op);
    let lostResponse = false;
    if (f.roll('sns-error', op, where)) {
      this.noteFault(c, { op, kind: 'sns', transitionId });
      lostResponse = f.rng('sns-error').chance(0.5);
      if (!lostResponse) throw new InternalErrorException({ message: 'chaos: SNS internal error', $metadata: { httpStatusCode: 500 } });
      f.trace[f.trace.length - 1] = { ...f.trace[f.trace.length - 1]!, detail: `after SNS accepted it: ${where()}` };
    }
    this.deliveries.push({ transitionId, op, invocation: `${c.id}#${c.invocation}`, message: input });
    if (lostResponse) throw new InternalErrorException({ message: 'chaos: SNS internal error (the message was accepted)', $metadata: { httpStatusCode: 500 } });
    if (f.roll('crash-after-publish', op, where)) this.crash(c, op);
    return { MessageId: `m-${op}` };
  }

  /** Processor containers that are alive and idle, oldest first. */
  idleProcessors(): Container[] {
    return this.processors.filter((c) => !c.dead && !c.busy);
  }

  /** Invokes the processor on one shard's batch in container `c`. */
  async invokeProcessor(c: Container, batch: readonly SimRecord[]): Promise<InvokeOutcome> {
    if (c.busy) throw new Error(`chaos: container ${c.id} already runs an invocation`);
    c.busy = true;
    try {
      return await this.invokeIn(c, batch);
    } finally {
      c.busy = false;
    }
  }

  private async invokeIn(c: Container, batch: readonly SimRecord[]): Promise<InvokeOutcome> {
    c.invocation += 1;
    c.applies = 0;
    this.counters.invocations += 1;
    const key = `${c.id}#${c.invocation}`;
    let result: KinesisStreamBatchResponse | undefined;
    let thrown: unknown;
    try {
      result = (await c.processor!(kinesisEvent(batch), lambdaContext())) as KinesisStreamBatchResponse;
    } catch (err) {
      thrown = err;
    }
    const faulted = this.faultOps.has(key);
    await this.observe(`after a batch of ${batch[0]?.shardId} in ${key}`);
    if (c.dead) return { kind: 'error', crashed: true };
    if (thrown !== undefined) {
      if (!faulted) this.violation(`processor threw without an injected fault (${key}): ${String(thrown)}`);
      return { kind: 'error', crashed: false };
    }
    const failures = (result?.batchItemFailures ?? []).map((f) => f.itemIdentifier ?? '');
    if (failures.length > 0 && !faulted) this.violation(`processor reported batch item failures without an injected fault (${key}): ${failures.join(', ')}`);
    return { kind: 'ok', failures };
  }

  /** Invokes the ticker in container `c`; null when it failed. */
  async invokeTicker(c: Container): Promise<TickResult | null> {
    c.invocation += 1;
    c.applies = 0;
    this.counters.tickerInvocations += 1;
    const key = `${c.id}#${c.invocation}`;
    try {
      const out = (await c.ticker!({}, lambdaContext('tidewatch-ticker'))) as TickResult;
      await this.observe(`after tick ${key}`);
      return out;
    } catch (err) {
      await this.observe(`after tick ${key}`);
      if (!this.faultOps.has(key)) this.violation(`ticker threw without an injected fault (${key}): ${String(err)}`);
      return null;
    }
  }

  /** Reads the stream watermark (never faulted, after every invocation; with `progress`, the shards' progress too): neither may go backwards. */
  async observe(when: string, progress = false): Promise<void> {
    const partition = progressLayout.partition(STREAM);
    const [wm, shards] = await this.scheduler.run(() =>
      Promise.all([
        this.observer.get('watermark', 'watermark.read', watermarkLayout.key(STREAM)),
        progress ? this.observer.query('progress', 'progress.list', partition, { keyCondition: equals(ATTR.pk, partition), consistent: true }) : undefined,
      ]),
    );
    const w = watermarkLayout.decode(wm);
    if (w < this.lastWatermark) this.violation(`stream watermark went backwards ${when}: ${this.lastWatermark} -> ${w}`);
    this.lastWatermark = Math.max(this.lastWatermark, w);
    for (const p of (shards ?? []).map((i) => progressLayout.decode(i))) {
      const before = this.lastProgress.get(p.shardId) ?? -Infinity;
      if (p.maxEventTime < before) this.violation(`progress of ${p.shardId} went backwards ${when}: ${before} -> ${p.maxEventTime}`);
      this.lastProgress.set(p.shardId, Math.max(before, p.maxEventTime));
    }
  }

  get watermark(): number {
    return this.lastWatermark;
  }

  /** Every item of the table (never faulted), as plain values. */
  async scan(): Promise<NativeItem[]> {
    return this.scheduler.run(async () => {
      const items: NativeItem[] = [];
      for await (const page of paginateScan({ client: this.observer.client }, { TableName: this.table, ConsistentRead: true })) for (const i of page.Items ?? []) items.push(unmarshall(i));
      return items;
    });
  }

  destroy(): void {
    this.observer.client.destroy();
  }
}

export type { Container };
