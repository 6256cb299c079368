import { ConditionalCheckFailedException, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { DEFAULT_TIMEOUTS, explainAwsError, parseCommandLine, resolveTarget, resolveTimeouts, UsageError, type Target } from '../../../local/cli';

const OPTIONS = {
  stream: { type: 'string', short: 's' },
  json: { type: 'boolean' },
  'skip-invalid': { type: 'boolean' },
} as const;

function usage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('CLI conventions: usage errors in tidewatch words', () => {
  it('parses what is right', () => {
    const { values, positionals } = parseCommandLine('tidewatch x', ['-s', 'telemetry', '--json', 'file.ndjson'], OPTIONS, 1);
    expect(values).toEqual({ stream: 'telemetry', json: true });
    expect(positionals).toEqual(['file.ndjson']);
  });

  it.each([
    [['--skip-invalids'], 'unknown option --skip-invalids (did you mean --skip-invalid?)'],
    [['--zzz'], 'unknown option --zzz; tidewatch x takes: --stream, --json, --skip-invalid'],
    [['-x'], 'unknown option -x; tidewatch x takes: --stream, --json, --skip-invalid'],
    [['--stream'], '-s, --stream needs a value'],
    [['--json=yes'], '--json takes no value'],
    [['--stream', '--json'], '-s, --stream needs a value, and the next argument looks like an option: write --stream=VALUE if the value starts with -'],
    [['a', 'b'], 'unexpected argument "b": tidewatch x takes one argument at most'],
  ])('%j → %s', (argv, message) => {
    expect(usage(() => parseCommandLine('tidewatch x', argv, OPTIONS, 1))).toBe(message);
  });

  it('a command without arguments says so', () => {
    expect(usage(() => parseCommandLine('tidewatch alerts', ['extra'], OPTIONS))).toBe('unexpected argument "extra": tidewatch alerts takes options only');
  });
});

describe('CLI conventions: timeouts and targets', () => {
  it('has timeouts by default, taken from the options, else the environment', () => {
    expect(resolveTimeouts({}, {})).toEqual(DEFAULT_TIMEOUTS);
    expect(DEFAULT_TIMEOUTS).toEqual({ connectMs: 3000, requestMs: 10_000 });
    expect(resolveTimeouts({ 'request-timeout': '1m30s' }, { TIDEWATCH_CONNECT_TIMEOUT: '500ms', TIDEWATCH_REQUEST_TIMEOUT: '2s' })).toEqual({ connectMs: 500, requestMs: 90_000 });
    expect(usage(() => resolveTimeouts({ 'connect-timeout': '0s' }, {}))).toBe('--connect-timeout must be longer than 0 (given "0s")');
    expect(usage(() => resolveTimeouts({}, { TIDEWATCH_REQUEST_TIMEOUT: 'soon' }))).toMatch(/^\$TIDEWATCH_REQUEST_TIMEOUT: "soon" is not a duration/);
  });

  it('picks the endpoint: option, service variable, AWS_ENDPOINT_URL, the running local pipeline, else AWS', () => {
    const t = DEFAULT_TIMEOUTS;
    expect(resolveTarget('DYNAMODB', { endpoint: 'http://a:1', timeouts: t, fallbackEndpoint: 'http://127.0.0.1:9' }, { AWS_ENDPOINT_URL: 'http://c:1' }).endpoint).toBe('http://a:1');
    expect(resolveTarget('DYNAMODB', { timeouts: t }, { AWS_ENDPOINT_URL_DYNAMODB: 'http://b:1', AWS_ENDPOINT_URL: 'http://c:1' }).endpoint).toBe('http://b:1');
    const local = resolveTarget('KINESIS', { timeouts: t, fallbackEndpoint: 'http://127.0.0.1:9' }, { AWS_ACCESS_KEY_ID: 'real' });
    expect(local).toEqual({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', timeouts: t, localCredentials: true });
    expect(resolveTarget('KINESIS', { timeouts: t }, { AWS_REGION: 'eu-west-1' })).toEqual({ endpoint: undefined, region: 'eu-west-1', timeouts: t, localCredentials: false });
    expect(usage(() => resolveTarget('KINESIS', { endpoint: 'localhost:4566', timeouts: t }, {}))).toBe('an endpoint is an http:// or https:// URL (given "localhost:4566")');
  });
});

describe('CLI conventions: AWS errors that say what to do', () => {
  const local: Target = { endpoint: 'http://127.0.0.1:4000', region: 'us-east-1', timeouts: { connectMs: 3000, requestMs: 2000 }, localCredentials: true };
  const aws: Target = { endpoint: undefined, region: 'eu-west-1', timeouts: DEFAULT_TIMEOUTS, localCredentials: false };

  it.each<[string, unknown, Target, string]>([
    ['missing table, local', new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: {} }), local, 'table "t" does not exist at http://127.0.0.1:4000: is the pipeline running? (npm start prints its endpoints)'],
    ['missing table, AWS', new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: {} }), aws, "table \"t\" does not exist in eu-west-1: check the name, the region and the AWS account you are using (a deployed stack's names are its outputs: StateTableName, StreamName…)"],
    ['refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4000'), { code: 'ECONNREFUSED' }), local, 'cannot connect to DynamoDB at http://127.0.0.1:4000 (connection refused): is the pipeline running? (npm start prints its endpoints)'],
    ['no answer', Object.assign(new Error('@smithy/node-http-handler - [ERROR] a request has exceeded the configured 2000 ms requestTimeout.'), { name: 'TimeoutError' }), local, 'DynamoDB at http://127.0.0.1:4000 did not answer within 2s (--request-timeout): is the pipeline running? (npm start prints its endpoints)'],
    ['no connection', Object.assign(new Error('Socket timed out without establishing a connection within 3000 ms'), { name: 'TimeoutError' }), aws, 'could not connect to DynamoDB in eu-west-1 within 3s (--connect-timeout): check the name, the region and the AWS account you are using'],
    ['no region', new Error('Region is missing'), aws, 'which AWS region? set AWS_REGION or give --region (or, for the local pipeline, run npm start in this folder or give --endpoint)'],
  ])('%s', (_what, err, target, message) => {
    expect(explainAwsError(err, { service: 'DynamoDB', target, resource: 'table "t"' })).toBe(message);
  });

  it('anything else keeps its name and message, with where it happened', () => {
    const err = new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    expect(explainAwsError(err, { service: 'DynamoDB', target: local, resource: 'table "t"' })).toBe('DynamoDB at http://127.0.0.1:4000, table "t": ConditionalCheckFailedException: The conditional request failed');
  });
});
