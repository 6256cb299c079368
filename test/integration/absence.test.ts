/**
 * Absence hysteresis (resolveAfter) on the real DynamoDB store (dynalite):
 * redelivered batches, concurrent tickers and a publish that fails after the
 * transition was recorded still give exactly one FIRING and one RESOLVED,
 * with stable transition ids.
 */
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { Engine } from '../../lambdas/core/Engine';
import type { AlertTransition } from '../../lambdas/core/lifecycle';
import { parsePipeline } from '../../lambdas/core/pipeline';
import { freshTable, instrumentedClient, startDynalite } from '../helpers/dynamo';
import { shardRecords, T0 } from '../helpers/factories';

const M = 60_000;
const PIPELINE = `
streams:
  telemetry: { timestamp: ts, outOfOrderness: 0s, idleTimeout: 10m }
rules:
  - alert: HeartbeatMissing
    stream: telemetry
    groupBy: [host]
    absent: 2m
    resolveAfter: 1m
    annotations: { summary: '{{host}}: no heartbeat for {{absentFor}}' }
`;

let dynamo: { endpoint: string; stop: () => Promise<void> };
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.stop();
});

describe('absence resolveAfter on DynamoDB', () => {
  it('fires once and resolves once, whatever is redelivered or run twice', async () => {
    // GIVEN two engines (two containers) on one table; the first publish of each transition fails after it was recorded
    const table = await freshTable(dynamo.endpoint);
    const pipeline = parsePipeline(PIPELINE, 'absence.yaml');
    const clock = { t: T0, now() { return this.t; } };
    const delivered: AlertTransition[] = [];
    const failedOnce = new Set<string>();
    const publish = async (t: AlertTransition) => {
      if (!failedOnce.has(t.transitionId)) {
        failedOnce.add(t.transitionId);
        throw new Error('SNS unavailable');
      }
      delivered.push(t);
    };
    const engine = () => new Engine({ pipeline, stream: 'telemetry', store: new DynamoDBStateStore({ client: instrumentedClient(dynamo.endpoint).client, tableName: table }), clock, publish, publishLeaseMs: 0 });
    const [a, b] = [engine(), engine()];
    const s = 'shardId-000000000000';
    let seq = 1n;
    const beat = async (e: Engine, hosts: string[], ts: number) => {
      const records = shardRecords(s, hosts.map((host) => ({ host, ts })), seq);
      seq += BigInt(hosts.length);
      await e.processBatch(s, records).then(async (r) => (r.retryFrom !== null ? e.processBatch(s, records) : r)); // Lambda retries a failed batch
      await (e === a ? b : a).processBatch(s, records); // and delivers it again to the other container
    };

    // WHEN web-1 is silent from T0 + 10s to T0 + 3m, then back every 10 s; web-2 beats throughout
    await beat(a, ['web-1', 'web-2'], T0);
    for (let t = T0 + 10_000; t <= T0 + 5 * M; t += 10_000) {
      clock.t = t + 500;
      await beat(t % 20_000 === 0 ? a : b, t >= T0 + 3 * M ? ['web-1', 'web-2'] : ['web-2'], t);
      await Promise.all([a.advance(), b.advance()]); // concurrent tickers
    }
    await Promise.all([a.advance(), b.advance()]); // republishes what is still recorded in the outbox

    // THEN
    expect(delivered.map((t) => [t.state, t.group, t.at, t.transitionId])).toEqual([
      ['firing', { host: 'web-1' }, T0 + 2 * M, `${delivered[0]!.alertId}:firing`],
      ['resolved', { host: 'web-1' }, T0 + 4 * M, `${delivered[0]!.alertId}:resolved`],
    ]);
    expect(failedOnce.size).toBe(2); // each transition's first publish failed, and it was republished
    expect(delivered[1]!.values).toEqual({ silenceMs: 3 * M });
    expect(delivered[1]!.annotations).toEqual({ summary: 'web-1: seen again after 3m without events' });
  }, 60_000);
});
