import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { metricGroupsLayout } from '../../lambdas/adapters/dynamodb/tableLayout';
import { DynamoDBGroupAdmission, groupHash, HOUR_MS } from '../../lambdas/adapters/MetricGroupRegistry';
import { freshTable, instrumentedClient, startDynalite } from '../helpers/dynamo';
import { T0 } from '../helpers/factories';

let dynamo: { endpoint: string; stop: () => Promise<void> };

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.stop();
});

const key = (i: number) => JSON.stringify([`svc-${i}`]);
const HOUR = Math.floor(T0 / HOUR_MS) * HOUR_MS;

/** A seeded shuffle, so the containers meet the groups in different orders. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('DynamoDBGroupAdmission (the metrics cardinality cap across containers)', () => {
  it('admits exactly cap groups per rule and hour however many containers race, and each answers the same on every later ask', async () => {
    // Arrange: 6 containers (own caches, one table), 120 groups, cap 25; each container meets 60 of them, in its own order, in flushes of 10
    const table = await freshTable(dynamo.endpoint);
    const containers = Array.from({ length: 6 }, () => new DynamoDBGroupAdmission({ client: instrumentedClient(dynamo.endpoint).client, tableName: table }));
    const all = Array.from({ length: 120 }, (_, i) => key(i));
    // Act: every container flushes concurrently with the others
    const answers = await Promise.all(
      containers.map(async (c, ci) => {
        const mine = shuffled(all, ci + 1).slice(0, 60);
        const admitted = new Set<string>();
        for (let i = 0; i < mine.length; i += 10) for (const k of await c.admit('R', HOUR, mine.slice(i, i + 10), 25)) admitted.add(k);
        return { mine, admitted };
      }),
    );
    // Assert: the union of everything admitted anywhere is 25 groups, the stored set
    const union = new Set(answers.flatMap((a) => [...a.admitted]));
    expect(union.size).toBe(25);
    const { client } = instrumentedClient(dynamo.endpoint);
    const item = await client.send(new GetItemCommand({ TableName: table, Key: marshall(metricGroupsLayout.key('R', HOUR)), ConsistentRead: true }));
    expect(new Set(item.Item?.['g']?.SS)).toEqual(new Set([...union].map(groupHash)));
    // Every container, asked again about its groups, gives the stored set's answer (a group it refused because the set was full stays refused)
    for (const [ci, c] of containers.entries()) {
      const again = await c.admit('R', HOUR, answers[ci]!.mine, 25);
      expect(new Set(again)).toEqual(new Set(answers[ci]!.mine.filter((k) => union.has(k))));
      expect([...answers[ci]!.admitted].every((k) => again.has(k))).toBe(true);
    }
  });

  it('costs one read per container and hour, then one write per flush with new groups while there is room, and nothing once it knows the set is full', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { client, log } = instrumentedClient(dynamo.endpoint);
    const c = new DynamoDBGroupAdmission({ client, tableName: table });
    // first flush of the hour: a read, then one write for its 3 new groups
    expect(await c.admit('R', HOUR, [key(1), key(2), key(3)], 4)).toEqual(new Set([key(1), key(2), key(3)]));
    expect([log.count('GetItemCommand'), log.count('UpdateItemCommand')]).toEqual([1, 1]);
    // the same groups again: nothing
    await c.admit('R', HOUR, [key(1), key(2), key(3)], 4);
    expect([log.count('GetItemCommand'), log.count('UpdateItemCommand')]).toEqual([1, 1]);
    // two new groups, one place left: the batch does not fit, one by one: one admitted, the set is then full
    expect(await c.admit('R', HOUR, [key(4), key(5)], 4)).toEqual(new Set([key(4)]));
    expect([log.count('GetItemCommand'), log.count('UpdateItemCommand')]).toEqual([1, 2]);
    // full: refused without a request
    expect(await c.admit('R', HOUR, [key(6), key(1)], 4)).toEqual(new Set([key(1)]));
    expect([log.count('GetItemCommand'), log.count('UpdateItemCommand')]).toEqual([1, 2]);
    // another hour and another rule are sets of their own
    expect(await c.admit('R', HOUR + HOUR_MS, [key(6)], 4)).toEqual(new Set([key(6)]));
    expect(await c.admit('Other', HOUR, [key(6)], 4)).toEqual(new Set([key(6)]));
    // a cold container learns the full set with one read and writes nothing
    log.reset();
    const cold = new DynamoDBGroupAdmission({ client, tableName: table });
    expect(await cold.admit('R', HOUR, [key(5), key(2)], 4)).toEqual(new Set([key(2)]));
    expect([log.count('GetItemCommand'), log.count('UpdateItemCommand')]).toEqual([1, 0]);
  });

  it('sets a TTL two days after the hour', async () => {
    const table = await freshTable(dynamo.endpoint);
    const { client } = instrumentedClient(dynamo.endpoint);
    await new DynamoDBGroupAdmission({ client, tableName: table }).admit('R', HOUR, [key(1)], 3);
    const item = await client.send(new GetItemCommand({ TableName: table, Key: marshall(metricGroupsLayout.key('R', HOUR)) }));
    expect(Number(item.Item?.['expiresAt']?.N)).toBe((HOUR + HOUR_MS + 2 * 86_400_000) / 1000);
  });
});
