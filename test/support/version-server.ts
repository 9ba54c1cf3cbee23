// The one small real app of the tests, test-data/setlive/version-server.mjs: run in an install folder with PORT
// in its environment, it answers GET / with its version (from ./VERSION) as JSON and GET /health with 200, or with
// the status and text a HEALTH file beside VERSION holds: the one way a test makes a version fail its health check.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO } from './repo.js';

export const VERSION_SERVER = join(REPO, 'test-data/setlive/version-server.mjs');

/** What /health of a version broken everywhere answers. */
export const UNHEALTHY = '503 unhealthy';

export interface VersionOptions {
  /** What its /health answers, as `<status> <text>` (e.g. UNHEALTHY, `503 database unreachable`); 200 ok when not given. */
  health?: string;
  /** How many milliseconds late it starts listening, as an app with a slow boot does. */
  listenDelayMs?: number;
}

/** Lays out `dir` as an install of `version`: the server, its VERSION and, when told, the HEALTH it answers. */
export async function writeVersion(dir: string, version: string, o: VersionOptions = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  await copyFile(VERSION_SERVER, join(dir, 'version-server.mjs'));
  await writeFile(join(dir, 'VERSION'), `${version}\n`);
  if (o.health !== undefined) await writeFile(join(dir, 'HEALTH'), `${o.health}\n`);
  if (o.listenDelayMs !== undefined) await writeFile(join(dir, 'LISTEN_DELAY_MS'), `${o.listenDelayMs}\n`);
}

export interface Artifact {
  version: string;
  path: string;
  url: string;
  sha256: string;
}

/** Packs a version of `app`, laid out as writeVersion does, into a real gzipped tarball `<dir>/<app>-<version>.tar.gz`. */
export async function buildArtifact(dir: string, app: string, version: string, o: VersionOptions = {}): Promise<Artifact> {
  const src = join(dir, `${app}-${version}.src`);
  await writeVersion(src, version, o);
  // The app's name too: otherwise two apps' artifacts built in the same second are byte-identical, and a digest
  // "of another artifact" would be the right one.
  await writeFile(join(src, 'APP'), `${app}\n`);
  const path = join(dir, `${app}-${version}.tar.gz`);
  execFileSync('tar', ['-czf', path, '-C', src, '.']);
  const sha256 = createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
  return { version, path, url: `file://${path}`, sha256 };
}

/** What the app answered on GET /: its JSON, or why it did not (the connection error's code, or `HTTP <status>`). */
export interface Answer {
  version?: string;
  greeting?: string | null;
  pid?: number;
  error?: string;
}

/** Asks the app on 127.0.0.1:`port` what it runs. */
export async function ask(port: number): Promise<Answer> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000), headers: { connection: 'close' } });
    if (!res.ok) return { error: `HTTP ${res.status} ${(await res.text()).trim()}` };
    return (await res.json()) as Answer;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? (err as Error).message };
  }
}

/** The version the app on `port` serves, or `error <why>` when it does not answer with one. */
export async function versionOn(port: number): Promise<string> {
  const a = await ask(port);
  return a.version ?? `error ${a.error ?? `no version in ${JSON.stringify(a)}`}`;
}
