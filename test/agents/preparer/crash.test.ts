import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../support/intent-fixtures.js';
import {
  describeTree,
  FolderStore,
  gnuExtract,
  listInstalls,
  makeArtifact,
  NODE,
  PREFIX,
  putIntent,
  reality,
  startServer,
  stopServer,
  tempDir,
  version,
  type TreeSpec,
} from './support.js';

const AGENT = resolve(import.meta.dirname, '../../../dist/agents/preparer/index.js');
const FILES = 2000;

let dir: string;
let artifact: Awaited<ReturnType<typeof makeArtifact>>;
let reference: Record<string, string>;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await tempDir('crash');
  // Thousands of small incompressible files: every one is written and fsynced, so extraction takes a while.
  const files: TreeSpec = { 'bin/run': { mode: 0o755, content: '#!/bin/sh\n' }, 'bin/link': { link: 'run' } };
  for (let i = 0; i < FILES; i += 1) files[`files/f-${String(i).padStart(5, '0')}`] = randomBytes(1536).toString('base64');
  artifact = await makeArtifact(dir, 'big', files);
  reference = await describeTree(await gnuExtract(artifact.path, dir));
});

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts `pp-preparer --once` as a real process; resolves to its exit code, or the signal that killed it. */
function startAgent(storeDir: string): { child: ChildProcess; exited: Promise<number | string>; stderr: () => string } {
  const child = spawn(
    process.execPath,
    [AGENT, '--once', '--store', `folder:${storeDir}`, '--prefix', PREFIX, '--node', NODE, '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | string>((done) => child.once('exit', (code, signal) => done(signal ?? code ?? -1)));
  return { child, exited, stderr: () => stderr };
}

/** The temp folder of an install in progress and how many of the artifact's files it holds so far. */
async function inProgress(base: string): Promise<{ temp?: string; files: number }> {
  const temp = (await listInstalls(base)).find((n) => n.startsWith('.pp-tmp-web_1.'));
  if (!temp) return { files: 0 };
  const files = await readdir(join(base, 'installs', temp, 'files')).catch(() => [] as string[]);
  return { temp, files: files.length };
}

async function killWhen(run: ReturnType<typeof startAgent>, base: string, files: number): Promise<string> {
  let temp: string | undefined;
  await eventually(
    async () => {
      const state = await inProgress(base);
      temp = state.temp;
      return state.files >= files;
    },
    30_000,
    `the temp folder to hold ${files} files (${run.stderr()})`,
  );
  expect(existsSync(join(base, 'installs/web_1'))).toBe(false); // never visible under its final name while incomplete
  run.child.kill('SIGKILL');
  expect(await run.exited).toBe('SIGKILL');
  return temp as string;
}

/** After a restart: one complete, verified install, nothing half-done beside it. */
async function expectCleanInstall(store: FolderStore, base: string): Promise<void> {
  expect(await listInstalls(base)).toEqual(['.pp-install-web_1.json', 'web_1']);
  expect(await describeTree(join(base, 'installs/web_1'))).toEqual(reference);
  expect(await reality(store, 'web')).toMatchObject({ status: 'converged', details: { present: ['1'] } });
}

describe('pp-preparer survives SIGKILL', () => {
  it('killed mid-download, it leaves only a temp folder; the restart removes it and installs once, complete and verified', async () => {
    const held: ServerResponse[] = [];
    let stall = true;
    const server = await startServer(
      new Map([
        [
          '/big.tar.gz',
          (_req, res) => {
            res.writeHead(200, { 'content-length': String(artifact.bytes.length) });
            if (!stall) return res.end(artifact.bytes);
            res.write(artifact.bytes.subarray(0, Math.floor(artifact.bytes.length * 0.4))); // then nothing: a download in progress
            held.push(res);
          },
        ],
      ]),
    );
    try {
      const root = join(dir, 'download');
      const store = new FolderStore(join(root, 'store'));
      const base = join(root, 'base');
      await putIntent(store, 'web', base, [version('1', server.url('/big.tar.gz'), artifact.sha256)]);
      const temp = await killWhen(startAgent(store.root), base, 50);
      expect(await listInstalls(base)).toEqual([temp]);
      stall = false;
      for (const res of held) res.destroy();

      const again = startAgent(store.root);
      expect(await again.exited, again.stderr()).toBe(0);
      await expectCleanInstall(store, base);
    } finally {
      await stopServer(server.server);
    }
  });

  it('killed mid-extraction (twice), the restart removes the partial tree and installs once, complete and verified', async () => {
    let requests = 0;
    const server = await startServer(
      new Map([
        [
          '/big.tar.gz',
          (_req, res) => {
            res.writeHead(200, { 'content-length': String(artifact.bytes.length) });
            if (++requests > 2) return res.end(artifact.bytes);
            let sent = 0;
            const trickle = setInterval(() => {
              // ~800 KB/s: files keep being extracted while the test picks its moment
              if (res.destroyed || sent >= artifact.bytes.length) return clearInterval(trickle);
              res.write(artifact.bytes.subarray(sent, sent + (16 << 10)));
              sent += 16 << 10;
            }, 20);
          },
        ],
      ]),
    );
    try {
      const root = join(dir, 'extract');
      const store = new FolderStore(join(root, 'store'));
      const base = join(root, 'base');
      await putIntent(store, 'web', base, [version('1', server.url('/big.tar.gz'), artifact.sha256)]);
      for (const files of [200, 1000]) {
        const temp = await killWhen(startAgent(store.root), base, files);
        expect((await listInstalls(base)).filter((n) => n.startsWith('.pp-tmp-'))).toContain(temp);
      }
      const again = startAgent(store.root);
      expect(await again.exited, again.stderr()).toBe(0);
      await expectCleanInstall(store, base);
    } finally {
      await stopServer(server.server);
    }
  });

  it("--dry-run prints the plan and leaves a killed run's temp folder alone; --once then cleans it and exits 0", async () => {
    const root = join(dir, 'dry');
    const store = new FolderStore(join(root, 'store'));
    const base = join(root, 'base');
    await putIntent(store, 'web', base, [version('1', pathToFileURL(artifact.path).href, artifact.sha256)]);
    const leftover = join(base, 'installs', '.pp-tmp-web_1.999999.0badc0de'); // pid 999999: no such process
    await mkdir(join(leftover, 'files'), { recursive: true });
    const out = await new Promise<string>((done) => {
      const child = spawn(process.execPath, [AGENT, '--dry-run', '--store', `folder:${store.root}`, '--prefix', PREFIX, '--node', NODE], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      children.push(child);
      let text = '';
      child.stdout.on('data', (d: Buffer) => {
        text += d.toString();
      });
      child.once('exit', () => done(text));
    });
    expect(out).toContain(`web@1: install ${base}/installs/web_1 from ${pathToFileURL(artifact.path).href}`);
    expect(existsSync(leftover)).toBe(true);
    const run = startAgent(store.root);
    expect(await run.exited, run.stderr()).toBe(0);
    await expectCleanInstall(store, base);
  });
});
