/**
 * The conditional-write primitive and the expression builder, against a
 * DynamoDB client whose transport is replaced by canned answers (the contract
 * suite runs them on a real API): what a failed condition costs, where the API
 * returns the stored item and where it does not, and what the request tags say.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { and, attributeNotExists, compile, contains, equals, lessThan, or, sizeIs } from '../../../lambdas/adapters/dynamodb/expressions';
import { stateRequestOf, StateTable, type StateRequest } from '../../../lambdas/adapters/dynamodb/StateTable';

const KEY = { pk: 'x', sk: 'y' };
const failure = (item?: Record<string, unknown>) =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, ...(item ? { Item: marshall(item) } : {}) });

interface Call {
  readonly command: string;
  readonly input: Record<string, unknown>;
  readonly tag: StateRequest | undefined;
}

/** A client answering from `answer` (by command name) after the state store's middleware ran, never sending anything; every call recorded as it was sent. */
function setup(answer: (command: string, input: Record<string, unknown>, n: number) => unknown) {
  const client = new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const calls: Call[] = [];
  client.middlewareStack.add(
    (_next, context) => async (args) => {
      const command = context.commandName ?? '?';
      const input = structuredClone(args.input) as Record<string, unknown>;
      calls.push({ command, input, tag: stateRequestOf(context) });
      const output = answer(command, input, calls.filter((c) => c.command === command).length);
      return { output: { $metadata: {}, ...(output as object) }, response: {} } as never;
    },
    { step: 'initialize', name: 'cannedAnswers' },
  );
  const of = (command: string) => calls.filter((c) => c.command === command);
  return { table: new StateTable({ client, tableName: 'state', pageSize: 2 }), calls, of };
}

describe('expressions', () => {
  it('write every name and value as a placeholder, grouped by clause', () => {
    const out = compile({
      update: { set: { a: 1, 'b-1': 'x' }, setIfNotExists: { closeAt: 5 }, add: { v: 1 }, remove: ['duePk'] },
      condition: and(or(attributeNotExists('a'), lessThan('a', 3)), equals('b-1', 'old')),
    });
    expect(out).toEqual({
      UpdateExpression: 'SET #n0 = :v0, #n1 = :v1, #n2 = if_not_exists(#n2, :v2) ADD #n3 :v3 REMOVE #n4',
      ConditionExpression: '(attribute_not_exists(#n0) OR #n0 < :v4) AND #n1 = :v5',
      ExpressionAttributeNames: { '#n0': 'a', '#n1': 'b-1', '#n2': 'closeAt', '#n3': 'v', '#n4': 'duePk' },
      ExpressionAttributeValues: { ':v0': { N: '1' }, ':v1': { S: 'x' }, ':v2': { N: '5' }, ':v3': { N: '1' }, ':v4': { N: '3' }, ':v5': { S: 'old' } },
    });
  });

  it('write a sum read from an attribute as the item held it (setSum: a version raised and copied in one update)', () => {
    const out = compile({ update: { set: { a: 1 }, setSum: { v: { from: 'v', ifAbsent: 0, plus: 1 }, pv_s: { from: 'v', ifAbsent: 0, plus: 1 } } } });
    expect(out).toEqual({
      UpdateExpression: 'SET #n0 = :v0, #n1 = if_not_exists(#n1, :v1) + :v2, #n2 = if_not_exists(#n1, :v3) + :v4',
      ExpressionAttributeNames: { '#n0': 'a', '#n1': 'v', '#n2': 'pv_s' },
      ExpressionAttributeValues: { ':v0': { N: '1' }, ':v1': { N: '0' }, ':v2': { N: '1' }, ':v3': { N: '0' }, ':v4': { N: '1' } },
    });
  });

  it('write size() and contains() for sets, and ADD a set as a string set', () => {
    const out = compile({ update: { add: { g: new Set(['a', 'b']) } }, condition: or(attributeNotExists('g'), sizeIs('g', '<', 3), contains('g', 'a')) });
    expect(out).toEqual({
      UpdateExpression: 'ADD #n0 :v0',
      ConditionExpression: 'attribute_not_exists(#n0) OR size(#n0) < :v1 OR contains(#n0, :v2)',
      ExpressionAttributeNames: { '#n0': 'g' },
      ExpressionAttributeValues: { ':v0': { SS: ['a', 'b'] }, ':v1': { N: '3' }, ':v2': { S: 'a' } },
    });
  });
});

describe('StateTable.write: the conditional-write primitive', () => {
  const spec = { kind: 'update' as const, update: { set: { a: 2 } }, condition: equals('a', 1) };
  const reject = (err: unknown) => () => {
    throw err;
  };

  it('asks for the stored item with a failed condition, and takes it from the failure when the API returns it (DynamoDB): no read', async () => {
    const { table, of } = setup(reject(failure({ pk: 'x', sk: 'y', a: 7 })));
    const out = await table.write('aggregate', 'aggregate.apply', KEY, spec, 'current');
    expect(out).toEqual({ ok: false, current: { pk: 'x', sk: 'y', a: 7 } });
    expect(of('UpdateItemCommand')[0]!.input['ReturnValuesOnConditionCheckFailure']).toBe('ALL_OLD');
    expect(of('GetItemCommand')).toHaveLength(0);
  });

  it('reads the item once, strongly consistent, when the API does not return it (dynalite)', async () => {
    const { table, calls, of } = setup((command) => {
      if (command === 'UpdateItemCommand') throw failure();
      return { Item: marshall({ pk: 'x', sk: 'y', a: 8 }) };
    });
    const out = await table.write('aggregate', 'aggregate.apply', KEY, spec, 'current');
    expect(out).toEqual({ ok: false, current: { pk: 'x', sk: 'y', a: 8 } });
    expect(of('GetItemCommand').map((c) => c.input)).toEqual([{ TableName: 'state', Key: marshall(KEY), ConsistentRead: true }]);
    expect(calls.map((c) => [c.command, c.tag?.op, c.tag?.reread ?? false])).toEqual([
      ['UpdateItemCommand', 'aggregate.apply', false],
      ['GetItemCommand', 'aggregate.apply', true],
    ]);
  });

  it('neither asks for nor reads the item when the refusal is the answer', async () => {
    const { table, of } = setup(reject(failure()));
    expect(await table.write('aggregate', 'aggregate.seal', KEY, spec, 'ignore')).toEqual({ ok: false, current: undefined });
    expect(of('UpdateItemCommand')[0]!.input['ReturnValuesOnConditionCheckFailure']).toBeUndefined();
    expect(of('GetItemCommand')).toHaveLength(0);
  });

  it('throws any other error as it is (the batch is retried)', async () => {
    const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput'), { name: 'ProvisionedThroughputExceededException' });
    const { table } = setup(reject(throttled));
    await expect(table.write('alert', 'alert.record', KEY, { kind: 'put', item: { ...KEY, v: 1 } }, 'current')).rejects.toBe(throttled);
  });

  it('returns the item after the write when asked, and tags the request with what it writes', async () => {
    const { table, calls } = setup(() => ({ Attributes: marshall({ pk: 'x', sk: 'y', a: 2 }) }));
    expect(await table.write('aggregate', 'aggregate.apply', KEY, { ...spec, returnNew: true }, 'current')).toEqual({ ok: true, attributes: { pk: 'x', sk: 'y', a: 2 } });
    expect(calls[0]!.input).toMatchObject({ ReturnValues: 'ALL_NEW', UpdateExpression: 'SET #n0 = :v0', ConditionExpression: '#n0 = :v1' });
    expect(calls.map((c) => c.tag)).toEqual([{ item: 'aggregate', op: 'aggregate.apply', key: KEY, write: { ...spec, returnNew: true } }]);
  });
});

describe('StateTable.query', () => {
  it('follows every page (the SDK paginator), each page tagged', async () => {
    const pages = [
      { Items: [marshall({ pk: 'p', sk: '1' }), marshall({ pk: 'p', sk: '2' })], LastEvaluatedKey: marshall({ pk: 'p', sk: '2' }) },
      { Items: [], LastEvaluatedKey: marshall({ pk: 'p', sk: '3' }) },
      { Items: [marshall({ pk: 'p', sk: '4' })] },
    ];
    const { table, calls } = setup((_c, _i, n) => pages[n - 1]);
    const items = await table.query('alert', 'alert.list', 'p', { keyCondition: equals('pk', 'p'), consistent: true });
    expect(items.map((i) => i['sk'])).toEqual(['1', '2', '4']);
    expect(calls.map((c) => [c.input['Limit'], (c.input['ExclusiveStartKey'] as { sk?: { S: string } } | undefined)?.sk?.S, c.input['ConsistentRead'], c.tag?.op])).toEqual([
      [2, undefined, true, 'alert.list'],
      [2, '2', true, 'alert.list'],
      [2, '3', true, 'alert.list'],
    ]);
  });
});
