import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { flipLockPrefix } from '../../shared/keys.js';
import { readSlots } from '../../shared/rollout/semaphore.js';
import { readVerdicts } from '../../shared/rollout/verdicts.js';
import { startConsul, type RunningConsul } from '../support/consul-agent.js';
import { APP, FlipFleet, FlipWatcher, until, type FleetNode } from '../system/support/flip-fleet.js';

const V1 = { version: '1.0' };
const V2 = { version: '2.0' };
const BROKEN = { version: '2.0', unhealthy: true };

let fleet: FlipFleet | undefined;
let extra: Array<() => Promise<void>> = [];
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
  for (const f of extra) await f();
  extra = [];
});

const prefixOf = () => `ppfleet-${randomBytes(4).toString('hex')}`;

/** Every node converged on `version` in its reality and answering it. */
async function allOn(f: FlipFleet, version: string, nodes: FleetNode[] = f.nodes): Promise<boolean> {
  const answers = await f.answers();
  for (const n of nodes) {
    const r = await f.reality(n);
    if (r?.status !== 'converged' || r.version !== version || answers[f.nodes.indexOf(n)] !== version) return false;
  }
  return true;
}

const describeFleet = (f: FlipFleet) => async () =>
  `${JSON.stringify(await f.answers())}\n${JSON.stringify(await Promise.all(f.nodes.map((n) => f.reality(n))), null, 1)}\n${await f.logs()}`;

/** A fleet running 1.0 everywhere (a first start takes no slot), then the rollout of `to` written to all at once. */
async function rollOut(storeSpec: string, count: number, to: typeof V2, rollout: object): Promise<{ f: FlipFleet; watcher: FlipWatcher }> {
  const f = await FlipFleet.start(storeSpec, prefixOf(), count, [V1, to]);
  fleet = f;
  await f.writeAll((n) => f.intentOf(n, V1, [to], rollout));
  f.startAgents();
  await until('every node to run 1.0', () => allOn(f, '1.0'), describeFleet(f));
  const watcher = new FlipWatcher(f, to.version);
  await f.writeAll((n) => f.intentOf(n, to, [V1], rollout));
  return { f, watcher };
}

describe.each([
  { store: 'consul', spec: async () => `consul://${inject('consulAddress')}` },
  {
    store: 'folder',
    spec: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'pp-fleet-store-'));
      extra.push(() => rm(dir, { recursive: true, force: true }));
      return `folder:${dir}`;
    },
  },
])('fleet-safe flips on the $store store', ({ spec }) => {
  it('flips 6 nodes with maxParallel 2: never more than 2 down or unconfirmed at once, all end on the new version', async () => {
    const { f, watcher } = await rollOut(await spec(), 6, V2, { maxParallel: 2, minHealthySeconds: 1 });
    await until('every node to run 2.0', () => allOn(f, '2.0'), describeFleet(f), 180_000);
    await watcher.stop();
    expect(watcher.samples).toBeGreaterThan(20);
    expect(watcher.maxInFlip, `worst sample: ${watcher.worst.join(' ')}`).toBeLessThanOrEqual(2);
    expect(watcher.maxInFlip).toBeGreaterThanOrEqual(1);
    // Every slot given back.
    const leases = f.store.leases({ name: 'test', ttlMs: 10_000 });
    expect((await readSlots(f.store, leases, f.prefix, APP)).holders).toEqual([]);
  }, 300_000);

  it('stops a broken version after one node: that node rolls back, the other 5 never stop serving', async () => {
    const { f, watcher } = await rollOut(await spec(), 6, BROKEN, { maxParallel: 1, maxFailures: 1 });
    const blocked = async () => {
      const records = await Promise.all(f.nodes.map((n) => f.reality(n)));
      // The node that tried it reports the failed check, then (once its retry is due) the hold on that attempt.
      const tried = records.filter((r) => /did not become healthy|this version failed at/.test(r?.error ?? ''));
      const refused = records.filter((r) => /failed its health check on 1 node \(web\d: .*503.*\); not tried here/.test(r?.error ?? ''));
      return tried.length === 1 && refused.length === 5;
    };
    await until('one node to fail 2.0 and the 5 others to refuse it', blocked, describeFleet(f), 180_000);
    await watcher.stop();
    expect(watcher.everDown.size, `down: ${[...watcher.everDown].join(' ')}`).toBe(1);
    const answers = await f.answers();
    expect(answers).toEqual(f.nodes.map(() => '1.0'));
    const verdicts = await readVerdicts(f.store, f.prefix, APP);
    expect(verdicts).toHaveLength(1);
    expect([...watcher.everDown]).toEqual([verdicts[0]!.node]);
  }, 300_000);
});

describe('a holder of a slot', () => {
  it('SIGKILLed: its slot is freed when its session expires, another node goes on; restarted, it finishes its flip', async () => {
    const { f, watcher } = await rollOut(`consul://${inject('consulAddress')}`, 4, V2, { maxParallel: 1, minHealthySeconds: 4 });
    const leases = f.store.leases({ name: 'test', ttlMs: 10_000 });
    let holder: FleetNode | undefined;
    await until(
      'a node to hold the slot',
      async () => {
        const [h] = (await readSlots(f.store, leases, f.prefix, APP)).holders;
        holder = h ? f.nodes.find((n) => n.name === h.node) : undefined;
        return holder !== undefined;
      },
      describeFleet(f),
    );
    watcher.ignoreNode(holder!.name);
    await f.killAgent(holder!);
    await until(
      'another node to take the slot while the killed agent is down',
      async () => (await readSlots(f.store, leases, f.prefix, APP)).holders.some((h) => h.node !== holder!.name),
      describeFleet(f),
      60_000,
    );
    f.startAgent(holder!);
    await until('every node to run 2.0', () => allOn(f, '2.0'), describeFleet(f), 240_000);
    await watcher.stop();
    expect(watcher.maxInFlip, `worst sample: ${watcher.worst.join(' ')}`).toBeLessThanOrEqual(1);
    expect(await f.confirmed(holder!)).toBe(f.installOf(holder!, '2.0'));
  }, 360_000);

  it('mid-flip while Consul stops: it finishes its flip, no other node starts one until Consul is back, nothing is lost', async () => {
    const consul: RunningConsul = await startConsul(undefined, { persistent: true });
    extra.push(() => consul.stop());
    const { f, watcher } = await rollOut(`consul://${consul.address}`, 4, V2, { maxParallel: 1, minHealthySeconds: 3 });
    const leases = f.store.leases({ name: 'test', ttlMs: 10_000 });
    let holder: FleetNode | undefined;
    await until(
      'a node to hold the slot and be mid-flip',
      async () => {
        const [h] = (await readSlots(f.store, leases, f.prefix, APP)).holders;
        holder = h ? f.nodes.find((n) => n.name === h.node) : undefined;
        return holder !== undefined && (await f.answers())[f.nodes.indexOf(holder)] !== '1.0';
      },
      describeFleet(f),
    );
    await consul.down();
    const others = f.nodes.filter((n) => n !== holder);
    const flippedBefore = new Set(
      (await Promise.all(others.map(async (n) => ((await f.confirmed(n)) === f.installOf(n, '2.0') ? n.name : '')))).filter(Boolean),
    );
    await until(
      'the holder to finish its flip with Consul down',
      async () => (await f.confirmed(holder!)) === f.installOf(holder!, '2.0'),
      describeFleet(f),
      60_000,
    );
    // Consul stays down a while longer: no node that had not flipped may start a flip meanwhile.
    const downSince = Date.now();
    while (Date.now() - downSince < 5000) {
      const answers = await f.answers();
      for (const n of others) if (!flippedBefore.has(n.name)) expect(answers[f.nodes.indexOf(n)]).toBe('1.0');
      await new Promise((r) => setTimeout(r, 100));
    }
    await consul.up();
    await until('every node to run 2.0', () => allOn(f, '2.0'), describeFleet(f), 240_000);
    await watcher.stop();
    expect(watcher.maxInFlip, `worst sample: ${watcher.worst.join(' ')}`).toBeLessThanOrEqual(1);
    expect((await f.store.read(flipLockPrefix(f.prefix, APP))).entries.filter((e) => !e.key.endsWith('.lock'))).toEqual([]);
  }, 360_000);
});
