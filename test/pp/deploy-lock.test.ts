import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { DeployLock } from '../../pp/deploy/lock.js';
import { deployLockKey } from '../../shared/keys.js';
import { CliError } from '../../pp/read-spec.js';
import { processStartTime } from '../../shared/process-liveness.js';
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

/** The pid and start time of a process that ran on this host and is gone now. */
async function deadProcess(): Promise<{ pid: number; start: string }> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
  const pid = child.pid!;
  const start = processStartTime(pid);
  expect(start).toBeDefined();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  return { pid, start: start! };
}

/** The session's record, or null once it is gone. */
async function sessionInfo(id: string): Promise<unknown> {
  const res = await fetch(`http://${address()}/v1/session/info/${id}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as unknown[] | null)?.[0] ?? null;
}

/**
 * Holds the deploy lock of `app` with a session of this process (renewed by it: only the lock's value names the
 * holder) whose value names `holder`, as a `pp deploy` on that host and pid would have written it.
 */
async function plantLock(prefix: string, app: string, holder: { host: string; pid: number; start?: string }) {
  const store = open();
  const leases = store.leases({ name: `pp deploy ${app}`, ttlMs: 3_600_000 });
  const fields = { user: 'alice', ...holder, since: new Date().toISOString() };
  expect(await leases.claim(deployLockKey(prefix, app), fields)).toBe(true);
  const entry = (await store.read(deployLockKey(prefix, app))).entries[0]!;
  expect(entry.session).toBeTruthy();
  return { leases, session: entry.session!, since: fields.since };
}

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
    expect((refused as CliError).message).toMatch(
      /another pp deploy of hello is running: \S+ on \S+ \(pid \d+\) since 20\d\d-.* holds \S+\/locks\/hello\/deploy; the lock frees itself by 20\d\d-\d\d-\d\dT[\d:.]+Z if that process is gone \(its Consul session's TTL of 10 s, which Consul may stretch to twice\)$/,
    );
    expect(first.tookOver).toBeUndefined();
    await first.release();
    const second = await DeployLock.take(open(), prefix, 'hello', 10_000);
    await second.release();
    expect(await open().get(deployLockKey(prefix, 'hello'))).toBeUndefined();
  });

  it("takes over at once a lock whose holder was a process of this host that is gone, destroying the holder's session", async () => {
    const prefix = `pplock-${randomBytes(4).toString('hex')}`;
    const dead = await deadProcess();
    const planted = await plantLock(prefix, 'hello', { host: hostname(), ...dead });
    const lock = await DeployLock.take(open(), prefix, 'hello', 10_000);
    expect(lock.tookOver).toBe(
      `took over the deploy lock ${prefix}/locks/hello/deploy from a dead holder: alice on ${hostname()} (pid ${dead.pid}) since ${planted.since}, a process of this host that no longer runs`,
    );
    expect(await sessionInfo(planted.session)).toBeNull();
    const value = JSON.parse((await open().get(lock.key))!) as Record<string, unknown>;
    expect(value).toMatchObject({ host: hostname(), pid: process.pid, start: processStartTime(process.pid) });
    await lock.release();
    await planted.leases.close();
  });

  it('takes over a lock whose pid now names another process (another start time); a holder whose process runs is refused', async () => {
    const prefix = `pplock-${randomBytes(4).toString('hex')}`;
    const start = processStartTime(process.pid)!;
    const live = await plantLock(prefix, 'hello', { host: hostname(), pid: process.pid, start });
    const refused = await DeployLock.take(open(), prefix, 'hello', 10_000).catch((err: unknown) => err);
    expect((refused as CliError).exitCode).toBe(6);
    expect((refused as CliError).message).toContain(`alice on ${hostname()} (pid ${process.pid})`);
    expect((refused as CliError).message).toContain('the lock frees itself by 20');
    expect(await sessionInfo(live.session)).not.toBeNull();
    await live.leases.close();

    const reused = await plantLock(prefix, 'hello', { host: hostname(), pid: process.pid, start: String(Number(start) + 1) });
    const lock = await DeployLock.take(open(), prefix, 'hello', 10_000);
    expect(lock.tookOver).toMatch(/^took over the deploy lock .* from a dead holder: alice on /);
    expect(await sessionInfo(reused.session)).toBeNull();
    await lock.release();
    await reused.leases.close();
  });

  it("never takes over the lock of another host's holder, naming when it frees itself by the holder's own TTL", async () => {
    const prefix = `pplock-${randomBytes(4).toString('hex')}`;
    const dead = await deadProcess();
    const planted = await plantLock(prefix, 'hello', { host: `not-${hostname()}`, ...dead });
    const refused = await DeployLock.take(open(), prefix, 'hello', 10_000).catch((err: unknown) => err);
    expect((refused as CliError).exitCode).toBe(6);
    expect((refused as CliError).message).toMatch(
      new RegExp(
        `another pp deploy of hello is running: alice on not-${hostname()} \\(pid ${dead.pid}\\) since .*; the lock frees itself by 20\\S+Z if that process is gone \\(its Consul session's TTL of 3600 s, which Consul may stretch to twice\\)$`,
      ),
    );
    expect(await sessionInfo(planted.session)).not.toBeNull();
    expect(JSON.parse((await open().get(deployLockKey(prefix, 'hello')))!)).toMatchObject({ host: `not-${hostname()}` });
    await planted.leases.close();
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
