/**
 * CloudWatch Logs log groups as the source of a stream: one subscription
 * filter per log group and the role CloudWatch Logs writes with, least
 * privilege, cdk-nag clean, synthesized offline.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { TidewatchConfigError } from '../../lib/validate';
import { settingsFromContext } from '../../lib/TidewatchContext';
import { build, cleanup, cleanupFixtures, nagFindings, only, pipelineFile, statementsOfRole, synth, type Synthesized } from './support';

const PIPELINE = String.raw`
streams:
  app-logs:
    framing: cloudwatch-logs
    parse: { regex: '^(?<level>[A-Z]+) (?<service>\S+)' }
    timestamp: cloudwatch.timestamp
  telemetry:
    timestamp: ts
rules:
  - alert: Errors
    stream: app-logs
    where: 'level == "ERROR"'
    groupBy: [service]
    window: { tumbling: 1m }
    aggregate: { n: 'count()' }
    when: 'n >= 5.0'
`;

/** The logical id of the app-logs stream (ids are looked up, never asserted). */
function appLogsStream(): string {
  const ids = Object.keys(t.findResources('AWS::Kinesis::Stream')).filter((id) => id.includes('applogs'));
  if (ids.length !== 1) throw new Error(`expected one app-logs stream, found ${ids.join(', ')}`);
  return ids[0]!;
}

let s: Synthesized;
let t: Template;
let file: string;

beforeAll(() => {
  file = pipelineFile(PIPELINE);
  s = synth(
    { pipeline: { pipelineFile: file, streams: { 'app-logs': { logGroupSources: { logGroups: ['/aws/lambda/checkout', '/aws/lambda/search'], filterPattern: '?ERROR ?WARN' } } } } },
    { bundle: false },
  );
  t = s.template;
});

afterAll(() => {
  cleanup(s);
  cleanupFixtures();
});

describe('log group sources', () => {
  it('creates one subscription filter per log group, to the stream, with the filter pattern', () => {
    const filters = Object.values(t.findResources('AWS::Logs::SubscriptionFilter')) as Array<{ Properties: Record<string, unknown> }>;
    const stream = appLogsStream();
    expect(filters.map((f) => f.Properties['LogGroupName']).sort()).toEqual(['/aws/lambda/checkout', '/aws/lambda/search']);
    for (const f of filters) {
      expect(f.Properties['FilterPattern']).toBe('?ERROR ?WARN');
      expect(f.Properties['DestinationArn']).toEqual({ 'Fn::GetAtt': [stream, 'Arn'] });
    }
  });

  it('gives CloudWatch Logs a role it may assume only for this account and region, allowed kinesis:PutRecord on this stream only', () => {
    const role = only(t, 'AWS::IAM::Role', { AssumeRolePolicyDocument: { Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'logs.amazonaws.com' }, Condition: {} }], Version: '2012-10-17' } });
    const trust = (role.resource.Properties['AssumeRolePolicyDocument'] as { Statement: Array<{ Condition: Record<string, Record<string, unknown>> }> }).Statement[0]!;
    expect(Object.keys(trust.Condition).sort()).toEqual(['StringEquals', 'StringLike']);
    expect(trust.Condition['StringEquals']).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(JSON.stringify(trust.Condition['StringLike'])).toContain(':log-group:*');
    const stream = appLogsStream();
    expect(statementsOfRole(t, role.id)).toEqual([{ Action: 'kinesis:PutRecord', Effect: 'Allow', Resource: { 'Fn::GetAtt': [stream, 'Arn'] } }]);
    for (const [, f] of Object.entries(t.findResources('AWS::Logs::SubscriptionFilter')) as Array<[string, { Properties: Record<string, unknown>; DependsOn?: string[] }]>) {
      expect(f.Properties['RoleArn']).toEqual({ 'Fn::GetAtt': [role.id, 'Arn'] });
      // The policy exists before the filter: CloudWatch Logs test-writes (a CONTROL_MESSAGE) when the filter is created.
      expect((f.DependsOn ?? []).some((d) => d.includes('PutRecord'))).toBe(true);
    }
  });

  it('passes cdk-nag AwsSolutions', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });

  it('refuses log groups on a stream that does not read CloudWatch Logs payloads, in streamDefaults, or listed twice', () => {
    expect(() => build({ pipeline: { pipelineFile: file, streams: { telemetry: { logGroupSources: { logGroups: ['/a'] } } } } })).toThrow(
      new TidewatchConfigError(
        `stream "telemetry" has logGroupSources, but ${file} reads it as framing json: CloudWatch Logs writes gzip subscription payloads, so the stream needs framing: cloudwatch-logs (and a parse: for its text lines)`,
      ),
    );
    expect(() => build({ pipeline: { pipelineFile: file, streamDefaults: { logGroupSources: { logGroups: ['/a'] } } } })).toThrow(/streamDefaults\.logGroupSources: log group sources are set per stream/);
    expect(() => build({ pipeline: { pipelineFile: file, streams: { 'app-logs': { logGroupSources: { logGroups: ['/a', '/a'] } } } } })).toThrow('stream "app-logs" logGroupSources: log group "/a" is listed twice');
  });

  it('reads them from CDK context (tidewatch:streams.<name>.logGroupSources)', () => {
    const ctx: Record<string, unknown> = { 'tidewatch:pipelineFile': file, 'tidewatch:streams': JSON.stringify({ 'app-logs': { logGroupSources: { logGroups: '/aws/lambda/a,/aws/lambda/b', filterPattern: 'ERROR' } } }) };
    const settings = settingsFromContext((k) => ctx[k]);
    expect(settings.pipeline.streams?.['app-logs']?.logGroupSources).toEqual({ logGroups: ['/aws/lambda/a', '/aws/lambda/b'], filterPattern: 'ERROR' });
    const bad: Record<string, unknown> = { ...ctx, 'tidewatch:streams': { 'app-logs': { logGroupSources: { logGroups: [] } } } };
    expect(() => settingsFromContext((k) => bad[k])).toThrow('context tidewatch:streams.app-logs.logGroupSources.logGroups must be a non-empty list of log group names (given [])');
  });
});
