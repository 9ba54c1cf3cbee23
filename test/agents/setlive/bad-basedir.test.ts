import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSetliveAgent } from '../../../agents/setlive/agent.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { runCli } from '../../support/run-cli.js';
import { intentFor, NODE, PREFIX, putIntent, reality } from './helpers.js';

let root: string;
let store: FolderStore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pp-setlive-badbase-'));
  store = new FolderStore(join(root, 'store'));
  await mkdir(join(root, 'service'));
  await mkdir(join(root, 'stage'));
  await writeFile(join(root, 'a-file'), 'not a folder\n');
  // Passes validation, but its parent is a file: reading <basedir>/current fails with ENOTDIR.
  await putIntent(store, 'bad', intentFor(join(root, 'a-file', 'x'), 18_001, { live: '1' }));
  await putIntent(store, 'good', intentFor(join(root, 'good'), 18_002, { live: '1' }));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('pp-setlive with one app whose basedir cannot be read', () => {
  it('fails that app only; the others are planned as usual', async () => {
    const config = {
      chpst: 'chpst',
      svlogd: 'svlogd',
      serviceDir: join(root, 'service'),
      stageDir: join(root, 'stage'),
      settleMs: 0,
      stopTimeoutMs: 1000,
      startTimeoutMs: 1000,
      pickupTimeoutMs: 1000,
      failedHoldMs: 60_000,
    };
    await runAgent(createSetliveAgent(config), { store, prefix: PREFIX, node: NODE, log: silentLogger(), once: true });
    expect(await reality(store, 'bad')).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^cannot observe bad on this host: .*ENOTDIR/),
    });
    expect(await reality(store, 'good')).toMatchObject({ status: 'pending', reason: 'waiting for install of 1' });
  });

  it('pp-setlive --dry-run (what pp plan setlive runs) prints the plan instead of crashing', async () => {
    const r = await runCli('agents/setlive/index.js', [
      '--dry-run',
      '--store',
      `folder:${join(root, 'store')}`,
      '--prefix',
      PREFIX,
      '--node',
      NODE,
      '--service-dir',
      join(root, 'service'),
      '--stage-dir',
      join(root, 'stage'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('cannot observe bad on this host');
    expect(r.stdout).toContain('waiting for install of 1');
  });
});
