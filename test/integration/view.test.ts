import { runView } from '../../local/view/cli';
import { freshTable, startDynalite } from '../helpers/dynamo';

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
  return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env, stopped }, out: () => out, err: () => err, stop: () => stop() };
}

describe('tidewatch view', () => {
  it('serves the page of any state table on 127.0.0.1, printed at start, read-only, until stopped', async () => {
    const table = await freshTable(dynamo.endpoint);
    const t = io();
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
    expect(u.err()).toMatch(/tidewatch view: Unknown option '--bogus'/);
  });
});
