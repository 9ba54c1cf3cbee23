import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startMonitoring } from '../../../shared/cli/monitoring.js';
import { silentLogger } from '../../../shared/logger.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { freePort } from '../../support/free-port.js';

// prom-client is CommonJS: once anything imports it, Node's CommonJS cache holds its files. This file runs in a
// process of its own (vitest's forks pool), so nothing else loaded it before.
const promClientLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/prom-client/'));

it('loads prom-client only when --metrics-address is given', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pp-lazy-'));
  const options = { agent: 'files', node: 'n1', checkTtlSeconds: 0, checkPendingSeconds: 1800, resyncMs: 60_000, log: silentLogger() };
  try {
    const off = await startMonitoring(new FolderStore(join(dir, 'store')), options);
    await off.close();
    expect(promClientLoaded()).toBe(false);
    const on = await startMonitoring(new FolderStore(join(dir, 'store')), { ...options, metricsAddress: `127.0.0.1:${await freePort()}` });
    await on.close();
    expect(promClientLoaded()).toBe(true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
