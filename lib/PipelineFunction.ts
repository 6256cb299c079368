import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LAMBDA_BUNDLING, LAMBDA_NODE_OPTIONS } from './bundling';
import type { PipelineFileBundle } from './PipelineFileBundle';

/** The repository root: lock file, tsconfig and the handlers live here. */
export const PROJECT_ROOT = join(__dirname, '..');

export interface PipelineFunctionProps {
  /** The handler file (exports `handler`), absolute. */
  readonly entry: string;
  readonly description: string;
  /** The pipeline file and its schemas, copied into the bundle. */
  readonly pipelineFiles: PipelineFileBundle;
  /** Environment variables (names from `ENV` in lambdas/core/contract.ts). */
  readonly environment: Readonly<Record<string, string>>;
  /** MB, 128..10240. */
  readonly memorySize: number;
  /** 1 s..15 min. */
  readonly timeout: Duration;
  readonly logRetention: logs.RetentionDays;
}

/**
 * A tidewatch handler: Node.js 22 on arm64, bundled locally by esbuild (no
 * Docker) with the pipeline file inside, its own log group and its own role
 * with nothing attached: permissions come only from grants on the resources it
 * uses (`logGroup.grantWrite`, `table.grantReadWriteData`, ...), so the
 * managed AWSLambdaBasicExecutionRole (logs:* on every log group) is not needed.
 */
export class PipelineFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      // Logs have their own retention; an orphaned log group after `cdk destroy` would only cost money.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (tidewatch)`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: { ...props.environment, NODE_OPTIONS: LAMBDA_NODE_OPTIONS },
      bundling: {
        forceDockerBundling: false,
        // Bundle the AWS SDK too (it is not external): the deployed code runs the SDK
        // version the tests ran, not whichever version the Lambda runtime ships this month.
        ...LAMBDA_BUNDLING,
        externalModules: [...LAMBDA_BUNDLING.externalModules],
        commandHooks: props.pipelineFiles.commandHooks(),
      },
    });

    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the runtime tidewatch targets and tests (esbuild target node22); moving to a newer runtime is a deliberate, tested change.',
    });
    const kmsReason =
      'The CDK grant methods for KMS-encrypted resources (table.grantReadWriteData, topic.grantPublish, queue.grantSendMessages) ' +
      'emit the kms:GenerateDataKey* and kms:ReEncrypt* action families; the resource is the one pipeline key, nothing else.';
    Validations.of(this.role).acknowledge(
      { id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason: kmsReason },
      { id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason: kmsReason },
    );
  }
}
