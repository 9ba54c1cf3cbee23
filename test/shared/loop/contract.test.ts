import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import { type Agent, TerminalError } from '../../../shared/loop/types.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { appIntent, daemonOptions, eventually } from '../../support/intent-fixtures.js';

type Write = { kind: 'write'; app: string; version: string };

/** One file per app holding its live version; `refuse` names versions whose write fails terminally, `throwFor` apps whose plan throws. */
function versionFiles(dir: string, refuse: Set<string>, throwFor: Set<string> = new Set()): Agent<Map<string, string>, Write> {
  return {
    name: 'pp-versions',
    observe: async () =>
      new Map(await Promise.all((await readdir(dir)).map(async (f) => [f, await readFile(join(dir, f), 'utf8')] as const))),
    plan: (intent, files) =>
      [...intent.apps].map(([app, spec]) => {
        if (throwFor.has(app)) throw new Error(`cannot plan ${app}: a defect`);
        const version = spec.versions.find((v) => v.state === 'live')!.version;
        return { app, version, actions: files.get(app) === version ? [] : [{ kind: 'write' as const, app, version }] };
      }),
    removals: [],
    apply: async ({ app, version }) => {
      if (refuse.has(version)) throw new TerminalError(`version ${version} can never be written`);
      await writeFile(join(dir, app), version);
      return { changed: true };
    },
    describe: (a) => `write ${a.app}=${a.version}`,
  };
}

async function setup() {
  const root = await mkdtemp(join(tmpdir(), 'pp-contract-'));
  const store = new FolderStore(join(root, 'store'));
  const dir = join(root, 'files');
  await mkdir(dir);
  const reality = async (app: string) => JSON.parse((await store.get(realityKey('p', 'n1', 'pp-versions', app))) ?? 'null');
  return { store, dir, reality };
}

describe('the controller contract', () => {
  it('a terminal error is reported and not retried, across many passes, until the app intent changes', async () => {
    const { store, dir, reality } = await setup();
    await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('bad')));
    const passes: string[] = [];
    const stop = new AbortController();
    const running = runAgent(
      versionFiles(dir, new Set(['bad'])),
      daemonOptions(store, {
        signal: stop.signal,
        resyncMs: 300,
        hooks: { passDone: (p) => passes.push(p.outcomes.map((o) => `${o.status}:${o.attempts}`).join()) },
      }),
    );
    try {
      await eventually(async () => passes.length >= 8, 30_000, 'eight passes');
      // One attempt, however many passes and retry timers came since.
      expect(await reality('web')).toMatchObject({ status: 'failed', error: 'version bad can never be written', attempts: 1 });
      expect(passes.at(-1)).toBe('failed:1');
      await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('1')));
      await eventually(async () => (await reality('web'))?.status === 'converged', 30_000, 'web converged on a new intent');
      expect(await readFile(join(dir, 'web'), 'utf8')).toBe('1');
    } finally {
      stop.abort();
      await running;
    }
  });

  it("a plan that throws is a bug in that app's plan: other apps wait unplanned, nobody blames the host", async () => {
    const { store, dir, reality } = await setup();
    await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('1')));
    await store.put(appIntentKey('p', 'n1', 'api'), JSON.stringify(appIntent('2')));
    const result = await runAgent(versionFiles(dir, new Set(), new Set(['api'])), daemonOptions(store, { once: true }));
    expect(result?.observeError).toBeUndefined();
    expect(await reality('api')).toMatchObject({
      status: 'failed',
      error: 'bug in the plan of pp-versions for app api: cannot plan api: a defect',
    });
    expect(await reality('web')).toMatchObject({ status: 'pending', reason: 'not planned: the plan of pp-versions throws for app api' });
  });
});
