// The sample app of the benchmarks: artifacts of a tiny real HTTP server answering its version, its intent,
// and probes of what it answers and what each agent reported.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { mustRun } from './processes.js';
import { REPO } from './support.js';
import { appIntentKey, realityKey } from '../shared/keys.js';
import { decodeRecord, type RealityRecord } from '../shared/reality/record.js';

export const SERVER = join(REPO, 'test-data/setlive/version-server.mjs');
export const PREFIX = 'platypus';
export const NODE = 'bench';

export interface Artifact {
  version: string;
  url: string;
  sha256: string;
}

/** Builds `<dir>/<name>-<version>.tar.gz` holding version-server.mjs and a VERSION file; returns its file:// URL and digest. */
export async function makeArtifact(dir: string, name: string, version: string): Promise<Artifact> {
  const src = join(dir, `src-${name}-${version}`);
  await mkdir(src, { recursive: true });
  await copyFile(SERVER, join(src, 'version-server.mjs'));
  await writeFile(join(src, 'VERSION'), `${version}\n`);
  const file = join(dir, `${name}-${version}.tar.gz`);
  await mustRun(['tar', '-czf', file, '-C', src, '.']);
  await rm(src, { recursive: true, force: true });
  const sha256 = createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
  return { version, url: `file://${file}`, sha256 };
}

/** An app intent: `live` served by version-server on `port` (health on /health), the others prepared. */
export function appIntent(basedir: string, port: number, live: Artifact | undefined, prepared: Artifact[]): object {
  const v = (a: Artifact, state: string) => ({ version: a.version, url: a.url, sha256: a.sha256, state });
  return {
    schema: 1,
    basedir,
    versions: [...prepared.map((a) => v(a, 'prepared')), ...(live ? [v(live, 'live')] : [])],
    ports: [{ port, protocol: 'tcp' }],
    ...(live
      ? {
          service: { command: [process.execPath, 'version-server.mjs'], env: { PORT: String(port) } },
          health: { http: `http://127.0.0.1:${port}/health`, timeoutMs: 10_000 },
        }
      : {}),
  };
}

/** The version the app on `port` answers, or undefined when nothing answers (one fresh connection, 1 s cap). */
export function askVersion(port: number): Promise<string | undefined> {
  return new Promise((done) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => {
        try {
          done((JSON.parse(body) as { version?: string }).version);
        } catch {
          done(undefined);
        }
      });
      res.on('error', () => done(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(undefined));
  });
}

/** Path of a key in a folder store rooted at `root`. */
export const folderKey = (root: string, key: string): string => join(root, key);

export const intentKey = (app: string): string => appIntentKey(PREFIX, NODE, app);
export const realityKeyOf = (agent: string, app: string): string => realityKey(PREFIX, NODE, agent, app);

export type { RealityRecord } from '../shared/reality/record.js';

/** The record `raw` at `key` as pp reads it; throws naming the key and the field when it is not one. */
function decoded(key: string, raw: string): RealityRecord {
  const d = decodeRecord(key, raw);
  if (!d.ok) throw new Error(d.error);
  return d.record;
}

/** An agent's reality record of `app` in a folder store, or undefined. */
export async function folderReality(storeRoot: string, agent: string, app: string): Promise<RealityRecord | undefined> {
  const raw = await readFile(folderKey(storeRoot, realityKeyOf(agent, app)), 'utf8').catch(() => undefined);
  return raw === undefined ? undefined : decoded(realityKeyOf(agent, app), raw);
}

/** An agent's reality record of `app` read straight from Consul's KV API (not through any counting proxy). */
export async function consulReality(consul: string, agent: string, app: string): Promise<RealityRecord | undefined> {
  const res = await fetch(`http://${consul}/v1/kv/${realityKeyOf(agent, app)}?raw`).catch(() => undefined);
  if (res?.status !== 200) return undefined;
  return decoded(realityKeyOf(agent, app), await res.text());
}
