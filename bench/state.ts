/**
 * State cost of tidewatch: the REAL processor handler (createProcessorHandler
 * + createRuntime, the DynamoDB state store) against dynalite through a
 * counting client, SNS through aws-sdk-client-mock on a real SNSClient. A
 * fresh table per scenario; afterwards the stored aggregates are read back and
 * checked against the totals computed from the workload.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { KinesisStreamBatchResponse } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { createRuntime } from '../lambdas/adapters/runtime';
import { ENV } from '../lambdas/core/contract';
import { RuleAggregates, type FixedPartialJson, type SessionPartialJson } from '../lambdas/core/partials';
import { windowsFromPanes } from '../lambdas/core/panes';
import type { KeyState } from '../lambdas/core/StateStore';
import type { Pipeline, WindowRule } from '../lambdas/core/types';
import { createProcessorHandler } from '../lambdas/processor/handler';
import { drive, type DriveResult } from './drive';
import type { PeerScenario } from './peers/updates';
import { aggregateLayout, ATTR, fromAttributeValues, kindOf, paneLayout } from '../lambdas/adapters/dynamodb/tableLayout';
import { countingClient, freshStateTable, RequestCounter, scanAll, type Dynalite } from './dynamo';
import { kinesisEvent } from '../local/esm/lambdaShapes';
import { benchContext, compareTotals, type Comparison, type Totals } from './workload';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:tidewatch-alerts';
/** Invocations of one batch at most (the first and its retries). */
const MAX_ATTEMPTS = 4;

/** What the engine reported over the run's batches (for diagnosing a WRONG result). */
export interface EngineStats {
  late: number;
  duplicates: number;
  rejected: number;
  conflicts: number;
  /** Invocations that stopped at a transient error (retried from the reported record, as Lambda does). */
  retries: number;
  errors: string[];
}

export interface ScenarioResult {
  readonly name: string;
  readonly events: number;
  readonly batchSize: number;
  readonly counter: RequestCounter;
  readonly run: DriveResult;
  /** SNS publishes (alert transitions). */
  readonly publishes: number;
  readonly check: Comparison;
  /** The totals as stored, keyed like expectedTotals. */
  readonly stored: Totals;
  /** tidewatch only: the engine's batch reports, summed. */
  readonly engine?: EngineStats;
  /** tidewatch only: windows of anomaly rules closed (sealed and finished) by the end of the run, over all groups. */
  readonly closedAnomalyWindows?: number;
  /** tidewatch only: the pipeline has an anomaly rule. */
  readonly pipelineHasAnomaly?: boolean;
}

export interface TidewatchScenario extends PeerScenario {
  readonly pipeline: Pipeline;
}

export async function runTidewatch(s: TidewatchScenario): Promise<ScenarioResult> {
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  const table = await freshStateTable(s.dynalite);
  const counter = new RequestCounter();
  const sns = new SNSClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const snsMock = mockClient(sns);
  snsMock.on(PublishCommand).resolves({ MessageId: 'bench' });
  const clients: Array<{ destroy(): void }> = [];
  const stream = [...s.pipeline.streams.keys()][0]!;
  const engine: EngineStats = { late: 0, duplicates: 0, rejected: 0, conflicts: 0, retries: 0, errors: [] };
  const run = await drive({
    rounds: s.rounds,
    redeliver: s.redeliver,
    cold: s.cold,
    counter,
    container: () => {
      // One Lambda container: its own DynamoDB client, runtime, caches and handler.
      const clock = { t: 0, now: () => clock.t };
      const dynamodb = countingClient(s.dynalite.endpoint, counter, { [table]: 'state' });
      clients.push(dynamodb);
      // Hopping rules list their older windows (issue 21, cost; TIDEWATCH_BENCH_REGISTER=1: register them, as deployed until switched).
      const runtime = createRuntime(
        { [ENV.table]: table, [ENV.topicArn]: TOPIC, ...(process.env['TIDEWATCH_BENCH_REGISTER'] === '1' ? { [ENV.listHoppingWindows]: 'false' } : {}) },
        { dynamodb, sns, clock, pipeline: s.pipeline },
      );
      // Observe the engine's batch reports (the handler only logs them); the handler itself is unchanged.
      const e = runtime.engine(stream);
      const processBatch = e.processBatch.bind(e);
      e.processBatch = async (shardId, records) => {
        const report = await processBatch(shardId, records);
        engine.late += report.late;
        engine.duplicates += report.duplicates;
        engine.rejected += report.rejected.length;
        engine.conflicts += report.conflicts;
        if (report.retryFrom !== null) {
          engine.retries += 1;
          if (engine.errors.length < 3) engine.errors.push(report.error instanceof Error ? report.error.message : String(report.error));
        }
        return report;
      };
      const handler = createProcessorHandler({
        logger: new Logger({ logLevel: 'SILENT' }),
        metrics: new Metrics({ namespace: 'tidewatch-bench', serviceName: 'bench' }),
        runtime: () => runtime,
        stream: () => stream,
      });
      return {
        invoke: async (b) => {
          // Lambda invokes shortly after the newest record of the batch arrived.
          clock.t = Math.max(...b.records.map((r) => r.approximateArrivalTimestamp * 1000)) + 1000;
          // As Lambda with ReportBatchItemFailures: retry from the reported record (a few times).
          let records = b.records;
          for (let attempt = 1; ; attempt++) {
            const res = (await handler(kinesisEvent(records), benchContext('tidewatch-processor'))) as KinesisStreamBatchResponse;
            const from = res.batchItemFailures[0]?.itemIdentifier;
            if (from === undefined) return 0;
            if (attempt >= MAX_ATTEMPTS) return res.batchItemFailures.length;
            records = records.slice(Math.max(0, records.findIndex((r) => r.sequenceNumber === from)));
          }
        },
      };
    },
  });
  const publishes = snsMock.commandCalls(PublishCommand).length;
  snsMock.restore();
  sns.destroy();
  for (const c of clients) c.destroy();
  await counter.sizeUnsized(s.dynalite.admin);
  const { totals: stored, closedAnomalyWindows } = await tidewatchTotals(s.dynalite, table, s.pipeline);
  return { name: s.name, events: s.rounds.flat().reduce((n, b) => n + b.records.length, 0), batchSize: s.batchSize, counter, run, publishes, check: compareTotals(s.expected, stored), stored, engine, closedAnomalyWindows, pipelineHasAnomaly: s.pipeline.rules.some((r) => r.type === 'window' && r.anomaly !== undefined) };
}

/** The counts and sums of the aggregate items as stored (merged over shards), keyed like expectedTotals. */
async function tidewatchTotals(d: Dynalite, table: string, pipeline: Pipeline): Promise<{ totals: Totals; closedAnomalyWindows: number }> {
  const rules = new Map(pipeline.rules.filter((r): r is WindowRule => r.type === 'window').map((r) => [r.name, new RuleAggregates(r)]));
  const keep: Record<string, readonly string[]> = { HighErrorRate: ['errors', 'total'], SlowResponses: ['total'], SessionBurst: ['requests', 'volume'], ErrorSpike: ['errors', 'total'] };
  const anomalyRules = new Set(pipeline.rules.filter((r) => r.type === 'window' && r.anomaly !== undefined).map((r) => r.name));
  const out: Totals = new Map();
  let closedAnomalyWindows = 0;
  // Hopping rules (lambdas/core/panes.ts): an open window's value is in its panes, a finished one's in its item.
  const panes = new Map<string, Array<{ groupKey: string; start: number; state: KeyState }>>();
  const finals = new Set<string>();
  for (const raw of await scanAll(d.admin, table)) {
    const item = fromAttributeValues(raw);
    if (kindOf(String(item[ATTR.pk])) !== 'aggregate') continue;
    const a = aggregateLayout.decode(item);
    const pane = paneLayout.state(item);
    if (Object.keys(pane.slots).length > 0) panes.set(a.rule, [...(panes.get(a.rule) ?? []), { groupKey: a.groupKey, start: a.windowStart!, state: pane }]);
    if (a.windowStart !== null && Object.keys(a.state.slots).length === 0) continue;
    if (a.windowStart !== null) finals.add(`${a.rule}|${a.groupKey}|${a.windowStart}`);
    if (anomalyRules.has(a.rule) && a.state.closed && !a.due) closedAnomalyWindows++;
    const ra = rules.get(a.rule);
    const fields = keep[a.rule];
    if (!ra || !fields) continue;
    const group = (JSON.parse(a.groupKey) as string[])[0]!;
    const partials = Object.values(a.state.slots).map((slot) => slot.partial);
    const pick = (values: Record<string, number | null>) => Object.fromEntries(fields.map((f) => [f, values[f] ?? 0]));
    if (a.windowStart === null) {
      const sessions = ra.mergeSessionLists(partials.map((p) => ra.deserializeSessions(p as SessionPartialJson)));
      for (const sess of sessions) out.set(`${a.rule}|${group}|S${sess.start}`, pick(ra.results(sess.value)));
    } else {
      const acc = ra.create();
      for (const p of partials) ra.merge(acc, ra.deserialize(p as FixedPartialJson));
      out.set(`${a.rule}|${group}|${a.windowStart}`, pick(ra.results(acc)));
    }
  }
  for (const [name, list] of panes) {
    const ra = rules.get(name);
    const fields = keep[name];
    const rule = pipeline.rules.find((r): r is WindowRule => r.type === 'window' && r.name === name);
    if (!ra || !fields || rule?.window.kind !== 'hopping') continue;
    for (const [groupKey, windows] of windowsFromPanes(ra, rule.window.sizeMs, rule.window.slideMs, list)) {
      const group = (JSON.parse(groupKey) as string[])[0]!;
      for (const [start, acc] of windows) {
        if (finals.has(`${name}|${groupKey}|${start}`)) continue;
        const values = ra.results(acc);
        out.set(`${name}|${group}|${start}`, Object.fromEntries(fields.map((f) => [f, values[f] ?? 0])));
      }
    }
  }
  return { totals: out, closedAnomalyWindows };
}

