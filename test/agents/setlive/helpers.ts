import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readlink, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { SetliveConfig } from '../../../agents/setlive/options.js';
import { appIntentKey, realityKey } from '../../../shared/keys.js';
import { runCommand } from '../../../shared/process.js';
import type { IntentStore } from '../../../shared/store/types.js';

export const SERVER = resolve(import.meta.dirname, '../../../test-data/setlive/version-server.mjs');
export const PREFIX = 'pp';
export const NODE = 'node1';

/** A real runsvdir on a temp service folder, plus the stage folder the agent writes to. */
export interface Runit {
  root: string;
  serviceDir: string;
  stageDir: string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runsvGone(dir: string): Promise<boolean> {
  const r = await runCommand(['sv', 'status', dir]);
  return /runsv not running|unable to change to service directory|unable to open supervise/.test(r.stdout + r.stderr);
}

/** Stops every service and runsv under the stage folder, then runsvdir; fails if any runsv is left. */
async function stopRunit(child: ChildProcess, serviceDir: string, stageDir: string): Promise<void> {
  for (const name of await readdir(serviceDir).catch(() => [])) await unlink(join(serviceDir, name)).catch(() => {});
  const apps = (await readdir(stageDir).catch(() => [])).filter((n) => !n.startsWith('.'));
  for (const app of apps) {
    await runCommand(['sv', '-w', '5', 'force-stop', join(stageDir, app)]);
    await runCommand(['sv', 'exit', join(stageDir, app)]);
  }
  for (const app of apps) {
    const dir = join(stageDir, app);
    for (let i = 0; i < 50 && !(await runsvGone(dir)); i++) await sleep(200);
    if (!(await runsvGone(dir))) throw new Error(`runsv for ${dir} is still running after the test`);
  }
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGHUP'); // runsvdir sends TERM to each runsv it still watches (none by now) and exits
    await exited;
  }
}

/** A fresh temp folder holding `svc/`, a runit service folder whose run script just sleeps (not started yet). */
export async function sleepService(name: string): Promise<{ root: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), `pp-${name}-`));
  const dir = join(root, 'svc');
  await mkdir(dir);
  await writeFile(join(dir, 'run'), '#!/bin/sh\nexec sleep 600\n');
  await chmod(join(dir, 'run'), 0o755);
  return { root, dir };
}

/** Starts `runsvdir` on a fresh temp service folder. */
export async function startRunit(): Promise<Runit> {
  const root = await mkdtemp(join(tmpdir(), 'pp-setlive-'));
  const serviceDir = join(root, 'service');
  const stageDir = join(root, 'stage');
  await mkdir(serviceDir);
  await mkdir(stageDir);
  const child = spawn('runsvdir', [serviceDir], { stdio: 'ignore' });
  await new Promise<void>((ok, fail) => {
    child.once('spawn', ok);
    child.once('error', fail);
  });
  return {
    root,
    serviceDir,
    stageDir,
    stop: async () => {
      await stopRunit(child, serviceDir, stageDir);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Agent settings for tests: short settle and timeouts. */
export function testConfig(r: Runit): SetliveConfig {
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
 * Builds `<basedir>/installs/<app>_<version>/` as the preparer would: the server, its VERSION, maybe a HEALTH,
 * maybe a LISTEN_DELAY_MS (a server that starts listening that late).
 */
export async function makeInstall(basedir: string, app: string, version: string, health?: string, listenDelayMs?: number): Promise<string> {
  const dir = join(basedir, 'installs', `${app}_${version}`);
  await mkdir(dir, { recursive: true });
  await copyFile(SERVER, join(dir, 'version-server.mjs'));
  await writeFile(join(dir, 'VERSION'), `${version}\n`);
  if (health) await writeFile(join(dir, 'HEALTH'), `${health}\n`);
  if (listenDelayMs !== undefined) await writeFile(join(dir, 'LISTEN_DELAY_MS'), `${listenDelayMs}\n`);
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

export async function reality(store: IntentStore, app: string): Promise<Record<string, unknown> | undefined> {
  const raw = await store.get(realityKey(PREFIX, NODE, 'setlive', app));
  return raw === undefined ? undefined : (JSON.parse(raw) as Record<string, unknown>);
}

/** What the app on `port` answers: its JSON, or the connection error's code. */
export async function ask(port: number): Promise<{ version?: string; greeting?: string | null; pid?: number; error?: string }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000), headers: { connection: 'close' } });
    return (await res.json()) as { version: string; greeting: string | null; pid: number };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? (err as Error).message };
  }
}

/** The install `<basedir>/<name>` points at, or undefined; throws when it is not a link to an existing folder. */
export async function linkTarget(basedir: string, name: string): Promise<string | undefined> {
  const target = await readlink(join(basedir, name)).catch(() => undefined);
  if (target === undefined) return undefined;
  if (!(await stat(join(basedir, name)).catch(() => undefined))?.isDirectory())
    throw new Error(`${basedir}/${name} -> ${target} is dangling`);
  return target;
}
