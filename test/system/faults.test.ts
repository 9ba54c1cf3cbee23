// Faults with every agent as a separate process under a real runsvdir against the run's real Consul
// agent, each scenario on a system of its own (they run concurrently to keep the suite short):
// - agents SIGKILLed at random instants across many deploy cycles and restarted by runsv;
// - invalid intent written straight into Consul (bypassing pp) next to good intent;
// - corrupt artifacts (a wrong sha256, a truncated tarball) next to good ones.
// Each asserts the end state and, with a Watchdog sampling all along, that nothing destructive happened meanwhile.
import { lstat, readdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { eventually } from '../support/intent-fixtures.js';
import { seededRandom } from '../support/seeded-random.js';
import { buildArtifact, type Artifact, versionOn } from '../support/version-server.js';
import { hasRule, installedVersion, installOf, intentOf, linkOf, newApp, stopWatchdogs, Watchdog, type TestApp } from './support/apps.js';
import { AGENTS, startSystem, type AgentName, type System, type SystemOptions } from './support/system.js';

const CYCLES = 20;
const systems: System[] = [];

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') for (const s of systems) console.log(`=== ${s.root}\n${await s.logs(25)}`);
});
afterAll(async () => {
  await stopWatchdogs();
  for (const s of systems) await s.stop().catch((err) => console.error('system stop:', err));
});

async function system(o: Partial<SystemOptions> = {}): Promise<System> {
  const s = await startSystem({ consulAddress: inject('consulAddress'), ...o });
  systems.push(s);
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The app keeps everything it had: answering 1.0.0 from its install, through `current`, behind its rule. */
function keepsV1(sys: System, app: TestApp) {
  return [
    async () => {
      const a = await versionOn(app.port);
      return a === '1.0.0' ? undefined : `${app.name} answered ${a}`;
    },
    async () => {
      const c = await linkOf(app.basedir, 'current');
      return c === installOf(app, '1.0.0') ? undefined : `${app.name}: current is ${c}`;
    },
    async () => ((await installedVersion(app, '1.0.0')) === '1.0.0' ? undefined : `${app.name}: install of 1.0.0 gone`),
    async () => (hasRule(await sys.rules(), app) ? undefined : `${app.name}: rule gone`),
  ];
}

/** Builds 1.0.0 and 2.0.0 of every app, puts 1.0.0 live, and waits until each answers with its rule. */
async function liveOnV1(sys: System, apps: TestApp[]): Promise<{ v1: Map<string, Artifact>; v2: Map<string, Artifact> }> {
  const v1 = new Map<string, Artifact>();
  const v2 = new Map<string, Artifact>();
  for (const app of apps) {
    v1.set(app.name, await buildArtifact(sys.root, app.name, '1.0.0'));
    v2.set(app.name, await buildArtifact(sys.root, app.name, '2.0.0'));
    await sys.putIntent(app.name, intentOf(app, [{ artifact: v1.get(app.name)!, state: 'live' }]));
  }
  for (const app of apps) {
    await eventually(async () => (await versionOn(app.port)) === '1.0.0', 60_000, `${app.name} answering 1.0.0`);
    await eventually(async () => hasRule(await sys.rules(), app), 20_000, `the rule for ${app.name}`);
  }
  return { v1, v2 };
}

describe.concurrent('faults, with the agents under runit against a real Consul', () => {
  it(`converge every one of ${CYCLES} deploy cycles, never leaving current broken or an install half-made`, async () => {
    const sys = await system({ settleSeconds: 0.3 });
    const app = await newApp(sys.root, 'svc');
    const artifacts: Artifact[] = [];
    for (let i = 1; i <= CYCLES + 1; i++) artifacts.push(await buildArtifact(sys.root, 'svc', `${i}.0.0`));
    const installs = artifacts.map((a) => installOf(app, a.version));

    await sys.putIntent('svc', intentOf(app, [{ artifact: artifacts[0]!, state: 'live' }]));
    await eventually(async () => (await versionOn(app.port)) === '1.0.0', 60_000, 'svc answering 1.0.0');
    await eventually(async () => hasRule(await sys.rules(), app), 20_000, 'the rule for svc');

    const watch = new Watchdog([
      async () => {
        const c = await linkOf(app.basedir, 'current');
        return installs.includes(c) ? undefined : `current is ${c}`;
      },
      async () => (hasRule(await sys.rules(), app) ? undefined : 'rule for svc missing'),
      async () => {
        // Anything under installs/ without a dot is complete: its VERSION matches its name.
        for (const name of await readdir(join(app.basedir, 'installs')).catch(() => [] as string[])) {
          if (name.startsWith('.')) continue;
          const version = name.slice('svc_'.length);
          const got = await installedVersion(app, version);
          if (got === version) continue;
          // Pruning renames an install aside before deleting it: gone by now is fine, still there is not.
          if ((await lstat(join(app.basedir, 'installs', name)).catch(() => undefined)) === undefined) continue;
          return `install ${name} exists without its complete content (VERSION ${got ?? 'missing'})`;
        }
        return undefined;
      },
    ]);
    const kills: string[] = [];
    const random = seededRandom('system SIGKILL cycles');
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const live = artifacts[cycle]!;
      await sys.putIntent(
        'svc',
        intentOf(app, [
          { artifact: live, state: 'live' },
          { artifact: artifacts[cycle - 1]!, state: 'prepared' },
        ]),
      );
      // One or two kills per cycle, each at a random instant of the deploy, of a random agent (every agent in turn first).
      const killsThisCycle = 1 + random.int(2);
      for (let k = 0; k < killsThisCycle; k++) {
        const agent: AgentName = k === 0 ? AGENTS[cycle % AGENTS.length]! : AGENTS[random.int(AGENTS.length)]!;
        const delay = random.int(1200);
        await sleep(delay);
        const pid = await sys.agentPid(agent);
        if (pid === undefined) continue; // still being restarted by runsv after the previous kill
        try {
          process.kill(pid, 'SIGKILL');
          kills.push(`cycle ${cycle}: ${agent} (pid ${pid}) at +${delay} ms`);
        } catch {
          // it exited on its own in between
        }
      }
      await eventually(
        async () => (await versionOn(app.port)) === live.version,
        60_000,
        `svc answering ${live.version} (cycle ${cycle}; kills: ${kills.join('; ')}; ${random.replay})`,
      );
    }
    const violations = await watch.stop();
    expect(violations, `kills: ${kills.join('; ')}; ${random.replay}`).toEqual([]);
    expect(kills.length).toBeGreaterThanOrEqual(CYCLES);
    for (const agent of AGENTS) expect(kills.some((k) => k.includes(agent))).toBe(true);
    // runsv brought every killed agent back: each runs now under a pid none of the killed ones had.
    for (const agent of AGENTS) {
      await eventually(async () => (await sys.agentPid(agent)) !== undefined, 20_000, `${agent} running again`);
      const pid = await sys.agentPid(agent);
      expect(kills.some((k) => k.includes(`(pid ${pid})`))).toBe(false);
    }

    // End state: the last version live, `last` the one before, installs complete, no temp left, every agent converged.
    const last = artifacts[CYCLES]!;
    const before = artifacts[CYCLES - 1]!;
    expect(await linkOf(app.basedir, 'current')).toBe(installOf(app, last.version));
    expect(await linkOf(app.basedir, 'last')).toBe(installOf(app, before.version));
    expect(await installedVersion(app, last.version)).toBe(last.version);
    expect(await installedVersion(app, before.version)).toBe(before.version);
    for (const agent of AGENTS) {
      await eventually(async () => (await sys.reality(agent, 'svc'))?.status === 'converged', 30_000, `${agent} converged at the end`);
    }
    await eventually(
      async () => (await sys.reality('setlive', 'svc'))?.version === last.version,
      30_000,
      `setlive reporting ${last.version}`,
    );
    expect((await sys.reality('setlive', 'svc'))?.status).toBe('converged');
    await eventually(
      async () => (await readdir(join(app.basedir, 'installs'))).every((n) => !n.startsWith('.pp-tmp')),
      20_000,
      'no temp folder left in installs',
    );
    expect(hasRule(await sys.rules(), app)).toBe(true);
    expect(await versionOn(app.port)).toBe(last.version);
  }, 170_000);

  it('converges the good apps and reports the bad ones failed in every agent that checks the bad part, removing nothing of theirs', async () => {
    const sys = await system();
    const apps = await Promise.all(['good1', 'good2', 'badfield', 'notjson', 'badport'].map((n) => newApp(sys.root, n)));
    const [good1, good2, badfield, notjson, badport] = apps as [TestApp, TestApp, TestApp, TestApp, TestApp];
    const { v2 } = await liveOnV1(sys, apps);

    const watch = new Watchdog([...keepsV1(sys, badfield), ...keepsV1(sys, notjson)]);
    // Another tool writes a new version with a size out of range (a core field, which every agent checks), text that
    // is not JSON at all, and a new version with a port out of range (pp-iptables's section, which the others pass over).
    const bad = intentOf(badfield, [{ artifact: v2.get('badfield')!, state: 'live' }]) as { versions: Array<{ size?: number }> };
    bad.versions[0]!.size = 0;
    await sys.putRaw(sys.intentKey('badfield'), JSON.stringify(bad));
    await sys.putRaw(sys.intentKey('notjson'), '{"schema": 1, "basedir": ');
    const badPorts = intentOf(badport, [{ artifact: v2.get('badport')!, state: 'live' }]) as { ports: Array<{ port: number }> };
    badPorts.ports[0]!.port = 70000;
    await sys.putRaw(sys.intentKey('badport'), JSON.stringify(badPorts));
    for (const app of [good1, good2]) await sys.putIntent(app.name, intentOf(app, [{ artifact: v2.get(app.name)!, state: 'live' }]));

    for (const app of [good1, good2, badport])
      await eventually(async () => (await versionOn(app.port)) === '2.0.0', 60_000, `${app.name} answering 2.0.0`);
    for (const agent of AGENTS) {
      for (const app of [good1, good2]) {
        await eventually(
          async () => (await sys.reality(agent, app.name))?.status === 'converged',
          20_000,
          `${agent}: ${app.name} converged`,
        );
      }
      await eventually(async () => (await sys.reality(agent, 'badfield'))?.status === 'failed', 20_000, `${agent}: badfield failed`);
      expect((await sys.reality(agent, 'badfield'))?.error).toContain(
        `invalid intent at key ${sys.intentKey('badfield')}: field versions[0].size`,
      );
      await eventually(async () => (await sys.reality(agent, 'notjson'))?.status === 'failed', 20_000, `${agent}: notjson failed`);
      expect((await sys.reality(agent, 'notjson'))?.error).toContain(`invalid intent at key ${sys.intentKey('notjson')}: not JSON`);
      const portStatus = agent === 'iptables' ? 'failed' : 'converged';
      await eventually(async () => (await sys.reality(agent, 'badport'))?.status === portStatus, 20_000, `${agent}: badport ${portStatus}`);
    }
    expect((await sys.reality('iptables', 'badport'))?.error).toContain(
      `invalid intent at key ${sys.intentKey('badport')}: field ports[0].port`,
    );
    // pp-iptables keeps the rule it had for badport; pp-setlive put its new version live.
    expect(hasRule(await sys.rules(), badport)).toBe(true);
    expect((await sys.reality('setlive', 'badport'))?.version).toBe('2.0.0');
    // A resync of every agent later, the bad apps still have everything they had.
    const marks = await Promise.all(AGENTS.map(async (a) => (await sys.log(a)).length));
    await eventually(
      async () =>
        (await Promise.all(AGENTS.map(async (a, i) => (await sys.log(a)).slice(marks[i]).includes('"action":"pass"')))).every(Boolean),
      30_000,
      'a further pass of every agent',
    );
    expect(await watch.stop()).toEqual([]);
    expect(watch.samples).toBeGreaterThan(5);
    for (const app of [badfield, notjson]) {
      expect(await versionOn(app.port)).toBe('1.0.0');
      expect(await installedVersion(app, '2.0.0')).toBeUndefined();
    }
    expect(await linkOf(good1.basedir, 'current')).toBe(installOf(good1, '2.0.0'));
  }, 150_000);

  it('puts the good apps live and keeps the old version of the bad ones running, reporting both digests', async () => {
    const sys = await system();
    const apps = await Promise.all(['good', 'wrongsum', 'truncated'].map((n) => newApp(sys.root, n)));
    const [good, wrongsum, truncated] = apps as [TestApp, TestApp, TestApp];
    const { v1, v2 } = await liveOnV1(sys, apps);

    const watch = new Watchdog([...keepsV1(sys, wrongsum), ...keepsV1(sys, truncated)]);
    // wrongsum's 2.0.0 is intended with the digest of another artifact; truncated's file loses its second half.
    const wrong = v2.get('good')!.sha256;
    const cut = v2.get('truncated')!;
    const size = (await readFile(cut.path)).length;
    const half = Math.floor(size / 2);
    await truncate(cut.path, half);
    const next = (app: TestApp, sha256?: string) =>
      intentOf(app, [
        { artifact: v2.get(app.name)!, state: 'live', sha256 },
        { artifact: v1.get(app.name)!, state: 'prepared' },
      ]);
    await sys.putIntent('good', next(good));
    await sys.putIntent('wrongsum', next(wrongsum, wrong));
    await sys.putIntent('truncated', next(truncated));

    await eventually(async () => (await versionOn(good.port)) === '2.0.0', 60_000, 'good answering 2.0.0');
    for (const agent of AGENTS)
      await eventually(async () => (await sys.reality(agent, 'good'))?.status === 'converged', 20_000, `${agent}: good converged`);
    await eventually(async () => (await sys.reality('preparer', 'wrongsum'))?.status === 'failed', 30_000, 'preparer: wrongsum failed');
    expect((await sys.reality('preparer', 'wrongsum'))?.error).toContain(
      `sha256 mismatch: expected ${wrong}, got ${v2.get('wrongsum')!.sha256}`,
    );
    await eventually(async () => (await sys.reality('preparer', 'truncated'))?.status === 'failed', 30_000, 'preparer: truncated failed');
    // A truncated tarball is caught by gunzip before the digest comes out: the error says so, with the byte count.
    expect((await sys.reality('preparer', 'truncated'))?.error).toContain(
      `cannot install truncated_2.0.0 from ${cut.url}: truncated gzip stream: it ends after ${half} compressed bytes`,
    );
    for (const app of ['wrongsum', 'truncated']) {
      await eventually(async () => (await sys.reality('setlive', app))?.status === 'pending', 20_000, `setlive: ${app} pending`);
      expect((await sys.reality('setlive', app))?.reason).toBe('waiting for install of 2.0.0');
      await eventually(async () => (await sys.reality('iptables', app))?.status === 'converged', 20_000, `iptables: ${app} converged`);
    }
    // A retry of the failed downloads later, the bad apps are still on 1.0.0 with nothing half-installed.
    const mark = (await sys.log('preparer')).length;
    await eventually(
      async () => (await sys.log('preparer')).slice(mark).includes('"app":"wrongsum"'),
      30_000,
      'another attempt at wrongsum',
    );
    expect(await watch.stop()).toEqual([]);
    expect(watch.samples).toBeGreaterThan(5);
    for (const app of [wrongsum, truncated]) {
      expect(await versionOn(app.port)).toBe('1.0.0');
      expect(await installedVersion(app, '2.0.0')).toBeUndefined();
    }
  }, 150_000);
});
