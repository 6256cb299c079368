import { CreateTableCommand, DescribeTableCommand, ResourceInUseException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TABLE } from '../lambdas/core/contract';

/**
 * Creates the state table with the layout the stack deploys (TABLE in
 * contract.ts), for the local emulator and tests, and waits until it is
 * ACTIVE (at once on dynalite; seconds to minutes on DynamoDB). Idempotent.
 */
export async function createStateTable(client: DynamoDBClient, tableName: string, opts: { readonly timeoutMs?: number } = {}): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: TABLE.partitionKey, AttributeType: 'S' },
          { AttributeName: TABLE.sortKey, AttributeType: 'S' },
          { AttributeName: TABLE.dueIndex.partitionKey, AttributeType: 'S' },
          { AttributeName: TABLE.dueIndex.sortKey, AttributeType: 'N' },
        ],
        KeySchema: [
          { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
          { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: TABLE.dueIndex.name,
            KeySchema: [
              { AttributeName: TABLE.dueIndex.partitionKey, KeyType: 'HASH' },
              { AttributeName: TABLE.dueIndex.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...TABLE.dueIndexAttributes] },
          },
        ],
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const deadline = Date.now() + timeoutMs;
  for (let wait = 20; ; wait = Math.min(2_000, wait * 2)) {
    const d = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (d.Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() + wait > deadline) throw new Error(`table ${tableName} did not become ACTIVE within ${timeoutMs} ms (status ${d.Table?.TableStatus ?? 'unknown'})`);
    await new Promise((r) => setTimeout(r, wait));
  }
}
