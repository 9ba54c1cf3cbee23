import { readdir } from 'node:fs/promises';
import { readFile } from '../../../shared/read-file.js';
import { join } from 'node:path';
import { staleTemps } from '../../../shared/temp-files.js';
import { appOfFile, parseAppFile, parseMarker, REFRESH_MARKER } from './files.js';
import type { PaFile, PaObserved } from './plan.js';

/** The host-facing settings of port_authority mode. */
export interface PaOptions {
  configDir: string;
  /** The refresh program and its leading arguments; `rebuild` is appended. */
  refresh: string[];
  /** Command prefix for the refresh command, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  prefix: string[];
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Every `<app>.yml` in the config folder (a missing folder holds none). */
export async function readAppFiles(configDir: string): Promise<Map<string, PaFile>> {
  const names = await readdir(configDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  const files = new Map<string, PaFile>();
  for (const name of names.sort()) {
    const app = appOfFile(name);
    if (!app) continue;
    const path = join(configDir, name);
    const content = await readOptional(path);
    if (content !== undefined) files.set(app, { path, content, ...parseAppFile(content) });
  }
  return files;
}

/** The refresh marker's state: present or not, and the apps it lists. */
export async function readMarker(configDir: string): Promise<PaObserved['refresh']> {
  const content = await readOptional(join(configDir, REFRESH_MARKER));
  return { pending: content !== undefined, apps: content === undefined ? [] : parseMarker(content) };
}

/**
 * Observes the config folder and the refresh marker. Never throws: an
 * unreadable folder is carried as `error`, so the plan reports it for every app and the daemon goes on.
 */
export async function observePortAuthority(options: PaOptions): Promise<PaObserved> {
  try {
    return {
      files: await readAppFiles(options.configDir),
      refresh: await readMarker(options.configDir),
      leftovers: await staleTemps(options.configDir),
    };
  } catch (err) {
    const error = `cannot read config folder ${options.configDir}: ${(err as Error).message}`;
    return { files: new Map(), refresh: { pending: false, apps: [] }, leftovers: [], error };
  }
}
