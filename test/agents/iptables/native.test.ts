import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNativeAgent } from '../../../agents/iptables/agent.js';
import { syncChain } from '../../../agents/iptables/apply.js';
import type { Family } from '../../../agents/iptables/plan.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { chainLines, createNetns, FOREIGN_SETUP, foreignLines, jumpCount, rule, type TestNetns } from './netns.js';
import { NODE, PREFIX, testStore } from './support.js';

let ns: TestNetns;
let t: Awaited<ReturnType<typeof testStore>>;
let foreign4: string[];
let foreign6: string[];

const save = (cmd = 'iptables-save') => ns.sh(cmd);
const ours = async (chain = 'PLATYPUS', cmd = 'iptables-save') => chainLines(await save(cmd), chain);

function agentFor(chain = 'PLATYPUS', families: Family[] = ['ipv4'], backend = '') {
  return createNativeAgent({
    chain,
    families,
    save: { ipv4: `iptables${backend}-save`, ipv6: `ip6tables${backend}-save` },
    restore: { ipv4: `iptables${backend}-restore`, ipv6: `ip6tables${backend}-restore` },
    prefix: ns.prefix,
  });
}

async function converge(chain?: string, families?: Family[], backend?: string) {
  return (await runAgent(agentFor(chain, families, backend), {
    store: t.store,
    prefix: PREFIX,
    node: NODE,
    log: silentLogger(),
    once: true,
  }))!;
}

async function expectForeignIntact(chain = 'PLATYPUS') {
  expect(foreignLines(await save(), chain)).toEqual(foreign4);
  expect(foreignLines(await save('ip6tables-save'), chain)).toEqual(foreign6);
}

/** Packets counted by our rule for tcp `port` (iptables-save -c keeps counters; a rewrite would zero them). */
async function packetsOn(port: number): Promise<number> {
  const line = (await ns.sh('iptables-save -c -t filter'))
    .split('\n')
    .find((l) => l.includes(`-A PLATYPUS -p tcp -m tcp --dport ${port} `));
  return Number(/^\[(\d+):/.exec(line ?? '')?.[1] ?? -1);
}

beforeAll(async () => {
  ns = await createNetns();
  t = await testStore();
  await ns.sh(FOREIGN_SETUP);
  foreign4 = foreignLines(await save());
  foreign6 = foreignLines(await save('ip6tables-save'));
});

afterAll(async () => {
  await ns?.remove();
  if (t) await rm(t.root, { recursive: true, force: true });
});

describe('pp-iptables native mode against real iptables in a network namespace', () => {
  it('creates our chain with one rule per intended port and one jump at the top of INPUT, touching nothing else', async () => {
    await t.setApp('web', [8080, [53, 'udp']]);
    await t.setApp('api', [9090]);
    const result = await converge();
    expect(result.changed).toBeGreaterThan(0);
    expect(await ours()).toEqual([rule('api', 9090), rule('web', 53, 'udp'), rule('web', 8080)]);
    const filter = await save();
    expect(jumpCount(filter)).toBe(1);
    expect(filter.split('\n').find((l) => l.startsWith('-A INPUT '))).toBe('-A INPUT -j PLATYPUS');
    await expectForeignIntact();
    expect(await t.reality('web')).toMatchObject({ status: 'converged', details: { open: ['53/udp', '8080/tcp'] } });
    expect(await t.reality('api')).toMatchObject({ status: 'converged', details: { open: ['9090/tcp'] } });
  });

  it('leaves an unchanged chain alone: no action, rule counters keep counting', async () => {
    await ns.sh("bash -c 'for i in 1 2 3; do echo > /dev/tcp/127.0.0.1/8080; done' 2>/dev/null || true");
    const before = await packetsOn(8080);
    expect(before).toBeGreaterThan(0);
    const result = await converge();
    expect(result.changed).toBe(0);
    expect(await packetsOn(8080)).toBe(before);
  });

  it('follows changed ports, adds a new app and removes the rules and reality of a removed app', async () => {
    await t.setApp('web', [8443, 8080]);
    await t.setApp('db+x', [5432]);
    await t.removeApp('api');
    await converge();
    expect(await ours()).toEqual([rule('db+x', 5432), rule('web', 8080), rule('web', 8443)]);
    expect(jumpCount(await save())).toBe(1);
    await expectForeignIntact();
    expect(await t.reality('api')).toBeUndefined();
    expect(await t.reality('db+x')).toMatchObject({ status: 'converged', details: { open: ['5432/tcp'] } });
  });

  it('keeps the rules of an app whose intent became invalid while the other apps converge', async () => {
    await t.setRaw('web', '{"schema":1,"basedir":"/srv/web","ports":[{"port":70000}]}');
    await t.setApp('db+x', [5433]);
    await t.setApp('thief', [8443, 7000]);
    const result = await converge();
    expect(await ours()).toEqual([rule('db+x', 5433), rule('web', 8080), rule('web', 8443)]);
    expect(await t.reality('web')).toMatchObject({ status: 'failed', error: expect.stringContaining('ports[0].port') });
    expect(await t.reality('thief')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('port 8443/tcp is also intended for (or held by) app web'),
    });
    expect(result.outcomes.find((o) => o.app === 'db+x')?.status).toBe('converged');
    await t.removeApp('thief');
    await expectForeignIntact();
  });

  it('gives a port intended for two apps to the app holding it, reports the other, and converges the rest', async () => {
    await t.setApp('web', [8080, 8443]);
    await t.setApp('aaa', [8080, 7000]);
    await t.setApp('cache', [6379]);
    await converge();
    expect(await ours()).toEqual([rule('cache', 6379), rule('db+x', 5433), rule('web', 8080), rule('web', 8443)]);
    const aaa = await t.reality('aaa');
    expect(aaa?.status).toBe('failed');
    expect(aaa?.error).toContain('port 8080/tcp is also intended for (or held by) app web, which keeps it');
    expect(await t.reality('web')).toMatchObject({ status: 'converged' });
    await t.removeApp('aaa');
    await converge();
    expect(await t.reality('aaa')).toBeUndefined();
  });

  it('repairs a deleted jump, then duplicated jumps and a stray rule with our tag in our chain', async () => {
    await ns.sh('iptables -D INPUT -j PLATYPUS');
    await converge();
    expect(jumpCount(await save())).toBe(1);
    await ns.sh(
      'iptables -A INPUT -j PLATYPUS && iptables -A INPUT -j PLATYPUS && iptables -I PLATYPUS 2 -p tcp --dport 1 -m comment --comment platypus:web -j DROP',
    );
    expect(jumpCount(await save())).toBe(3);
    await converge();
    expect(jumpCount(await save())).toBe(1);
    expect(await ours()).toEqual([rule('cache', 6379), rule('db+x', 5433), rule('web', 8080), rule('web', 8443)]);
    await expectForeignIntact();
  });

  it('removes nothing while the node intent is empty and not drained, and everything once drained', async () => {
    for (const app of ['web', 'cache', 'db+x']) await t.removeApp(app);
    const untrusted = await converge();
    expect(untrusted.changed).toBe(0);
    expect(await ours()).toHaveLength(4);
    await t.drain();
    await converge();
    expect(await ours()).toEqual([]);
    expect(jumpCount(await save())).toBe(1);
    for (const app of ['web', 'cache', 'db+x']) expect(await t.reality(app)).toBeUndefined();
    await expectForeignIntact();
    await t.undrain();
  });

  it('with IPv6 and another chain name converges both families without touching the first chain', async () => {
    await t.setApp('web', [8080]);
    await t.setApp('dns', [
      [53, 'udp'],
      [53, 'tcp'],
    ]);
    await converge('PP6', ['ipv4', 'ipv6']);
    const expected = [rule('dns', 53, 'tcp', 'PP6'), rule('dns', 53, 'udp', 'PP6'), rule('web', 8080, 'tcp', 'PP6')];
    expect(await ours('PP6')).toEqual(expected);
    expect(await ours('PP6', 'ip6tables-save')).toEqual(expected);
    expect(jumpCount(await save('ip6tables-save'), 'PP6')).toBe(1);
    expect(await ours('PLATYPUS')).toEqual([]);
    expect(foreignLines(await save('ip6tables-save'), 'PP6')).toEqual(foreign6);
    expect(await t.reality('dns')).toMatchObject({ details: { open: ['53/tcp', '53/udp'], open6: ['53/tcp', '53/udp'] } });
  });

  it('refuses a --chain holding a rule that is not ours, failing every app and changing nothing; takes an empty one', async () => {
    await ns.sh('iptables -N INPUT2 && iptables -A INPUT2 -p tcp --dport 22 -j ACCEPT && iptables -A INPUT -j INPUT2');
    // Our tag on one rule does not make the others ours.
    await ns.sh(
      'iptables -A PLATYPUS -p tcp --dport 2222 -m comment --comment "admin ssh" -j ACCEPT && iptables -A PLATYPUS -p tcp --dport 8080 -m comment --comment platypus:web -j ACCEPT',
    );
    const everything = foreignLines(await save(), 'NO-SUCH-CHAIN');
    for (const chain of ['INPUT2', 'PLATYPUS']) {
      const result = await converge(chain);
      expect(result.changed).toBe(0);
      expect(result.outcomes.map((o) => o.status)).toEqual(['failed', 'failed']);
      for (const app of ['dns', 'web']) {
        const error = (await t.reality(app))?.error;
        expect(error).toContain(`chain ${chain} (ipv4) holds 1 rule(s) not written by pp-iptables`);
        expect(error).toContain(chain === 'INPUT2' ? '-A INPUT2 -p tcp -m tcp --dport 22 -j ACCEPT' : '--dport 2222');
      }
      expect(foreignLines(await save(), 'NO-SUCH-CHAIN')).toEqual(everything);
    }
    // The same check right before the restore, for a rule added after the plan was made.
    const sync = { kind: 'sync-chain' as const, family: 'ipv4' as const, chain: 'INPUT2', lines: [rule('web', 8080, 'tcp', 'INPUT2')] };
    await expect(
      syncChain(
        {
          chain: 'INPUT2',
          families: ['ipv4'],
          save: { ipv4: 'iptables-save', ipv6: '' },
          restore: { ipv4: 'iptables-restore', ipv6: '' },
          prefix: ns.prefix,
        },
        sync,
        silentLogger(),
      ),
    ).rejects.toThrow('chain INPUT2 (ipv4) holds 1 rule(s) not written by pp-iptables');
    expect(foreignLines(await save(), 'NO-SUCH-CHAIN')).toEqual(everything);
    await ns.sh('iptables -F PLATYPUS && iptables -N EMPTY');
    await converge('EMPTY');
    expect(await ours('EMPTY')).toEqual([
      rule('dns', 53, 'tcp', 'EMPTY'),
      rule('dns', 53, 'udp', 'EMPTY'),
      rule('web', 8080, 'tcp', 'EMPTY'),
    ]);
    expect(chainLines(await save(), 'INPUT2')).toEqual(['-A INPUT2 -p tcp -m tcp --dport 22 -j ACCEPT']);
    expect(await t.reality('web')).toMatchObject({ status: 'converged' });
  });

  it('reads back the legacy (xtables) backend in the same canonical form, so a second pass is a no-op there too', async () => {
    await ns.sh('iptables-legacy -N LEGACY_FOREIGN && iptables-legacy -A INPUT -m comment --comment legacy -j LEGACY_FOREIGN');
    const legacyForeign = foreignLines(await save('iptables-legacy-save'), 'PPLEG');
    expect((await converge('PPLEG', ['ipv4'], '-legacy')).changed).toBeGreaterThan(0);
    expect(await ours('PPLEG', 'iptables-legacy-save')).toEqual([
      rule('dns', 53, 'tcp', 'PPLEG'),
      rule('dns', 53, 'udp', 'PPLEG'),
      rule('web', 8080, 'tcp', 'PPLEG'),
    ]);
    expect(jumpCount(await save('iptables-legacy-save'), 'PPLEG')).toBe(1);
    expect(foreignLines(await save('iptables-legacy-save'), 'PPLEG')).toEqual(legacyForeign);
    expect((await converge('PPLEG', ['ipv4'], '-legacy')).changed).toBe(0);
  });
});
