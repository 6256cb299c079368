import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateTableCommand, DescribeTableCommand, GetItemCommand, PutItemCommand, TransactWriteItemsCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { startDynamo, startKinesis } from '../../local/emulators';
import { putJson, readAll, sleep } from './helpers';

/** A table is CREATING for a moment even with createTableMs 0 (dynalite writes its state to LevelDB first): as on AWS, wait for ACTIVE. */
async function untilActive(client: DynamoDBClient, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const d = await client.send(new DescribeTableCommand({ TableName: name }));
    if (d.Table?.TableStatus === 'ACTIVE') return;
    await sleep(20);
  }
  throw new Error(`table ${name} did not become ACTIVE within 2 s`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilDead(pid: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await sleep(20);
  return !alive(pid);
}

describe('dynalite emulator', () => {
  const table = {
    TableName: 'state',
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' as const }],
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' as const }],
    BillingMode: 'PAY_PER_REQUEST' as const,
  };

  it('serves DynamoDB in memory (no transactions)', async () => {
    const dynamo = await startDynamo();
    try {
      const client = dynamo.client();
      await client.send(new CreateTableCommand(table));
      await untilActive(client, 'state');
      await client.send(new PutItemCommand({ TableName: 'state', Item: { pk: { S: 'a' }, n: { N: '1' } } }));
      const { Item } = await client.send(new GetItemCommand({ TableName: 'state', Key: { pk: { S: 'a' } } }));
      expect(Item).toEqual({ pk: { S: 'a' }, n: { N: '1' } });
      await expect(client.send(new TransactWriteItemsCommand({ TransactItems: [{ Put: { TableName: 'state', Item: { pk: { S: 'b' } } } }] }))).rejects.toThrow();
    } finally {
      await dynamo.stop();
    }
  });

  it('keeps tables in a folder across restarts when given a path', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tidewatch-dynalite-'));
    try {
      const first = await startDynamo({ path: dir });
      await first.client().send(new CreateTableCommand(table));
      await untilActive(first.client(), 'state');
      await first.client().send(new PutItemCommand({ TableName: 'state', Item: { pk: { S: 'kept' } } }));
      await first.stop();

      const second = await startDynamo({ path: dir });
      const { Item } = await second.client().send(new GetItemCommand({ TableName: 'state', Key: { pk: { S: 'kept' } } }));
      await second.stop();
      expect(Item).toEqual({ pk: { S: 'kept' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kinesis-local emulator', () => {
  it('starts on a free port with initial streams, persists to a folder, and stops its process', async () => {
    // GIVEN
    const dir = mkdtempSync(path.join(tmpdir(), 'tidewatch-kinesis-'));
    try {
      const first = await startKinesis({ streams: [{ name: 'telemetry', shards: 2 }], persistPath: dir, persistIntervalMs: 100 });
      const { StreamNames } = await first.client().send(new ListStreamsCommand({}));
      expect(StreamNames).toEqual(['telemetry']);
      await putJson(first.client(), 'telemetry', [{ key: 'k', body: { kept: true } }]);
      await sleep(400); // > persistIntervalMs

      // WHEN
      await first.stop();

      // THEN the process is gone, and a restart on the same folder has the record
      expect(await waitUntilDead(first.pid)).toBe(true);
      const second = await startKinesis({ persistPath: dir });
      try {
        expect(second.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(await readAll(second.client(), 'telemetry')).toHaveLength(1);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kills kinesis-local when the process that started it gets SIGTERM', async () => {
    // GIVEN a separate Node process that starts kinesis-local and prints its pid
    const script = `
      const { startKinesis } = require(${JSON.stringify(path.join(__dirname, '../../local/emulators'))});
      startKinesis().then((k) => console.log('PID ' + k.pid));
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: path.join(__dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let out = '';
    parent.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const deadline = Date.now() + 30_000;
    while (!/PID \d+/.test(out) && Date.now() < deadline && parent.exitCode === null) await sleep(20);
    const pid = Number(/PID (\d+)/.exec(out)?.[1]);
    expect(alive(pid)).toBe(true);

    // WHEN
    const exited = new Promise<NodeJS.Signals | null>((r) => parent.once('exit', (_code, signal) => r(signal)));
    parent.kill('SIGTERM');

    // THEN the parent still dies of SIGTERM, and kinesis-local with it
    expect(await exited).toBe('SIGTERM');
    expect(await waitUntilDead(pid)).toBe(true);
    parent.stdout.destroy();
    parent.stderr.destroy();
  });
});
