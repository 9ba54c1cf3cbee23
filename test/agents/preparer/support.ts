import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPreparerAgent } from '../../../agents/preparer/agent.js';
import type { PreparerOptions } from '../../../agents/preparer/types.js';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import { silentLogger } from '../../../shared/logger.js';
import { runAgent } from '../../../shared/loop/run-agent.js';
import type { RealityRecord } from '../../../shared/reality/record.js';
import { readRecord } from '../../support/reality.js';
import { FolderStore } from '../../../shared/store/folder-store.js';
import { agentStateFor } from '../../support/intent-fixtures.js';

export const PREFIX = 'platypus';
export const NODE = 'n1';

/** Agent options for tests: small limits are set per test; progress off, temps cleaned. */
export function testOptions(over: Partial<PreparerOptions> = {}): PreparerOptions {
  return {
    keep: 2,
    maxBytes: 64 << 20,
    maxEntries: 10_000,
    maxRatio: 200,
    maxDownloadBytes: 64 << 20,
    downloadTimeoutMs: 5000,
    downloadDeadlineMs: 60_000,
    progress: 'off',
    ...over,
  };
}

export const tempDir = (name: string) => mkdtemp(join(tmpdir(), `pp-preparer-${name}-`));

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A source tree for an artifact: `file` → content, `link` → symlink target, `hard` → hard link to another file. */
export type TreeSpec = Record<string, string | { link: string } | { hard: string } | { mode: number; content: string }>;

/** Writes `spec` under `dir` and packs it with GNU tar + gzip (a real tarball, as an operator would make it). */
export async function makeArtifact(dir: string, name: string, spec: TreeSpec): Promise<{ path: string; sha256: string; bytes: Buffer }> {
  const src = join(dir, `${name}.src`);
  await mkdir(src, { recursive: true });
  for (const [path, what] of Object.entries(spec)) {
    const full = join(src, path);
    await mkdir(join(full, '..'), { recursive: true });
    if (typeof what === 'string') await writeFile(full, what);
    else if ('link' in what) execFileSync('ln', ['-s', what.link, full]);
    else if ('hard' in what) execFileSync('ln', [join(src, what.hard), full]);
    else await writeFile(full, what.content, { mode: what.mode });
  }
  const path = join(dir, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', path, '-C', src, '.']);
  const bytes = await readFile(path);
  return { path, sha256: sha256(bytes), bytes };
}

/** A version entry of an app intent (with the artifact's `size` when given). */
export function version(v: string, url: string, digest: string, state: 'prepared' | 'live' = 'prepared', size?: number) {
  return { version: v, url, sha256: digest, ...(size === undefined ? {} : { size }), state };
}

/** Stores an app's intent (a service is added when a version is live, as the schema requires). */
export async function putIntent(store: FolderStore, app: string, basedir: string, versions: ReturnType<typeof version>[]): Promise<void> {
  const intent: Record<string, unknown> = { schema: 1, basedir, versions };
  if (versions.some((v) => v.state === 'live')) intent.service = { command: ['bin/run'] };
  await store.put(appIntentKey(PREFIX, NODE, app), JSON.stringify(intent));
}

export async function reality(store: FolderStore, app: string): Promise<RealityRecord | undefined> {
  return readRecord(store, realityKey(PREFIX, NODE, 'preparer', app));
}

/** One `--once` pass of a fresh agent in this process. */
/** One --once run of a fresh agent (a restart each time) with the state file a real one would keep for `store`. */
export async function runOnce(store: FolderStore, options: Partial<PreparerOptions> = {}) {
  return runAgent(createPreparerAgent(testOptions(options)), {
    store,
    prefix: PREFIX,
    node: NODE,
    log: silentLogger(),
    once: true,
    state: preparerState(store),
  });
}

export const preparerState = (store: FolderStore) => agentStateFor(store, 'preparer', NODE, PREFIX);

/**
 * Every path under `root` with what it is: "file <sha256> <mode>", "link -> target", "dir <mode>";
 * hard-linked files also show their link count. Used to compare an install with GNU tar's extraction.
 */
export async function describeTree(root: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(root, rel))).sort()) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const info = await lstat(join(root, path));
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isSymbolicLink()) out[path] = `link -> ${await readlink(join(root, path))}`;
    else if (info.isDirectory()) {
      out[path] = `dir ${mode}`;
      Object.assign(out, await describeTree(root, path));
    } else out[path] = `file ${sha256(await readFile(join(root, path)))} ${mode} nlink=${info.nlink}`;
  }
  return out;
}

/** Extracts an archive with GNU tar into a fresh folder: the reference an install must match. */
export async function gnuExtract(archive: string, dir: string): Promise<string> {
  const out = await mkdtemp(join(dir, 'gnu-'));
  execFileSync('tar', ['-xzf', archive, '-C', out, '--no-same-owner']);
  return out;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP server on 127.0.0.1; `routes` maps a path to a file to serve or a handler. */
export async function startServer(
  routes: Map<string, string | Handler>,
): Promise<{ url: (path: string) => string; server: Server; hits: Map<string, number> }> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path);
    if (route === undefined) {
      res.writeHead(404).end('not found');
    } else if (typeof route === 'string') {
      void lstat(route).then((info) => {
        res.writeHead(200, { 'content-length': info.size });
        createReadStream(route).pipe(res);
      });
    } else route(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: (path) => `http://127.0.0.1:${port}${path}`, server, hits };
}

export async function stopServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

/** Names in `<basedir>/installs`, sorted (temp folders and records included). */
export async function listInstalls(basedir: string): Promise<string[]> {
  return (await readdir(join(basedir, 'installs')).catch(() => [] as string[])).sort();
}

export { FolderStore };
