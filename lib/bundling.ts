/**
 * How the Lambda functions' code is bundled and run (lib/PipelineFunction.ts),
 * in one place: `npm run bench:core` bundles and runs the core the same way,
 * so that it measures the code as it is deployed.
 */
export const LAMBDA_BUNDLING = {
  /** esbuild's syntax target: the Lambda runtime (Node.js 22). */
  target: 'node22',
  minify: true,
  keepNames: true,
  sourceMap: true,
  sourcesContent: false,
  // protobufjs: @datadog/sketches-js requires it lazily, only in toProto/fromProto,
  // which tidewatch never calls (it serialises sketches itself). It is installed only as a
  // dependency of aws-kinesis-agg (a dev dependency: the core reads KPL records with its own reader).
  externalModules: ['protobufjs', 'protobufjs/*'],
} as const;

/** NODE_OPTIONS of the functions: stack traces of the bundled code point at the sources. */
export const LAMBDA_NODE_OPTIONS = '--enable-source-maps';
