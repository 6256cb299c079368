import { createServer, type Socket } from 'node:net';

/** A server that accepts connections and never answers. */
export async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * An HTTP proxy in front of an endpoint (dynalite) that can lose responses: a request the
 * predicate picks is forwarded and applied upstream, its response read in full, and then the
 * client's connection is destroyed without an answer (what a reset connection or a timeout
 * after sending looks like to the SDK). `dropped` lists the bodies of the requests it did that to.
 */
export async function droppingProxy(
  upstream: string,
  drop: (target: string, body: string) => boolean,
): Promise<{ url: string; readonly dropped: string[]; close(): Promise<void> }> {
  const { createServer: createHttpServer, request: httpRequest } = await import('node:http');
  const { request: httpsRequest } = await import('node:https');
  const target = new URL(upstream);
  // An https upstream (an AWS endpoint) is reached over TLS; the SDK signed for the proxy's host, which is forwarded as it is (untested against AWS).
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const dropped: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const amzTarget = String(req.headers['x-amz-target'] ?? '');
      const lose = drop(amzTarget, body.toString('utf8'));
      const up = request({ host: target.hostname, port: target.port || undefined, path: req.url, method: req.method, headers: req.headers }, (upRes) => {
        const parts: Buffer[] = [];
        upRes.on('data', (c: Buffer) => parts.push(c));
        upRes.on('end', () => {
          if (lose) {
            dropped.push(body.toString('utf8'));
            req.socket.destroy();
            return;
          }
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          res.end(Buffer.concat(parts));
        });
      });
      up.on('error', () => req.socket.destroy());
      up.end(body);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    dropped,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
