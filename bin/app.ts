/**
 * The CDK app (`cdk synth`, `cdk deploy`): one tidewatch stack from the
 * pipeline file named by context `tidewatch:pipelineFile`. Settings come from
 * CDK context; docs/DEPLOY.md lists the keys. No lookups, no environment: synth
 * works without AWS credentials or network.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PipelineError } from '../lambdas/core/pipeline';
import { settingsFromContext } from '../lib/TidewatchContext';
import { TidewatchStack } from '../lib/TidewatchStack';
import { TidewatchConfigError } from '../lib/validate';

function main(): void {
  const app = new App();
  const settings = settingsFromContext((key) => app.node.tryGetContext(key));
  new TidewatchStack(app, settings.stackName, {
    pipeline: settings.pipeline,
    existingStreamArns: settings.existingStreamArns,
  });
  if (settings.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}

try {
  main();
} catch (e) {
  // Configuration mistakes get their message, not a stack trace.
  if (e instanceof PipelineError) {
    console.error(`tidewatch: invalid pipeline file\n  ${e.message}`);
    process.exit(1);
  }
  if (e instanceof TidewatchConfigError) {
    console.error(`tidewatch: invalid configuration: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
