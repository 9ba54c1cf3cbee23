import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPreparerAgent } from '../../../agents/preparer/agent.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { eventually } from '../../support/intent-fixtures.js';
import {
  FolderStore,
  type Handler,
  listInstalls,
  makeArtifact,
  NODE,
  PREFIX,
  putIntent,
  reality,
  startServer,
  stopServer,
  tempDir,
  testOptions,
  version,
} from './support.js';

const AGENT = resolve(import.meta.dirname, '../../../dist/agents/preparer/index.js');

let dir: string;
let server: Awaited<ReturnType<typeof startServer>>;
let small: Awaited<ReturnType<typeof makeArtifact>>;
const stalled = new Set<ServerResponse>();

beforeAll(async () => {
  dir = await tempDir('concurrent');
  small = await makeArtifact(dir, 'small', { 'bin/run': '#!/bin/sh\necho hi\n', 'data.txt': 'b'.repeat(5000) });
  // /stall sends the first bytes of a real artifact, then nothing for a minute: a download that hangs.
  server = await startServer(
    new Map<string, string | Handler>([
      ['/small.tar.gz', small.path],
      [
        '/stall.tar.gz',
        (_req, res) => {
          res.writeHead(200, { 'content-length': String(small.bytes.length) });
          res.write(small.bytes.subarray(0, 64));
          stalled.add(res);
          setTimeout(() => res.destroy(), 60_000).unref();
        },
      ],
    ]),
  );
});

afterAll(async () => {
  for (const res of stalled) res.destroy();
  await stopServer(server?.server);
  await rm(dir, { recursive: true, force: true });
});

/** True once a download for `app` is in flight: its temp folder exists under `base`. */
const downloading = async (base: string, app: string) => (await listInstalls(base)).some((n) => n.startsWith(`.pp-tmp-${app}_`));

describe('pp-preparer applies apps concurrently', () => {
  it('a hung download of app A holds up no other app: B, written after A started, installs within seconds; stopping cuts A short and leaves nothing half-done', async () => {
    const store = new FolderStore(join(dir, 'store1'));
    const baseA = join(dir, 'a1');
    const baseB = join(dir, 'b1');
    const stop = new AbortController();
    await putIntent(store, 'appa', baseA, [version('1', server.url('/stall.tar.gz'), small.sha256)]);
    const agent = createPreparerAgent(testOptions({ downloadTimeoutMs: 120_000, parallel: 4 }));
    const running = runAgent(agent, {
      store,
      prefix: PREFIX,
      node: NODE,
      log: silentLogger(),
      signal: stop.signal,
      watch: { waitMs: 30_000 },
    });
    await eventually(() => downloading(baseA, 'appa'), 20_000, 'the download of appa to start');

    await putIntent(store, 'appb', baseB, [version('1', server.url('/small.tar.gz'), small.sha256)]);
    await eventually(async () => (await listInstalls(baseB)).includes('appb_1'), 20_000, 'appb to be installed while appa hangs');
    expect(await downloading(baseA, 'appa')).toBe(true);
    await eventually(async () => (await reality(store, 'appb'))?.status === 'converged', 20_000, 'appb converged in reality');
    expect(await reality(store, 'appa')).toMatchObject({ status: 'pending', reason: expect.stringMatching(/^applying: install /) });

    stop.abort();
    await running;
    expect(await listInstalls(baseA)).toEqual([]);
    expect(await reality(store, 'appa')).toMatchObject({ status: 'pending', reason: expect.stringMatching(/^stopped before: install /) });
  });

  it('SIGTERM during a hung download: the process exits 0 within a few seconds, leaving no temp folder and reality written', async () => {
    const root = join(dir, 'store2');
    const store = new FolderStore(root);
    const baseA = join(dir, 'a2');
    await putIntent(store, 'appa', baseA, [version('1', server.url('/stall.tar.gz'), small.sha256)]);
    const child = spawn(
      process.execPath,
      [AGENT, '--store', `folder:${root}`, '--prefix', PREFIX, '--node', NODE, '--download-timeout-seconds', '300', '--progress', 'off'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    const exited = new Promise<{ code: number | null; at: number }>((done) => child.once('exit', (code) => done({ code, at: Date.now() })));
    await eventually(() => downloading(baseA, 'appa'), 30_000, 'the download to start');
    const sentAt = Date.now();
    child.kill('SIGTERM');
    const { code, at } = await exited;
    expect(code, stderr).toBe(0);
    // Generous for a loaded 2-core machine; before the stop cut transfers short, it waited for the 300 s timeout.
    expect(at - sentAt).toBeLessThan(20_000);
    expect(await listInstalls(baseA)).toEqual([]);
    expect(await reality(store, 'appa')).toMatchObject({ status: 'pending', reason: expect.stringMatching(/^stopped before: install /) });
  });
});
