import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import jest from 'eslint-plugin-jest';

/**
 * The state table's key layout is written once, in lambdas/adapters/dynamodb/tableLayout.ts:
 * no other file spells a key prefix (K#, A#, P#, WM#, D#, Q#, W#, MG#, due#) or a slot attribute
 * prefix (h_, p_). Use aggregateLayout.key(), slotAttributes(), kindOf() and their kin.
 */
const KEY_PREFIX = '/^(K|A|P|WM|D|Q|W|MG|due)#|^[hp]_/';
const keyLayoutOnce = [
  { selector: `Literal[value=${KEY_PREFIX}]`, message: 'A state table key prefix: build keys and attribute names with lambdas/adapters/dynamodb/tableLayout.ts.' },
  { selector: `TemplateElement[value.raw=${KEY_PREFIX}]`, message: 'A state table key prefix: build keys and attribute names with lambdas/adapters/dynamodb/tableLayout.ts.' },
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
      'no-restricted-syntax': ['error', ...keyLayoutOnce],
    },
  },
  {
    // The core is pure: no AWS SDK, no wall clock, no process/environment access.
    files: ['lambdas/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['@aws-sdk/*', 'aws-sdk', 'aws-cdk-lib', 'aws-cdk-lib/*', '@middy/*', '@aws-lambda-powertools/*'], message: 'lambdas/core is pure: AWS SDK and Lambda tooling belong in lambdas/adapters or handlers.' },
          { group: ['../adapters/*', '../../local/*', '**/adapters/**'], message: 'lambdas/core must not import adapters.' },
        ],
      }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'The core takes time from an injected Clock.' },
        { object: 'Math', property: 'random', message: 'The core is deterministic.' },
        { object: 'process', property: 'env', message: 'The core takes configuration as arguments.' },
      ],
      'no-restricted-syntax': ['error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'new Date() reads the wall clock: use the injected Clock.' },
        ...keyLayoutOnce,
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    ...jest.configs['flat/recommended'],
    rules: {
      ...jest.configs['flat/recommended'].rules,
      'jest/no-focused-tests': 'error',
      'jest/no-disabled-tests': 'error',
      'jest/expect-expect': ['error', { assertFunctionNames: ['expect', 'fc.assert', 'assert*'] }],
    },
  },
  {
    // The layout itself, and the test that pins it (a deployed table's keys must not change by accident).
    files: ['lambdas/adapters/dynamodb/tableLayout.ts', 'test/unit/adapters/tableLayout.test.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
