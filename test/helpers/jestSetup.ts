/**
 * Setup of the test files that may use DynamoDB: on an existing endpoint
 * (TIDEWATCH_TEST_DYNAMODB_ENDPOINT) tables take seconds to create, and the
 * tables a file made are deleted after it.
 */
if (process.env['TIDEWATCH_TEST_DYNAMODB_ENDPOINT']) {
  jest.setTimeout(300_000);
  afterAll(async () => {
    const { dropTestTables } = await import('./dynamo');
    await dropTestTables();
  });
}
