import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { appIntentKey, drainedKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { consulConfigFrom } from '../../../shared/store/consul-config.js';
import { ConsulStore } from '../../../shared/store/consul-store.js';
import { appIntent, eventually, uniquePrefix } from '../../support/intent-fixtures.js';
import { fileAgent } from '../../support/file-agent.js';

const node = 'n1';
const files = async (dir: string) =>
  Object.fromEntries(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f), 'utf8')])));

describe('convergence loop as a daemon against a real Consul agent', () => {
  let store: ConsulStore;
  let dir: string;
  const prefix = uniquePrefix('loop');
  const abort = new AbortController();
  let running: Promise<unknown>;
  const put = (app: string, v: string) => store.put(appIntentKey(prefix, node, app), JSON.stringify(appIntent(v)));
  const reality = async (app: string) => JSON.parse((await store.get(realityKey(prefix, node, 'pp-files', app))) ?? 'null');

  beforeAll(async () => {
    store = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
    dir = await mkdtemp(join(tmpdir(), 'pp-loop-'));
    await put('web', '1.0');
    running = runAgent(fileAgent(dir), { store, prefix, node, log: silentLogger(), signal: abort.signal, resyncMs: 3_600_000 });
  });
  afterAll(async () => {
    abort.abort();
    await running;
    await store.close();
  });

  it('converges the first intent and records it in reality', async () => {
    await eventually(async () => (await files(dir)).web === '1.0', 20_000, 'web=1.0');
    await eventually(async () => (await reality('web'))?.status === 'converged');
    expect(await reality('web')).toMatchObject({ agent: 'pp-files', app: 'web', status: 'converged', version: '1.0', attempts: 0 });
  });

  it('reacts to a change through the blocking query and leaves other apps alone', async () => {
    await put('api', '7');
    await put('web', '2.0');
    await eventually(async () => JSON.stringify(await files(dir)) === JSON.stringify({ api: '7', web: '2.0' }), 20_000, 'web=2.0, api=7');
  });

  it("records an invalid intent as failed, naming key and field, and keeps that app's state", async () => {
    const bad = appIntent('8');
    bad.versions[0]!.sha256 = 'not hex';
    await store.put(appIntentKey(prefix, node, 'api'), JSON.stringify(bad));
    await put('web', '3.0');
    await eventually(async () => (await files(dir)).web === '3.0', 20_000, 'web=3.0');
    await eventually(async () => (await reality('api'))?.status === 'failed', 20_000, 'api failed');
    const api = await reality('api');
    expect(api.error).toContain(`key ${appIntentKey(prefix, node, 'api')}`);
    expect(api.error).toContain('field versions[0].sha256');
    expect((await files(dir)).api).toBe('7');
  });

  it("passes over a section another agent owns, and refuses a field no agent owns naming this agent's version", async () => {
    // ports are pp-iptables's: this agent, which acts on the core alone, does not check them.
    await store.put(appIntentKey(prefix, node, 'api'), JSON.stringify({ ...appIntent('9'), ports: [{ port: 70000 }] }));
    await eventually(async () => (await files(dir)).api === '9', 20_000, 'api=9 beside a bad ports section');
    await eventually(async () => (await reality('api'))?.status === 'converged', 20_000, 'api converged');
    const version = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')).version as string;
    await store.put(appIntentKey(prefix, node, 'api'), JSON.stringify({ ...appIntent('10'), hooks: [] }));
    await eventually(async () => (await reality('api'))?.status === 'failed', 20_000, 'api failed on a section no agent owns');
    expect((await reality('api')).error).toBe(
      `invalid intent at key ${appIntentKey(prefix, node, 'api')}: field hooks: unknown field: pp-files ${version} knows no such field (if a later Platypus introduced it, upgrade this agent)`,
    );
    expect((await files(dir)).api).toBe('9');
  });

  it('removes an app deleted from intent, but nothing when the node prefix becomes empty without a drained marker', async () => {
    await store.delete(appIntentKey(prefix, node, 'api'));
    await eventually(async () => !('api' in (await files(dir))), 20_000, 'api removed');
    await eventually(async () => (await reality('api')) === null, 20_000, 'api reality removed');
    await store.delete(appIntentKey(prefix, node, 'web'));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await files(dir)).toEqual({ web: '3.0' });
    await store.put(drainedKey(prefix, node), '{}');
    await eventually(async () => Object.keys(await files(dir)).length === 0, 20_000, 'drained node emptied');
  });
});

describe('convergence loop, once', () => {
  let dir: string;
  let store: ConsulStore;
  const prefix = uniquePrefix('once');
  beforeAll(async () => {
    store = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
    dir = await mkdtemp(join(tmpdir(), 'pp-once-'));
  });
  afterAll(() => store.close());

  it('converges every app it can, records the failing one, and returns a failing result', async () => {
    await store.put(appIntentKey(prefix, node, 'good'), JSON.stringify(appIntent('1')));
    await store.put(appIntentKey(prefix, node, 'bad'), JSON.stringify(appIntent('1')));
    const result = await runAgent(fileAgent(dir, new Set(['bad'])), { store, prefix, node, log: silentLogger(), once: true });
    expect(await files(dir)).toEqual({ good: '1' });
    expect(result?.outcomes.find((o) => o.app === 'bad')).toMatchObject({ status: 'failed', attempts: 1 });
    const bad = JSON.parse((await store.get(realityKey(prefix, node, 'pp-files', 'bad')))!);
    expect(bad).toMatchObject({ status: 'failed', error: 'cannot write bad: injected failure', attempts: 1 });
  });

  it('writes no reality when nothing changed', async () => {
    const key = realityKey(prefix, node, 'pp-files', 'good');
    await store.put(key, (await store.get(key))!.replace(/"at":"[^"]+"/, '"at":"marker"'));
    await runAgent(fileAgent(dir, new Set(['bad'])), { store, prefix, node, log: silentLogger(), once: true });
    expect(await store.get(key)).toContain('"at":"marker"');
  });

  it('leaves local state alone when the store cannot be read', async () => {
    await writeFile(join(dir, 'old'), 'x');
    const unreachable = new ConsulStore(consulConfigFrom('127.0.0.1:1', {}));
    await expect(runAgent(fileAgent(dir), { store: unreachable, prefix, node, log: silentLogger(), once: true })).rejects.toThrow(
      /ECONNREFUSED|consul/,
    );
    expect(await files(dir)).toEqual({ good: '1', old: 'x' });
  });
});
