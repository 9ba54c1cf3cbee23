// Every agent as a separate process under a real runsvdir against a private real Consul agent:
// deploy, flip, remove; then Consul lost (dev mode forgets everything) in the middle of a deploy.
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startConsul, type RunningConsul } from '../support/consul-agent.js';
import { eventually } from '../support/intent-fixtures.js';
import { buildArtifact, versionOn } from '../support/version-server.js';
import { hasRule, installedVersion, installOf, intentOf, linkOf, newApp, stopWatchdogs, Watchdog } from './support/apps.js';
import { startSystem, AGENTS, type System } from './support/system.js';

let consul: RunningConsul | undefined;
const systems: System[] = [];

beforeAll(async () => {
  consul = await startConsul();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') for (const s of systems) console.log(await s.logs(25));
});
afterAll(async () => {
  await stopWatchdogs();
  for (const s of systems) await s.stop().catch((err) => console.error('system stop:', err));
  await consul?.stop();
});

async function system(): Promise<System> {
  const s = await startSystem({ consulAddress: consul!.address });
  systems.push(s);
  return s;
}

describe('the whole system against a real Consul', () => {
  it('deploys an app from pp intent put, flips it to a new version, and removes it', async () => {
    const s = await system();
    const app = await newApp(s.root, 'hello');
    const v1 = await buildArtifact(s.root, 'hello', '1.0.0');
    const v2 = await buildArtifact(s.root, 'hello', '2.0.0');

    await s.putIntent('hello', intentOf(app, [{ artifact: v1, state: 'live' }]));
    await eventually(async () => (await versionOn(app.port)) === '1.0.0', 60_000, 'hello answering 1.0.0');
    await eventually(async () => hasRule(await s.rules(), app), 20_000, 'the firewall rule for hello');
    expect(await linkOf(app.basedir, 'current')).toBe(installOf(app, '1.0.0'));
    for (const agent of AGENTS)
      await eventually(async () => (await s.reality(agent, 'hello'))?.status === 'converged', 20_000, `${agent} converged`);

    // The flip: whenever sampled, current is a valid link to one of the two installs and the rule stays. The app
    // answers 1.0.0, 2.0.0 or nothing: a flip stops the old process before starting the new one, so a request
    // may be refused, or reset when it reached the old process (or its accept queue) as it exited.
    const watch = new Watchdog([
      async () => {
        const c = await linkOf(app.basedir, 'current');
        return [installOf(app, '1.0.0'), installOf(app, '2.0.0')].includes(c) ? undefined : `current is ${c}`;
      },
      async () => (hasRule(await s.rules(), app) ? undefined : 'rule for hello missing'),
      async () => {
        const a = await versionOn(app.port);
        return /^(1\.0\.0|2\.0\.0|error ECONNREFUSED|error ECONNRESET)$/.test(a) ? undefined : `hello answered ${a}`;
      },
    ]);
    await s.putIntent(
      'hello',
      intentOf(app, [
        { artifact: v2, state: 'live' },
        { artifact: v1, state: 'prepared' },
      ]),
    );
    await eventually(async () => (await versionOn(app.port)) === '2.0.0', 60_000, 'hello answering 2.0.0');
    expect(await watch.stop()).toEqual([]);
    expect(await linkOf(app.basedir, 'current')).toBe(installOf(app, '2.0.0'));
    expect(await linkOf(app.basedir, 'last')).toBe(installOf(app, '1.0.0'));
    await eventually(
      async () =>
        (await s.reality('setlive', 'hello'))?.version === '2.0.0' && (await s.reality('setlive', 'hello'))?.status === 'converged',
      20_000,
      'setlive converged on 2.0.0',
    );

    // The last app removed: pp writes the drained marker, so the agents may (and must) take it away.
    await s.pp(['intent', 'rm', s.node, 'hello']);
    expect(await s.getRaw(s.drainedKey())).toBeDefined();
    await eventually(async () => (await versionOn(app.port)) === 'error ECONNREFUSED', 30_000, 'hello gone');
    await eventually(async () => !hasRule(await s.rules(), app), 20_000, 'the rule for hello gone');
    await eventually(async () => (await linkOf(join(s.root, 'service'), 'hello' as 'current')) === 'missing', 20_000, 'service link gone');
    await eventually(
      async () => (await s.reality('setlive', 'hello')) === undefined && (await s.reality('iptables', 'hello')) === undefined,
      20_000,
      'reality of hello pruned',
    );
  }, 120_000);

  it('removes nothing when Consul comes back empty in the middle of a deploy, then completes the deploy', async () => {
    const s = await system();
    const app = await newApp(s.root, 'web');
    const v1 = await buildArtifact(s.root, 'web', '1.0.0');
    const v2 = await buildArtifact(s.root, 'web', '2.0.0');
    await s.putIntent('web', intentOf(app, [{ artifact: v1, state: 'live' }]));
    await eventually(async () => (await versionOn(app.port)) === '1.0.0', 60_000, 'web answering 1.0.0');
    await eventually(async () => hasRule(await s.rules(), app), 20_000, 'the firewall rule for web');

    // v2 is served by a loopback HTTP server that holds the download open until we let it go.
    let release: () => void = () => {};
    const released = new Promise<void>((r) => {
      release = r;
    });
    let requests = 0;
    const server: Server = createServer((_req, res) => {
      requests += 1;
      void released.then(() => {
        res.writeHead(200);
        createReadStream(v2.path).pipe(res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/web-2.0.0.tar.gz`;
    try {
      const watch = new Watchdog([
        async () => {
          const a = await versionOn(app.port);
          return a === '1.0.0' ? undefined : `web answered ${a}`;
        },
        async () => {
          const c = await linkOf(app.basedir, 'current');
          return c === installOf(app, '1.0.0') ? undefined : `current is ${c}`;
        },
        async () => (hasRule(await s.rules(), app) ? undefined : 'rule for web missing'),
        async () => ((await installedVersion(app, '1.0.0')) === '1.0.0' ? undefined : 'install of 1.0.0 missing'),
      ]);
      await s.putIntent(
        'web',
        intentOf(app, [
          { artifact: v2, state: 'live', url },
          { artifact: v1, state: 'prepared' },
        ]),
      );
      await eventually(() => requests > 0, 20_000, 'the preparer downloading 2.0.0');

      const logged = await Promise.all(AGENTS.map(async (a) => (await s.log(a)).length));
      await consul!.restart(); // dev mode: the KV comes back empty, without the drained marker
      expect(await s.getRaw(s.intentKey('web'))).toBeUndefined();
      // Each agent refuses the empty tree, finishes that pass, and a resync later refuses and finishes again.
      const passesAfterRefusal = (text: string) => {
        const from = text.indexOf('"action":"refuse"');
        return from < 0 ? 0 : text.slice(from).split('"action":"pass"').length - 1;
      };
      for (const [i, agent] of AGENTS.entries()) {
        await eventually(
          async () => passesAfterRefusal((await s.log(agent)).slice(logged[i])) >= 2,
          45_000,
          `${agent} refusing the empty intent over two passes`,
        );
      }
      const violations = await watch.stop();
      expect(violations).toEqual([]);
      expect(watch.samples).toBeGreaterThan(5);
      expect(await s.getRaw(s.intentKey('web'))).toBeUndefined();

      // The operator re-puts the intent; the held download ends and the deploy completes.
      await s.putIntent(
        'web',
        intentOf(app, [
          { artifact: v2, state: 'live', url },
          { artifact: v1, state: 'prepared' },
        ]),
      );
      release();
      await eventually(async () => (await versionOn(app.port)) === '2.0.0', 60_000, 'web answering 2.0.0');
      expect(await linkOf(app.basedir, 'current')).toBe(installOf(app, '2.0.0'));
      expect(await linkOf(app.basedir, 'last')).toBe(installOf(app, '1.0.0'));
      expect(hasRule(await s.rules(), app)).toBe(true);
      // pp-iptables' rule did not change, yet its record comes back: the watcher saw Consul's index go backwards,
      // so every agent re-checks which reality records the store still holds.
      for (const agent of AGENTS) {
        await eventually(
          async () => (await s.reality(agent, 'web'))?.status === 'converged',
          20_000,
          `${agent} converged after the restart`,
        );
      }
    } finally {
      release();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }, 120_000);
});
