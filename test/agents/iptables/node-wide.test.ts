import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNativeAgent } from '../../../agents/iptables/agent.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { chainLines, createNetns, jumpCount, rule, type TestNetns } from './netns.js';
import { NODE, PREFIX, testStore } from './support.js';

let ns: TestNetns;
let t: Awaited<ReturnType<typeof testStore>>;
let restore: string;
const transactions = () => join(t.root, 'transactions');
const failFlag = () => join(t.root, 'fail');

/** Every iptables-restore transaction run so far, as the rule lines it was given. */
async function written(): Promise<string[][]> {
  const text = await readFile(transactions(), 'utf8').catch(() => '');
  return text
    .split('COMMIT\n')
    .filter((block) => block.trim() !== '')
    .map((block) => block.split('\n').filter((l) => l.startsWith('-A PLATYPUS ')));
}

async function converge() {
  const agent = createNativeAgent({
    chain: 'PLATYPUS',
    families: ['ipv4'],
    save: { ipv4: 'iptables-save', ipv6: 'ip6tables-save' },
    restore: { ipv4: restore, ipv6: 'ip6tables-restore' },
    prefix: ns.prefix,
  });
  return (await runAgent(agent, { store: t.store, prefix: PREFIX, node: NODE, log: silentLogger(), once: true }))!;
}

beforeAll(async () => {
  ns = await createNetns();
  t = await testStore();
  // The real iptables-restore, behind a script that keeps each transaction it is given (and fails on demand).
  restore = join(t.root, 'logging-iptables-restore');
  await writeFile(
    restore,
    [
      '#!/bin/sh',
      'input=$(cat)',
      `printf '%s\\n' "$input" >> ${transactions()}`,
      `if [ -e ${failFlag()} ]; then echo "iptables-restore: injected failure" >&2; exit 1; fi`,
      'printf \'%s\\n\' "$input" | exec iptables-restore "$@"',
      '',
    ].join('\n'),
  );
  await chmod(restore, 0o755);
});

afterAll(async () => {
  await ns?.remove();
  if (t) await rm(t.root, { recursive: true, force: true });
});

describe('pp-iptables native mode: the whole-chain write is one node-wide action', () => {
  const apps = ['a', 'b', 'c', 'd', 'e'];

  it('writes the chain once per pass for several apps, and reports it in every app’s reality', async () => {
    for (const [i, app] of apps.entries()) await t.setApp(app, [8000 + i]);
    const first = await converge();
    expect(first.changed).toBe(1);
    const all = apps.map((app, i) => rule(app, 8000 + i));
    expect(await written()).toEqual([all]);
    expect(chainLines(await ns.sh('iptables-save -t filter'))).toEqual(all);
    expect(jumpCount(await ns.sh('iptables-save -t filter'))).toBe(1);
    for (const [i, app] of apps.entries())
      expect(await t.reality(app)).toMatchObject({ status: 'converged', details: { open: [`${8000 + i}/tcp`] } });
    // Three apps change: still one transaction, holding every app's rules.
    for (const app of ['a', 'b', 'c']) await t.setApp(app, [9000 + apps.indexOf(app)]);
    expect((await converge()).changed).toBe(1);
    const next = [rule('a', 9000), rule('b', 9001), rule('c', 9002), rule('d', 8003), rule('e', 8004)];
    expect(await written()).toEqual([all, next]);
    expect(chainLines(await ns.sh('iptables-save -t filter'))).toEqual(next);
    // Nothing to change: no transaction at all.
    expect((await converge()).changed).toBe(0);
    expect(await written()).toHaveLength(2);
  });

  it('reports a failed write on the apps it serves, with the reason, and not on the apps whose rules it leaves alone', async () => {
    const before = chainLines(await ns.sh('iptables-save -t filter'));
    await writeFile(failFlag(), '');
    for (const app of ['a', 'b', 'c']) await t.setApp(app, [7000 + apps.indexOf(app)]);
    const failed = await converge();
    expect(failed.changed).toBe(0);
    expect(await written()).toHaveLength(3);
    for (const app of ['a', 'b', 'c'])
      expect(await t.reality(app)).toMatchObject({
        status: 'failed',
        error: expect.stringContaining('iptables-restore: injected failure'),
      });
    for (const app of ['d', 'e']) expect(await t.reality(app)).toMatchObject({ status: 'converged' });
    expect(chainLines(await ns.sh('iptables-save -t filter'))).toEqual(before);
    await rm(failFlag());
    await converge();
    expect(await written()).toHaveLength(4);
    for (const app of apps) expect(await t.reality(app)).toMatchObject({ status: 'converged' });
    expect(chainLines(await ns.sh('iptables-save -t filter'))).toEqual([
      rule('a', 7000),
      rule('b', 7001),
      rule('c', 7002),
      rule('d', 8003),
      rule('e', 8004),
    ]);
  });
});
