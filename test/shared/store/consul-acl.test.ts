import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import { consulConfigFrom } from '../../../shared/store/consul-config.js';
import { ConsulStore } from '../../../shared/store/consul-store.js';
import { consulBinary, type RunningConsul, startConsul } from '../../support/consul-agent.js';
import { appIntent, uniquePrefix } from '../../support/intent-fixtures.js';
import { runCli } from '../../support/run-cli.js';

/**
 * The policies of deploy/consul/ on a real Consul agent with ACLs enabled and default deny: created with the
 * consul CLI the way the README says, tokens handed to pp and the agents through CONSUL_HTTP_TOKEN_FILE.
 */

const POLICIES = resolve(import.meta.dirname, '../../../deploy/consul');
const P = uniquePrefix('acl');
let consul: RunningConsul;
let bin: string;
let dir: string;
let management: string;
const tokenFiles: Record<string, string> = {};

async function bootstrap(address: string): Promise<string> {
  // Right after the leader is elected the ACL system may still be starting: ask again until it answers.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`http://${address}/v1/acl/bootstrap`, { method: 'PUT' });
    if (res.ok) return ((await res.json()) as { SecretID: string }).SecretID;
    if (Date.now() > deadline) throw new Error(`consul acl bootstrap: HTTP ${res.status}: ${await res.text()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs the consul CLI as the README does, with the management token; its stdout. */
function consulCli(args: string[], input?: string): string {
  return execFileSync(bin, args, {
    input,
    encoding: 'utf8',
    env: { ...process.env, CONSUL_HTTP_ADDR: consul.address, CONSUL_HTTP_TOKEN: management },
  });
}

/** `sed -e s/@PREFIX@/…/g -e s/@NODE@/…/g deploy/consul/<file> | consul acl policy create -name NAME -rules -`, then a token. */
function tokenFor(name: string, file: string, node = ''): string {
  const rules = readFileSync(join(POLICIES, file), 'utf8').replaceAll('@PREFIX@', P).replaceAll('@NODE@', node);
  consulCli(['acl', 'policy', 'create', '-name', name, '-rules', '-'], rules);
  const token = JSON.parse(consulCli(['acl', 'token', 'create', '-policy-name', name, '-format', 'json'])) as { SecretID: string };
  const path = join(dir, `${name}.token`);
  writeFileSync(path, `${token.SecretID}\n`);
  tokenFiles[name] = path;
  return token.SecretID;
}

const storeWith = (token: string) => new ConsulStore(consulConfigFrom(consul.address, { CONSUL_HTTP_TOKEN: token }));
const asToken = (name: string) => ({ CONSUL_HTTP_TOKEN_FILE: tokenFiles[name]!, CONSUL_HTTP_TOKEN: '' });
const pp = (token: string, ...args: string[]) =>
  runCli('pp/index.js', ['--store', `consul://${consul.address}`, '--prefix', P, ...args], undefined, asToken(token));
/** Runs a built agent of node `node` with `token`'s file as CONSUL_HTTP_TOKEN_FILE, once. */
const agentRun = (agent: string, token: string, node: string, flags: string[]) =>
  runCli(
    `agents/${agent}/index.js`,
    ['--store', `consul://${consul.address}`, '--prefix', P, '--node', node, '--once', '--log-level', 'error', ...flags],
    undefined,
    asToken(token),
  );
const iptables = (token: string, configDir: string) =>
  runCli(
    'agents/iptables/index.js',
    [
      '--mode',
      'port-authority',
      '--config-dir',
      configDir,
      '--refresh-command',
      'true',
      '--store',
      `consul://${consul.address}`,
      '--prefix',
      P,
      '--node',
      'web1',
      '--once',
      '--log-level',
      'error',
    ],
    undefined,
    asToken(token),
  );

beforeAll(async () => {
  bin = consulBinary();
  dir = mkdtempSync(join(tmpdir(), 'pp-acl-'));
  const config = join(dir, 'acl.hcl');
  writeFileSync(config, 'acl {\n  enabled = true\n  default_policy = "deny"\n  enable_token_persistence = false\n}\n');
  consul = await startConsul(bin, { extraArgs: [`-config-file=${config}`, '-node=web1'] });
  management = await bootstrap(consul.address);
  tokenFor('pp-operator', 'operator.hcl');
  tokenFor('pp-readonly', 'readonly.hcl');
  tokenFor('pp-agent-web1', 'agent.hcl', 'web1');
  tokenFor('pp-agent-web2', 'agent.hcl', 'web2');
  tokenFor('pp-agent-web3', 'agent.hcl', 'web3');
  writeFileSync(join(dir, 'web.json'), JSON.stringify(appIntent('1.0', { ports: [{ port: 8080, protocol: 'tcp' }] })));
});

afterAll(async () => {
  await consul?.stop();
});

describe('least privilege on a real ACL-enabled Consul (default deny)', () => {
  it('the operator writes intent, an agent converges with its node token, pp status reads with the read-only token', async () => {
    const put = await pp('pp-operator', 'intent', 'put', 'web1,web2', 'web', '--file', join(dir, 'web.json'));
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const configDir = join(dir, 'pa-ok');
    const run = await iptables('pp-agent-web1', configDir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect((await readdir(configDir)).filter((f) => f.endsWith('.yml'))).toEqual(['web.yml']);
    const admin = storeWith(management);
    expect(JSON.parse((await admin.get(realityKey(P, 'web1', 'iptables', 'web')))!)).toMatchObject({ status: 'converged' });
    await admin.close();
    const status = await pp('pp-readonly', 'status', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toContainEqual(expect.objectContaining({ node: 'web1', app: 'web', intended: '1.0*' }));
    const denied = await pp('pp-readonly', 'intent', 'put', 'web1', 'web', '--file', join(dir, 'web.json'));
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/permission denied: the ACL token lacks key:write on .*intent/);
  });

  it('every agent converges with its node token', async () => {
    const content = join(dir, 'content');
    mkdirSync(content);
    writeFileSync(join(content, 'hello.txt'), 'hello\n');
    const tarball = join(dir, 'pre-1.0.tar.gz');
    execFileSync('tar', ['-czf', tarball, '-C', content, '.']);
    const basedir = join(dir, 'apps', 'pre');
    const spec = {
      schema: 1,
      basedir,
      versions: [
        {
          version: '1.0',
          url: `file://${tarball}`,
          sha256: createHash('sha256').update(readFileSync(tarball)).digest('hex'),
          state: 'prepared',
        },
      ],
      ports: [{ port: 7070, protocol: 'tcp' }],
    };
    writeFileSync(join(dir, 'pre.json'), JSON.stringify(spec));
    expect((await pp('pp-operator', 'intent', 'put', 'web3', 'pre', '--file', join(dir, 'pre.json'))).code).toBe(0);
    const runs = {
      preparer: await agentRun('preparer', 'pp-agent-web3', 'web3', []),
      iptables: await agentRun('iptables', 'pp-agent-web3', 'web3', [
        ...['--mode', 'port-authority', '--config-dir', join(dir, 'pa-web3'), '--refresh-command', 'true'],
      ]),
      setlive: await agentRun('setlive', 'pp-agent-web3', 'web3', [
        ...['--service-dir', join(dir, 'service'), '--stage-dir', join(dir, 'stage')],
      ]),
    };
    const admin = storeWith(management);
    for (const [agent, run] of Object.entries(runs)) {
      expect(run.stderr, agent).toBe('');
      expect(run.code, agent).toBe(0);
      expect(JSON.parse((await admin.get(realityKey(P, 'web3', agent, 'pre')))!), agent).toMatchObject({ status: 'converged' });
    }
    await admin.close();
    expect(readFileSync(join(basedir, 'installs', 'pre_1.0', 'hello.txt'), 'utf8')).toBe('hello\n');
  });

  it('a node token cannot write intent, nor another node’s reality, nor read another node’s intent; it can take the rollout lock', async () => {
    const web1 = storeWith(readFileSync(tokenFiles['pp-agent-web1']!, 'utf8').trim());
    const intentKey = appIntentKey(P, 'web1', 'evil');
    await expect(web1.transaction([{ key: intentKey, value: '{}' }])).rejects.toThrow(
      `permission denied: the ACL token lacks key:write on ${intentKey}`,
    );
    await expect(web1.put(intentKey, '{}')).rejects.toThrow(`permission denied: the ACL token lacks key:write on ${intentKey}`);
    const other = realityKey(P, 'web2', 'iptables', 'web');
    await expect(web1.transaction([{ key: other, value: '{}' }])).rejects.toThrow(`lacks key:write on ${other}`);
    await expect(web1.read(`${P}/intent/web2/`)).rejects.toThrow(/ACL token/);
    // Its own reality: allowed. The semaphore: a session for its node and a contender key under locks/.
    await web1.transaction([{ key: realityKey(P, 'web1', 'probe', 'x'), value: '{}' }]);
    const token = readFileSync(tokenFiles['pp-agent-web1']!, 'utf8').trim();
    const session = await fetch(`http://${consul.address}/v1/session/create`, {
      method: 'PUT',
      headers: { 'X-Consul-Token': token },
      body: JSON.stringify({ Name: 'pp-rollout', TTL: '15s' }),
    });
    expect(session.status).toBe(200);
    const { ID } = (await session.json()) as { ID: string };
    const acquire = await fetch(`http://${consul.address}/v1/kv/${P}/locks/web/${ID}?acquire=${ID}`, {
      method: 'PUT',
      headers: { 'X-Consul-Token': token },
      body: '{}',
    });
    expect(await acquire.text()).toBe('true');
    const admin = storeWith(management);
    expect(await admin.get(intentKey)).toBeUndefined();
    expect(await admin.get(other)).toBeUndefined();
    await admin.close();
    await web1.close();
  });

  it('an agent whose token lacks a right fails naming the key and the right, and changes nothing', async () => {
    const configDir = join(dir, 'pa-denied');
    expect((await iptables('pp-agent-web1', configDir)).code).toBe(0);
    const before = readFileSync(join(configDir, 'web.yml'), 'utf8');
    // web2's token on web1: it may not read web1's intent.
    const noRead = await iptables('pp-agent-web2', configDir);
    expect(noRead.code).toBe(1);
    expect(noRead.stderr).toContain(`permission denied: the ACL token lacks key:read on ${P}/intent/web1/`);
    // The operator's token reads intent but may not write reality: the pass is done, and reported as failed.
    writeFileSync(join(dir, 'api.json'), JSON.stringify(appIntent('2.0', { ports: [{ port: 9090, protocol: 'tcp' }] })));
    expect((await pp('pp-operator', 'intent', 'put', 'web1', 'api', '--file', join(dir, 'api.json'))).code).toBe(0);
    const noWrite = await iptables('pp-operator', configDir);
    expect(noWrite.code).toBe(1);
    expect(noWrite.stderr).toContain(`permission denied: the ACL token lacks key:write on ${realityKey(P, 'web1', 'iptables', 'api')}`);
    expect(readFileSync(join(configDir, 'web.yml'), 'utf8')).toBe(before);
  });
});
