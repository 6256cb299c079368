/**
 * The two state stores a contract suite runs over: in memory, and DynamoDB
 * (dynalite started for the test file, or TIDEWATCH_TEST_DYNAMODB_ENDPOINT).
 * Shared by test/contract/stateStore.contract.test.ts and
 * sequence.contract.test.ts. Call {@link storeFixtures} at the top level of a
 * test file: it registers the beforeAll/afterAll that start and stop DynamoDB.
 */
import { DynamoDBStateStore } from '../../lambdas/adapters/DynamoDBStateStore';
import { InMemoryStateStore } from '../../lambdas/core/InMemoryStateStore';
import type { StateStore } from '../../lambdas/core/StateStore';
import { freshTable, startTestDynamo, testClient, type TestDynamo } from './dynamo';

export interface Stores {
  /** A store on fresh, empty state. */
  readonly store: StateStore;
  /** Another store on the same state, as another Lambda container (its own caches) on the same table. */
  another(): StateStore;
}

export interface StoreFixture {
  readonly name: string;
  /** `pageSize`: items per page of the store's queries, where it pages (DynamoDB). */
  fresh(opts?: { pageSize?: number }): Promise<Stores>;
}

export function storeFixtures(): { readonly inMemory: StoreFixture; readonly onDynamoDB: StoreFixture; /** The DynamoDB endpoint (once started). */ readonly endpoint: () => string } {
  let dynamo: TestDynamo;
  beforeAll(async () => {
    dynamo = await startTestDynamo();
  });
  afterAll(async () => {
    await dynamo.stop();
  });
  const inMemory: StoreFixture = {
    name: 'in memory',
    fresh: async () => {
      const store = new InMemoryStateStore();
      return { store, another: () => new InMemoryStateStore({ sharing: store }) };
    },
  };
  const onDynamoDB: StoreFixture = {
    name: 'DynamoDB',
    fresh: async (opts = {}) => {
      const tableName = await freshTable(dynamo.endpoint);
      const make = () => new DynamoDBStateStore({ client: testClient(dynamo.endpoint), tableName, ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}) });
      return { store: make(), another: make };
    },
  };
  return { inMemory, onDynamoDB, endpoint: () => dynamo.endpoint };
}
