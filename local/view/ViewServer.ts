import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build, stop as stopEsbuild } from 'esbuild';
import type { AlertMessage } from '../../lambdas/adapters/SnsAlertPublisher';
import { page, update } from './render';
import type { ViewSource, ViewState } from './ViewSource';

/**
 * The live view's web server: one page, its script (the browser code and
 * uPlot, bundled by esbuild when the server starts: nothing is fetched from
 * the internet), its stylesheet, and a stream of updates (server-sent events).
 * It listens on 127.0.0.1 only and answers GET and HEAD only: it reads the
 * state table and changes nothing.
 *
 * One poller reads the state every `intervalMs` and sends an update to every
 * open page when something changed.
 */
export interface ViewServerOptions {
  readonly source: ViewSource;
  /** @default 0: a free port */
  readonly port?: number;
  /** How often the state is read. @default 1000 */
  readonly intervalMs?: number;
  /** A failed read (the state table went away, throttling): shown on stderr by the caller. */
  readonly onError?: (err: unknown) => void;
}

const CLIENT_DIR = join(__dirname, 'client');
const UPLOT_CSS = join(require.resolve('uplot'), '..', 'uPlot.min.css');

const SECURITY_HEADERS = {
  // Only this server's script, style and update stream; no inline script runs (the initial data is JSON).
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** The browser code and uPlot as one script, built once per process. */
let bundled: Promise<string> | undefined;
function clientBundle(): Promise<string> {
  bundled ??= build({
    entryPoints: [join(CLIENT_DIR, 'main.ts')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    write: false,
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0]!.text)
    // esbuild's API keeps a service process running after a build: stop it, so that the view leaves no child
    // process behind (a later build starts a new one).
    .finally(() => void stopEsbuild());
  return bundled;
}

export class ViewServer {
  private server: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly clients = new Set<ServerResponse>();
  private state: ViewState | undefined;
  private lastUpdate = '';
  private polling: Promise<void> = Promise.resolve();
  private script = '';
  private css = '';
  /** `http://127.0.0.1:PORT/` once started. */
  url = '';

  constructor(private readonly opts: ViewServerOptions) {}

  /** Builds the page's script, reads the state once and starts listening. */
  async start(): Promise<string> {
    this.script = await clientBundle();
    this.css = `${readFileSync(UPLOT_CSS, 'utf8')}\n${readFileSync(join(CLIENT_DIR, 'app.css'), 'utf8')}`;
    await this.poll();
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const every = this.opts.intervalMs ?? 1000;
    this.timer = setInterval(() => {
      this.polling = this.polling.then(() => this.poll());
    }, every);
    return this.url;
  }

  /** An alert notification (locally: as SNS delivered it), shown with its annotations. */
  alert(message: AlertMessage): void {
    this.opts.source.notify(message);
  }

  /** Stops polling, ends the update streams and closes the server. Idempotent. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.polling.catch(() => undefined);
    for (const res of this.clients) res.end();
    this.clients.clear();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private async poll(): Promise<void> {
    try {
      this.state = await this.opts.source.read();
    } catch (err) {
      this.opts.onError?.(err);
      return;
    }
    const body = JSON.stringify(update(this.state));
    if (body === this.lastUpdate) return;
    this.lastUpdate = body;
    for (const res of this.clients) res.write(`event: update\ndata: ${body}\n\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY_HEADERS, Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('read-only: GET and HEAD only\n');
      return;
    }
    const send = (type: string, body: string) => {
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    switch (path) {
      case '/':
        if (!this.state) {
          res.writeHead(503, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' }).end('the state table could not be read yet; retrying\n');
          return;
        }
        return send('text/html; charset=utf-8', page(this.state));
      case '/app.js':
        return send('text/javascript; charset=utf-8', this.script);
      case '/app.css':
        return send('text/css; charset=utf-8', this.css);
      case '/state.json':
        return send('application/json', JSON.stringify(this.state ?? null));
      case '/events': {
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream', Connection: 'keep-alive' });
        if (req.method === 'HEAD') return void res.end();
        res.write('retry: 2000\n\n');
        if (this.lastUpdate !== '') res.write(`event: update\ndata: ${this.lastUpdate}\n\n`);
        this.clients.add(res);
        req.on('close', () => this.clients.delete(res));
        return;
      }
      default:
        res.writeHead(404, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  }
}
