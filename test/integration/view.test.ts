import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runView } from '../../local/view/cli';
import { freshTable, startDynalite, testClientConfig } from '../helpers/dynamo';
import { silentServer } from '../helpers/servers';

/** A folder with no .tidewatch/local.json: the CLI finds no running pipeline there. */
const nowhere = mkdtempSync(join(tmpdir(), 'tw-view-'));
afterAll(() => rmSync(nowhere, { recursive: true, force: true }));

let dynamo: { endpoint: string; stop: () => Promise<void> };

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.stop();
});

function io(env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  let stop: (v?: unknown) => void = () => undefined;
  const stopped = new Promise((r) => (stop = r));
  return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env, stopped, cwd: nowhere }, out: () => out, err: () => err, stop: () => stop() };
}

describe('tidewatch view', () => {
  it('serves the page of any state table on 127.0.0.1, printed at start, read-only, until stopped', async () => {
    const table = await freshTable(dynamo.endpoint);
    const t = io({ AWS_REGION: String(testClientConfig(dynamo.endpoint).region) });
    const code = runView(['--table', table, '--endpoint', dynamo.endpoint, '--every', '1s'], t.io);
    const until = Date.now() + 20_000;
    while (!/http:\/\/127\.0\.0\.1:\d+\//.test(t.out()) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(t.out())![1]!;
    expect(t.out()).toContain(`(table ${table}, read every 1 s; Ctrl-C to stop)`);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<section class="rule critical" data-rule="HighErrorRate">');
    expect(html).toContain('no records yet');
    expect((await fetch(`${url}app.js`)).status).toBe(200);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${url}../etc/passwd`)).status).toBe(404);
    t.stop();
    expect(await code).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  });

  it('refuses bad options by name with exit code 2', async () => {
    const t = io();
    expect(await runView(['--endpoint', dynamo.endpoint], t.io)).toBe(2);
    expect(t.err()).toContain('which table? give --table or set TIDEWATCH_TABLE');
    const p = io();
    expect(await runView(['--table', 'x', '--port', 'abc'], p.io)).toBe(2);
    expect(p.err()).toContain('--port must be a port number from 0 to 65535 (given "abc")');
    const u = io();
    expect(await runView(['--table', 'x', '--bogus'], u.io)).toBe(2);
    expect(u.err()).toContain('tidewatch view: unknown option --bogus');
    const e = io();
    expect(await runView(['--table', 'x', '--every', '5'], e.io)).toBe(2);
    expect(e.err()).toContain('--every: a duration needs a unit');
  });

  it('fails fast and names the table and the endpoint: a missing table, an endpoint that never answers', async () => {
    const missing = io({ AWS_REGION: String(testClientConfig(dynamo.endpoint).region) });
    expect(await runView(['--table', 'nope', '--endpoint', dynamo.endpoint], missing.io)).toBe(1);
    expect(missing.err()).toContain(`table "nope" does not exist at ${dynamo.endpoint}`);
    const silent = await silentServer();
    try {
      const hung = io({ TIDEWATCH_REQUEST_TIMEOUT: '250ms' });
      const started = Date.now();
      expect(await runView(['--table', 't', '--endpoint', silent.url], hung.io)).toBe(1);
      expect(hung.err()).toContain(`DynamoDB at ${silent.url} did not answer within 250ms`);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  });
});
