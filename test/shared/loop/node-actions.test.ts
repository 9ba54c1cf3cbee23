import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { access, appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { executeAgent } from '../../../shared/cli/agent-cli.js';
import { appIntentKey, drainedKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { type Agent, type AppPlan, type NodeAction, TerminalError } from '../../../shared/loop/types.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { appIntent, daemonOptions, eventually, onceOptions } from '../../support/intent-fixtures.js';

/** A node-wide action (the manifest every listed app has a line in) and per-app ones (each app's own file). */
type ManifestAction = { kind: 'write'; app: string; version: string } | { kind: 'manifest'; lines: string[] };
type Seen = { files: Map<string, string>; manifest: string[] };

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * A throw-away agent: each intended app's live version in `apps/<app>`, and one `manifest` holding `app=version`
 * for the apps of `listed`, written whole by one node-wide action. Every apply appends what it did to `history`;
 * the manifest write fails while `fail` exists (terminally while `terminal` does), says "not yet" while `locked`
 * does, and an app's own write fails for `failApps`. The plan makes no safety
 * call: the manifest write drops the lines of apps no longer intended, and only the loop's admission guards that.
 */
function manifestAgent(dir: string, order: 'before' | 'after', failApps = new Set<string>()): Agent<Seen, ManifestAction> {
  const listed = new Set(['a', 'b', 'c']);
  return {
    name: 'pp-manifest',
    nodeOrder: order,
    async observe() {
      const names = await readdir(join(dir, 'apps')).catch(() => [] as string[]);
      const files = new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, 'apps', n), 'utf8')] as const)));
      const manifest = (await readFile(join(dir, 'manifest'), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
      return { files, manifest };
    },
    plan(intent, seen) {
      const apps: AppPlan<ManifestAction>[] = [];
      const wanted: string[] = [];
      for (const [app, spec] of [...intent.apps].sort(([x], [y]) => (x < y ? -1 : 1))) {
        const version = spec.versions.find((v) => v.state === 'live')!.version;
        apps.push({ app, version, actions: seen.files.get(app) === version ? [] : [{ kind: 'write', app, version }] });
        if (listed.has(app)) wanted.push(`${app}=${version}`);
      }
      const appOf = (line: string) => line.split('=')[0]!;
      const served = [
        ...new Set([...wanted, ...seen.manifest].filter((l) => !wanted.includes(l) || !seen.manifest.includes(l)).map(appOf)),
      ];
      const node: NodeAction<ManifestAction>[] =
        served.length > 0 ? [{ action: { kind: 'manifest', lines: wanted }, apps: served.sort() }] : [];
      return { apps, node };
    },
    removals: ['manifest'],
    async apply(action) {
      if (action.kind === 'manifest') {
        if (await exists(join(dir, 'fail'))) throw new Error('cannot write the manifest: injected failure');
        if (await exists(join(dir, 'terminal'))) throw new TerminalError('the manifest can never be written');
        if (await exists(join(dir, 'locked'))) return { notYet: { reason: 'the manifest is locked', afterMs: 50 } };
        await writeFile(join(dir, 'manifest'), action.lines.map((l) => `${l}\n`).join(''));
        await appendFile(join(dir, 'history'), `manifest ${action.lines.join(' ')}\n`);
        return { changed: true };
      }
      if (failApps.has(action.app)) throw new Error(`cannot write ${action.app}: injected failure`);
      await mkdir(join(dir, 'apps'), { recursive: true });
      await writeFile(join(dir, 'apps', action.app), action.version);
      await appendFile(join(dir, 'history'), `write ${action.app}=${action.version}\n`);
      return { changed: true };
    },
    describe: (a) => (a.kind === 'write' ? `write ${a.app}=${a.version}` : `write the manifest of ${a.lines.length} app(s)`),
  };
}

async function node() {
  const root = await mkdtemp(join(tmpdir(), 'pp-node-actions-'));
  const store = new FolderStore(join(root, 'store'));
  const dir = join(root, 'host');
  await mkdir(dir);
  const intend = async (versions: Record<string, string>) => {
    for (const [app, version] of Object.entries(versions))
      await store.put(appIntentKey('p', 'n1', app), JSON.stringify(appIntent(version)));
  };
  const history = async () => (await readFile(join(dir, 'history'), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  const reality = async (app: string) => JSON.parse((await store.get(realityKey('p', 'n1', 'pp-manifest', app))) ?? 'null');
  const run = (agent: Agent<Seen, ManifestAction>, over: Parameters<typeof onceOptions>[0] = {}) =>
    executeAgent(agent, store, silentLogger(), onceOptions(over));
  /** Runs the daemon until `body` is done: passes counted, retries and resyncs quick. */
  const daemon = async (agent: Agent<Seen, ManifestAction>, body: (passes: () => number) => Promise<void>) => {
    let passes = 0;
    const stop = new AbortController();
    const running = runAgent(
      agent,
      daemonOptions(store, {
        signal: stop.signal,
        resyncMs: 200,
        hooks: {
          passDone: () => {
            passes += 1;
          },
        },
      }),
    );
    try {
      await body(() => passes);
    } finally {
      stop.abort();
      await running;
    }
  };
  return { store, dir, intend, history, reality, run, daemon };
}

describe('node-wide actions', () => {
  it('are applied once for the three apps they serve, before those apps’ own actions; a fourth app goes on alone', async () => {
    const n = await node();
    await n.intend({ a: '1', b: '1', c: '1', d: '1' });
    expect(await n.run(manifestAgent(n.dir, 'before'))).toBe(0);
    // The manifest first (d, which it does not serve, takes the slot after it), then a, b and c, planned again.
    expect(await n.history()).toEqual(['manifest a=1 b=1 c=1', 'write d=1', 'write a=1', 'write b=1', 'write c=1']);
    for (const app of ['a', 'b', 'c', 'd']) expect(await n.reality(app)).toMatchObject({ status: 'converged', version: '1' });
    expect(await n.run(manifestAgent(n.dir, 'before'))).toBe(0);
    expect(await n.history()).toHaveLength(5);
  });

  it('report a failure on every app they serve, with the reason, and on no other app', async () => {
    const n = await node();
    await writeFile(join(n.dir, 'fail'), '');
    await n.intend({ a: '1', b: '1', c: '1', d: '1' });
    expect(await n.run(manifestAgent(n.dir, 'before'))).toBe(1);
    for (const app of ['a', 'b', 'c'])
      expect(await n.reality(app)).toMatchObject({ status: 'failed', error: 'cannot write the manifest: injected failure', attempts: 1 });
    expect(await n.reality('d')).toMatchObject({ status: 'converged' });
    // The served apps' own actions wait for the node-wide one they come after.
    expect(await n.history()).toEqual(['write d=1']);
    await rm(join(n.dir, 'fail'));
    expect(await n.run(manifestAgent(n.dir, 'before'))).toBe(0);
    expect(await n.history()).toEqual(['write d=1', 'manifest a=1 b=1 c=1', 'write a=1', 'write b=1', 'write c=1']);
    for (const app of ['a', 'b', 'c']) expect(await n.reality(app)).toMatchObject({ status: 'converged', attempts: 0 });
  });

  it("with nodeOrder 'after', run once the apps' own actions are done; an app whose own action fails holds nothing back", async () => {
    const n = await node();
    await n.intend({ a: '1', b: '1', c: '1', d: '1' });
    expect(await n.run(manifestAgent(n.dir, 'after', new Set(['b'])))).toBe(1);
    expect(await n.history()).toEqual(['write a=1', 'write c=1', 'write d=1', 'manifest a=1 b=1 c=1']);
    expect(await n.reality('b')).toMatchObject({ status: 'failed', error: 'cannot write b: injected failure' });
    for (const app of ['a', 'c', 'd']) expect(await n.reality(app)).toMatchObject({ status: 'converged' });
  });

  it('that fail terminally are not retried, whatever the passes, until the intent of an app they serve changes', async () => {
    const n = await node();
    await writeFile(join(n.dir, 'terminal'), '');
    await n.intend({ a: '1', b: '1', c: '1', d: '1' });
    await n.daemon(manifestAgent(n.dir, 'before'), async (passes) => {
      await eventually(async () => (await n.reality('c'))?.status === 'failed', 30_000, 'the terminal failure reported');
      // Retrying could now succeed; a terminal failure is not retried, however many passes come.
      await rm(join(n.dir, 'terminal'));
      const seen = passes();
      await eventually(() => passes() >= seen + 5, 30_000, 'five more passes');
      for (const app of ['a', 'b', 'c'])
        expect(await n.reality(app)).toMatchObject({ status: 'failed', error: 'the manifest can never be written', attempts: 1 });
      expect(await n.reality('d')).toMatchObject({ status: 'converged' });
      expect(await n.history()).toEqual(['write d=1']);
      await n.intend({ b: '2' });
      await eventually(async () => (await n.reality('a'))?.status === 'converged', 30_000, 'a converged on new intent for b');
      expect(await n.history()).toEqual(['write d=1', 'manifest a=1 b=2 c=1', 'write a=1', 'write b=2', 'write c=1']);
    });
  });

  it('that say "not yet" leave their slot while the apps they serve report why; another app goes on', async () => {
    const n = await node();
    await writeFile(join(n.dir, 'locked'), '');
    await n.intend({ a: '1', b: '1', c: '1', d: '1' });
    await n.daemon(manifestAgent(n.dir, 'before'), async () => {
      await eventually(async () => (await n.reality('d'))?.status === 'converged', 30_000, 'd converged');
      for (const app of ['a', 'b', 'c'])
        await eventually(async () => (await n.reality(app))?.reason === 'the manifest is locked', 30_000, `${app} reported waiting`);
      expect(await n.reality('a')).toMatchObject({ status: 'pending' });
      await rm(join(n.dir, 'locked'));
      for (const app of ['a', 'b', 'c'])
        await eventually(async () => (await n.reality(app))?.status === 'converged', 30_000, `${app} converged once unlocked`);
      expect(await n.history()).toEqual(['write d=1', 'manifest a=1 b=1 c=1', 'write a=1', 'write b=1', 'write c=1']);
    });
  });

  it('that remove something are held whole while an app they serve may not lose it, and go ahead on trusted intent', async () => {
    const n = await node();
    await n.intend({ a: '1', b: '1', c: '1', d: '1' });
    expect(await n.run(manifestAgent(n.dir, 'before'))).toBe(0);
    // A stray .drained beside app keys: untrusted. The manifest write would drop c's line (and change a's).
    await n.store.transaction([
      { key: drainedKey('p', 'n1'), value: '{}' },
      { key: appIntentKey('p', 'n1', 'c'), value: null },
      { key: appIntentKey('p', 'n1', 'a'), value: JSON.stringify(appIntent('2')) },
    ]);
    let printed = '';
    await n.run(manifestAgent(n.dir, 'before'), {
      once: false,
      dryRun: true,
      out: (t) => {
        printed += t;
      },
    });
    expect(printed.split('\n').filter((l) => l.includes('manifest'))).toEqual([
      expect.stringMatching(
        /^ {2}held: write the manifest of 2 app\(s\) \(for a, c\): removal waits: the node is marked drained yet still/,
      ),
    ]);
    expect(await n.run(manifestAgent(n.dir, 'before'))).toBe(3);
    expect(await readFile(join(n.dir, 'manifest'), 'utf8')).toBe('a=1\nb=1\nc=1\n');
    // A held node-wide action defers nothing: a's own write goes ahead.
    expect((await n.history()).slice(5)).toEqual(['write a=2']);
    expect(await n.reality('c')).toMatchObject({ status: 'pending', reason: expect.stringContaining('removal waits: ') });
    expect(await n.reality('b')).toMatchObject({ status: 'converged' });
    await n.store.delete(drainedKey('p', 'n1'));
    expect(await n.run(manifestAgent(n.dir, 'before'))).toBe(0);
    expect(await readFile(join(n.dir, 'manifest'), 'utf8')).toBe('a=2\nb=1\n');
    expect((await n.history()).slice(6)).toEqual(['manifest a=2 b=1']);
    expect(await n.reality('c')).toBeNull();
  });

  it('are listed once by --dry-run, under the node heading, exactly as --once then applies them', async () => {
    const n = await node();
    await n.intend({ a: '1', b: '1', c: '1', d: '1' });
    let printed = '';
    const out = (t: string) => {
      printed += t;
    };
    await n.run(manifestAgent(n.dir, 'before'), { once: false, dryRun: true, out });
    expect(printed).toBe(
      [
        'node n1:',
        '  write the manifest of 3 app(s) (for a, b, c)',
        'a@1: after the node-wide actions, in a later pass: write a=1',
        'b@1: after the node-wide actions, in a later pass: write b=1',
        'c@1: after the node-wide actions, in a later pass: write c=1',
        'd@1: write d=1',
        '',
      ].join('\n'),
    );
    printed = '';
    await n.run(manifestAgent(n.dir, 'before'), { once: false, dryRun: true, json: true, out });
    const listed = JSON.parse(printed) as { nodeActions: { action: string; state: string }[]; apps: { app: string; actions: string[] }[] };
    const preview = [
      ...listed.nodeActions.filter((x) => x.state === 'apply').map((x) => `node: ${x.action}`),
      ...listed.apps.flatMap((a) => a.actions.map((x) => `${a.app}: ${x}`)),
    ];
    const applied: string[] = [];
    const onApplied = (m: unknown) => {
      const { app, node: nodeWide, apps, action, pass } = m as { app?: string; node?: true; apps?: string[]; action: string; pass: number };
      if (pass === 1) applied.push(nodeWide ? `node: ${action}` : `${app}: ${action}`);
      if (nodeWide) expect(apps).toEqual(['a', 'b', 'c']);
    };
    subscribe('platypus:action-applied', onApplied);
    try {
      expect(await n.run(manifestAgent(n.dir, 'before'))).toBe(0);
    } finally {
      unsubscribe('platypus:action-applied', onApplied);
    }
    expect(preview).toEqual(['node: write the manifest of 3 app(s)', 'd: write d=1']);
    expect(applied.sort()).toEqual([...preview].sort());
  });
});
