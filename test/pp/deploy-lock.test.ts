import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { DeployLock } from '../../pp/deploy/lock.js';
import { deployLockKey } from '../../shared/keys.js';
import { CliError } from '../../pp/read-spec.js';
import { consulConfigFrom } from '../../shared/store/consul-config.js';
import { ConsulStore } from '../../shared/store/consul-store.js';
import { until } from '../system/support/flip-fleet.js';

const address = () => inject('consulAddress');
const stores: ConsulStore[] = [];
const open = () => {
  const store = new ConsulStore(consulConfigFrom(address(), {}));
  stores.push(store);
  return store;
};
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

/** Destroys a Consul session behind its holder's back, as an expiry during a long outage would end it. */
async function destroySession(id: string): Promise<void> {
  const res = await fetch(`http://${address()}/v1/session/destroy/${id}`, { method: 'PUT' });
  expect(res.status).toBe(200);
}

describe('the deploy lock on Consul', () => {
  it('refuses a second holder, naming the first; is free again once released', async () => {
    const prefix = `pplock-${randomBytes(4).toString('hex')}`;
    const first = await DeployLock.take(open(), prefix, 'hello', 10_000);
    const refused = await DeployLock.take(open(), prefix, 'hello', 10_000).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(CliError);
    expect((refused as CliError).exitCode).toBe(6);
    expect((refused as CliError).message).toMatch(/another pp deploy of hello is running: \S+ on \S+ \(pid \d+\) since 20\d\d-/);
    await first.release();
    const second = await DeployLock.take(open(), prefix, 'hello', 10_000);
    await second.release();
    expect(await open().get(deployLockKey(prefix, 'hello'))).toBeUndefined();
  });

  it('notices its session lost at the next renewal: every later write is refused with exit 9', async () => {
    const prefix = `pplock-${randomBytes(4).toString('hex')}`;
    const store = open();
    const lock = await DeployLock.take(store, prefix, 'hello', 10_000);
    const entry = (await store.read(lock.key)).entries.find((e) => e.key === lock.key);
    expect(entry?.session).toBeTruthy();
    lock.assertHeld();
    await destroySession(entry!.session!);
    await until(
      'the lock to be found lost',
      async () => lock.lost !== undefined,
      async () => 'lost never set',
      30_000,
    );
    let thrown: unknown;
    try {
      lock.assertHeld();
    } catch (err) {
      thrown = err;
    }
    expect((thrown as CliError).exitCode).toBe(9);
    expect((thrown as CliError).message).toMatch(/deploy lock \S+\/locks\/hello\/deploy was lost .*; stopped writing/);
    await lock.release();
  });
});
