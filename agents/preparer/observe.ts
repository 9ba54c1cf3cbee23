import { lstat, readdir } from 'node:fs/promises';
import { readFile } from '../../shared/read-file.js';
import { isAbsolute, join } from 'node:path';
import type { NodeIntent } from '../../shared/intent/node-intent.js';
import { nameProblem } from '../../shared/names.js';
import { installOfRecord, installsDir, linkedInstall } from '../../shared/install-layout.js';
import { staleAmong } from '../../shared/temp-files.js';
import type { BasedirState, InstallDir, PreparerObserved } from './types.js';

/** What the agent remembers between passes: apps seen (with basedir) and the last failure per version. */
export interface PreparerMemory {
  knownApps: Map<string, string>;
  /** Basedirs an app had before intent moved it elsewhere: its installs there are pruned too (and reported). */
  formerBasedirs: Map<string, Set<string>>;
  failures: Map<string, Map<string, string>>;
}

/**
 * What the state file keeps: each known app's basedir and its former basedirs, as entries (app names are not
 * object keys), so an app removed from intent while the agent was down is still pruned after a restart.
 */
export function saveBasedirs(memory: PreparerMemory): { knownApps: Array<[string, string]>; formerBasedirs: Array<[string, string[]]> } {
  return {
    knownApps: [...memory.knownApps].sort(([a], [b]) => (a < b ? -1 : 1)),
    formerBasedirs: [...memory.formerBasedirs]
      .map(([app, dirs]) => [app, [...dirs].sort()] as [string, string[]])
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  };
}

/** Takes back what saveBasedirs returned; entries that are not a safe app name and an absolute path are skipped. */
export function loadBasedirs(memory: PreparerMemory, saved: unknown): void {
  const o = saved as { knownApps?: unknown; formerBasedirs?: unknown } | undefined;
  const entries = (list: unknown) =>
    Array.isArray(list) ? list.filter((e): e is [unknown, unknown] => Array.isArray(e) && e.length === 2) : [];
  const dirOk = (dir: unknown): dir is string => typeof dir === 'string' && isAbsolute(dir);
  for (const [app, basedir] of entries(o?.knownApps))
    if (typeof app === 'string' && !nameProblem(app) && dirOk(basedir)) memory.knownApps.set(app, basedir);
  for (const [app, dirs] of entries(o?.formerBasedirs))
    if (typeof app === 'string' && !nameProblem(app) && Array.isArray(dirs))
      for (const dir of dirs) if (dirOk(dir)) formerOf(memory, app).add(dir);
}

function formerOf(memory: PreparerMemory, app: string): Set<string> {
  const set = memory.formerBasedirs.get(app) ?? new Set<string>();
  memory.formerBasedirs.set(app, set);
  return set;
}

interface InstallRecord {
  sha256?: string;
  installedAt?: string;
}

async function readRecord(path: string): Promise<InstallRecord | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as InstallRecord;
    return typeof parsed.sha256 === 'string' ? parsed : undefined;
  } catch {
    return undefined; // unreadable or half-written by hand: the install counts as unverified
  }
}

/** Lists one basedir's installs (with their records), orphan records, `current` and `last`. */
export async function readBasedir(basedir: string): Promise<BasedirState> {
  const dir = installsDir(basedir);
  const state: BasedirState = {
    installs: new Map(),
    orphanRecords: [],
    leftovers: [],
    current: await linkedInstall(basedir, 'current'),
    last: await linkedInstall(basedir, 'last'),
  };
  let names: string[];
  try {
    names = await readdir(dir);
    state.leftovers = staleAmong(dir, names);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') state.error = `cannot read ${dir}: ${(err as Error).message}`;
    else state.missing = true;
    return state;
  }
  const records = new Map<string, InstallRecord | undefined>();
  for (const name of names) {
    const install = installOfRecord(name);
    if (install !== undefined) records.set(install, await readRecord(join(dir, name)));
  }
  for (const name of names.filter((n) => !n.startsWith('.'))) {
    const info = await lstat(join(dir, name)).catch(() => undefined);
    if (!info) continue;
    const record = records.get(name);
    const entry: InstallDir = { name, isDir: info.isDirectory(), installedAt: record?.installedAt ?? info.mtime.toISOString() };
    if (record?.sha256) entry.sha256 = record.sha256;
    state.installs.set(name, entry);
  }
  state.orphanRecords = [...records.keys()].filter((name) => !state.installs.has(name));
  return state;
}

/** Reads the slice: `installs/` of every basedir in intent or seen since start, leftovers of killed runs included. */
export async function observePreparer(intent: NodeIntent, memory: PreparerMemory): Promise<PreparerObserved> {
  for (const [app, spec] of intent.apps) {
    const before = memory.knownApps.get(app);
    if (before !== undefined && before !== spec.basedir) formerOf(memory, app).add(before);
    memory.formerBasedirs.get(app)?.delete(spec.basedir);
    memory.knownApps.set(app, spec.basedir);
  }
  const basedirs = new Set([...memory.knownApps.values(), ...[...memory.formerBasedirs.values()].flatMap((s) => [...s])]);
  // Basedirs are read 32 at a time: one after another, a 1,000-app node would spend its pass waiting on the disk.
  const states = new Map<string, BasedirState>();
  const all = [...basedirs];
  for (let i = 0; i < all.length; i += 32) {
    const batch = all.slice(i, i + 32);
    const read = await Promise.all(batch.map((basedir) => readBasedir(basedir)));
    batch.forEach((basedir, k) => {
      states.set(basedir, read[k]!);
    });
  }
  // A former basedir with no install (or record) of the app left has nothing to prune or report.
  for (const [app, dirs] of memory.formerBasedirs) {
    for (const dir of dirs) {
      const state = states.get(dir);
      const mine = (name: string) => name.startsWith(`${app}_`);
      if (state && !state.error && ![...state.installs.keys(), ...state.orphanRecords].some(mine)) dirs.delete(dir);
    }
    if (dirs.size === 0) memory.formerBasedirs.delete(app);
  }
  const failures = new Map([...memory.failures].map(([app, byVersion]) => [app, new Map(byVersion)]));
  const formerBasedirs = new Map([...memory.formerBasedirs].map(([app, dirs]) => [app, [...dirs].sort()]));
  return { basedirs: states, knownApps: new Map(memory.knownApps), formerBasedirs, failures };
}
