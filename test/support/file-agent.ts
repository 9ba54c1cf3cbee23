import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import type { NodeIntent } from '../../shared/intent/node-intent.js';
import type { Agent, AppPlan } from '../../shared/loop/types.js';

type FileAction = { kind: 'write'; app: string; content: string } | { kind: 'remove'; app: string };

/**
 * A small agent built on the loop for tests: one file per app under `dir`, holding the app's live version.
 * `failApps` makes writes for those apps throw, to show one failing app does not block the others. It imports
 * shared/ only, from two folders down: test/repo/fourth-agent.test.ts builds it as a fourth agent, agents/files/.
 */
export function fileAgent(dir: string, failApps: Set<string> = new Set()): Agent<Map<string, string>, FileAction> {
  return {
    name: 'pp-files',
    async observe() {
      const names = await readdir(dir).catch(() => [] as string[]);
      const files = new Map<string, string>();
      for (const n of names.filter((x) => !x.startsWith('.'))) files.set(n, await readFile(join(dir, n), 'utf8'));
      return files;
    },
    plan(intent: NodeIntent, files: Map<string, string>) {
      const plans: AppPlan<FileAction>[] = [];
      for (const [app, spec] of intent.apps) {
        const live = spec.versions.find((v) => v.state === 'live')?.version ?? 'none';
        plans.push({ app, version: live, actions: files.get(app) === live ? [] : [{ kind: 'write', app, content: live }] });
      }
      // No safety check here: the loop holds removals on untrusted intent or without a signed order.
      for (const app of files.keys()) if (!intent.apps.has(app)) plans.push({ app, actions: [{ kind: 'remove', app }] });
      return plans;
    },
    removals: ['remove'],
    async apply(action) {
      if (failApps.has(action.app)) throw new Error(`cannot write ${action.app}: injected failure`);
      if (action.kind === 'remove') {
        await rm(join(dir, action.app));
        return { changed: true };
      }
      return { changed: await writeFileAtomic(join(dir, action.app), action.content) };
    },
    describe: (a) => (a.kind === 'write' ? `write ${a.app}=${a.content}` : `remove ${a.app}`),
  };
}
