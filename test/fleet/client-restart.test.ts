// The client agent the node agents talk to SIGKILLed and started again (its data dir kept, as runit or systemd
// would restart it): every node agent's watch recovers on its own, without a restart, and the next change converges.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/intent-fixtures.js';
import { stopWatchdogs } from '../system/support/apps.js';
import { everyNodeSawStoreFault, removals, ClusterFleet } from './cluster-fleet.js';

let fleet: ClusterFleet | undefined;

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && fleet) console.log(await fleet.logs());
});
afterAll(async () => {
  await stopWatchdogs();
  await fleet?.stop();
});

describe('client agent restart', () => {
  it('every node agent keeps watching across a restart of its client agent and converges the next change', async () => {
    fleet = await ClusterFleet.start('client', 4);
    const { cluster, v } = fleet;
    const pids = fleet.preparers().map((a) => a.child.pid);
    const watchdog = fleet.watchInstalls();
    await cluster.client.kill();
    // Down long enough for every node agent's watch to fail at least once.
    await eventually(() => everyNodeSawStoreFault(fleet!), 30_000, 'every node agent to see its client agent gone');
    const restarted = Date.now();
    await cluster.client.start();
    await cluster.waitForLeader();
    await fleet.putWeb([v.web1, v.web2]);
    await fleet.converged(['1.0.0', '2.0.0'], 60_000);
    console.log(`every node converged ${Date.now() - restarted} ms after the client agent restarted`);
    expect(await watchdog.stop()).toEqual([]);
    expect(fleet.preparers().map((a) => a.child.pid)).toEqual(pids);
    for (const a of fleet.preparers()) {
      expect(a.alive(), `${a.node} still running`).toBe(true);
      expect(await removals(a)).toEqual([]);
    }
  });
});
