import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, HttpRequestError, HttpTimeoutError, readText } from '../../shared/http-client.js';
import { freePort } from '../support/free-port.js';

const MB = 1 << 20;

describe('shared http client against a real server on loopback', () => {
  let server: Server;
  let base: string;
  const held: ServerResponse[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/ok') return res.end(`fine ${req.headers['user-agent'] ?? ''}`.trim());
      if (url.pathname === '/hop') {
        const n = Number(url.searchParams.get('n'));
        res.writeHead(302, { location: n > 0 ? `/hop?n=${n - 1}` : '/ok' });
        return res.end();
      }
      if (url.pathname === '/ftp') {
        res.writeHead(301, { location: 'ftp://example.test/x' });
        return res.end();
      }
      if (url.pathname === '/utf8') return res.end('aé'); // 3 bytes: a limit of 2 cuts the é in half
      if (url.pathname === '/stall') {
        res.writeHead(200);
        res.write('x'.repeat(1000));
        held.push(res);
        return;
      }
      if (url.pathname === '/big') {
        // 8 MB as fast as the reader takes it
        res.writeHead(200, { 'content-length': String(8 * MB) });
        const chunk = Buffer.alloc(64 << 10, 1);
        let sent = 0;
        const more = () => {
          while (sent < 8 * MB) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        return more();
      }
      held.push(res); // /hang: never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('follows up to maxRedirects redirects, then returns the redirect itself', async () => {
    const res = await httpGet(`${base}/hop?n=4`, { userAgent: 'pp-test' });
    expect([res.status, res.redirects, res.url.pathname, await readText(res, 100)]).toEqual([200, 5, '/ok', 'fine pp-test']);
    const loop = await httpGet(`${base}/hop?n=5`);
    expect([loop.status, loop.redirects, loop.url.search]).toEqual([302, 5, '?n=0']);
    loop.body.destroy();
    const short = await httpGet(`${base}/hop?n=1`, { maxRedirects: 1 });
    expect([short.status, short.redirects]).toEqual([302, 1]);
    short.body.destroy();
    await expect(httpGet(`${base}/ftp`)).rejects.toThrow('redirected to an unsupported ftp: URL');
  });

  it('reads at most maxBytes of a body, never half a character', async () => {
    expect(await readText(await httpGet(`${base}/big`), 4096)).toHaveLength(4096);
    expect(await readText(await httpGet(`${base}/utf8`), 2)).toBe('a');
    expect(await readText(await httpGet(`${base}/utf8`), 3)).toBe('aé');
  });

  it('gives up on headers that do not come, naming the URL, the hop and the timeout', async () => {
    const err = await httpGet(`${base}/hang`, { headersTimeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpRequestError);
    expect((err as HttpRequestError).cause).toBeInstanceOf(HttpTimeoutError);
    expect((err as HttpRequestError).message).toBe('no response within 0.2 s');
    expect((err as HttpRequestError).url.pathname).toBe('/hang');
  });

  it('destroys a body whose server stops sending while the reader waits', async () => {
    const res = await httpGet(`${base}/stall`, { stallMs: 200 });
    const err = await readText(res, MB).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpTimeoutError);
    expect((err as HttpTimeoutError).message).toBe('no data for 0.2 s');
  });

  it('does not count a slow reader as a stalled server', async () => {
    const res = await httpGet(`${base}/big`, { stallMs: 150 });
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of res.body) {
      bytes += (chunk as Buffer).length;
      if (++chunks <= 3) await sleep(400); // the reader is busy (a slow disk): the socket waits, full
    }
    expect(bytes).toBe(8 * MB);
  });

  it('an abort stops the request at once, and a body being read, destroying the socket', async () => {
    const before = new AbortController();
    setTimeout(() => before.abort(new Error('stop now')), 50);
    // /hang never answers: only the abort (its reason is the error) can end this request.
    await expect(httpGet(`${base}/hang`, { signal: before.signal })).rejects.toThrow('stop now');

    const during = new AbortController();
    const res = await httpGet(`${base}/stall`, { signal: during.signal });
    setTimeout(() => during.abort(new Error('stop the body')), 50);
    await expect(readText(res, MB)).rejects.toThrow('stop the body');
    expect(res.body.socket?.destroyed ?? true).toBe(true);
  });

  it('passes on the network error and its code', async () => {
    await expect(httpGet(`http://127.0.0.1:${await freePort()}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
