// Two of three servers stopped for a minute (no quorum, no leader): the node agents keep every install, prune
// nothing, log the store fault, and converge a change written once quorum is back within the watch backoff cap
// (60 s). Meanwhile a default read fails and a stale read (PLATYPUS_CONSUL_CONSISTENCY=stale) still answers.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { consulConfigFrom } from '../../shared/store/consul-config.js';
import { ConsulStore } from '../../shared/store/consul-store.js';
import { DEFAULT_WATCH } from '../../shared/loop/watcher.js';
import { preparedIntent } from '../support/fleet.js';
import { eventually } from '../support/intent-fixtures.js';
import { runCli } from '../support/run-cli.js';
import { stopWatchdogs } from '../system/support/apps.js';
import { everyNodeSawStoreFault, PREFIX, removals, ClusterFleet } from './cluster-fleet.js';

const OUTAGE_MS = 60_000;
/** What a pass and its reality write may take on two busy cores, beyond the backoff cap. */
const PASS_SLACK_MS = 20_000;

let fleet: ClusterFleet | undefined;

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail' && fleet) console.log(await fleet.logs());
});
afterAll(async () => {
  await stopWatchdogs();
  await fleet?.stop();
});

describe('quorum loss', () => {
  it('keeps every install through a minute without quorum and converges within the backoff cap after', async () => {
    fleet = await ClusterFleet.start('quorum', 4);
    const { cluster, v } = fleet;
    const node = 'node1';
    const stale = new ConsulStore(consulConfigFrom(cluster.address, { PLATYPUS_CONSUL_CONSISTENCY: 'stale' }));
    const watchdog = fleet.watchInstalls();
    const leader = await cluster.waitForLeader();
    const down = [leader, cluster.servers.find((s) => s !== leader)!];
    const started = Date.now();
    for (const s of down) await s.stop();
    try {
      // No leader: a default read fails (a 500 from the client agent), a write is refused, a stale read answers from
      // the server left.
      let readError = '';
      await eventually(
        () =>
          fleet!.store.read(`${PREFIX}/intent/${node}/`).then(
            () => false,
            (err: Error) => {
              readError = err.message;
              return true;
            },
          ),
        30_000,
        'a default read to fail',
      );
      expect(readError).toMatch(/HTTP 5\d\d/);
      await eventually(async () => (await stale.read(`${PREFIX}/intent/${node}/`)).entries.length === 2, 30_000, 'a stale read to answer');
      const put = await runCli(
        'pp/index.js',
        ['intent', 'put', node, 'web', '--store', `consul://${cluster.address}`, '--prefix', PREFIX],
        JSON.stringify(preparedIntent(fleet.basedir(node, 'web'), [v.web1, v.web2])),
      );
      expect(put.code, put.stderr).toBe(1);
      expect(put.stderr).toMatch(/HTTP 5\d\d/);
      // Every node agent notices: its watch fails and says so.
      await eventually(() => everyNodeSawStoreFault(fleet!), OUTAGE_MS, 'every node agent to log that it cannot read intent');
      const left = OUTAGE_MS - (Date.now() - started);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
    } finally {
      for (const s of down) await s.start();
    }
    await cluster.waitForLeader(60_000);
    const back = Date.now();
    console.log(`quorum lost for ${back - started} ms`);
    await fleet.putWeb([v.web1, v.web2]);
    await fleet.converged(['1.0.0', '2.0.0'], DEFAULT_WATCH.errorMaxMs + PASS_SLACK_MS);
    console.log(`every node converged ${Date.now() - back} ms after quorum returned`);
    expect(await watchdog.stop()).toEqual([]);
    for (const a of fleet.preparers()) {
      expect(a.alive(), `${a.node} still running`).toBe(true);
      // Nothing was pruned while the store could not be read (nor after: 1.0.0 stays in intent).
      expect(await removals(a)).toEqual([]);
    }
    await stale.close();
  });
});
