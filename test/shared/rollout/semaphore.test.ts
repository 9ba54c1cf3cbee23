import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { flipLockPrefix } from '../../../shared/keys.js';
import { FlipSemaphore, readSlots } from '../../../shared/rollout/semaphore.js';
import { consulConfigFrom } from '../../../shared/store/consul-config.js';
import { ConsulStore } from '../../../shared/store/consul-store.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import type { IntentStore, LeaseKeeper } from '../../../shared/store/types.js';

const CHILD = resolve(import.meta.dirname, '../../support/hold-slot-child.mjs');
const folders: string[] = [];
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const close of closers) await close();
  for (const f of folders) await rm(f, { recursive: true, force: true });
});

interface Backend {
  name: string;
  spec: () => Promise<string>;
  open: (spec: string) => IntentStore;
}

const backends: Backend[] = [
  {
    name: 'consul',
    spec: async () => `consul://${inject('consulAddress')}`,
    open: () => new ConsulStore(consulConfigFrom(inject('consulAddress'), {})),
  },
  {
    name: 'folder',
    spec: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'pp-sem-'));
      folders.push(dir);
      return `folder:${dir}`;
    },
    open: (spec) => new FolderStore(spec.slice('folder:'.length)),
  },
];

/** One simulated node: its own store client, lease and semaphore. */
function nodeOf(b: Backend, spec: string, prefix: string, node: string): { sem: FlipSemaphore; leases: LeaseKeeper; store: IntentStore } {
  const store = b.open(spec);
  const leases = store.leases({ name: `test ${node}`, ttlMs: 10_000 });
  closers.push(async () => {
    await leases.close();
    await store.close();
  });
  return { sem: new FlipSemaphore(store, leases, prefix, node), leases, store };
}

/** Resolves once `cond` holds, checking every 50 ms, or fails after `ms` naming `what`. */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let n = 0;
const newPrefix = (b: Backend) => `sem${++n}${b.name}`;

describe.each(backends)('the rollout semaphore on the $name store', (b) => {
  it('lets at most the limit hold at once; a waiter says who holds, and goes on when a slot is given back', async () => {
    const spec = await b.spec();
    const prefix = newPrefix(b);
    const [a, bb, c] = ['web1', 'web2', 'web3'].map((node) => nodeOf(b, spec, prefix, node));
    const never = new AbortController().signal;
    await a!.sem.acquire('hello', 2, '2.0', never, () => {});
    await bb!.sem.acquire('hello', 2, '2.0', never, () => {});
    const reasons: string[] = [];
    let cHolds = false;
    const cDone = c!.sem
      .acquire('hello', 2, '2.0', never, (r) => reasons.push(r))
      .then(() => {
        cHolds = true;
      });
    await until('web3 to report its wait', () => reasons.length > 0);
    expect(reasons[0]).toMatch(
      /^waiting for a rollout slot of hello \(2 of 2 held: web1 since \d\d:\d\d:\d\d, web2 since \d\d:\d\d:\d\d\)$/,
    );
    const state = await readSlots(a!.store, a!.leases, prefix, 'hello');
    expect(state.limit).toBe(2);
    expect(state.holders.map((h) => h.node)).toEqual(['web1', 'web2']);
    expect(state.waiters.map((w) => w.node)).toEqual(['web3']);
    expect(cHolds).toBe(false);
    expect(await a!.sem.release('hello')).toBe(true);
    await cDone;
    const after = await readSlots(a!.store, a!.leases, prefix, 'hello');
    expect(after.holders.map((h) => h.node).sort()).toEqual(['web2', 'web3']);
    expect(after.waiters).toEqual([]);
  });

  it('makes a contender whose limit differs wait while holders under the old limit remain', async () => {
    const spec = await b.spec();
    const prefix = newPrefix(b);
    const [a, bb] = ['web1', 'web2'].map((node) => nodeOf(b, spec, prefix, node));
    const never = new AbortController().signal;
    await a!.sem.acquire('hello', 1, '2.0', never, () => {});
    const reasons: string[] = [];
    const done = bb!.sem.acquire('hello', 3, '2.0', never, (r) => reasons.push(r));
    await until('web2 to report the conflict', () => reasons.length > 0);
    expect(reasons[0]).toContain("the lock's limit is 1");
    expect(reasons[0]).toContain('maxParallel 3');
    await a!.sem.release('hello');
    await done;
    expect((await readSlots(bb!.store, bb!.leases, prefix, 'hello')).limit).toBe(3);
  });

  it('gives up its contender key when its wait is aborted', async () => {
    const spec = await b.spec();
    const prefix = newPrefix(b);
    const [a, bb] = ['web1', 'web2'].map((node) => nodeOf(b, spec, prefix, node));
    await a!.sem.acquire('hello', 1, '2.0', new AbortController().signal, () => {});
    const stop = new AbortController();
    let waited = false;
    const done = bb!.sem.acquire('hello', 1, '2.0', stop.signal, () => {
      waited = true;
    });
    await until('web2 to wait', () => waited);
    stop.abort();
    await expect(done).rejects.toThrow(/stopped while waiting for a rollout slot of hello/);
    const state = await readSlots(a!.store, a!.leases, prefix, 'hello');
    expect(state.waiters).toEqual([]);
    expect(bb!.sem.heldApps().has('hello')).toBe(false);
  });

  it('claims its key again before it counts itself in when its key was taken away while it waited', async () => {
    const spec = await b.spec();
    const prefix = newPrefix(b);
    const [a, bb, c] = ['web1', 'web2', 'web3'].map((node) => nodeOf(b, spec, prefix, node));
    const never = new AbortController().signal;
    await a!.sem.acquire('hello', 1, '2.0', never, () => {});
    let waited = false;
    const done = bb!.sem.acquire('hello', 1, '2.0', never, () => {
      waited = true;
    });
    await until('web2 to wait', () => waited);
    // What `pp rollout release hello web2` does to a waiter.
    await a!.store.delete(`${flipLockPrefix(prefix, 'hello')}web2`);
    await a!.sem.release('hello');
    await done;
    const state = await readSlots(a!.store, a!.leases, prefix, 'hello');
    expect(state.holders.map((h) => [h.node, h.live])).toEqual([['web2', true]]);
    // web2 counts for everyone, so web3 waits.
    const reasons: string[] = [];
    const third = c!.sem.acquire('hello', 1, '2.0', never, (r) => reasons.push(r));
    await until('web3 to wait', () => reasons.length > 0);
    expect(reasons[0]).toContain('1 of 1 held: web2');
    await bb!.sem.release('hello');
    await third;
  });

  it('frees the slot of a holder that is SIGKILLed', async () => {
    const spec = await b.spec();
    const prefix = newPrefix(b);
    const child = spawn(process.execPath, [CHILD, spec, prefix, 'web9', 'hello', '1', '10000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    closers.push(async () => {
      child.kill('SIGKILL');
    });
    await new Promise<void>((ok, fail) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && ok());
      child.on('exit', (code) => fail(new Error(`the holder exited ${code}`)));
    });
    const a = nodeOf(b, spec, prefix, 'web1');
    expect((await readSlots(a.store, a.leases, prefix, 'hello')).holders.map((h) => h.node)).toEqual(['web9']);
    const reasons: string[] = [];
    const done = a.sem.acquire('hello', 1, '2.0', new AbortController().signal, (r) => reasons.push(r));
    await until('web1 to wait', () => reasons.length > 0);
    child.kill('SIGKILL');
    // Consul: once the 10 s session expires (Consul may take up to twice it); folder store: when the waiter looks again.
    await done;
    expect((await readSlots(a.store, a.leases, prefix, 'hello')).holders.map((h) => h.node)).toEqual(['web1']);
    const lock = (await a.store.read(flipLockPrefix(prefix, 'hello'))).entries.map((e) => e.key.split('/').pop());
    expect(lock).toContain('web1');
  }, 60_000);
});
