import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGetText } from '../../../agents/setlive/http-get.js';
import { freePort } from '../../support/free-port.js';

describe('httpGetText against a real server on loopback', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/ok') return res.end('fine');
      if (req.url === '/down') {
        res.writeHead(503);
        return res.end('db down');
      }
      if (req.url === '/moved') {
        res.writeHead(302, { location: '/ok' });
        return res.end();
      }
      if (req.url === '/loop') {
        res.writeHead(302, { location: '/loop' });
        return res.end();
      }
      if (req.url === '/big') return res.end('x'.repeat(1 << 20));
      // /hang: never answers
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('returns the status and body of a 2xx and of a 5xx', async () => {
    expect(await httpGetText(`${base}/ok`, 2000)).toEqual({ status: 200, body: 'fine' });
    expect(await httpGetText(`${base}/down`, 2000)).toEqual({ status: 503, body: 'db down' });
  });

  it('follows a redirect, and gives up on a loop after 5 with the redirect status', async () => {
    expect(await httpGetText(`${base}/moved`, 2000)).toEqual({ status: 200, body: 'fine' });
    expect((await httpGetText(`${base}/loop`, 2000)).status).toBe(302);
  });

  it('reads no more than 4 KB of a large body', async () => {
    expect((await httpGetText(`${base}/big`, 2000)).body).toHaveLength(4096);
  });

  it('says it timed out when nothing answers in time, and names a refused connection', async () => {
    await expect(httpGetText(`${base}/hang`, 300)).rejects.toThrow('timed out after 300 ms');
    await expect(httpGetText(`http://127.0.0.1:${await freePort()}/`, 2000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
