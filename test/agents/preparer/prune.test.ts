import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPreparerAgent } from '../../../agents/preparer/agent.js';
import { putIntent as signedPut, removeIntent } from '../../../pp/intent-commands.js';
import { executeAgent } from '../../../shared/cli/agent-cli.js';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { exitCodeOf, runAgent } from '../../../shared/loop/run-agent.js';
import { SIGN_NAMESPACE } from '../../../shared/trust/envelope.js';
import { TrustGate } from '../../../shared/trust/gate.js';
import { onceOptions } from '../../support/intent-fixtures.js';
import { makeSshKey } from '../../support/ssh-keys.js';
import {
  FolderStore,
  listInstalls,
  makeArtifact,
  NODE,
  PREFIX,
  preparerState,
  putIntent,
  reality,
  runOnce,
  tempDir,
  testOptions,
  version,
} from './support.js';

let dir: string;
let url: string;
let digest: string;

beforeAll(async () => {
  dir = await tempDir('prune');
  const artifact = await makeArtifact(dir, 'app', { 'bin/run': 'run\n' });
  url = pathToFileURL(artifact.path).href;
  digest = artifact.sha256;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const versions = (...vs: string[]) => vs.map((v, i) => version(v, url, digest, i === vs.length - 1 ? 'live' : 'prepared'));
const dirsIn = async (base: string) => (await listInstalls(base)).filter((n) => !n.startsWith('.'));

describe('pp-preparer pruning', () => {
  it('keeps the installs intent names, the ones current and last point to and the newest --keep others; removes the rest with their records', async () => {
    const store = new FolderStore(join(dir, 's1'));
    const base = join(dir, 'b1');
    for (const v of ['1', '2', '3', '4', '5']) {
      await putIntent(store, 'web', base, versions(...['1', '2', '3', '4', '5'].filter((x) => x <= v)));
      expect(exitCodeOf(await runOnce(store))).toBe(0); // one install per pass, so install times are in version order
    }
    await symlink('installs/web_1', join(base, 'current'));
    await writeFile(join(base, 'installs', '.pp-install-web_9.json'), '{"sha256":"x"}'); // a record whose folder is gone
    await putIntent(store, 'web', base, versions('5'));

    expect(exitCodeOf(await runOnce(store, { keep: 2 }))).toBe(0);
    expect(await listInstalls(base)).toEqual([
      '.pp-install-web_1.json',
      '.pp-install-web_3.json',
      '.pp-install-web_4.json',
      '.pp-install-web_5.json',
      'web_1',
      'web_3',
      'web_4',
      'web_5',
    ]);
    expect(await reality(store, 'web')).toMatchObject({
      status: 'converged',
      version: '5',
      details: { present: ['5'], current: 'web_1', kept: ['web_1', 'web_3', 'web_4'] },
    });

    await symlink('installs/web_3', join(base, 'last')); // setlive's rollback target is never pruned either
    expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0);
    expect(await dirsIn(base)).toEqual(['web_1', 'web_3', 'web_5']);
  });

  it('removes nothing when the node intent is empty and not drained (it may be a store fault)', async () => {
    const store = new FolderStore(join(dir, 's2'));
    const base = join(dir, 'b2');
    await putIntent(store, 'web', base, versions('1', '2'));
    const agent = createPreparerAgent(testOptions({ keep: 0 }));
    const run = () => runAgent(agent, { store, prefix: PREFIX, node: NODE, log: silentLogger(), once: true });
    expect(exitCodeOf(await run())).toBe(0);
    await store.delete(appIntentKey(PREFIX, NODE, 'web'));
    await run();
    expect(await dirsIn(base)).toEqual(['web_1', 'web_2']);
  });

  it('prunes an app removed from intent down to current and --keep, then drops its reality; other apps are untouched', async () => {
    const store = new FolderStore(join(dir, 's3'));
    const base = join(dir, 'b3');
    const webBase = join(dir, 'b3-web');
    await putIntent(store, 'web', webBase, versions('1'));
    const agent = createPreparerAgent(testOptions({ keep: 1 }));
    const run = () => runAgent(agent, { store, prefix: PREFIX, node: NODE, log: silentLogger(), once: true });
    for (const v of ['1', '2', '3']) {
      await putIntent(store, 'api', base, versions(...['1', '2', '3'].filter((x) => x <= v)));
      expect(exitCodeOf(await run())).toBe(0);
    }
    expect(await reality(store, 'api')).toBeDefined();
    await store.delete(appIntentKey(PREFIX, NODE, 'api'));
    expect(exitCodeOf(await run())).toBe(0);
    expect(await dirsIn(base)).toEqual(['api_3']);
    expect(await dirsIn(webBase)).toEqual(['web_1']);
    expect(await reality(store, 'api')).toBeUndefined();
    expect(await readdir(join(base, 'installs'))).not.toContain('.pp-install-api_1.json');
  });

  it('prunes an app removed from intent while the agent was down: the restarted agent finds its basedir in its state file', async () => {
    const store = new FolderStore(join(dir, 's4'));
    const base = join(dir, 'b4');
    const apiBase = join(dir, 'b4-api');
    await putIntent(store, 'web', base, versions('1'));
    for (const v of ['1', '2', '3']) {
      await putIntent(store, 'api', apiBase, versions(...['1', '2', '3'].filter((x) => x <= v)));
      expect(exitCodeOf(await runOnce(store, { keep: 1 }))).toBe(0); // a fresh agent each time: every run is a restart
    }
    expect(await reality(store, 'api')).toMatchObject({ details: { basedir: apiBase } });
    await store.delete(appIntentKey(PREFIX, NODE, 'api'));
    let printed = '';
    await executeAgent(
      createPreparerAgent(testOptions({ keep: 1 })),
      store,
      silentLogger(),
      onceOptions({
        prefix: PREFIX,
        node: NODE,
        once: false,
        dryRun: true,
        state: preparerState(store),
        out: (t) => {
          printed += t;
        },
      }),
    );
    expect(printed).toContain(`prune ${apiBase}/installs/api_1`); // pp plan preparer shows it, and changes nothing
    expect(await dirsIn(apiBase)).toEqual(['api_1', 'api_2', 'api_3']);
    expect(exitCodeOf(await runOnce(store, { keep: 1 }))).toBe(0);
    expect(await dirsIn(apiBase)).toEqual(['api_3']);
    expect(await dirsIn(base)).toEqual(['web_1']);
    expect(await reality(store, 'api')).toBeUndefined();
  });

  it('deletes nothing a forged reality record points at: what drives a prune comes from its own state, never from the store', async () => {
    const store = new FolderStore(join(dir, 's5'));
    const base = join(dir, 'b5');
    const victim = join(dir, 'b5-victim');
    const former = join(dir, 'b5-former');
    await putIntent(store, 'web', base, versions('1'));
    expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0);
    for (const [folder, name] of [
      [victim, 'ghost_1'],
      [former, 'web_7'],
    ] as const)
      await mkdir(join(folder, 'installs', name), { recursive: true });
    // Anyone who can write reality writes a record for an app this node never had, and a former basedir for web.
    const forged = (app: string, details: Record<string, unknown>) =>
      store.put(
        realityKey(PREFIX, NODE, 'preparer', app),
        JSON.stringify({ agent: 'preparer', app, status: 'converged', attempts: 0, at: new Date().toISOString(), details }),
      );
    await forged('ghost', { basedir: victim });
    await forged('web', { basedir: base, formerBasedirs: [former] });
    expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0);
    expect(await dirsIn(victim)).toEqual(['ghost_1']);
    expect(await dirsIn(former)).toEqual(['web_7']);
    expect(await dirsIn(base)).toEqual(['web_1']);
  });

  it('reports a removed app whose installs cannot be read without failing, and drops it once its basedir is gone', async () => {
    const store = new FolderStore(join(dir, 's6'));
    const apiBase = join(dir, 'b6-api');
    await putIntent(store, 'web', join(dir, 'b6'), versions('1'));
    await putIntent(store, 'api', apiBase, versions('1', '2'));
    expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0);
    await store.delete(appIntentKey(PREFIX, NODE, 'api'));
    // installs/ that cannot be listed (as root, a file in its place stands in for a folder it may not read)
    await rm(join(apiBase, 'installs'), { recursive: true });
    await writeFile(join(apiBase, 'installs'), 'not a folder');
    for (let run = 0; run < 2; run++) {
      expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0);
      expect(await reality(store, 'api')).toMatchObject({
        status: 'converged',
        reason: expect.stringContaining(`installs not pruned: cannot read ${apiBase}/installs`),
        details: { basedir: apiBase },
      });
    }
    await rm(apiBase, { recursive: true });
    expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0);
    expect(await reality(store, 'api')).toBeUndefined();
  });

  it('with --trusted-signers, a signed removal after a refused intent prunes what the accepted intent installed, across restarts', async () => {
    const store = new FolderStore(join(dir, 's8'));
    const base = join(dir, 'b8');
    const alice = makeSshKey(dir, 'alice-s8');
    const signers = join(dir, 'allowed_signers-s8');
    await writeFile(signers, `alice@example namespaces="${SIGN_NAMESPACE}" ${alice.publicKey}\n`);
    const sign = { keyPath: alice.path };
    const trustedRun = () =>
      runAgent(createPreparerAgent(testOptions({ keep: 0 })), {
        store,
        prefix: PREFIX,
        node: NODE,
        log: silentLogger(),
        once: true,
        state: preparerState(store),
        trust: TrustGate.fromFile(signers),
      });
    const spec = (...vs: string[]) =>
      JSON.stringify({ schema: 1, basedir: base, versions: versions(...vs), service: { command: ['bin/run'] } });
    await signedPut(store, PREFIX, NODE, 'web', spec('1', '2'), sign);
    expect(exitCodeOf(await trustedRun())).toBe(0);
    expect(await dirsIn(base)).toEqual(['web_1', 'web_2']);
    // An unsigned value over it is refused, and the record it leaves in reality no longer names the basedir.
    await store.put(appIntentKey(PREFIX, NODE, 'web'), spec('3'));
    expect(exitCodeOf(await trustedRun())).toBe(1);
    expect(await reality(store, 'web')).toMatchObject({ status: 'failed', error: expect.stringMatching(/not signed/) });
    expect(await dirsIn(base)).toEqual(['web_1', 'web_2']);
    await removeIntent(store, PREFIX, NODE, 'web', sign);
    expect(exitCodeOf(await trustedRun())).toBe(0);
    expect(await dirsIn(base)).toEqual([]);
    expect(await reality(store, 'web')).toMatchObject({ status: 'converged', reason: expect.stringMatching(/removed by a signed order/) });
  });

  it('prunes what an app left in its former basedir when intent moves it, even across restarts, and reports what stays', async () => {
    const store = new FolderStore(join(dir, 's7'));
    const oldBase = join(dir, 'b7-old');
    const newBase = join(dir, 'b7-new');
    await putIntent(store, 'web', oldBase, versions('1', '2'));
    expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0);
    // A link as setlive leaves it: the version running from the old basedir is kept until nothing points at it.
    await symlink(join(oldBase, 'installs', 'web_2'), join(oldBase, 'current'));
    await putIntent(store, 'web', newBase, versions('3'));
    expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0); // a fresh agent: it knows the old basedir from its state file
    expect(await dirsIn(newBase)).toEqual(['web_3']);
    expect(await dirsIn(oldBase)).toEqual(['web_2']);
    // What it remembers is reported in memory, and in details where readers of the release before look.
    expect(await reality(store, 'web')).toMatchObject({
      status: 'converged',
      reason: expect.stringContaining(`installs left in a former basedir: ${oldBase} (web_2)`),
      details: { basedir: newBase, formerBasedirs: [oldBase] },
      memory: { basedir: newBase, formerBasedirs: [oldBase] },
    });
    await rm(join(oldBase, 'current'));
    expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0);
    expect(await dirsIn(oldBase)).toEqual([]);
    expect(exitCodeOf(await runOnce(store, { keep: 0 }))).toBe(0);
    const settled = await reality(store, 'web');
    expect(settled).toMatchObject({ status: 'converged', details: { basedir: newBase }, memory: { basedir: newBase } });
    expect(settled?.reason).toBeUndefined();
    expect(settled?.details).not.toHaveProperty('formerBasedirs');
    expect(settled?.memory).not.toHaveProperty('formerBasedirs');
  });
});
