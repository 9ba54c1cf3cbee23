import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMonitoring } from '../../../shared/cli/monitoring.js';
import { appIntentKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { consulConfigFrom } from '../../../shared/store/consul-config.js';
import { ConsulStore } from '../../../shared/store/consul-store.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, eventually, uniquePrefix } from '../../support/intent-fixtures.js';
import { distProgram } from '../../support/run-cli.js';

interface Check {
  Status: string;
  Output: string;
  Name: string;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pp-consul-check-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The check as the real Consul agent shows it (GET /v1/agent/checks). */
async function checkOf(id: string): Promise<Check | undefined> {
  const res = await fetch(`http://${inject('consulAddress')}/v1/agent/checks`);
  return ((await res.json()) as Record<string, Check>)[id];
}

describe('the Consul TTL check of an agent', () => {
  it('is passing, then critical with the failing app and its error, then passing again; critical "stopped" after a clean stop', async () => {
    const prefix = uniquePrefix('check');
    const node = `n-${prefix.slice(-8)}`;
    const store = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
    await store.put(appIntentKey(prefix, node, 'web'), JSON.stringify(appIntent('1')));
    const files = join(root, 'files');
    await mkdir(files);
    const failing = new Set<string>();
    const monitoring = await startMonitoring(store, {
      agent: 'files',
      node,
      checkTtlSeconds: 30,
      checkPendingSeconds: 1800,
      resyncMs: 60_000,
      log: silentLogger(),
    });
    const id = `pp-files:${node}`;
    const abort = new AbortController();
    const running = runAgent(fileAgent(files, failing), {
      store: monitoring.store,
      prefix,
      node,
      log: silentLogger(),
      signal: abort.signal,
      hooks: monitoring.hooks,
      retry: { baseMs: 200, maxMs: 500 },
    });
    try {
      // A pending app is passing too (within --check-pending-seconds): wait for the converged report itself.
      await eventually(async () => (await checkOf(id))?.Output === '1 app converged', 20_000, 'check says converged');
      expect(await checkOf(id)).toMatchObject({ Status: 'passing', Name: `pp-files on ${node}` });

      failing.add('web');
      await store.put(appIntentKey(prefix, node, 'web'), JSON.stringify(appIntent('2')));
      await eventually(async () => (await checkOf(id))?.Status === 'critical', 20_000, 'check critical');
      expect((await checkOf(id))!.Output).toBe('1 failed: web 2: cannot write web: injected failure');

      failing.delete('web');
      await eventually(async () => (await checkOf(id))?.Status === 'passing', 20_000, 'check passing again');
    } finally {
      abort.abort();
      await running;
      await monitoring.close();
      await store.close();
    }
    const stopped = await checkOf(id);
    expect(stopped?.Status).toBe('critical');
    expect(stopped?.Output).toMatch(/^stopped at \d{4}-\d\d-\d\dT/);
  });

  it('of a SIGKILLed agent goes critical when its TTL lapses', { timeout: 90_000 }, async () => {
    const prefix = uniquePrefix('ttl');
    const node = `k-${prefix.slice(-8)}`;
    const store = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
    await store.put(appIntentKey(prefix, node, 'web'), JSON.stringify(appIntent('1')));
    const child = spawn(
      process.execPath,
      [
        distProgram('agents/iptables/index.js'),
        ...['--store', `consul://${inject('consulAddress')}`, '--prefix', prefix, '--node', node, '--check-ttl-seconds', '10'],
        ...['--mode', 'port-authority', '--config-dir', join(root, 'pa'), '--refresh-command', 'true'],
      ],
      { stdio: 'ignore' },
    );
    const id = `pp-iptables:${node}`;
    try {
      await eventually(async () => (await checkOf(id))?.Status === 'passing', 30_000, 'check passing');
      child.kill('SIGKILL');
      await eventually(async () => (await checkOf(id))?.Status === 'critical', 40_000, 'TTL lapsed');
      // Consul's own words, then the agent's last output.
      expect((await checkOf(id))!.Output).toMatch(/TTL expired/);
    } finally {
      child.kill('SIGKILL');
      await store.close();
    }
  });
});
