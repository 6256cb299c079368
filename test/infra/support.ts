/** Helpers for the infrastructure tests: synthesis, fixtures, template queries. */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TidewatchStack, type TidewatchStackProps } from '../../lib/TidewatchStack';

export const REPO_ROOT = join(__dirname, '..', '..');
export const SAMPLE_PIPELINE = join(REPO_ROOT, 'pipelines', 'sample.yaml');

export interface Synthesized {
  readonly app: App;
  readonly stack: TidewatchStack;
  readonly template: Template;
}

/**
 * Synthesizes a TidewatchStack. `bundle: false` skips esbuild (the functions
 * get a placeholder asset): use it wherever the bundle's content is not under
 * test, it saves seconds per synth. CDK's built-in CloudFormation validation
 * (several seconds) is off: `cdk synth` runs it.
 */
export function synth(props: TidewatchStackProps, opts: { bundle: boolean }): Synthesized {
  const app = new App({
    builtinCloudFormationValidation: false,
    ...(opts.bundle ? {} : { context: { 'aws:cdk:bundling-stacks': [] } }),
  });
  const stack = new TidewatchStack(app, 'Test', props);
  const template = Template.fromStack(stack);
  return { app, stack, template };
}

/** Removes the temporary cloud assembly of a synthesis. */
export function cleanup(s: Synthesized | undefined): void {
  if (s !== undefined) rmSync(s.app.outdir, { recursive: true, force: true });
}

/** The outdir of apps that are built but never synthesized (nothing is written to it). */
const UNSYNTHESIZED_OUTDIR = join(tmpdir(), 'tidewatch-infra-unsynthesized');

/** Builds the stack only (no synthesis), for props that must be rejected. */
export function build(props: TidewatchStackProps): Stack {
  // An explicit outdir: without one, App creates a new temporary folder for every app.
  const app = new App({ outdir: UNSYNTHESIZED_OUTDIR, builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': [] } });
  return new TidewatchStack(app, 'Test', props);
}

/** cdk-nag AwsSolutions findings not acknowledged, as `rule: construct path` lines. */
export function nagFindings(app: App): string[] {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} (${v.severity}): ${r.constructPath ?? ''}`));
}

const fixtureDirs: string[] = [];

function fixtureDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-infra-'));
  fixtureDirs.push(dir);
  return dir;
}

/** Removes the folders of the pipeline files written by this test file. */
export function cleanupFixtures(): void {
  for (const dir of fixtureDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  rmSync(UNSYNTHESIZED_OUTDIR, { recursive: true, force: true });
}

/** A pipeline file with two streams (one with a JSON Schema) in a fresh temporary folder. */
export function twoStreamPipeline(): string {
  const dir = fixtureDir();
  mkdirSync(join(dir, 'schemas'));
  copyFileSync(join(REPO_ROOT, 'pipelines', 'schemas', 'telemetry.schema.json'), join(dir, 'schemas', 'telemetry.schema.json'));
  const file = join(dir, 'two.yaml');
  writeFileSync(
    file,
    [
      'streams:',
      '  telemetry:',
      '    timestamp: ts',
      '    schema: schemas/telemetry.schema.json',
      '  audit:',
      '    timestamp: $arrival',
      'rules:',
      '  - alert: ManyErrors',
      '    stream: telemetry',
      '    window: { tumbling: 1m }',
      '    aggregate:',
      "      errors: 'count(status >= 500)'",
      "    when: 'errors > 10.0'",
      '    severity: critical',
      '  - alert: AuditSilent',
      '    stream: audit',
      '    absent: 5m',
      '',
    ].join('\n'),
  );
  return file;
}

/** Writes a pipeline file with the given text in a fresh temporary folder. */
export function pipelineFile(text: string, name = 'pipeline.yaml'): string {
  const dir = fixtureDir();
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

type Resource = { Type: string; Properties: Record<string, unknown> };

/** The one resource of a type whose properties match, with its logical id (ids are looked up, never asserted). */
export function only(template: Template, type: string, props: Record<string, unknown> = {}): { id: string; resource: Resource } {
  const found = Object.entries(template.findResources(type, props ? { Properties: props } : undefined)) as [string, Resource][];
  if (found.length !== 1) throw new Error(`expected one ${type} matching ${JSON.stringify(props)}, found ${found.length}`);
  return { id: found[0]![0], resource: found[0]![1] };
}

/** Every statement of the IAM policies attached to a role (by the role's logical id). */
export function statementsOfRole(template: Template, roleId: string): Array<{ Action: string | string[]; Resource: unknown }> {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
  return policies
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement);
}

export function actionsOf(statements: ReadonlyArray<{ Action: string | string[] }>): string[] {
  return statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}

/** The role logical id of the Lambda function whose environment matches. */
export function roleOfFunction(template: Template, envMatch: Record<string, unknown>): string {
  const fns = Object.values(template.findResources('AWS::Lambda::Function')) as Resource[];
  const matching = fns.filter((f) => {
    const vars = ((f.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
    return Object.entries(envMatch).every(([k, v]) => (v === undefined ? !(k in vars) : JSON.stringify(vars[k]) === JSON.stringify(v)));
  });
  if (matching.length !== 1) throw new Error(`expected one function with environment ${JSON.stringify(envMatch)}, found ${matching.length}`);
  return (matching[0]!.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

// Assertion wrappers: named assert* so the linter's jest/expect-expect sees them as assertions.

/** A resource of `type` has properties matching `props` (objectLike). */
export function assertHasProperties(template: Template, type: string, props: unknown): void {
  template.hasResourceProperties(type, props);
}

/** A resource of `type` matches `resource` (properties, DeletionPolicy, ...). */
export function assertHasResource(template: Template, type: string, resource: unknown): void {
  template.hasResource(type, resource);
}

/** Exactly `count` resources of `type` (matching `props` when given). */
export function assertCount(template: Template, type: string, count: number, props?: unknown): void {
  if (props === undefined) template.resourceCountIs(type, count);
  else template.resourcePropertiesCountIs(type, props, count);
}

/** The stack has an output with this logical id. */
export function assertOutput(template: Template, id: string): void {
  template.hasOutput(id, {});
}

/** A dashboard's body with every CloudFormation token (Ref, GetAtt...) in it replaced by `token(...)`'s text. */
export function dashboardBodyText(template: Template, token: (t: unknown) => string = () => '<token>'): string {
  const dashboard = only(template, 'AWS::CloudWatch::Dashboard');
  const body = dashboard.resource.Properties.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  if (typeof body === 'string') return body;
  return body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : token(part))).join(body['Fn::Join'][0]);
}

export interface DashboardWidget {
  readonly type: string;
  readonly properties: { readonly title?: string; readonly metrics?: ReadonlyArray<ReadonlyArray<unknown>> };
}

/** The widgets of the stack's one dashboard. */
export function dashboardWidgets(template: Template): DashboardWidget[] {
  return (JSON.parse(dashboardBodyText(template)) as { widgets: DashboardWidget[] }).widgets;
}
