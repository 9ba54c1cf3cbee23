import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSetliveAgent } from '../../../agents/setlive/agent.js';
import { appIntentKey, drainedKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { exitCodeOf, runAgent } from '../../../shared/loop/run-agent.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { freePort } from '../../support/free-port.js';
import { servicePid, startRunit, waitForService, type Runit } from '../../support/runit.js';
import { ask, intentFor, makeInstall, NODE, PREFIX, putIntent, reality, testConfig } from './helpers.js';

const AGENT = resolve(import.meta.dirname, '../../../dist/agents/setlive/index.js');
const FOREIGN_RUN = '#!/bin/sh\nexec sleep 600\n';

let runit: Runit;
let storeDir: string;
let store: FolderStore;
const ports = { web: 0, old: 0 };
const base = (app: string) => join(runit.root, 'apps', app);
const stage = (name: string) => join(runit.stageDir, name);

async function converge() {
  return exitCodeOf(
    await runAgent(createSetliveAgent(testConfig(runit)), { store, prefix: PREFIX, node: NODE, log: silentLogger(), once: true }),
  );
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Runs the pp-setlive process with `args`; resolves to its exit code and stderr. */
function runProcess(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [AGENT, '--once', '--store', `folder:${storeDir}`, '--prefix', PREFIX, '--node', NODE, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((done) => child.once('exit', (code) => done({ code, stderr })));
}

let sshdPid: number | undefined;

beforeAll(async () => {
  runit = await startRunit();
  storeDir = await mkdtemp(join(tmpdir(), 'pp-setlive-store-'));
  store = new FolderStore(storeDir);
  for (const app of ['web', 'old'] as const) ports[app] = await freePort();
  // A runit service of someone else's in the stage folder, supervised through its own link, and a plain folder.
  await mkdir(stage('sshd'));
  await writeFile(join(stage('sshd'), 'run'), FOREIGN_RUN, { mode: 0o755 });
  await symlink(stage('sshd'), join(runit.serviceDir, 'sshd'));
  await mkdir(stage('notes'));
  await writeFile(join(stage('notes'), 'todo.txt'), 'keep me\n');
  await waitForService(stage('sshd'), 'run');
  sshdPid = await servicePid(stage('sshd'));
});

afterAll(async () => {
  await runit?.stop();
  await rm(storeDir, { recursive: true, force: true });
});

async function expectForeignIntact() {
  expect(await servicePid(stage('sshd'))).toBe(sshdPid);
  expect(await readFile(join(stage('sshd'), 'run'), 'utf8')).toBe(FOREIGN_RUN);
  expect(await exists(join(runit.serviceDir, 'sshd'))).toBe(true);
  expect(await readFile(join(stage('notes'), 'todo.txt'), 'utf8')).toBe('keep me\n');
  expect(await exists(join(stage('sshd'), 'pp-managed'))).toBe(false);
  expect(await exists(join(stage('notes'), 'pp-managed'))).toBe(false);
}

describe('pp-setlive with folders in --stage-dir that are not its own', () => {
  it('marks the service folders it writes and leaves foreign ones alone, reporting no app for them', async () => {
    for (const app of ['web', 'old'] as const) {
      await makeInstall(base(app), app, '1');
      await putIntent(store, app, intentFor(base(app), ports[app], { live: '1' }));
    }
    expect(await converge()).toBe(0);
    for (const app of ['web', 'old'] as const) {
      expect(await ask(ports[app])).toMatchObject({ version: '1' });
      expect(await readFile(join(stage(app), 'pp-managed'), 'utf8')).toBe(`${app}\n`);
    }
    await expectForeignIntact();
    expect(await reality(store, 'sshd')).toBeUndefined();
    expect(await reality(store, 'notes')).toBeUndefined();
  });

  it('adopts a folder written without the marker (by its run script) without restarting its service', async () => {
    await unlink(join(stage('old'), 'pp-managed'));
    const before = await ask(ports.old);
    expect(await converge()).toBe(0);
    expect(await readFile(join(stage('old'), 'pp-managed'), 'utf8')).toBe('old\n');
    expect(await ask(ports.old)).toMatchObject({ version: '1', pid: before.pid });
  });

  it('refuses an intended app whose stage folder is not ours, changing nothing in it', async () => {
    await makeInstall(base('sshd'), 'sshd', '1');
    await putIntent(store, 'sshd', intentFor(base('sshd'), await freePort(), { live: '1' }));
    expect(await converge()).toBe(1);
    expect(await reality(store, 'sshd')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining(`${stage('sshd')} was not written by pp-setlive`),
    });
    expect(await exists(join(base('sshd'), 'current'))).toBe(false);
    await expectForeignIntact();
    await store.delete(appIntentKey(PREFIX, NODE, 'sshd'));
  });

  it('removes dropped apps, an unmarked old-style folder included, while foreign ones survive the removal pass', async () => {
    await rm(join(stage('old'), 'pp-managed'), { force: true });
    // As `pp intent drain` does: the marker, and no app keys left beside it (an empty undrained intent removes nothing).
    await store.transaction([
      { key: drainedKey(PREFIX, NODE), value: '' },
      ...(['web', 'old'] as const).map((app) => ({ key: appIntentKey(PREFIX, NODE, app), value: null })),
    ]);
    expect(await converge()).toBe(0);
    for (const app of ['web', 'old'] as const) {
      expect((await ask(ports[app])).error).toBe('ECONNREFUSED');
      expect(await exists(stage(app))).toBe(false);
      expect(await exists(join(runit.serviceDir, app))).toBe(false);
      expect(await reality(store, app)).toBeUndefined();
    }
    await expectForeignIntact();
    expect(await reality(store, 'sshd')).toBeUndefined();
    // A second pass on the same host finds nothing left to do.
    expect(await converge()).toBe(0);
    await expectForeignIntact();
  });

  it('exits 2 naming both flags when --stage-dir is, is inside, or contains --service-dir; else logs the foreign folders', async () => {
    for (const stageDir of [runit.serviceDir, join(runit.serviceDir, 'stage'), runit.root, `${runit.serviceDir}/../service/`]) {
      const run = await runProcess(['--service-dir', runit.serviceDir, '--stage-dir', stageDir]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('--stage-dir');
      expect(run.stderr).toContain('--service-dir');
    }
    await expectForeignIntact();
    const fine = await runProcess(['--service-dir', runit.serviceDir, '--stage-dir', runit.stageDir, '--log-level', 'warn']);
    expect(fine.code).toBe(0);
    expect(fine.stderr).toContain(`${stage('sshd')} is not a service folder of pp-setlive`);
    expect(fine.stderr).toContain(`${stage('notes')} is not a service folder of pp-setlive`);
  });
});
