import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSetliveAgent } from '../../../agents/setlive/agent.js';
import { storeFleet } from '../../../agents/setlive/fleet.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { FlipSemaphore } from '../../../shared/rollout/semaphore.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import type { IntentStore } from '../../../shared/store/types.js';
import { freePort } from '../../support/free-port.js';
import { eventually } from '../../support/intent-fixtures.js';
import { type Runit, startRunit } from '../../support/runit.js';
import { ask, intentFor, makeInstall, NODE, PREFIX, putIntent, reality, testConfig } from './helpers.js';

let runit: Runit;
let storeDir: string;
let store: FolderStore;
const base = (app: string) => join(runit.root, 'apps', app);

beforeAll(async () => {
  runit = await startRunit();
  storeDir = await mkdtemp(join(tmpdir(), 'pp-setlive-slot-wait-'));
  store = new FolderStore(storeDir);
});

afterAll(async () => {
  await runit?.stop();
  await rm(storeDir, { recursive: true, force: true });
});

describe('pp-setlive waiting for rollout slots', () => {
  it('more apps than --parallel waiting for fleet slots hold none of its slots: another app flips meanwhile', {
    timeout: 300_000,
  }, async () => {
    const waiting = ['w1', 'w2', 'w3'];
    const ports = new Map<string, number>();
    for (const app of [...waiting, 'quick']) {
      ports.set(app, await freePort());
      for (const v of ['1', '2']) await makeInstall(base(app), app, v);
    }
    const rollout = { rollout: { maxParallel: 1 } };
    for (const app of waiting) await putIntent(store, app, { ...intentFor(base(app), ports.get(app)!, { live: '1' }), ...rollout });
    const stop = new AbortController();
    const running = runAgent(createSetliveAgent({ ...testConfig(runit), parallel: 2 }, storeFleet(store, PREFIX, NODE, 30_000)), {
      store,
      prefix: PREFIX,
      node: NODE,
      log: silentLogger(),
      signal: stop.signal,
      watch: { waitMs: 30_000 },
    });
    // Another node holds every slot of the three apps (maxParallel 1).
    const otherLeases = (store as IntentStore).leases({ name: 'pp-setlive other', ttlMs: 30_000 });
    const other = new FlipSemaphore(store, otherLeases, PREFIX, 'other');
    try {
      for (const app of waiting)
        await eventually(async () => (await reality(store, app))?.status === 'converged', 60_000, `${app} 1 running`);
      for (const app of waiting) await other.acquire(app, 1, '9', new AbortController().signal, () => {});
      for (const app of waiting) await putIntent(store, app, { ...intentFor(base(app), ports.get(app)!, { live: '2' }), ...rollout });
      for (const app of waiting)
        await eventually(
          async () => /^waiting for a rollout slot of w\d \(1 of 1 held: other/.test(String((await reality(store, app))?.reason)),
          60_000,
          `${app} waiting for its slot`,
        );

      await putIntent(store, 'quick', intentFor(base('quick'), ports.get('quick')!, { live: '1' }));
      await eventually(async () => (await reality(store, 'quick'))?.status === 'converged', 60_000, 'quick converged meanwhile');
      expect(await ask(ports.get('quick')!)).toMatchObject({ version: '1' });
      for (const app of waiting) {
        expect(await reality(store, app)).toMatchObject({
          status: 'pending',
          reason: expect.stringMatching(/^waiting for a rollout slot/),
        });
        expect(await ask(ports.get(app)!)).toMatchObject({ version: '1' }); // never stopped without a slot
      }

      for (const app of waiting) await other.release(app);
      for (const app of waiting) {
        await eventually(async () => (await ask(ports.get(app)!)).version === '2', 60_000, `${app} flipped to 2 once its slot was free`);
        await eventually(async () => (await reality(store, app))?.status === 'converged', 60_000, `${app} converged on 2`);
      }
    } finally {
      stop.abort();
      await running;
      await otherLeases.close();
    }
  });
});
