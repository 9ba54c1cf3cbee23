// A real HTTP server on 127.0.0.1 that serves artifacts the way a hostile or broken server would: a valid
// gzip followed by endless NUL bytes, a body dripped one byte at a time, gzip bombs, any artifact with or
// without a Content-Length. Bombs are built at start from a zero stream, never stored in the repository.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGzip, gzipSync } from 'node:zlib';
import { Header } from 'tar';

/** One tar header block for a file of `size` bytes. */
function header(path: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  new Header({ path, size, mode: 0o644, type: 'File', mtime: new Date(1_700_000_000_000) }).encode(block, 0);
  return block;
}

/**
 * A tar.gz holding one file of `gib` GiB of zeros as about 1 KB per MiB: one gzip member per MiB of zeros
 * (RFC 1952 allows any number, and gunzip joins their output), so 2 GiB take 2 MB and no time to build.
 */
export function multiMemberBomb(gib: number): Buffer {
  const mib = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const count = gib * 1024;
  return Buffer.concat([
    gzipSync(header('zeros.bin', count * 2 ** 20)),
    ...Array.from({ length: count }, () => mib),
    gzipSync(Buffer.alloc(1024)),
  ]);
}

/** A tar.gz holding one file of `mib` MiB of zeros as a single gzip member (about 1000:1), gzipped as it streams. */
export async function singleMemberBomb(mib: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve, reject) => gzip.on('end', resolve).on('error', reject));
  gzip.write(header('zeros.bin', mib * 2 ** 20));
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < mib; i += 1) {
    if (!gzip.write(zeros)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end(Buffer.alloc(1024));
  await ended;
  return Buffer.concat(out);
}

/** How a path is served; `?chunked` on any URL leaves the Content-Length out. */
export type Behaviour =
  | { kind: 'bytes'; body: Buffer }
  /** `body`, then NUL bytes for as long as the client reads. */
  | { kind: 'padded'; body: Buffer }
  /** `body`, one byte every `everyMs`. */
  | { kind: 'drip'; body: Buffer; everyMs: number };

/** What the server saw of one response: bytes written and whether it has been closed (by either side). */
export interface Served {
  bytes: number;
  closed: boolean;
}

export interface HostileServer {
  url: (path: string) => string;
  /** Every response to `path` so far, in order. */
  served: (path: string) => Served[];
  close: () => Promise<void>;
}

function write(res: ServerResponse, seen: Served, chunk: Buffer): Promise<void> {
  seen.bytes += chunk.length;
  return res.write(chunk) ? Promise.resolve() : new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
}

async function serve(res: ServerResponse, b: Behaviour, seen: Served, chunked: boolean): Promise<void> {
  res.writeHead(200, chunked || b.kind !== 'bytes' ? {} : { 'content-length': String(b.body.length) });
  if (b.kind === 'bytes')
    return void res.end(b.body, () => {
      seen.bytes += b.body.length;
    });
  if (b.kind === 'padded') {
    await write(res, seen, b.body);
    const zeros = Buffer.alloc(64 << 10);
    while (!seen.closed) await write(res, seen, zeros);
    return;
  }
  for (let i = 0; i < b.body.length && !seen.closed; i += 1) {
    await write(res, seen, b.body.subarray(i, i + 1));
    await new Promise((resolve) => setTimeout(resolve, b.everyMs));
  }
  res.end();
}

/** Starts the server with `routes` (path → behaviour). */
export async function startHostileServer(routes: Record<string, Behaviour>): Promise<HostileServer> {
  const served = new Map<string, Served[]>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const behaviour = routes[url.pathname];
    if (!behaviour) return void res.writeHead(404).end();
    const seen: Served = { bytes: 0, closed: false };
    served.set(url.pathname, [...(served.get(url.pathname) ?? []), seen]);
    res.once('close', () => {
      seen.closed = true;
    });
    void serve(res, behaviour, seen, url.searchParams.has('chunked'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    served: (path) => served.get(path) ?? [],
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A tar.gz of `count` one-byte files `f-0`, `f-1`…: an archive with many entries and next to no content. */
export function manyFiles(count: number): Buffer {
  const body = Buffer.alloc(512);
  body.write('x');
  return gzipSync(Buffer.concat([...Array.from({ length: count }, (_, i) => [header(`f-${i}`, 1), body]).flat(), Buffer.alloc(1024)]));
}
