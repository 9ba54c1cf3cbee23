import { access, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { pendingRecheckMs, runAgent } from '../../../shared/loop/run-agent.js';
import { planParts } from '../../../shared/loop/types.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, daemonOptions, eventually } from '../../support/intent-fixtures.js';

describe('an app pending on something outside the agent', () => {
  it('is re-observed soon, without waiting for the resync or an intent change', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pp-pending-'));
    const store = new FolderStore(join(root, 'store'));
    const gate = join(root, 'gate');
    const base = fileAgent(join(root, 'files'));
    // Pending until another party creates the gate file, as setlive waits for the preparer's install.
    const agent = {
      ...base,
      plan: (intent: Parameters<typeof base.plan>[0], observed: Map<string, string> & { gateOpen?: boolean }) =>
        planParts(base.plan(intent, observed)).apps.map((p) =>
          observed.gateOpen ? p : { ...p, actions: [], pending: 'waiting for the gate' },
        ),
      observe: async (intent: Parameters<typeof base.observe>[0]) =>
        Object.assign(await base.observe(intent), {
          gateOpen: await access(gate).then(
            () => true,
            () => false,
          ),
        }),
    };
    await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('1')));
    const abort = new AbortController();
    const running = runAgent(agent, { store, prefix: 'p', node: 'n1', log: silentLogger(), signal: abort.signal, resyncMs: 3_600_000 });
    const reality = async () => JSON.parse((await store.get(realityKey('p', 'n1', 'pp-files', 'web'))) ?? '{}');
    await eventually(async () => (await reality()).status === 'pending', 10_000, 'pending');
    await writeFile(gate, '');
    await eventually(async () => (await reality()).status === 'converged', 10_000, 'converged after the gate opened');
    abort.abort();
    await running;
  });

  it('backs off while it stays pending', () => {
    expect([0, 1, 2, 3, 6, 20].map(pendingRecheckMs)).toEqual([undefined, 1000, 2000, 4000, 30_000, 30_000]);
  });

  it('does not spin when an app whose action failed turns out converged', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pp-spin-'));
    const store = new FolderStore(join(root, 'store'));
    const base = fileAgent(join(root, 'files'));
    let observed = 0;
    let failed = false;
    // The action does its work, then reports failure once (like a health check that fails after the flip).
    const agent = {
      ...base,
      observe: async (i: Parameters<typeof base.observe>[0]) => {
        observed += 1;
        return base.observe(i);
      },
      apply: async (a: Parameters<typeof base.apply>[0], log: Parameters<typeof base.apply>[1]) => {
        await base.apply(a, log);
        if (!failed) {
          failed = true;
          throw new Error('reported failure');
        }
        return { changed: true };
      },
    };
    await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('1')));
    const abort = new AbortController();
    const running = runAgent(agent, daemonOptions(store, { signal: abort.signal, resyncMs: 3_600_000, retry: { baseMs: 50, maxMs: 100 } }));
    await eventually(() => failed, 10_000, 'the failing action');
    await new Promise((r) => setTimeout(r, 1500));
    abort.abort();
    await running;
    expect(observed).toBeLessThan(20);
  });
});
