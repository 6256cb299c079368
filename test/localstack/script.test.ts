/**
 * `npm run localstack:deploy` and `npm run test:localstack` as far as they go
 * without LocalStack (no Docker here): against a stub endpoint that answers the
 * health check and STS and refuses everything else. What this proves: the
 * exact cdklocal invocations of scripts/localstack-deploy.sh get past
 * cdklocal's environment validation with the pinned CDK CLI; every AWS request
 * goes to the endpoint given, signed for the region given with cdklocal's test
 * credentials; the stack synthesizes and its asset bucket is addressed
 * path-style on a host name; and each command stops at the first answer only
 * LocalStack could give (bootstrap: CloudFormation's CDKToolkit stack; deploy:
 * the bootstrap version in SSM). What still needs Docker: everything LocalStack
 * itself does with those requests.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStubAwsEndpoint, STUB_ERROR, type StubAwsEndpoint, type StubRequest } from '../helpers/stubAwsEndpoint';

const REPO_ROOT = join(__dirname, '..', '..');
/** Not the default us-east-1: shows that the region reaches the CDK CLI through cdklocal, which strips AWS_* variables. */
const REGION = 'eu-west-1';
const MISCONFIGURED = /EnvironmentMisconfigurationError|must be specified/;

interface Run {
  readonly status: number | null;
  readonly output: string;
}

/** The caller's environment without its AWS_* variables (a developer's own profile or endpoint must not leak in), plus `extra`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  // The CDK CLI would otherwise report usage to its telemetry endpoint and look for a newer version: not what this test is about.
  return { ...env, CDK_DISABLE_CLI_TELEMETRY: 'true', CDK_DISABLE_VERSION_CHECK: 'true', ...extra };
}

/** Runs a command in the repository (asynchronously: the stub answers from this process), stdout and stderr together. */
function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}

function signed(stub: StubAwsEndpoint): StubRequest[] {
  return stub.requests.filter((r) => r.service !== '');
}

/** Every AWS request went to the stub's host, for REGION, with cdklocal's test credentials; returns the services called. */
function assertAllToStub(stub: StubAwsEndpoint): string[] {
  const requests = signed(stub);
  expect(requests.length).toBeGreaterThan(0);
  const host = new URL(stub.url).host;
  expect(requests.filter((r) => r.host !== host || r.region !== REGION || r.accessKeyId !== 'test')).toEqual([]);
  return [...new Set(requests.map((r) => r.service))].sort();
}

let stub: StubAwsEndpoint;
const outdirs: string[] = [];

beforeEach(async () => {
  stub = await startStubAwsEndpoint();
});

afterEach(async () => {
  await stub.close();
});

afterAll(() => {
  for (const d of outdirs) rmSync(d, { recursive: true, force: true });
});

describe('cdklocal with the pinned CDK CLI', () => {
  it('refuses AWS_ENDPOINT_URL without AWS_ENDPOINT_URL_S3 (why the script sets both)', async () => {
    const r = await run('npx', ['cdklocal', 'synth', '--quiet'], cleanEnv({ AWS_ENDPOINT_URL: stub.url }));
    expect(r.status).not.toBe(0);
    expect(r.output).toContain("If specifying 'AWS_ENDPOINT_URL' then 'AWS_ENDPOINT_URL_S3' must be specified");
    expect(stub.requests).toEqual([]);
  });
});

describe('npm run localstack:deploy against a stub endpoint', () => {
  it('bootstraps through the given endpoint and region, and stops only at the CDKToolkit stack lookup', async () => {
    // WHEN the script runs as the README says, with only the endpoint and a region set
    const r = await run('npm', ['run', 'localstack:deploy'], cleanEnv({ AWS_ENDPOINT_URL: stub.url, AWS_REGION: REGION }));
    // THEN cdklocal accepted the environment, and the bootstrap reached the network where it should
    expect(r.output).not.toMatch(MISCONFIGURED);
    expect(r.output).toContain(`localstack-deploy: LocalStack at ${stub.url} (S3 ${stub.url}), region ${REGION}`);
    expect(assertAllToStub(stub)).toEqual(['cloudformation', 'sts']);
    expect(signed(stub)).toContainEqual(expect.objectContaining({ service: 'cloudformation', action: 'DescribeStacks', body: expect.stringContaining('StackName=CDKToolkit') }));
    // and it stopped there, at the stub's refusal
    expect(r.output).toContain(STUB_ERROR);
    expect(r.status).not.toBe(0);
  }, 240_000);

  it('with --skip-bootstrap, synthesizes, looks for its assets path-style in the region’s bucket, and stops at the bootstrap version check', async () => {
    const outdir = mkdtempSync(join(tmpdir(), 'tidewatch-localstack-'));
    outdirs.push(outdir);
    // WHEN the deploy step runs alone (its output kept out of the repository's cdk.out)
    const r = await run('npm', ['run', 'localstack:deploy', '--', '--skip-bootstrap', '-o', outdir], cleanEnv({ AWS_ENDPOINT_URL: stub.url, AWS_REGION: REGION }));
    // THEN the stack was synthesized under the script's stack name
    expect(r.output).not.toMatch(MISCONFIGURED);
    expect(existsSync(join(outdir, 'tidewatch-localstack.template.json'))).toBe(true);
    // and every request went to the endpoint: S3 addressed path-style on the host name, no bucket subdomain
    expect(assertAllToStub(stub)).toEqual(expect.arrayContaining(['s3', 'ssm']));
    const s3 = signed(stub).filter((q) => q.service === 's3');
    expect(s3.length).toBeGreaterThan(0);
    for (const q of s3) expect(q.path.startsWith(`/cdk-hnb659fds-assets-000000000000-${REGION}/`)).toBe(true);
    expect(signed(stub)).toContainEqual(expect.objectContaining({ service: 'ssm', action: 'AmazonSSM.GetParameter', body: expect.stringContaining('/cdk-bootstrap/hnb659fds/version') }));
    expect(r.output).toContain(STUB_ERROR);
    expect(r.status).not.toBe(0);
  }, 240_000);
});

describe('npm run test:localstack against a stub endpoint', () => {
  it('finds the endpoint healthy, runs the deploy script with the same endpoint and region, and fails at the stub', async () => {
    const r = await run('npm', ['run', 'test:localstack'], cleanEnv({ AWS_ENDPOINT_URL: stub.url, AWS_REGION: REGION }));
    expect(r.output).not.toMatch(MISCONFIGURED);
    expect(r.output).toContain(`localstack-deploy: LocalStack at ${stub.url} (S3 ${stub.url}), region ${REGION}`);
    expect(assertAllToStub(stub)).toEqual(['cloudformation', 'sts']);
    expect(r.output).toContain(STUB_ERROR);
    expect(r.status).not.toBe(0);
  }, 240_000);
});
