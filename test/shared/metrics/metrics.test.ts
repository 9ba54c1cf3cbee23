import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMonitoring } from '../../../shared/cli/monitoring.js';
import { appIntentKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { fileAgent } from '../../support/file-agent.js';
import { freePort } from '../../support/free-port.js';
import { appIntent, eventually } from '../../support/intent-fixtures.js';
import { promtoolCheck, sampleValue } from '../../support/promtool.js';

const node = 'n1';
const prefix = 'pp';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pp-metrics-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const options = (metricsAddress?: string) => ({
  agent: 'files',
  node,
  metricsAddress,
  checkTtlSeconds: 0,
  checkPendingSeconds: 1800,
  resyncMs: 60_000,
  log: silentLogger(),
});

describe('--metrics-address', () => {
  it('serves /metrics that promtool accepts, with the loop metrics, and /healthz with its reason', async () => {
    const store = new FolderStore(join(dir, 'store'));
    const files = join(dir, 'files');
    await mkdir(files);
    await store.put(appIntentKey(prefix, node, 'web'), JSON.stringify(appIntent('1')));
    await store.put(appIntentKey(prefix, node, 'api'), JSON.stringify(appIntent('2')));
    const address = `127.0.0.1:${await freePort()}`;
    const monitoring = await startMonitoring(store, options(address));
    const get = async (path: string) => {
      const res = await fetch(`http://${address}${path}`);
      return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
    };
    const before = await get('/healthz');
    expect(before.status).toBe(503);
    expect(before.text).toMatch(/^starting: no pass yet/);

    const abort = new AbortController();
    const running = runAgent(fileAgent(files, new Set(['api'])), {
      store: monitoring.store,
      prefix,
      node,
      log: silentLogger(),
      signal: abort.signal,
      hooks: monitoring.hooks,
    });
    await eventually(
      async () => sampleValue((await get('/metrics')).text, 'platypus_apps', { status: 'failed' }) === 1,
      20_000,
      'api failed',
    );
    const metrics = await get('/metrics');
    expect(metrics.type).toContain('text/plain');
    const lint = await promtoolCheck(metrics.text);
    expect(lint, lint.output).toMatchObject({ code: 0 });
    const t = metrics.text;
    expect(sampleValue(t, 'platypus_apps', { status: 'converged', agent: 'files', node })).toBe(1);
    expect(sampleValue(t, 'platypus_app_status', { app: 'api', status: 'failed' })).toBe(1);
    expect(sampleValue(t, 'platypus_actions_total', { kind: 'write', result: 'changed' })).toBe(1);
    expect(sampleValue(t, 'platypus_actions_total', { kind: 'write', result: 'failed' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(t, 'platypus_store_requests_total', { operation: 'watch', result: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(t, 'platypus_store_requests_total', { operation: 'transaction', result: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(t, 'platypus_pass_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(t, 'platypus_last_successful_pass_timestamp_seconds')! * 1000).toBeGreaterThan(Date.now() - 60_000);
    expect(sampleValue(t, 'platypus_last_intent_change_timestamp_seconds')! * 1000).toBeGreaterThan(Date.now() - 60_000);
    expect(sampleValue(t, 'platypus_watch_errors_total')).toBe(0);
    expect(sampleValue(t, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    // Bounded labels: app names and kinds, never versions or error texts.
    const ours = t.split('\n').filter((l) => l.startsWith('platypus_'));
    for (const line of ours) expect(line).not.toMatch(/version=|error=|injected/);

    const healthy = await get('/healthz');
    expect(healthy).toMatchObject({ status: 200 });
    expect(healthy.text).toBe('ok: 2 apps: 1 converged, 0 pending, 1 failed\n');
    expect((await get('/nothing')).status).toBe(404);

    abort.abort();
    await running;
    expect(await get('/healthz')).toMatchObject({ status: 503, text: 'stopped\n' });
    await monitoring.close();
    await expect(fetch(`http://${address}/metrics`)).rejects.toThrow();
  });

  it('refuses a port in use at start, naming the flag and the address', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    const store = new FolderStore(join(dir, 'store2'));
    await expect(startMonitoring(store, options(`127.0.0.1:${port}`))).rejects.toThrow(
      `--metrics-address 127.0.0.1:${port}: cannot listen: the port is in use`,
    );
    taken.close();
  });
});
