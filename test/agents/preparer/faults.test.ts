import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPreparerAgent } from '../../../agents/preparer/agent.js';
import { silentLogger } from '../../../shared/logger.js';
import { exitCodeOf, runAgent } from '../../../shared/loop/run-agent.js';
import { eventually } from '../../support/intent-fixtures.js';
import {
  FolderStore,
  listInstalls,
  makeArtifact,
  NODE,
  PREFIX,
  putIntent,
  reality,
  runOnce,
  startServer,
  stopServer,
  tempDir,
  testOptions,
  version,
} from './support.js';

const HOST = 'http://artifacts.test';
let dir: string;
let web: Awaited<ReturnType<typeof makeArtifact>>;
let api: Awaited<ReturnType<typeof makeArtifact>>;

beforeAll(async () => {
  dir = await tempDir('faults');
  web = await makeArtifact(dir, 'web', { 'bin/run': 'web\n', 'data.bin': 'x'.repeat(200_000) });
  api = await makeArtifact(dir, 'api', { 'bin/run': 'api\n' });
});

afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

afterAll(async () => {
  nock.restore();
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string) {
  const root = join(dir, name);
  const store = new FolderStore(join(root, 'store'));
  return { store, base: join(root, 'base') };
}

describe('pp-preparer download faults', () => {
  it('a 500 fails only that app; the loop retries it with backoff and installs it once the server recovers', async () => {
    nock.disableNetConnect();
    const { store, base } = await setup('500');
    nock(HOST).get('/web.tar.gz').times(3).reply(500, 'oops');
    nock(HOST)
      .get('/api.tar.gz')
      .reply(200, api.bytes, { 'content-length': String(api.bytes.length) });
    const webBase = `${base}-web`;
    await putIntent(store, 'web', webBase, [version('1', `${HOST}/web.tar.gz`, web.sha256)]);
    await putIntent(store, 'api', base, [version('1', `${HOST}/api.tar.gz`, api.sha256)]);
    expect(exitCodeOf(await runOnce(store))).toBe(1);
    expect((await reality(store, 'web'))?.error).toBe(
      `cannot install web_1 from ${HOST}/web.tar.gz: download failed: HTTP 500 Internal Server Error`,
    );
    expect(await reality(store, 'api')).toMatchObject({ status: 'converged', details: { present: ['1'] } });
    expect(await listInstalls(base)).toEqual(['.pp-install-api_1.json', 'api_1']);
    expect(await listInstalls(webBase)).toEqual([]);

    nock(HOST)
      .get('/web.tar.gz')
      .reply(200, web.bytes, { 'content-length': String(web.bytes.length) });
    const abort = new AbortController();
    const daemon = runAgent(createPreparerAgent(testOptions()), {
      store,
      prefix: PREFIX,
      node: NODE,
      log: silentLogger(),
      signal: abort.signal,
      retry: { baseMs: 20, maxMs: 50 },
      watch: { waitMs: 500 },
    });
    try {
      await eventually(async () => (await reality(store, 'web'))?.status === 'converged', 20_000, 'web to install after retries');
    } finally {
      abort.abort();
      await daemon;
    }
    expect(nock.isDone()).toBe(true); // the two remaining 500s were retried through before the good answer
    expect(await listInstalls(webBase)).toEqual(['.pp-install-web_1.json', 'web_1']);
  });

  it('reports a connection reset and leaves no temp folder', async () => {
    nock.disableNetConnect();
    const { store, base } = await setup('reset');
    nock(HOST)
      .get('/web.tar.gz')
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await putIntent(store, 'web', base, [version('1', `${HOST}/web.tar.gz`, web.sha256)]);
    expect(exitCodeOf(await runOnce(store))).toBe(1);
    expect((await reality(store, 'web'))?.error).toBe(`cannot install web_1 from ${HOST}/web.tar.gz: download failed: socket hang up`);
    expect(await listInstalls(base)).toEqual([]);
  });

  it('gives up on a server that does not answer within --download-timeout-seconds', async () => {
    nock.disableNetConnect();
    const { store, base } = await setup('slow-headers');
    nock(HOST).get('/web.tar.gz').delay(3000).reply(200, web.bytes);
    await putIntent(store, 'web', base, [version('1', `${HOST}/web.tar.gz`, web.sha256)]);
    expect(exitCodeOf(await runOnce(store, { downloadTimeoutMs: 200 }))).toBe(1);
    expect((await reality(store, 'web'))?.error).toContain('download failed: no response within 0.2 s (--download-timeout-seconds)');
    expect(await listInstalls(base)).toEqual([]);
  });

  // A real server for slow bodies: nock 14's delayBody delays the response headers as well.
  it('aborts a body that stalls mid-way and one that ends short, then installs once the server behaves', async () => {
    const half = Math.floor(web.bytes.length / 2);
    let mode: 'stall' | 'short' | 'ok' = 'stall';
    const http = await startServer(
      new Map([
        [
          '/web.tar.gz',
          (_req, res) => {
            res.writeHead(200, { 'content-length': String(web.bytes.length) });
            if (mode === 'ok') return res.end(web.bytes);
            res.write(web.bytes.subarray(0, half));
            if (mode === 'short') setTimeout(() => res.destroy(), 50);
          },
        ],
      ]),
    );
    try {
      const { store, base } = await setup('stall');
      await putIntent(store, 'web', base, [version('1', http.url('/web.tar.gz'), web.sha256)]);
      expect(exitCodeOf(await runOnce(store, { downloadTimeoutMs: 300 }))).toBe(1);
      expect((await reality(store, 'web'))?.error).toMatch(
        /: no data from http:\/\/127\.0\.0\.1:\d+\/web\.tar\.gz for 0\.3 s after \d+ bytes \(--download-timeout-seconds\)$/,
      );
      expect(await listInstalls(base)).toEqual([]);
      mode = 'short';
      expect(exitCodeOf(await runOnce(store, { downloadTimeoutMs: 5000 }))).toBe(1);
      expect((await reality(store, 'web'))?.error).toMatch(
        new RegExp(`: download interrupted after ${half} of ${web.bytes.length} bytes \\(aborted\\)$`),
      );
      expect(await listInstalls(base)).toEqual([]);
      mode = 'ok';
      expect(exitCodeOf(await runOnce(store))).toBe(0);
      expect(await listInstalls(base)).toEqual(['.pp-install-web_1.json', 'web_1']);
    } finally {
      await stopServer(http.server);
    }
  });
});
