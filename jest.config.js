/**
 * Jest projects, by folder: `npm test` runs them all; `npm run test:unit`
 * only the fast, pure tests (seconds), `npm run test:dynamodb` the suites
 * that need a DynamoDB API (dynalite, or TIDEWATCH_TEST_DYNAMODB_ENDPOINT).
 * A test file belongs to the project of its folder, so a test added to an
 * existing folder lands in the right one; a new folder lands in `other`
 * (test/unit/jestProjects.test.ts checks that every file is in exactly one).
 */
const shared = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj)s$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // ESM-only dependencies are transpiled for jest's CommonJS runtime
  transformIgnorePatterns: ['/node_modules/(?!(@marcbachmann/cel-js|@middy/core)/)'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};

/** Folders of each project (under test/). */
const FOLDERS = {
  /** The core and the adapters' unit tests: no emulator, no network. */
  unit: ['unit'],
  /** Against a DynamoDB API: the processor and ticker handlers, the inspect commands, the state-store contract, hostile input, chaos. */
  dynamodb: ['integration', 'contract', 'fuzz', 'chaos'],
  /** CDK assertions and cdk-nag (synthesis). */
  infra: ['infra'],
  /** The local emulators, runner and producer, and the local pipeline end to end. */
  local: ['local', 'e2e'],
};
const claimed = Object.values(FOLDERS).flat();

/** @type {import('jest').Config} */
module.exports = {
  // A global option (ignored inside projects): tests and hooks.
  testTimeout: 60000,
  projects: [
    ...Object.entries(FOLDERS).map(([name, folders]) => ({
      ...shared,
      displayName: name,
      roots: folders.map((f) => `<rootDir>/test/${f}`),
      ...(name === 'dynamodb' ? { setupFilesAfterEnv: ['<rootDir>/test/helpers/jestSetup.ts'] } : {}),
    })),
    {
      ...shared,
      // Every other folder under test/ (test/bench, and any new one).
      displayName: 'other',
      roots: ['<rootDir>/test'],
      testPathIgnorePatterns: [`/test/(${claimed.join('|')})/`],
      setupFilesAfterEnv: ['<rootDir>/test/helpers/jestSetup.ts'],
    },
  ],
};
