import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  address: string;
  /** Requests forwarded so far whose path starts with `pathPrefix` (all when omitted). */
  count(pathPrefix?: string): number;
  close(): Promise<void>;
}

/** A loopback HTTP proxy in front of a real Consul agent that counts the requests an agent makes. */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const [host, port] = target.split(':');
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(decodeURIComponent(req.url ?? ''));
    const upstream = request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: (pathPrefix = '') => paths.filter((p) => p.startsWith(pathPrefix)).length,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
