import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { appIntentKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { consulConfigFrom } from '../../../shared/store/consul-config.js';
import { ConsulStore } from '../../../shared/store/consul-store.js';
import { startCountingProxy } from '../../support/counting-proxy.js';
import { fileAgent } from '../../support/file-agent.js';
import { appIntent, eventually, uniquePrefix } from '../../support/intent-fixtures.js';

const node = 'n1';
const contents = async (dir: string) =>
  Object.fromEntries(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f), 'utf8')])));

describe('an idle agent', () => {
  afterAll(() => nock.cleanAll());

  it('makes at most 2 Consul requests in a minute with the default wait, and writes nothing', { timeout: 120_000 }, async () => {
    const prefix = uniquePrefix('idle');
    const direct = new ConsulStore(consulConfigFrom(inject('consulAddress'), {}));
    await direct.put(appIntentKey(prefix, node, 'web'), JSON.stringify(appIntent('1')));
    const proxy = await startCountingProxy(inject('consulAddress'));
    const store = new ConsulStore(consulConfigFrom(proxy.address, {}));
    const dir = await mkdtemp(join(tmpdir(), 'pp-idle-'));
    const abort = new AbortController();
    const running = runAgent(fileAgent(dir), { store, prefix, node, log: silentLogger(), signal: abort.signal });
    await eventually(async () => (await contents(dir)).web === '1', 20_000, 'web converged');
    await new Promise((r) => setTimeout(r, 1_000));
    const before = proxy.count();
    await new Promise((r) => setTimeout(r, 60_000));
    const during = proxy.count() - before;
    abort.abort();
    await running;
    await Promise.all([proxy.close(), store.close(), direct.close()]);
    console.info(`idle agent: ${during} Consul requests in 60 s`);
    expect(during).toBeLessThanOrEqual(2);
  });
});

describe('a store fault while running', () => {
  it('changes nothing locally while Consul answers 500, and keeps retrying', async () => {
    const A = 'http://127.0.0.1:18591';
    const prefix = 'pf';
    let calls = 0;
    const good = [{ Key: `${prefix}/intent/${node}/web`, Value: Buffer.from(JSON.stringify(appIntent('1'))).toString('base64') }];
    nock(A)
      .persist()
      .get(/^\/v1\/kv\//)
      .query(true)
      .reply(() => {
        calls += 1;
        return calls === 1 ? [200, good, { 'X-Consul-Index': '5' }] : [500, 'rpc error: No cluster leader'];
      });
    nock(A)
      .persist()
      .put(/^\/v1\/kv\//)
      .query(true)
      .reply(500, 'no leader');
    const dir = await mkdtemp(join(tmpdir(), 'pp-fault-'));
    const abort = new AbortController();
    const store = new ConsulStore(consulConfigFrom(A, {}));
    const running = runAgent(fileAgent(dir), {
      store,
      prefix,
      node,
      log: silentLogger(),
      signal: abort.signal,
      watch: { errorBaseMs: 50, errorMaxMs: 100, minIntervalMs: 10, jitterMs: 10 },
    });
    await eventually(async () => (await contents(dir)).web === '1' && calls >= 6, 20_000, 'converged then several failed reads');
    abort.abort();
    await running;
    nock.cleanAll();
    expect(await contents(dir)).toEqual({ web: '1' });
  });
});
