/**
 * `tidewatch backtest` reading a Kinesis stream (kinesis-local, HTTP/1.1):
 * AT_TIMESTAMP iterators from --from, the --to cut, every shard, children
 * after their parents across a reshard.
 */
import { ListShardsCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { startKinesis, waitForStreamActive, type KinesisEmulator } from '../../local/emulators';
import { readKinesis } from '../../local/tools/kinesisSource';
import { runBacktest } from '../../local/tools/cli/backtest';
import type { KinesisLikeRecord } from '../../lambdas/core/types';
import { putJson, sleep, uniqueName } from './helpers';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

const body = (r: KinesisLikeRecord) => JSON.parse(Buffer.from(r.data, 'base64').toString('utf8')) as { n: number };

async function collect(it: AsyncIterable<KinesisLikeRecord>): Promise<KinesisLikeRecord[]> {
  const out: KinesisLikeRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

function capture() {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} },
    out: () => out,
    err: () => err,
  };
}

describe('backtest from a Kinesis stream (kinesis-local)', () => {
  let kinesis: KinesisEmulator;
  let client: KinesisClient;

  beforeAll(async () => {
    kinesis = await startKinesis();
    client = kinesis.client();
  }, 60_000);

  afterAll(async () => {
    await kinesis?.stop();
  });

  it('reads from an AT_TIMESTAMP position, every shard, a split shard before its children, up to --to', async () => {
    // GIVEN 20 records, then (after a pause) 20 more in one shard, a split, and 20 in the children
    const stream = uniqueName('bt');
    await kinesis.createStream(stream, 1);
    await putJson(client, stream, Array.from({ length: 20 }, (_, n) => ({ key: `k${n}`, body: { n } })));
    await sleep(1100);
    const from = new Date();
    await sleep(50);
    await putJson(client, stream, Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, body: { n: 20 + i } })));
    const { Shards } = await client.send(new ListShardsCommand({ StreamName: stream }));
    await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: Shards![0]!.ShardId!, NewStartingHashKey: (2n ** 127n).toString() }));
    await waitForStreamActive(client, stream);
    await putJson(client, stream, Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, body: { n: 40 + i } })));
    await sleep(50);
    const afterAll = new Date();
    await sleep(1100);
    await putJson(client, stream, [{ key: 'k0', body: { n: 999 } }]);

    // WHEN
    const fromTimestamp = await collect(readKinesis({ client, stream, from, to: afterAll, emptyPollMs: 10 }));
    const everything = await collect(readKinesis({ client, stream, to: new Date(Date.now() + 60_000), emptyPollMs: 10 }));

    // THEN: the records since `from`, none after `to`; the parent's before any child's
    const ns = fromTimestamp.map((r) => body(r).n);
    expect([...ns].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => 20 + i));
    const parent = fromTimestamp.filter((r) => r.shardId === 'shardId-000000000000');
    const children = fromTimestamp.filter((r) => r.shardId !== 'shardId-000000000000');
    expect(parent.map((r) => body(r).n)).toEqual(Array.from({ length: 20 }, (_, i) => 20 + i));
    expect(new Set(children.map((r) => r.shardId))).toEqual(new Set(['shardId-000000000001', 'shardId-000000000002']));
    expect(fromTimestamp.findIndex((r) => r.shardId !== 'shardId-000000000000')).toBe(20);
    // within a shard in sequence order; across shards in arrival order
    for (const id of new Set(fromTimestamp.map((r) => r.shardId))) {
      const seqs = fromTimestamp.filter((r) => r.shardId === id).map((r) => BigInt(r.sequenceNumber));
      expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    const arrivals = fromTimestamp.map((r) => r.approximateArrivalTimestamp);
    expect(arrivals).toEqual([...arrivals].sort((a, b) => a - b));
    expect(everything.map((r) => body(r).n).sort((a, b) => a - b)).toEqual([...Array.from({ length: 60 }, (_, n) => n), 999]);
  }, 60_000);

  it('backtests the sample pipeline over the stream and prints the transitions as JSON', async () => {
    // GIVEN a minute of checkout traffic (40 requests, 12 errors) a few minutes ago, on two shards
    const stream = uniqueName('bt');
    await kinesis.createStream(stream, 2);
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 3 * 60_000;
    const events = Array.from({ length: 40 }, (_, i) => ({
      key: `web-${i % 2}`,
      body: { eventId: `c-${i}`, ts: new Date(t0 + 1000 + i * 1000).toISOString(), kind: 'http', service: 'checkout', host: `web-${i % 2}`, status: i >= 28 ? 503 : 200, latencyMs: 50 },
    }));
    const from = new Date(Date.now() - 1000);
    await putJson(client, stream, events);
    const c = capture();

    // WHEN
    const code = await runBacktest(['--pipeline', 'pipelines/sample.yaml', '--kinesis-stream', stream, '--endpoint', kinesis.endpoint, '--from', from.toISOString(), '--json', '--windows', '-q'], c.io);

    // THEN: the early alert (it holds from the 28th request on: 1 error of 29 is not > 5%, 2 of 30 is),
    // then its resolution by the empty minute after (the flush), and the window of the minute
    expect(c.err()).toBe('');
    expect(code).toBe(0);
    const lines = c.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const transitions = lines.filter((l) => l['type'] === 'transition');
    expect(transitions.map((t) => [t['rule'], t['state'], t['group'], t['windowStart'], t['afterInput'] ?? false])).toEqual([
      ['HighErrorRate', 'firing', { service: 'checkout' }, new Date(t0).toISOString(), false],
      ['HighErrorRate', 'resolved', { service: 'checkout' }, new Date(t0 + 60_000).toISOString(), true],
    ]);
    expect(transitions[1]!['values']).toEqual({ errors: 0, total: 0 });
    const windows = lines.filter((l) => l['type'] === 'window' && l['rule'] === 'HighErrorRate');
    expect(windows).toEqual([
      { type: 'window', rule: 'HighErrorRate', group: { service: 'checkout' }, windowStart: new Date(t0).toISOString(), windowEnd: new Date(t0 + 60_000).toISOString(), values: { errors: 12, total: 40 }, events: 40, holds: true, afterInput: true },
    ]);
    const summary = lines[lines.length - 1]!;
    expect(summary).toMatchObject({ type: 'summary', records: 40, events: 40, rejected: {}, late: 0, flushed: true, openWindows: 0 });
    expect(summary['alerts']).toMatchObject({ HighErrorRate: { fired: 1, resolved: 1, groups: 1 } });
  }, 60_000);

  it('says which stream it could not read', async () => {
    const c = capture();
    const code = await runBacktest(['--kinesis-stream', 'no-such-stream', '--endpoint', kinesis.endpoint, '-q'], c.io);
    expect(code).toBe(1);
    expect(c.err()).toMatch(/^tidewatch backtest: reading Kinesis stream no-such-stream: ResourceNotFoundException: /);
  }, 30_000);
});
