import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentNames } from '../../../shared/agent-list.js';
import { freePort } from '../../support/free-port.js';
import { eventually } from '../../support/intent-fixtures.js';
import { promtoolCheck, sampleValue } from '../../support/promtool.js';
import { distProgram, runCli } from '../../support/run-cli.js';

// Each built agent as a daemon with --metrics-address, on a folder store; pp-iptables in port_authority mode so the
// test leaves the host's firewall alone. Per agent, the HELP of one of its own metrics.
const OWN: Record<string, { args: (root: string) => string[]; metric: string }> = {
  preparer: { args: () => [], metric: 'platypus_preparer_artifact_bytes_total' },
  setlive: {
    args: (root) => ['--service-dir', join(root, 'service'), '--stage-dir', join(root, 'stage')],
    metric: 'platypus_setlive_flip_duration_seconds',
  },
  iptables: {
    args: (root) => ['--mode', 'port-authority', '--config-dir', join(root, 'pa'), '--refresh-command', 'true'],
    metric: 'platypus_iptables_refreshes_total', // native mode: platypus_iptables_chain_rewrites_total
  },
};

let root: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pp-agents-metrics-'));
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

describe('every agent with --metrics-address', () => {
  for (const name of agentNames()) {
    it(`pp-${name} serves /metrics that promtool accepts and /healthz, and stops cleanly`, async () => {
      const address = `127.0.0.1:${await freePort()}`;
      const args = [
        '--store',
        `folder:${join(root, 'store')}`,
        '--node',
        'n1',
        '--metrics-address',
        address,
        ...(OWN[name]?.args(root) ?? []),
      ];
      const child = spawn(process.execPath, [distProgram(`agents/${name}/index.js`), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      let stderr = '';
      child.stderr!.on('data', (d) => {
        stderr += String(d);
      });
      await eventually(async () => (await fetch(`http://${address}/healthz`)).status === 200, 20_000, `pp-${name} healthy: ${stderr}`);
      const text = await (await fetch(`http://${address}/metrics`)).text();
      const lint = await promtoolCheck(text);
      expect(lint, lint.output).toMatchObject({ code: 0 });
      expect(sampleValue(text, 'platypus_pass_duration_seconds_count', { agent: name, node: 'n1' })).toBeGreaterThanOrEqual(1);
      if (OWN[name]) expect(text).toContain(`# HELP ${OWN[name].metric} `);
      // The same port again: a clear start-up error, exit 2, before anything else runs.
      const again = await runCli(`agents/${name}/index.js`, args);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain(`pp-${name}: --metrics-address ${address}: cannot listen: the port is in use`);
      child.kill('SIGTERM');
      const code = await new Promise((r) => child.once('exit', r));
      expect(code).toBe(0);
    });
  }
});
