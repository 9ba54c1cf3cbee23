import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consulBinary } from '../../support/consul-agent.js';
import { freePort } from '../../support/free-port.js';
import { appIntent, uniquePrefix } from '../../support/intent-fixtures.js';
import { runCli } from '../../support/run-cli.js';

/**
 * A real Consul agent serving HTTPS only and verifying incoming certificates, with a CA and certificates made by
 * Consul's own `consul tls ca create` / `consul tls cert create`: pp and an agent connect through CONSUL_CACERT and
 * a client certificate; a wrong CA or no client certificate fails closed, naming why.
 */

const P = uniquePrefix('tls');
let dir: string;
let child: ChildProcess;
let output = '';
let address: string;
const tls = { ca: '', cert: '', key: '', otherCa: '' };

function leader(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `https://${address}/v1/status/leader`,
      { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += String(d);
        });
        res.on('end', () => resolve(res.statusCode === 200 && body.replace(/"/g, '') !== ''));
      },
    );
    req.on('error', () => resolve(false));
    req.end();
  });
}

beforeAll(async () => {
  const bin = consulBinary();
  dir = mkdtempSync(join(tmpdir(), 'pp-tls-'));
  const certs = join(dir, 'certs');
  const other = join(dir, 'other');
  mkdirSync(certs);
  mkdirSync(other);
  const tool = (cwd: string, ...args: string[]) => execFileSync(bin, ['tls', ...args], { cwd, stdio: 'pipe' });
  tool(certs, 'ca', 'create');
  tool(certs, 'cert', 'create', '-server', '-dc', 'dc1');
  tool(certs, 'cert', 'create', '-client', '-dc', 'dc1');
  tool(other, 'ca', 'create');
  Object.assign(tls, {
    ca: join(certs, 'consul-agent-ca.pem'),
    cert: join(certs, 'dc1-client-consul-0.pem'),
    key: join(certs, 'dc1-client-consul-0-key.pem'),
    otherCa: join(other, 'consul-agent-ca.pem'),
  });
  const https = await freePort();
  address = `127.0.0.1:${https}`;
  const config = join(dir, 'tls.hcl');
  writeFileSync(
    config,
    `tls {\n  defaults {\n    ca_file = "${tls.ca}"\n    cert_file = "${join(certs, 'dc1-server-consul-0.pem')}"\n    key_file = "${join(certs, 'dc1-server-consul-0-key.pem')}"\n    verify_incoming = true\n  }\n}\nports {\n  http = -1\n  https = ${https}\n}\n`,
  );
  const ports = [await freePort(), await freePort(), await freePort()];
  child = spawn(
    bin,
    [
      'agent',
      '-dev',
      '-bind=127.0.0.1',
      '-client=127.0.0.1',
      '-dns-port=-1',
      '-grpc-port=-1',
      '-grpc-tls-port=-1',
      `-serf-lan-port=${ports[0]}`,
      `-serf-wan-port=${ports[1]}`,
      `-server-port=${ports[2]}`,
      '-log-level=warn',
      `-data-dir=${join(dir, 'data')}`,
      `-config-file=${config}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d) => {
    output = (output + String(d)).slice(-4000);
  });
  child.stderr?.on('data', (d) => {
    output = (output + String(d)).slice(-4000);
  });
  const deadline = Date.now() + 60_000;
  while (!(await leader())) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`consul over https did not come up:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  writeFileSync(join(dir, 'web.json'), JSON.stringify(appIntent('1.0', { ports: [{ port: 8080, protocol: 'tcp' }] })));
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
});

const env = (over: Record<string, string> = {}) => ({
  CONSUL_CACERT: tls.ca,
  CONSUL_CLIENT_CERT: tls.cert,
  CONSUL_CLIENT_KEY: tls.key,
  CONSUL_HTTP_TOKEN: '',
  CONSUL_HTTP_TOKEN_FILE: '',
  ...over,
});
const pp = (e: Record<string, string>, ...args: string[]) =>
  runCli('pp/index.js', ['--store', `consul+https://${address}`, '--prefix', P, ...args], undefined, e);

describe('TLS to a real Consul serving HTTPS only', () => {
  it('pp and an agent connect with CONSUL_CACERT and a client certificate', async () => {
    const put = await pp(env(), 'intent', 'put', 'web1', 'web', '--file', join(dir, 'web.json'));
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const configDir = join(dir, 'pa');
    const agent = await runCli(
      'agents/iptables/index.js',
      [
        ...['--mode', 'port-authority', '--config-dir', configDir, '--refresh-command', 'true'],
        ...['--store', `consul+https://${address}`, '--prefix', P, '--node', 'web1', '--once', '--log-level', 'error'],
      ],
      undefined,
      env(),
    );
    expect(agent.stderr).toBe('');
    expect(agent.code).toBe(0);
    expect(await readdir(configDir)).toContain('web.yml');
    const status = await pp(env(), 'status', '--json');
    expect(JSON.parse(status.stdout)).toContainEqual(
      expect.objectContaining({ app: 'web', agents: { iptables: expect.objectContaining({ status: 'converged' }) } }),
    );
  });

  it('fails closed with a clear error on a wrong CA or without a client certificate', async () => {
    const wrongCa = await pp(env({ CONSUL_CACERT: tls.otherCa }), 'intent', 'put', 'web1', 'api', '--file', join(dir, 'web.json'));
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toContain(`TLS: Consul's certificate is not trusted (CONSUL_CACERT=${tls.otherCa} did not sign it`);
    const noClientCert = await pp(env({ CONSUL_CLIENT_CERT: '', CONSUL_CLIENT_KEY: '' }), 'intent', 'ls', 'web1');
    expect(noClientCert.code).toBe(1);
    expect(noClientCert.stderr).toContain(
      "TLS: Consul refused this client's certificate (it verifies incoming connections: set CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY)",
    );
    // Nothing was written by the refused put.
    expect((await pp(env(), 'intent', 'ls', 'web1')).stdout.trim()).toBe('web');
  });
});
