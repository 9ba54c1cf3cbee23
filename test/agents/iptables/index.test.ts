import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../../shared/backoff.js';
import { seededRandom } from '../../support/seeded-random.js';
import { chainLines, createNetns, FOREIGN_SETUP, foreignLines, jumpCount, rule, type TestNetns } from './netns.js';
import { killGroup, runAgentProcess, startAgent, waitForFile } from './processes.js';
import { NODE, testStore, type PortArg } from './support.js';
import type { ChildProcess } from 'node:child_process';

let ns: TestNetns;
let t: Awaited<ReturnType<typeof testStore>>;
let foreign4: string[];
let foreign6: string[];
const running: ChildProcess[] = [];

const baseArgs = () => [
  '--store',
  `folder:${t.store.root}`,
  '--node',
  NODE,
  '--command-prefix',
  ns.prefix.join(' '),
  '--log-level',
  'warn',
];
const ours = async (cmd = 'iptables-save') => chainLines(await ns.sh(cmd));

async function setIntent(apps: Record<string, PortArg[]>) {
  for (const [app, ports] of Object.entries(apps)) await t.setApp(app, ports);
}

beforeAll(async () => {
  ns = await createNetns();
  t = await testStore();
  await ns.sh(FOREIGN_SETUP);
  foreign4 = foreignLines(await ns.sh('iptables-save'));
  foreign6 = foreignLines(await ns.sh('ip6tables-save'));
});

afterEach(async () => {
  for (const child of running.splice(0)) await killGroup(child);
});

afterAll(async () => {
  await ns?.remove();
  if (t) await rm(t.root, { recursive: true, force: true });
});

describe('pp-iptables as a process', () => {
  it('--dry-run prints the plan and changes nothing; --once exits 0 when converged and 1 on a bad port spec', async () => {
    await setIntent({ web: [8080], api: [9090] });
    const dry = await runAgentProcess([...baseArgs(), '--dry-run']);
    expect(dry.code).toBe(0);
    // The whole-chain write is one node-wide action: listed once, under the node's heading, with the apps it serves.
    expect(dry.stdout).toBe(`node ${NODE}:\n  replace ipv4 chain PLATYPUS with 2 rule(s) (for api, web)\n`);
    expect(await ours()).toEqual([]);
    expect((await runAgentProcess([...baseArgs(), '--once'])).code).toBe(0);
    expect(await ours()).toEqual([rule('api', 9090), rule('web', 8080)]);
    await t.setApp('clash', [9090]);
    const clash = await runAgentProcess([...baseArgs(), '--once']);
    expect(clash.code).toBe(1);
    expect(await t.reality('clash')).toMatchObject({ status: 'failed', error: expect.stringContaining('port 9090/tcp') });
    await t.removeApp('clash');
  });

  it('reports an unreadable firewall as a failure of every app and keeps the chain as it is', async () => {
    const before = await ours();
    const broken = await runAgentProcess([...baseArgs(), '--once', '--iptables-save', '/nonexistent/iptables-save']);
    expect(broken.code).toBe(1);
    expect(await t.reality('web')).toMatchObject({ status: 'failed', error: expect.stringContaining('cannot read the ipv4 filter table') });
    expect(await ours()).toEqual(before);
    expect((await runAgentProcess([...baseArgs(), '--once'])).code).toBe(0);
    expect(await t.reality('web')).toMatchObject({ status: 'converged' });
  });

  it('rejects a built-in chain name as a usage error', async () => {
    const bad = await runAgentProcess([...baseArgs(), '--once', '--chain', 'INPUT']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--chain "INPUT": must not be a built-in chain or target name');
  });

  it("refuses --chain naming the host's own chain (an SSH accept in it): every app failed, the firewall unchanged", async () => {
    const before = await ns.sh('iptables-save');
    const run = await runAgentProcess([...baseArgs(), '--once', '--chain', 'FOREIGN']);
    expect(run.code).toBe(1);
    for (const app of ['api', 'web']) {
      expect(await t.reality(app)).toMatchObject({
        status: 'failed',
        error: expect.stringContaining(
          'chain FOREIGN (ipv4) holds 2 rule(s) not written by pp-iptables, e.g. -A FOREIGN -p tcp -m tcp --dport 22 -j ACCEPT',
        ),
      });
    }
    expect(foreignLines(await ns.sh('iptables-save'), 'NO-SUCH-CHAIN')).toEqual(foreignLines(before, 'NO-SUCH-CHAIN'));
    expect((await runAgentProcess([...baseArgs(), '--once'])).code).toBe(0);
  });

  it('killed between the IPv4 and the IPv6 transaction, converges both on restart', async () => {
    const started = join(t.root, 'restore6-started');
    const slow = join(t.root, 'slow-ip6tables-restore');
    await writeFile(slow, `#!/bin/sh\ntouch ${started}\nsleep 30\nexec ip6tables-restore "$@"\n`);
    await chmod(slow, 0o755);
    expect((await runAgentProcess([...baseArgs(), '--ipv6', '--once'])).code).toBe(0);
    expect(await ours('ip6tables-save')).toEqual([rule('api', 9090), rule('web', 8080)]);
    await setIntent({ web: [8081] });
    const child = startAgent([...baseArgs(), '--ipv6', '--ip6tables-restore', slow]);
    running.push(child);
    await waitForFile(started);
    await killGroup(child);
    expect(await ours()).toEqual([rule('api', 9090), rule('web', 8081)]);
    expect(await ours('ip6tables-save')).toEqual([rule('api', 9090), rule('web', 8080)]);
    const restart = await runAgentProcess([...baseArgs(), '--ipv6', '--once']);
    expect(restart.code).toBe(0);
    expect(await ours()).toEqual([rule('api', 9090), rule('web', 8081)]);
    expect(await ours('ip6tables-save')).toEqual([rule('api', 9090), rule('web', 8081)]);
    expect(jumpCount(await ns.sh('ip6tables-save'))).toBe(1);
    expect(foreignLines(await ns.sh('ip6tables-save'))).toEqual(foreign6);
  });

  it('SIGKILLed at random instants while the intent changes, never leaves a half-written chain and converges on restart', async () => {
    const variants: Record<string, PortArg[]>[] = [
      { web: [8080, 8443], api: [9090] },
      { web: [8080], api: [9091, [53, 'udp']], db: [5432] },
      { web: [80], db: [5433] },
    ];
    const expected = (v: Record<string, PortArg[]>) =>
      Object.keys(v)
        .sort()
        .flatMap((app) =>
          v[app]!.map((p) => (typeof p === 'number' ? ([p, 'tcp'] as const) : p))
            .sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]))
            .map(([port, proto]) => rule(app, port, proto)),
        );
    const random = seededRandom('iptables SIGKILL rounds');
    let previous = await ours();
    for (let round = 0; round < 6; round += 1) {
      const v = variants[round % variants.length]!;
      for (const app of ['web', 'api', 'db']) if (!(app in v)) await t.removeApp(app);
      await setIntent(v);
      const child = startAgent([...baseArgs(), '--ipv6']);
      running.push(child);
      const delay = random.int(700);
      await sleep(delay);
      await killGroup(child);
      const now = await ours();
      expect([previous, expected(v)], `round ${round}, killed after ${delay} ms; ${random.replay}`).toContainEqual(now);
      previous = now;
      expect(foreignLines(await ns.sh('iptables-save'))).toEqual(foreign4);
    }
    const final = variants[5 % variants.length]!;
    expect((await runAgentProcess([...baseArgs(), '--ipv6', '--once'])).code).toBe(0);
    expect(await ours()).toEqual(expected(final));
    expect(await ours('ip6tables-save')).toEqual(expected(final));
    expect(jumpCount(await ns.sh('iptables-save'))).toBe(1);
    expect(foreignLines(await ns.sh('iptables-save'))).toEqual(foreign4);
    expect(foreignLines(await ns.sh('ip6tables-save'))).toEqual(foreign6);
  });

  it('as a daemon follows intent changes without restarting', async () => {
    const child = startAgent([...baseArgs(), '--resync-seconds', '600']);
    running.push(child);
    const until = async (wanted: (lines: string[]) => boolean) => {
      while (!wanted(await ours())) await sleep(50);
    };
    await t.setApp('web', [8090]);
    await until((lines) => lines.includes(rule('web', 8090)));
    await t.removeApp('db');
    await until((lines) => !lines.some((l) => l.includes('platypus:db')));
    expect(await ours()).toEqual([rule('web', 8090)]);
    expect(child.exitCode).toBeNull();
    expect(foreignLines(await ns.sh('iptables-save'))).toEqual(foreign4);
  });
});
