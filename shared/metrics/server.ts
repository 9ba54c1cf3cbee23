import { createServer, type Server } from 'node:http';
import type { HealthState } from './health.js';
import type { ListenAddress } from './listen-address.js';
import type { PromRegistry } from './prom-registry.js';

/**
 * Serves GET /metrics (Prometheus text format) and /healthz (200 or 503 with the reason, text/plain) on `address`.
 * Each answer is computed from what the loop already reported, in memory: a scrape never waits on a pass nor
 * delays one. Rejects with a clear error when the address cannot be listened on (e.g. the port is in use).
 */
export async function startMetricsServer(address: ListenAddress, registry: PromRegistry, health: HealthState): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      registry.text().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      const { ok, reason } = health.healthz();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' }).end(`${reason}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
  });
  // Scrapers keep connections open; they must not hold the process up when it stops.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EADDRNOTAVAIL' ? 'no such local address' : err.message;
      reject(new Error(`--metrics-address ${address.host}:${address.port}: cannot listen: ${why}`));
    });
    server.listen(address.port, address.host, () => resolve());
  });
  server.unref();
  return server;
}
