import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPortAuthorityAgent } from '../../../agents/iptables/port-authority/agent.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { killGroup, runAgentProcess, startAgent, waitForFile } from './processes.js';
import { NODE, PREFIX, testStore } from './support.js';

const HEADER = '# managed by pp-iptables (Platypus); edits are overwritten';
let t: Awaited<ReturnType<typeof testStore>>;
let dir: string;
let script: string;
const flag = (name: string) => join(t.root, name);
const running: ChildProcess[] = [];

/** Every `<refresh> rebuild` call, with the YAML files present at that moment. */
async function calls(): Promise<string[]> {
  const text = await readFile(flag('calls'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l !== '');
}

const agent = () => createPortAuthorityAgent({ configDir: dir, refresh: [script], prefix: [] });
const converge = async () => (await runAgent(agent(), { store: t.store, prefix: PREFIX, node: NODE, log: silentLogger(), once: true }))!;
const file = (app: string) => readFile(join(dir, `${app}.yml`), 'utf8');
const exists = (name: string) =>
  stat(join(dir, name)).then(
    () => true,
    () => false,
  );

beforeAll(async () => {
  t = await testStore();
  dir = join(t.root, 'port-authority');
  script = join(t.root, 'refresh.sh');
  await writeFile(
    script,
    [
      '#!/bin/sh',
      `echo "$* $(cd ${dir} && ls *.yml 2>/dev/null | tr '\\n' ' ')" >> ${flag('calls')}`,
      `if [ -e ${flag('fail')} ]; then echo "port_authority: cannot rebuild" >&2; exit 1; fi`,
      `if [ -e ${flag('block')} ]; then touch ${flag('started')}; sleep 30; fi`,
      '',
    ].join('\n'),
  );
  await chmod(script, 0o755);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'other.yml'), 'other_1_tcp: {port: 1, protocol: tcp}\n');
  await writeFile(join(dir, 'README'), 'not ours\n');
});

afterEach(async () => {
  for (const child of running.splice(0)) await killGroup(child);
});

afterAll(async () => {
  if (t) await rm(t.root, { recursive: true, force: true });
});

describe('pp-iptables port_authority compatibility mode', () => {
  it('writes one YAML file per app, then runs the refresh command once', async () => {
    await t.setApp('web', [8080, [53, 'udp']]);
    await t.setApp('api', [9090]);
    await converge();
    expect(await file('web')).toBe(`${HEADER}\nweb_53_udp: {port: 53, protocol: udp}\nweb_8080_tcp: {port: 8080, protocol: tcp}\n`);
    expect(await file('api')).toBe(`${HEADER}\napi_9090_tcp: {port: 9090, protocol: tcp}\n`);
    expect(await calls()).toEqual(['rebuild api.yml other.yml web.yml ']);
    expect(await exists('.pp-iptables-refresh-pending')).toBe(false);
    expect(await t.reality('web')).toMatchObject({ status: 'converged', details: { ports: ['53/udp', '8080/tcp'] } });
  });

  it('changes nothing and refreshes nothing when the intent is unchanged', async () => {
    const before = await stat(join(dir, 'web.yml'));
    const result = await converge();
    expect(result.changed).toBe(0);
    expect(await calls()).toHaveLength(1);
    const after = await stat(join(dir, 'web.yml'));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it("rewrites a changed app, removes a removed app's file and reality, and leaves files it did not write alone", async () => {
    await t.setApp('web', [8443]);
    await t.removeApp('api');
    await converge();
    expect(await file('web')).toBe(`${HEADER}\nweb_8443_tcp: {port: 8443, protocol: tcp}\n`);
    expect(await exists('api.yml')).toBe(false);
    expect(await readFile(join(dir, 'other.yml'), 'utf8')).toBe('other_1_tcp: {port: 1, protocol: tcp}\n');
    expect(await readFile(join(dir, 'README'), 'utf8')).toBe('not ours\n');
    expect((await calls()).slice(1)).toEqual(['rebuild other.yml web.yml ']);
    expect(await t.reality('api')).toBeUndefined();
  });

  it('keeps the file of an invalid app and of an app with a clashing port, converging the others', async () => {
    await t.setRaw('web', '{"schema":1,"basedir":"/srv/web","ports":[{"port":8443,"protocol":"sctp"}]}');
    await t.setApp('zz', [8443, 7000]);
    await t.setApp('cache', [6379]);
    await converge();
    expect(await file('web')).toBe(`${HEADER}\nweb_8443_tcp: {port: 8443, protocol: tcp}\n`);
    expect(await file('cache')).toBe(`${HEADER}\ncache_6379_tcp: {port: 6379, protocol: tcp}\n`);
    expect(await exists('zz.yml')).toBe(false);
    expect(await t.reality('web')).toMatchObject({ status: 'failed', error: expect.stringContaining('ports[0].protocol') });
    expect(await t.reality('zz')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('port 8443/tcp is also intended for (or held by) app web'),
    });
    expect((await calls()).slice(2)).toEqual(['rebuild cache.yml other.yml web.yml ']);
    await t.setApp('web', [8443]);
    await converge();
    expect(await exists('zz.yml')).toBe(false);
    expect(await t.reality('web')).toMatchObject({ status: 'converged' });
    expect(await t.reality('zz')).toMatchObject({ status: 'failed' });
    await t.removeApp('zz');
  });

  it('retries a failed refresh on the next pass although the files are already written', async () => {
    await writeFile(flag('fail'), '');
    await t.setApp('cache', [6380]);
    const failed = await converge();
    expect(failed.outcomes.find((o) => o.app === 'cache')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('port_authority: cannot rebuild'),
    });
    expect(await file('cache')).toBe(`${HEADER}\ncache_6380_tcp: {port: 6380, protocol: tcp}\n`);
    expect(await exists('.pp-iptables-refresh-pending')).toBe(true);
    const before = (await calls()).length;
    await rm(flag('fail'));
    await converge();
    expect((await calls()).length).toBe(before + 1);
    expect(await exists('.pp-iptables-refresh-pending')).toBe(false);
    expect(await t.reality('cache')).toMatchObject({ status: 'converged', details: { ports: ['6380/tcp'] } });
  });

  it('removes nothing while the node intent is empty and not drained, and every file it wrote once drained', async () => {
    for (const app of ['web', 'cache', 'zz']) await t.removeApp(app);
    const before = await calls();
    await converge();
    expect(await calls()).toEqual(before);
    expect((await readdir(dir)).sort()).toEqual(['README', 'cache.yml', 'other.yml', 'web.yml']);
    await t.drain();
    await converge();
    expect((await readdir(dir)).sort()).toEqual(['README', 'other.yml']);
    expect((await calls()).slice(before.length)).toEqual(['rebuild other.yml ']);
    for (const app of ['web', 'cache', 'zz']) expect(await t.reality(app)).toBeUndefined();
    await t.undrain();
  });

  it('killed while the refresh command runs, refreshes again on restart and cleans temp files of the killed run', async () => {
    await t.setApp('web', [8080]);
    await writeFile(flag('block'), '');
    const args = [
      '--mode',
      'port-authority',
      '--config-dir',
      dir,
      '--refresh-command',
      script,
      '--store',
      `folder:${t.store.root}`,
      '--node',
      NODE,
      '--log-level',
      'warn',
    ];
    const child = startAgent(args);
    running.push(child);
    await waitForFile(flag('started'));
    await killGroup(child);
    expect(await file('web')).toBe(`${HEADER}\nweb_8080_tcp: {port: 8080, protocol: tcp}\n`);
    expect(await exists('.pp-iptables-refresh-pending')).toBe(true);
    await rm(flag('block'));
    await writeFile(join(dir, '.pp-tmp-web.yml.123.deadbeef'), 'half');
    const before = (await calls()).length;
    const restart = await runAgentProcess([...args, '--once']);
    expect(restart.code).toBe(0);
    expect((await calls()).slice(before)).toEqual(['rebuild other.yml web.yml ']);
    expect((await readdir(dir)).sort()).toEqual(['README', 'other.yml', 'web.yml']);
    expect(await t.reality('web')).toMatchObject({ status: 'converged' });
  });

  it('never overwrites a hand-written file of an intended app: the app is failed naming the file, the others converge', async () => {
    const hand = 'cache_6379_tcp: {port: 6379, protocol: tcp}\n# written by hand\n';
    await writeFile(join(dir, 'cache.yml'), hand);
    await t.setApp('cache', [6380]);
    await t.setApp('web', [8081]);
    const before = (await calls()).length;
    const result = await converge();
    expect(result.outcomes.find((o) => o.app === 'cache')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining(`${join(dir, 'cache.yml')} was not written by pp-iptables`),
    });
    expect(await file('cache')).toBe(hand);
    expect(await file('web')).toBe(`${HEADER}\nweb_8081_tcp: {port: 8081, protocol: tcp}\n`);
    expect(await t.reality('web')).toMatchObject({ status: 'converged' });
    expect((await calls()).slice(before)).toEqual(['rebuild cache.yml other.yml web.yml ']);
    expect((await converge()).outcomes.find((o) => o.app === 'cache')?.status).toBe('failed');
    expect(await file('cache')).toBe(hand);
    await t.removeApp('cache');
  });
});
