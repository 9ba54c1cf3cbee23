import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSetliveAgent } from '../../../agents/setlive/agent.js';
import { appIntentKey, drainedKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { exitCodeOf, runAgent } from '../../../shared/loop/run-agent.js';
import { runCommand } from '../../../shared/process.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { freePort } from '../../support/free-port.js';
import { startRunit, type Runit } from '../../support/runit.js';
import { ask, intentFor, linkTarget, makeInstall, NODE, PREFIX, putIntent, reality, testConfig } from './helpers.js';

let runit: Runit;
let storeDir: string;
let store: FolderStore;
const ports = { web: 0, api: 0, db: 0 };
const base = (app: string) => join(runit.root, 'apps', app);
const install = (app: string, v: string) => join(base(app), 'installs', `${app}_${v}`);

async function converge(node = NODE) {
  const result = await runAgent(createSetliveAgent(testConfig(runit)), { store, prefix: PREFIX, node, log: silentLogger(), once: true });
  return { result, exit: exitCodeOf(result) };
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

async function until(what: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (await what()) return true;
  return what();
}

beforeAll(async () => {
  runit = await startRunit();
  storeDir = await mkdtemp(join(tmpdir(), 'pp-setlive-store-'));
  store = new FolderStore(storeDir);
  for (const app of ['web', 'api', 'db'] as const) ports[app] = await freePort();
});

afterAll(async () => {
  await runit?.stop();
  await rm(storeDir, { recursive: true, force: true });
});

describe('pp-setlive under a real runsvdir', () => {
  it('starts the live version under runit with its logs, and a second pass changes nothing', async () => {
    await makeInstall(base('web'), 'web', '1');
    await putIntent(store, 'web', intentFor(base('web'), ports.web, { live: '1' }));
    const first = await converge();
    expect(first.exit).toBe(0);
    expect(await ask(ports.web)).toMatchObject({ version: '1' });
    expect(await linkTarget(base('web'), 'current')).toBe(install('web', '1'));
    expect(await reality(store, 'web')).toMatchObject({ status: 'converged', version: '1' });
    const stage = join(runit.stageDir, 'web');
    expect(await readFile(join(stage, 'run'), 'utf8')).toContain(`cd ${base('web')}/current || exit 111`);
    expect(await readFile(join(stage, 'log', 'run'), 'utf8')).toContain('exec svlogd -tt ./main');
    expect(await linkTarget(runit.serviceDir, 'web')).toBe(stage);
    const logged = () =>
      readFile(join(stage, 'log', 'main', 'current'), 'utf8').then(
        (t) => t.includes('version 1 listening'),
        () => false,
      );
    expect(await until(logged)).toBe(true);
    const second = await converge();
    expect(second.result?.changed).toBe(0);
    expect(second.exit).toBe(0);
  });

  it('flips to a new version and keeps the previous one as last', async () => {
    const before = await ask(ports.web);
    await makeInstall(base('web'), 'web', '2');
    await putIntent(store, 'web', intentFor(base('web'), ports.web, { live: '2', prepared: ['1'] }));
    expect((await converge()).exit).toBe(0);
    expect(await ask(ports.web)).toMatchObject({ version: '2' });
    expect((await ask(ports.web)).version).not.toBe(before.version);
    expect(await linkTarget(base('web'), 'current')).toBe(install('web', '2'));
    expect(await linkTarget(base('web'), 'last')).toBe(install('web', '1'));
    expect(await reality(store, 'web')).toMatchObject({ status: 'converged', version: '2', details: { current: '2', last: '1' } });
  });

  it('rolls a version that fails its health check back to the previous one and records the check output', async () => {
    await makeInstall(base('web'), 'web', '3', '503 database unreachable');
    await putIntent(store, 'web', intentFor(base('web'), ports.web, { live: '3', prepared: ['2'], healthTimeoutMs: 2500 }));
    expect((await converge()).exit).toBe(1);
    expect(await ask(ports.web)).toMatchObject({ version: '2' });
    expect(await linkTarget(base('web'), 'current')).toBe(install('web', '2'));
    expect(await linkTarget(base('web'), 'last')).toBe(install('web', '1'));
    const record = await reality(store, 'web');
    expect(record).toMatchObject({ status: 'failed', version: '3' });
    expect(record?.error).toContain('HTTP 503: database unreachable');
    expect(record?.error).toContain('rolled back to 2, which is up and healthy');
  });

  it('holds the failed flip: the next pass leaves the rolled-back version running, and a changed intent tries again', async () => {
    const before = await ask(ports.web);
    expect((await converge()).exit).toBe(1);
    expect(await ask(ports.web)).toMatchObject({ version: '2', pid: before.pid });
    const held = await reality(store, 'web');
    expect(held).toMatchObject({ status: 'failed', version: '3' });
    expect(held?.error).toMatch(
      /^3: this version failed at .* and is not tried again before .* unless its intent changes: GET .*HTTP 503: database unreachable/,
    );
    await putIntent(store, 'web', intentFor(base('web'), ports.web, { live: '3', prepared: ['2'], healthTimeoutMs: 2000 }));
    expect((await converge()).exit).toBe(1);
    const after = await ask(ports.web);
    expect(after.version).toBe('2');
    expect(after.pid).not.toBe(before.pid);
    expect((await reality(store, 'web'))?.error).toContain('did not become healthy within 2000 ms');
  });

  it('waits for the install of the live version and says so, leaving the running version alone', async () => {
    await putIntent(store, 'web', intentFor(base('web'), ports.web, { live: '4', prepared: ['2'] }));
    expect((await converge()).exit).toBe(3);
    expect(await reality(store, 'web')).toMatchObject({ status: 'pending', reason: 'waiting for install of 4' });
    expect(await ask(ports.web)).toMatchObject({ version: '2' });
  });

  it('restarts the service when only its environment changes', async () => {
    await putIntent(store, 'web', intentFor(base('web'), ports.web, { live: '2', env: { GREETING: "it's me" } }));
    expect((await converge()).exit).toBe(0);
    expect(await ask(ports.web)).toMatchObject({ version: '2', greeting: "it's me" });
  });

  it('restarts a process that predates current: an old version left running under a link switched by hand', async () => {
    const stage = join(runit.stageDir, 'web');
    await runCommand(['sv', '-w', '5', 'down', stage]);
    await runCommand(['ln', '-sfn', install('web', '1'), join(base('web'), 'current')]);
    await runCommand(['sv', 'up', stage]);
    expect(await until(async () => (await ask(ports.web)).version === '1')).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    await runCommand(['ln', '-sfn', install('web', '2'), join(base('web'), 'current')]);
    expect((await converge()).exit).toBe(0);
    expect(await ask(ports.web)).toMatchObject({ version: '2', greeting: "it's me" });
  });

  it('sets the mode of scripts chmod-ed by hand back on the next pass, leaving the running process alone', async () => {
    const stage = join(runit.stageDir, 'web');
    const before = await ask(ports.web);
    await chmod(join(stage, 'run'), 0o644);
    await chmod(join(stage, 'log', 'run'), 0o600);
    const repaired = await converge();
    expect(repaired.exit).toBe(0);
    expect(repaired.result?.changed).toBe(1);
    expect((await stat(join(stage, 'run'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(stage, 'log', 'run'))).mode & 0o7777).toBe(0o755);
    expect(await ask(ports.web)).toMatchObject({ version: '2', pid: before.pid });
    expect(await reality(store, 'web')).toMatchObject({ status: 'converged', version: '2' });
    expect((await converge()).result?.changed).toBe(0);
  });

  it('does not start an app before the apps it requires are live and healthy here', async () => {
    await makeInstall(base('api'), 'api', '1');
    await putIntent(store, 'api', intentFor(base('api'), ports.api, { live: '1', requires: ['db'] }));
    const dbIntent = {
      ...intentFor(base('db'), ports.db, { live: '7', noHealth: true }),
      health: { command: ['sh', '-c', 'grep -q 7 VERSION'], timeoutMs: 5000 },
    };
    await putIntent(store, 'db', dbIntent);
    expect((await converge()).exit).toBe(3);
    expect(await reality(store, 'db')).toMatchObject({ status: 'pending', reason: 'waiting for install of 7' });
    expect(await reality(store, 'api')).toMatchObject({
      status: 'pending',
      reason: expect.stringContaining('waiting for required app db'),
    });
    expect(await exists(join(runit.stageDir, 'api'))).toBe(false);
    expect((await ask(ports.api)).error).toBe('ECONNREFUSED');
    await makeInstall(base('db'), 'db', '7');
    expect((await converge()).exit).toBe(0);
    expect(await ask(ports.db)).toMatchObject({ version: '7' });
    expect(await ask(ports.api)).toMatchObject({ version: '1' });
  });

  it('removes nothing on an empty, undrained node intent or for an app whose intent is invalid', async () => {
    // 3: each staged app's removal is pending, and reality says why.
    expect((await converge('empty-node')).exit).toBe(3);
    await store.put(appIntentKey(PREFIX, NODE, 'db'), '{"schema": 1, "basedir": "relative"}');
    expect((await converge()).exit).toBe(1);
    expect(await reality(store, 'db')).toMatchObject({ status: 'failed', error: expect.stringContaining('field basedir') });
    for (const app of ['web', 'api', 'db'] as const) expect(await ask(ports[app])).toHaveProperty('version');
    expect(await exists(join(runit.stageDir, 'db'))).toBe(true);
  });

  it('stops and unlinks an app dropped from the intent, removes its service folder and its reality', async () => {
    await store.delete(appIntentKey(PREFIX, NODE, 'api'));
    await store.delete(appIntentKey(PREFIX, NODE, 'db'));
    expect((await converge()).exit).toBe(0);
    for (const app of ['api', 'db'] as const) {
      expect((await ask(ports[app])).error).toBe('ECONNREFUSED');
      expect(await exists(join(runit.serviceDir, app))).toBe(false);
      expect(await exists(join(runit.stageDir, app))).toBe(false);
      expect(await reality(store, app)).toBeUndefined();
    }
    expect(await ask(ports.web)).toHaveProperty('version', '2');
  });

  it('removes every app of a drained node and leaves no runsv behind', async () => {
    // As `pp intent drain` does: the marker, and no app keys left beside it.
    await store.transaction([
      { key: drainedKey(PREFIX, NODE), value: '' },
      { key: appIntentKey(PREFIX, NODE, 'web'), value: null },
    ]);
    expect((await converge()).exit).toBe(0);
    expect((await ask(ports.web)).error).toBe('ECONNREFUSED');
    expect(await exists(join(runit.stageDir, 'web'))).toBe(false);
    const status = await runCommand(['sv', 'status', join(runit.stageDir, 'web')]);
    expect(status.stdout + status.stderr).toContain('unable to change to service directory');
    expect(await linkTarget(base('web'), 'current')).toBe(install('web', '2')); // installs and links are the preparer's
  });
});
