import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSetliveAgent } from '../../../agents/setlive/agent.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { freePort } from '../../support/free-port.js';
import { eventually } from '../../support/intent-fixtures.js';
import { startRunit, type Runit } from '../../support/runit.js';
import { ask, intentFor, linkTarget, makeInstall, NODE, PREFIX, putIntent, reality, testConfig } from './helpers.js';

let runit: Runit;
let storeDir: string;
let store: FolderStore;
const base = (app: string) => join(runit.root, 'apps', app);
const install = (app: string, v: string) => join(base(app), 'installs', `${app}_${v}`);

beforeAll(async () => {
  runit = await startRunit();
  storeDir = await mkdtemp(join(tmpdir(), 'pp-setlive-concurrent-'));
  store = new FolderStore(storeDir);
});

afterAll(async () => {
  await runit?.stop();
  await rm(storeDir, { recursive: true, force: true });
});

describe('pp-setlive applies apps concurrently', () => {
  it("app A's long health wait does not delay B's flip; a stop mid-wait leaves A running, not rolled back", async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    // A's version never passes its check: its health wait lasts its whole 60 s timeout.
    await makeInstall(base('slow'), 'slow', '1', '503 warming up forever');
    await makeInstall(base('quick'), 'quick', '1');
    await putIntent(store, 'slow', intentFor(base('slow'), portA, { live: '1', healthTimeoutMs: 60_000 }));
    const stop = new AbortController();
    const running = runAgent(createSetliveAgent({ ...testConfig(runit), parallel: 4 }), {
      store,
      prefix: PREFIX,
      node: NODE,
      log: silentLogger(),
      signal: stop.signal,
      watch: { waitMs: 30_000 },
    });
    await eventually(async () => (await ask(portA)).version === '1', 30_000, 'slow 1 to be started and in its health wait');
    expect(await reality(store, 'slow')).toMatchObject({ status: 'pending', reason: expect.stringMatching(/^applying: await slow 1/) });

    await putIntent(store, 'quick', intentFor(base('quick'), portB, { live: '1' }));
    await eventually(async () => (await reality(store, 'quick'))?.status === 'converged', 30_000, 'quick converged while slow waits');
    expect(await ask(portB)).toMatchObject({ version: '1' });
    expect(await reality(store, 'slow')).toMatchObject({ status: 'pending', reason: expect.stringMatching(/^applying: await slow 1/) });

    stop.abort();
    await running;
    // Stopping cut the wait short without a verdict: the started version keeps running for the next run to judge.
    expect(await ask(portA)).toMatchObject({ version: '1' });
    expect(await linkTarget(base('slow'), 'current')).toBe(install('slow', '1'));
    expect(await reality(store, 'slow')).toMatchObject({
      status: 'pending',
      reason: expect.stringMatching(/^stopped before: await slow 1/),
    });
  });
});
