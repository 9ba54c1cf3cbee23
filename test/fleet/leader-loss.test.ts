// The Raft leader SIGKILLed while six simulated nodes converge a change whose downloads are held in flight: a new
// leader is elected, every node converges, nothing that stays in intent is removed meanwhile, and the killed server
// rejoins with its state.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/intent-fixtures.js';
import { stopWatchdogs } from '../system/support/apps.js';
import { removals, ClusterFleet } from './cluster-fleet.js';

let fleet: ClusterFleet | undefined;

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && fleet) console.log(await fleet.logs());
});
afterAll(async () => {
  await stopWatchdogs();
  await fleet?.stop();
});

describe('leader loss', () => {
  it('every node converges a change across a leader SIGKILL, removing nothing that stays', async () => {
    fleet = await ClusterFleet.start('leader', 6);
    const { cluster, v } = fleet;
    const watchdog = fleet.watchInstalls();
    fleet.artifacts.hold('web-2.0.0');
    await fleet.putWeb([v.web1, v.web2]);
    // Every node has read the change and is downloading when the leader dies.
    await eventually(() => fleet!.artifacts.requests('web-2.0.0') >= 6, 30_000, 'every node downloading web 2.0.0');
    const old = await cluster.waitForLeader();
    const killedAt = Date.now();
    await old.kill();
    fleet.artifacts.release();
    const elected = await cluster.waitForLeader(60_000);
    console.log(`leader ${old.name} SIGKILLed; ${elected.name} leads after ${Date.now() - killedAt} ms`);
    expect(elected.name).not.toBe(old.name);
    await fleet.converged(['1.0.0', '2.0.0'], 60_000);
    console.log(`every node converged ${Date.now() - killedAt} ms after the kill`);
    expect(await watchdog.stop()).toEqual([]);
    expect(watchdog.samples).toBeGreaterThan(3);
    // The killed server comes back from its data dir and the cluster has three voters and one leader again.
    await old.start();
    await eventually(
      async () => {
        const peers = (await (await fetch(`http://${old.address}/v1/status/peers`)).json()) as string[];
        return peers.length === 3 && (await cluster.leader()) !== undefined;
      },
      60_000,
      `${old.name} back among three peers`,
    );
    for (const a of fleet.preparers()) {
      expect(a.alive(), `${a.node} still running`).toBe(true);
      expect(await removals(a)).toEqual([]);
    }
  });
});
