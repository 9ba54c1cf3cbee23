import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../../shared/loop/run-agent.js';
import { ABSOLUTE_TARGET, MALICIOUS } from '../../../test-data/preparer/malicious.js';
import { FolderStore, makeArtifact, putIntent, reality, runOnce, sha256, startServer, stopServer, tempDir, version } from './support.js';

let dir: string;
let server: Awaited<ReturnType<typeof startServer>> | undefined;

/** Every non-folder path under `root` (not following links), relative to it. */
async function filesUnder(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(join(root, rel))) {
    const path = rel === '' ? name : `${rel}/${name}`;
    if ((await lstat(join(root, path))).isDirectory()) out.push(...(await filesUnder(root, path)));
    else out.push(path);
  }
  return out.sort();
}

beforeAll(async () => {
  dir = await tempDir('malicious');
  const routes = new Map<string, string>();
  for (const m of MALICIOUS) {
    const path = join(dir, `${m.name}.tar.gz`);
    await writeFile(path, m.archive());
    routes.set(`/${m.name}.tar.gz`, path);
  }
  const good = await makeArtifact(dir, 'good', { 'bin/run': 'ok\n' });
  routes.set('/good.tar.gz', good.path);
  server = await startServer(routes);
});

afterAll(async () => {
  await stopServer(server?.server);
  await rm(dir, { recursive: true, force: true });
});

describe('pp-preparer refuses malicious archives', () => {
  it('refuses each with the entry and the rule, writes nothing outside its temp folder, and still prepares the good app in the same pass', async () => {
    const store = new FolderStore(join(dir, 'store'));
    // Each app's basedir sits three levels down a sandbox, so an escape of a few '..' would still land inside it.
    const sandbox = join(dir, 'sandbox');
    const base = (app: string) => join(sandbox, app, 'x', 'y', 'base');
    // The bombs' limits, for the whole pass: every other archive (and the good one) stays well below them.
    const limits = Object.assign({}, ...MALICIOUS.map((m) => m.limits ?? {})) as { maxBytes: number; maxEntries: number };
    for (const name of [...MALICIOUS.map((m) => m.name), 'good']) {
      const digest = sha256(await readFile(join(dir, `${name}.tar.gz`)));
      await putIntent(store, name, base(name), [version('1', server!.url(`/${name}.tar.gz`), digest)]);
    }

    const result = await runOnce(store, limits);
    expect(exitCodeOf(result)).toBe(1);

    for (const m of MALICIOUS) {
      const r = await reality(store, m.name);
      expect(r?.status, m.name).toBe('failed');
      expect(r?.error, m.name).toMatch(new RegExp(`^cannot install ${m.name}_1 from http://127\\.0\\.0\\.1:\\d+/${m.name}\\.tar\\.gz: `));
      expect(r?.error, m.name).toMatch(m.rule);
      expect(r?.details, m.name).toMatchObject({ present: [], failures: { 1: r?.error } });
    }
    expect(await reality(store, 'good')).toMatchObject({ status: 'converged', details: { present: ['1'] } });
    // Nothing anywhere in the sandbox but the good install and its record: no escapes, no temp folders, no partial installs.
    expect(await filesUnder(sandbox)).toEqual(['good/x/y/base/installs/.pp-install-good_1.json', 'good/x/y/base/installs/good_1/bin/run']);
    for (const m of MALICIOUS) expect(await readdir(join(base(m.name), 'installs')), m.name).toEqual([]);
    expect(existsSync(ABSOLUTE_TARGET)).toBe(false);
    expect(existsSync('/etc/pp-evil')).toBe(false);
  });
});
