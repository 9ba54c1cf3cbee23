import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readDeployments } from '../../pp/deploy/record.js';
import { SECTION_NAMES } from '../../shared/intent/sections.js';
import { appIntentKey, heartbeatKey } from '../../shared/keys.js';
import { type HeartbeatRecord, parseHeartbeat } from '../../shared/loop/heartbeat.js';
import { consulConfigFrom } from '../../shared/store/consul-config.js';
import { ConsulStore } from '../../shared/store/consul-store.js';
import { eventually, uniquePrefix } from '../support/intent-fixtures.js';
import { distProgram, runCli } from '../support/run-cli.js';

const APP = 'hello';
let root: string;
let store: ConsulStore;
let agent: ChildProcess | undefined;
const prefix = uniquePrefix('deploy-sections');
const storeSpec = () => `consul://${inject('consulAddress')}`;
const pp = (...args: string[]) => runCli('pp/index.js', ['--store', storeSpec(), '--prefix', prefix, ...args]);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pp-deploy-sections-'));
  store = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
});
afterAll(async () => {
  if (agent && agent.exitCode === null) {
    const exited = new Promise((r) => agent!.once('exit', r));
    agent.kill('SIGKILL');
    await exited;
  }
  await store.close();
  await rm(root, { recursive: true, force: true });
});

/** A spec with one live version, with `rollout` or without. */
async function spec(name: string, withRollout: boolean, version = '1.0'): Promise<string> {
  const path = join(root, name);
  const intent = {
    schema: 1,
    basedir: join(root, 'srv', APP),
    versions: [{ version, url: `file:///nowhere/hello-${version}.tar.gz`, sha256: 'a'.repeat(64), state: 'live' }],
    service: { command: ['bin/hello'] },
    ...(withRollout ? { rollout: { maxParallel: 1 } } : {}),
  };
  await writeFile(path, JSON.stringify(intent));
  return path;
}

describe('pp deploy and pp intent put beside agents whose heartbeats do not list a section (real Consul)', () => {
  it('refuse to write it, naming node, agent and section, before the lock, the record or any write; --force writes it', async () => {
    const version = (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    // A real pp-iptables on web1 (port_authority mode: no firewall needed) says in its heartbeat what it understands.
    agent = spawn(
      process.execPath,
      [
        distProgram('agents/iptables/index.js'),
        ...['--store', storeSpec(), '--prefix', prefix, '--node', 'web1', '--log-level', 'error'],
        ...['--mode', 'port-authority', '--config-dir', join(root, 'pa'), '--refresh-command', 'true'],
      ],
      { stdio: 'ignore' },
    );
    const beatOf = async (name: string) => parseHeartbeat((await store.get(heartbeatKey(prefix, 'web1', name))) ?? '');
    await eventually(async () => (await beatOf('iptables')) !== undefined, 30_000, "pp-iptables's heartbeat");
    const real = (await beatOf('iptables'))!;
    expect(real).toMatchObject({ agent: 'iptables', node: 'web1', version, sections: SECTION_NAMES });

    // Beside it, a pp-setlive of a version that does not know rollout (modelled: today's agents all know it).
    const older: HeartbeatRecord = {
      ...real,
      agent: 'setlive',
      version: '0.0.9',
      sections: SECTION_NAMES.filter((s) => s !== 'rollout'),
      at: new Date().toISOString(),
    };
    await store.put(heartbeatKey(prefix, 'web1', 'setlive'), JSON.stringify(older));
    const withRollout = await spec('with-rollout.json', true);
    const refusal =
      'pp: refused to write intent that agents would refuse: node web1: agent setlive 0.0.9 does not understand section rollout (introduced in 0.1.0); upgrade those agents first (or start them, so that their heartbeats say what they understand), or pass --force to write it anyway (nothing written)\n';

    // web2 has no heartbeat at all: rollout is a section every agent understands, so only web1 is named.
    const deploy = await pp('deploy', APP, '--file', withRollout, '--nodes', 'web1,web2', '--yes', '--timeout', '30');
    expect(deploy.code, deploy.stderr).toBe(2);
    expect(deploy.stdout).toContain('2 nodes: 2 first install');
    expect(deploy.stderr).toBe(refusal);
    expect((await pp('deploy', APP, '--file', withRollout, '--nodes', 'web1', '--dry-run')).stderr).toBe(refusal);
    const put = await pp('intent', 'put', 'web1,web2', APP, '--file', withRollout);
    expect([put.code, put.stderr]).toEqual([2, refusal]);
    expect((await store.read(`${prefix}/intent/`)).entries).toEqual([]);
    expect((await store.read(`${prefix}/locks/`)).entries).toEqual([]);
    expect(await readDeployments(store, prefix, APP)).toEqual([]);

    // Without the section, or with --force, it goes ahead.
    expect((await pp('deploy', APP, '--file', await spec('plain.json', false), '--nodes', 'web1', '--dry-run')).code).toBe(0);
    expect((await pp('deploy', APP, '--file', withRollout, '--nodes', 'web1,web2', '--dry-run', '--force')).code).toBe(0);
    const forced = await pp('intent', 'put', 'web1,web2', APP, '--file', withRollout, '--force');
    expect(forced.code, forced.stderr).toBe(0);
    for (const node of ['web1', 'web2']) expect(await store.get(appIntentKey(prefix, node, APP))).toBe(await readFile(withRollout, 'utf8'));

    // Stopped cleanly, the older agent no longer holds the section back (a flip to 2.0 is checked like a first install).
    const next = await spec('next.json', true, '2.0');
    expect((await pp('deploy', APP, '--file', next, '--nodes', 'web1', '--dry-run')).stderr).toBe(refusal);
    await store.put(heartbeatKey(prefix, 'web1', 'setlive'), JSON.stringify({ ...older, stopped: true }));
    const after = await pp('deploy', APP, '--file', next, '--nodes', 'web1', '--dry-run');
    expect([after.code, after.stdout]).toEqual([0, expect.stringContaining('1 node: 1 flip hello 1.0 → 2.0')]);
  });
});
