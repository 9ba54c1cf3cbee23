import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { executeAgent } from '../../../shared/cli/agent-cli.js';
import { appIntentKey, realityKey, realityPrefix } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, onceOptions } from '../../support/intent-fixtures.js';

async function setup() {
  const root = await mkdtemp(join(tmpdir(), 'pp-exec-'));
  const store = new FolderStore(join(root, 'store'));
  const dir = join(root, 'files');
  await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('1.0')));
  await store.put(appIntentKey('p', 'n1', 'api'), JSON.stringify(appIntent('2.0')));
  return { store, dir };
}

describe('executeAgent', () => {
  it('--dry-run prints the plan and changes nothing, not even reality', async () => {
    const { store, dir } = await setup();
    let printed = '';
    const code = await executeAgent(
      fileAgent(dir),
      store,
      silentLogger(),
      onceOptions({
        once: false,
        dryRun: true,
        out: (t) => {
          printed += t;
        },
      }),
    );
    expect(code).toBe(0);
    expect(printed).toBe('api@2.0: write api=2.0\nweb@1.0: write web=1.0\n');
    expect(await readdir(dir).catch(() => [])).toEqual([]);
    expect((await store.read(realityPrefix('p'))).entries).toEqual([]);
  });

  it('--dry-run --json prints the plan as JSON', async () => {
    const { store, dir } = await setup();
    let printed = '';
    await executeAgent(
      fileAgent(dir),
      store,
      silentLogger(),
      onceOptions({
        once: false,
        dryRun: true,
        json: true,
        out: (t) => {
          printed += t;
        },
      }),
    );
    expect(JSON.parse(printed)).toMatchObject({
      agent: 'pp-files',
      node: 'n1',
      trusted: true,
      apps: [{ app: 'api', actions: ['write api=2.0'] }, { app: 'web' }],
    });
  });

  it('--once exits 0 when converged and 1 when an app failed', async () => {
    const { store, dir } = await setup();
    expect(await executeAgent(fileAgent(dir), store, silentLogger(), onceOptions())).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['api', 'web']);
    await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('1.1')));
    expect(await executeAgent(fileAgent(dir, new Set(['web'])), store, silentLogger(), onceOptions())).toBe(1);
  });

  it('--once records every app failed, and exits 1, when the host cannot be observed', async () => {
    const { store, dir } = await setup();
    const broken = {
      ...fileAgent(dir),
      observe: async () => {
        throw new Error('disk on fire');
      },
    };
    expect(await executeAgent(broken, store, silentLogger(), onceOptions())).toBe(1);
    const web = JSON.parse((await store.get(realityKey('p', 'n1', 'pp-files', 'web')))!);
    expect(web).toMatchObject({ status: 'failed', error: 'cannot observe the host: disk on fire', attempts: 1 });
  });
});
