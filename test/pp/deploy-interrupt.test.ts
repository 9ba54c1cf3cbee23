import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { deployLockKey } from '../../shared/keys.js';
import { readDeployments } from '../../pp/deploy/record.js';
import { appIntentKey } from '../../shared/keys.js';
import { consulConfigFrom } from '../../shared/store/consul-config.js';
import { ConsulStore } from '../../shared/store/consul-store.js';
import { eventually, uniquePrefix } from '../support/intent-fixtures.js';
import { distProgram, runCli, startCli } from '../support/run-cli.js';

const APP = 'hello';
let root: string;
let spec: string;
let store: ConsulStore;
const storeArgs = (prefix: string) => ['--store', `consul://${inject('consulAddress')}`, '--prefix', prefix];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pp-deploy-interrupt-'));
  spec = join(root, 'v1.json');
  const intent = {
    schema: 1,
    basedir: '/srv/hello',
    versions: [{ version: '1.0', url: 'file:///nowhere/h.tar.gz', sha256: 'b'.repeat(64), state: 'live' }],
    service: { command: ['bin/x'] },
  };
  await writeFile(spec, JSON.stringify(intent));
  store = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
});
afterAll(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe('pp deploy stopped by SIGINT or SIGTERM (real Consul, no agent running)', () => {
  it('SIGINT mid-deploy: exit 130, its lock released at once, its record interrupted in its phase; resume carries it on', async () => {
    const prefix = uniquePrefix('deploy-sigint');
    // No preparer runs, so staging never ends. A long --lock-ttl: a lock left to its session would outlive this test.
    const deploy = startCli('pp/index.js', [
      ...storeArgs(prefix),
      ...['deploy', APP, '--file', spec, '--nodes', 'web1,web2', '--yes', '--lock-ttl', '3600'],
    ]);
    await eventually(() => deploy.stderr.includes('stage: prepared 0/2'), 60_000, 'the deploy to follow its staging');
    expect(await store.get(deployLockKey(prefix, APP))).toBeDefined();
    deploy.child.kill('SIGINT');
    expect(await deploy.done, deploy.stderr).toEqual({ code: 130, signal: null });

    expect(deploy.stderr).toContain('pp: SIGINT: stopping at the next step');
    expect(deploy.stdout).toMatch(
      /: interrupted after [\d.]+ s: 0\/2 live on 1\.0\n {2}stopped by SIGINT during stage: what it wrote stays/,
    );
    expect(await store.get(deployLockKey(prefix, APP))).toBeUndefined();
    const [record] = await readDeployments(store, prefix, APP);
    expect(record).toMatchObject({ outcome: 'interrupted', phase: 'staging', version: '1.0' });
    expect(Date.parse(record!.endedAt!)).toBeGreaterThanOrEqual(Date.parse(record!.startedAt));
    // What it wrote stays: both nodes hold the staged intent.
    for (const node of ['web1', 'web2'])
      expect(JSON.parse((await store.get(appIntentKey(prefix, node, APP)))!).versions).toEqual([
        expect.objectContaining({ version: '1.0', state: 'prepared' }),
      ]);

    const resume = await runCli('pp/index.js', [...storeArgs(prefix), 'deploy', 'resume', APP, '--timeout', '2']);
    expect(resume.code, resume.stderr).toBe(8);
    expect(resume.stderr).toContain(`resuming deploy ${record!.id} (interrupted in its staging phase)`);
    expect((await readDeployments(store, prefix, APP)).at(-1)).toMatchObject({ resumes: record!.id, outcome: 'timed-out' });
    expect(await store.get(deployLockKey(prefix, APP))).toBeUndefined();
  });

  it('SIGKILLed while holding the lock: refused while it runs, naming when the lock frees itself; resume on this host takes it over at once', async () => {
    const prefix = uniquePrefix('deploy-sigkill-lock');
    // An hour's --lock-ttl: only a takeover, not the session's expiry, can free the lock within this test.
    const deploy = startCli('pp/index.js', [
      ...storeArgs(prefix),
      ...['deploy', APP, '--file', spec, '--nodes', 'web1,web2', '--yes', '--lock-ttl', '3600'],
    ]);
    await eventually(() => deploy.stderr.includes('stage: prepared 0/2'), 60_000, 'the deploy to follow its staging');
    const second = await runCli('pp/index.js', [...storeArgs(prefix), 'deploy', APP, '--file', spec, '--nodes', 'web1', '--yes']);
    expect(second.code, second.stderr).toBe(6);
    expect(second.stderr).toMatch(
      new RegExp(
        `another pp deploy of hello is running: \\S+ on ${hostname()} \\(pid ${deploy.child.pid}\\) since 20\\S+ holds ${prefix}/locks/hello/deploy; the lock frees itself by 20\\S+Z if that process is gone \\(its Consul session's TTL of 3600 s, which Consul may stretch to twice\\)`,
      ),
    );

    deploy.child.kill('SIGKILL');
    expect(await deploy.done).toEqual({ code: null, signal: 'SIGKILL' });
    const [killed] = await readDeployments(store, prefix, APP);
    expect(killed).toMatchObject({ outcome: 'running', phase: 'staging', pid: deploy.child.pid });
    expect(JSON.parse((await store.get(deployLockKey(prefix, APP)))!)).toMatchObject({ pid: deploy.child.pid });

    // No preparer runs: resume stages and waits until its --timeout, holding the lock it took over.
    const resume = await runCli('pp/index.js', [...storeArgs(prefix), 'deploy', 'resume', APP, '--timeout', '2']);
    expect(resume.code, resume.stderr).toBe(8);
    expect(resume.stderr).toContain(
      `took over the deploy lock ${prefix}/locks/hello/deploy from a dead holder: ${killed!.user} on ${hostname()} (pid ${deploy.child.pid}) since `,
    );
    expect(resume.stderr).toContain(`resuming deploy ${killed!.id} (running in its staging phase)`);
    expect((await readDeployments(store, prefix, APP)).at(-1)).toMatchObject({ resumes: killed!.id, outcome: 'timed-out' });
    expect(await store.get(deployLockKey(prefix, APP))).toBeUndefined();
  });

  it('Ctrl-C at the confirmation prompt, on a real pseudo-terminal: exit 130, nothing written', async () => {
    const prefix = uniquePrefix('deploy-sigint-prompt');
    const argv = [...storeArgs(prefix), 'deploy', APP, '--file', spec, '--nodes', 'web1'];
    // script(1) runs pp on a new pseudo-terminal and relays our stdin to it: \x03 is the terminal's Ctrl-C.
    const command = [process.execPath, distProgram('pp/index.js'), ...argv].map((w) => `'${w}'`).join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let pressed = false;
    child.stdout.on('data', (d) => {
      out += String(d);
      if (pressed || !out.includes('[y/N]')) return;
      pressed = true;
      child.stdin.write('\x03');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(out).toContain('Deploy hello 1.0 to 1 node(s)? [y/N]');
    expect(code, out).toBe(130);
    expect(out).toContain('stopped by SIGINT before writing anything: nothing written');
    expect((await store.read(`${prefix}/`)).entries).toEqual([]);
  });

  it('SIGTERM while pp deploy follow watches: exit 130', async () => {
    const prefix = uniquePrefix('deploy-sigterm-follow');
    const timedOut = await runCli('pp/index.js', [
      ...storeArgs(prefix),
      'deploy',
      APP,
      '--file',
      spec,
      '--nodes',
      'web1',
      '--yes',
      '--timeout',
      '1',
    ]);
    expect(timedOut.code, timedOut.stderr).toBe(8);
    const follow = startCli('pp/index.js', [...storeArgs(prefix), 'deploy', 'follow', APP]);
    await eventually(() => follow.stderr.includes('flip: live 0/1'), 30_000, 'pp deploy follow to watch');
    follow.child.kill('SIGTERM');
    expect(await follow.done, follow.stderr).toEqual({ code: 130, signal: null });
    expect(follow.stderr).toContain('stopped following by SIGTERM');
  });
});
