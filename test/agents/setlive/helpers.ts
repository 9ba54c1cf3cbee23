import { readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SetliveConfig } from '../../../agents/setlive/options.js';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import type { RealityRecord } from '../../../shared/reality/record.js';
import { readRecord } from '../../support/reality.js';
import type { IntentStore } from '../../../shared/store/types.js';
import type { Runit } from '../../support/runit.js';
import { writeVersion } from '../../support/version-server.js';

export { ask } from '../../support/version-server.js';
export const PREFIX = 'pp';
export const NODE = 'node1';

/** Agent settings for tests: short settle and timeouts. */
export function testConfig(r: Pick<Runit, 'serviceDir' | 'stageDir'>): SetliveConfig {
  return {
    chpst: 'chpst',
    svlogd: 'svlogd',
    serviceDir: r.serviceDir,
    stageDir: r.stageDir,
    settleMs: 1000,
    stopTimeoutMs: 5000,
    startTimeoutMs: 10_000,
    pickupTimeoutMs: 15_000,
    failedHoldMs: 600_000,
  };
}

/**
 * Builds `<basedir>/installs/<app>_<version>/` as the preparer would, the version server's install; `health` is what
 * its /health answers, `listenDelayMs` how late it starts listening.
 */
export async function makeInstall(basedir: string, app: string, version: string, health?: string, listenDelayMs?: number): Promise<string> {
  const dir = join(basedir, 'installs', `${app}_${version}`);
  await writeVersion(dir, version, {
    ...(health === undefined ? {} : { health }),
    ...(listenDelayMs === undefined ? {} : { listenDelayMs }),
  });
  return dir;
}

export interface IntentOptions {
  live?: string;
  prepared?: string[];
  healthTimeoutMs?: number;
  noHealth?: boolean;
  requires?: string[];
  env?: Record<string, string>;
}

/** An app intent running version-server on `port`, with an HTTP health check unless told otherwise. */
export function intentFor(basedir: string, port: number, o: IntentOptions): object {
  const version = (v: string, state: string) => ({ version: v, url: `file:///dev/null/${v}`, sha256: '0'.repeat(64), state });
  return {
    schema: 1,
    basedir,
    versions: [...(o.prepared ?? []).map((v) => version(v, 'prepared')), ...(o.live ? [version(o.live, 'live')] : [])],
    ports: [{ port, protocol: 'tcp' }],
    service: { command: [process.execPath, 'version-server.mjs'], env: { PORT: String(port), ...o.env } },
    ...(o.noHealth ? {} : { health: { http: `http://127.0.0.1:${port}/health`, timeoutMs: o.healthTimeoutMs ?? 8000 } }),
    requires: o.requires ?? [],
  };
}

export async function putIntent(store: IntentStore, app: string, intent: object): Promise<void> {
  await store.put(appIntentKey(PREFIX, NODE, app), JSON.stringify(intent));
}

export async function reality(store: IntentStore, app: string): Promise<RealityRecord | undefined> {
  return readRecord(store, realityKey(PREFIX, NODE, 'setlive', app));
}

/** The install `<basedir>/<name>` points at, or undefined; throws when it is not a link to an existing folder. */
export async function linkTarget(basedir: string, name: string): Promise<string | undefined> {
  const target = await readlink(join(basedir, name)).catch(() => undefined);
  if (target === undefined) return undefined;
  if (!(await stat(join(basedir, name)).catch(() => undefined))?.isDirectory())
    throw new Error(`${basedir}/${name} -> ${target} is dangling`);
  return target;
}
