import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { executeAgent } from '../../../shared/cli/agent-cli.js';
import { appIntentKey, drainedKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import type { IntentStore, KvWrite } from '../../../shared/store/types.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, onceOptions } from '../../support/intent-fixtures.js';

const options = onceOptions();
const files = async (dir: string) =>
  Object.fromEntries(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f), 'utf8')])));

async function setup() {
  const root = await mkdtemp(join(tmpdir(), 'pp-untrusted-'));
  const store = new FolderStore(join(root, 'store'));
  const dir = join(root, 'files');
  await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('1.0')));
  await store.put(appIntentKey('p', 'n1', 'api'), JSON.stringify(appIntent('2.0')));
  expect(await executeAgent(fileAgent(dir), store, silentLogger(), options)).toBe(0);
  expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
  return { store, dir };
}

const reality = async (store: IntentStore, app: string) => JSON.parse((await store.get(realityKey('p', 'n1', 'pp-files', app))) ?? 'null');

describe('untrusted intent', () => {
  it('a .drained marker beside app keys holds removals only, and reality names the marker', async () => {
    const { store, dir } = await setup();
    await store.transaction([
      { key: drainedKey('p', 'n1'), value: '{}' },
      { key: appIntentKey('p', 'n1', 'api'), value: null },
      { key: appIntentKey('p', 'n1', 'web'), value: JSON.stringify(appIntent('1.1')) },
    ]);
    // 3: api's removal is still pending.
    expect(await executeAgent(fileAgent(dir), store, silentLogger(), options)).toBe(3);
    expect(await files(dir)).toEqual({ web: '1.1', api: '2.0' });
    expect(await reality(store, 'web')).toMatchObject({ status: 'converged', version: '1.1' });
    const api = await reality(store, 'api');
    expect(api).toMatchObject({ status: 'pending' });
    expect(api.reason).toContain(
      `removal waits: the node is marked drained yet still has app keys (web) beside its marker ${drainedKey('p', 'n1')}`,
    );
    // The drain finished: the removal goes ahead.
    await store.delete(appIntentKey('p', 'n1', 'web'));
    expect(await executeAgent(fileAgent(dir), store, silentLogger(), options)).toBe(0);
    expect(await files(dir)).toEqual({});
  });

  it('an empty intent without a marker still removes nothing, and says why', async () => {
    const { store, dir } = await setup();
    await store.transaction([
      { key: appIntentKey('p', 'n1', 'api'), value: null },
      { key: appIntentKey('p', 'n1', 'web'), value: null },
    ]);
    expect(await executeAgent(fileAgent(dir), store, silentLogger(), options)).toBe(3);
    expect(await files(dir)).toEqual({ web: '1.0', api: '2.0' });
    expect((await reality(store, 'web')).reason).toContain('removal waits: node intent is empty and not marked drained');
  });
});

describe('--once and reality', () => {
  it('exits 1 when reality cannot be written, although every app converged', async () => {
    const { store, dir } = await setup();
    await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('1.2')));
    const broken: IntentStore = Object.assign(Object.create(store) as FolderStore, {
      put: async (key: string, value: string) => {
        if (key.includes('/reality/')) throw new Error('injected: reality is read-only');
        return store.put(key, value);
      },
      transaction: async (writes: KvWrite[]) => {
        if (writes.some((w) => w.key.includes('/reality/'))) throw new Error('injected: reality is read-only');
        return store.transaction(writes);
      },
    });
    expect(await executeAgent(fileAgent(dir), broken, silentLogger(), options)).toBe(1);
    expect((await files(dir)).web).toBe('1.2');
    expect(await executeAgent(fileAgent(dir), store, silentLogger(), options)).toBe(0);
  });
});
