// The Raft leader of a real 3-server cluster SIGKILLed while four simulated nodes (real pp-setlive processes talking
// to the cluster's client agent) roll a version out one node at a time: the rollout finishes after the election,
// no slot is ever held twice, and no node flips the version twice.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSlots } from '../../shared/rollout/semaphore.js';
import { startConsulCluster, type ConsulCluster } from '../support/consul-cluster.js';
import { APP, FlipFleet, FlipWatcher, until } from '../system/support/flip-fleet.js';

let cluster: ConsulCluster | undefined;
let fleet: FlipFleet | undefined;
afterAll(async () => {
  await fleet?.stop();
  await cluster?.stop();
});

/** How many times a node's pp-setlive stopped its service for a flip (one "applied" log line each). */
async function stops(f: FlipFleet, node: string): Promise<number> {
  const log = await readFile(join(f.root, node, 'logs', 'setlive.log'), 'utf8').catch(() => '');
  return log.split('\n').filter((l) => l.includes('"msg":"applied"') && l.includes('"action":"stop service')).length;
}

describe('a rollout across a leader loss', () => {
  it('finishes after the election: never two slots held, no node flipped twice', async () => {
    cluster = await startConsulCluster();
    await cluster.waitForLeader();
    const f = await FlipFleet.start(`consul://${cluster.address}`, 'rollout-leader', 4, [{ version: '1.0' }, { version: '2.0' }]);
    fleet = f;
    const rollout = { maxParallel: 1, minHealthySeconds: 2 };
    await f.writeAll((n) => f.intentOf(n, { version: '1.0' }, [{ version: '2.0' }], rollout));
    f.startAgents();
    const on = async (version: string) => {
      const answers = await f.answers();
      const records = await Promise.all(f.nodes.map((n) => f.reality(n)));
      return records.every((r, i) => r?.status === 'converged' && r.version === version && answers[i] === version);
    };
    const describe = async () => `${JSON.stringify(await f.answers())}\n${await f.logs()}\n${cluster!.logs()}`;
    await until('every node to run 1.0', () => on('1.0'), describe, 180_000);
    const stopsBefore = await Promise.all(f.nodes.map((n) => stops(f, n.name)));
    const watcher = new FlipWatcher(f, '2.0');
    await f.writeAll((n) => f.intentOf(n, { version: '2.0' }, [{ version: '1.0' }], rollout));
    const leases = f.store.leases({ name: 'test', ttlMs: 10_000 });
    await until('a node to hold the slot', async () => (await readSlots(f.store, leases, f.prefix, APP)).holders.length > 0, describe);
    const leader = await cluster.waitForLeader();
    await leader.kill();
    const elected = await cluster.waitForLeader(60_000);
    expect(elected.name).not.toBe(leader.name);
    await until('every node to run 2.0', () => on('2.0'), describe, 240_000);
    await watcher.stop();
    expect(watcher.maxInFlip, `worst sample: ${watcher.worst.join(' ')}`).toBeLessThanOrEqual(1);
    const stopsAfter = await Promise.all(f.nodes.map((n) => stops(f, n.name)));
    expect(stopsAfter.map((s, i) => s - stopsBefore[i]!)).toEqual(f.nodes.map(() => 1));
  });
});
