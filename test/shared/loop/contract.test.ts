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

describe('a failing app retried', () => {
  /**
   * One file per app. A write of a version in `failOnce` fails with "disk full" the first time, one in `failAlways`
   * every time; any other write (a retry of a `failOnce` one too) waits for a file `go-<version>` in `gates` first.
   */
  function flaky(dir: string, gates: string, failOnce: Set<string>, failAlways: Set<string>): Agent<Map<string, string>, Write> {
    const base = versionFiles(dir, new Set());
    return {
      ...base,
      apply: async (action, context) => {
        if (failAlways.has(action.version) || failOnce.delete(action.version)) throw new Error('disk full');
        await eventually(
          async () => {
            if (context.signal.aborted) throw new Error('stopped');
            return (await readdir(gates)).includes(`go-${action.version}`);
          },
          120_000,
          `go-${action.version}`,
        );
        return base.apply(action, context);
      },
    };
  }

  it("stays failed while its retry is in flight, for the same intent only: a new intent's try is pending", async () => {
    const { store, dir, reality } = await setup();
    const gates = join(dir, '..', 'gates');
    await mkdir(gates);
    await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('2')));
    const stop = new AbortController();
    const agent = flaky(dir, gates, new Set(['2']), new Set(['3']));
    const running = runAgent(agent, daemonOptions(store, { signal: stop.signal, resyncMs: 60_000 }));
    try {
      // The retry of 2 waits for its gate: a monitor reads the failure meanwhile, the retry as its reason.
      await eventually(async () => (await reality('web'))?.reason?.startsWith('retrying') === true, 30_000, 'the retry in flight');
      expect(await reality('web')).toMatchObject({ status: 'failed', error: 'disk full', reason: 'retrying: applying: write web=2' });
      await writeFile(join(gates, 'go-2'), '');
      await eventually(async () => (await reality('web'))?.status === 'converged', 30_000, 'web converged on 2');

      // 3 fails on every try; 4, written meanwhile, waits for its gate: its try is no retry of 3's failure.
      await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('3')));
      await eventually(async () => (await reality('web'))?.error === 'disk full', 30_000, 'web failing on 3');
      await store.put(appIntentKey('p', 'n1', 'web'), JSON.stringify(appIntent('4')));
      await eventually(async () => (await reality('web'))?.reason === 'applying: write web=4', 30_000, 'the try of 4 in flight');
      const trying = await reality('web');
      expect(trying).toMatchObject({ status: 'pending', version: '4' });
      expect(trying.error).toBeUndefined();
      await writeFile(join(gates, 'go-4'), '');
      await eventually(async () => (await reality('web'))?.status === 'converged', 30_000, 'web converged on 4');
      expect(await readFile(join(dir, 'web'), 'utf8')).toBe('4');
    } finally {
      stop.abort();
      await running;
    }
  });
});
