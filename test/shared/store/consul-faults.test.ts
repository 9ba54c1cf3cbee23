import { createServer, type AddressInfo } from 'node:net';
import nock from 'nock';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_WATCH, watchPrefix } from '../../../shared/loop/watcher.js';
import { consulConfigFrom } from '../../../shared/store/consul-config.js';
import { ConsulStore } from '../../../shared/store/consul-store.js';
import type { Snapshot } from '../../../shared/store/types.js';
import { freePort } from '../../support/free-port.js';

// Faults a real agent cannot easily show, served by nock on addresses where nothing listens.
const A = 'http://127.0.0.1:18581';
const B = 'http://127.0.0.1:18582';
// node-consul percent-encodes the key's slashes.
const KV_PATH = /^\/v1\/kv\/p(\/|%2F)intent/;
const item = (value: string) => [{ Key: 'p/intent/n1/web', Value: Buffer.from(value).toString('base64'), ModifyIndex: 1 }];
const store = (addresses = `${A}`, slack = 15_000) => new ConsulStore({ ...consulConfigFrom(addresses, {}), requestSlackMs: slack });

afterEach(() => nock.cleanAll());

/** Runs the watcher until it has made `requests` requests, recording the index each one sent. */
async function watchIndexes(s: ConsulStore, replies: Array<[number, number | undefined]>) {
  const sent: Array<string | undefined> = [];
  const seen: Snapshot[] = [];
  const abort = new AbortController();
  const scope = nock(A)
    .persist()
    .get(KV_PATH)
    .query(true)
    .reply(function () {
      const url = new URL(this.req.path, A);
      sent.push(url.searchParams.get('index') ?? undefined);
      const [status, index] = replies[Math.min(sent.length - 1, replies.length - 1)]!;
      if (sent.length >= replies.length) abort.abort();
      return [status, item(`v${index}`), index === undefined ? {} : { 'X-Consul-Index': String(index) }];
    });
  await watchPrefix(
    s,
    'p/intent/n1/',
    { ...DEFAULT_WATCH, minIntervalMs: 1, jitterMs: 1, errorBaseMs: 5, errorMaxMs: 10 },
    { onChange: (snap) => seen.push(snap), onError: () => {} },
    abort.signal,
  );
  scope.persist(false);
  return { sent, seen };
}

describe('consul store faults (nock)', () => {
  it('turns an HTTP 500 into a store error naming the status', async () => {
    nock(A).get(KV_PATH).query(true).reply(500, 'rpc error: No cluster leader');
    await expect(store().read('p/intent/n1/')).rejects.toThrow(/HTTP 500/);
  });

  it('resets the index to 0 (a plain read) when it goes backwards, then blocks again', async () => {
    const { sent } = await watchIndexes(store(), [
      [200, 10],
      [200, 12],
      [200, 5],
      [200, 7],
      [200, 7],
    ]);
    expect(sent).toEqual([undefined, '10', '12', undefined, '7']);
  });

  it('never blocks on an index below 1: a 0 index becomes 1', async () => {
    const { sent } = await watchIndexes(store(), [
      [200, 0],
      [200, 0],
      [200, 3],
    ]);
    expect(sent).toEqual([undefined, '1', '1']);
  });

  it('keeps watching through 500s and delivers the next good answer once', async () => {
    const { sent, seen } = await watchIndexes(store(), [
      [200, 4],
      [500, undefined],
      [500, undefined],
      [200, 4],
      [200, 9],
      [200, 9],
    ]);
    expect(sent).toEqual([undefined, '4', '4', '4', '4', '9']);
    expect(seen.map((s) => s.index)).toEqual([4, 9]);
  });

  it('fails over to the next address when the first refuses connections', async () => {
    const refused = `http://127.0.0.1:${await freePort()}`;
    nock(B).get(KV_PATH).query(true).reply(200, item('from-b'), { 'X-Consul-Index': '3' });
    const snap = await store(`${refused},${B}`).read('p/intent/n1/');
    expect(snap.entries).toEqual([{ key: 'p/intent/n1/web', value: 'from-b', modifyIndex: 1 }]);
  });

  it('turns a connection reset into a store error at once', async () => {
    // A real server that accepts and resets every connection (nock turns a reset into a hang with this client).
    const server = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    await expect(store(`http://127.0.0.1:${port}`, 60_000).read('p/intent/n1/')).rejects.toThrow(/ECONNRESET|socket hang up/);
    server.close();
  });

  it('gives up on a request that hangs past its wait plus slack', async () => {
    nock(A).get(KV_PATH).query(true).delay(2_000).reply(200, item('late'), { 'X-Consul-Index': '3' });
    await expect(store(A, 100).read('p/intent/n1/')).rejects.toThrow(/consul/);
  });

  it('refuses a read the ACL token filtered, since it would hide apps', async () => {
    nock(A).get(KV_PATH).query(true).reply(200, item('x'), { 'X-Consul-Index': '2', 'X-Consul-Results-Filtered-By-ACLs': 'true' });
    await expect(store().read('p/intent/n1/')).rejects.toThrow(/ACL token cannot read every key/);
  });

  it('moves on to the next address when one answers 5xx', async () => {
    nock(A).get(KV_PATH).query(true).reply(500, 'No cluster leader');
    nock(B).get(KV_PATH).query(true).reply(200, item('from-b'), { 'X-Consul-Index': '3' });
    expect((await store(`${A},${B}`).read('p/intent/n1/')).entries).toEqual([{ key: 'p/intent/n1/web', value: 'from-b', modifyIndex: 1 }]);
  });

  it('sends the ACL token and the stale flag', async () => {
    const scope = nock(A, { reqheaders: { 'x-consul-token': 'secret-token' } })
      .get(KV_PATH)
      .query({ recurse: 'true', stale: '1' })
      .reply(200, item('x'), { 'X-Consul-Index': '2' });
    const config = consulConfigFrom(A, { CONSUL_HTTP_TOKEN: 'secret-token', PLATYPUS_CONSUL_CONSISTENCY: 'stale' });
    await new ConsulStore(config).read('p/intent/n1/');
    expect(scope.isDone()).toBe(true);
  });
});
