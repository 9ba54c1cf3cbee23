import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { readFile } from '../../shared/read-file.js';
import { isRunScriptOf } from './service-files.js';

/**
 * Name of the file pp-setlive writes into every service folder it creates, holding the app's name. Only a
 * folder carrying it (for the same app) is ever stopped, rewritten or removed: the stage folder may hold
 * services and folders that are not ours, and those are never touched.
 */
export const MANAGED_FILE = 'pp-managed';

/**
 * Who a service folder `<stage-dir>/<app>` belongs to: `missing` (no folder), `marked` (our marker names the
 * app), `adoptable` (no marker, but its `run` is the script pp-setlive renders for the app: written before the
 * marker existed, so it is ours and gets marked), `foreign` (anything else).
 */
export type Ownership = 'missing' | 'marked' | 'adoptable' | 'foreign';

/** Reads who the service folder `dir` of `app` belongs to. */
export async function readOwnership(dir: string, app: string): Promise<Ownership> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!info) return 'missing';
  if (!info.isDirectory()) return 'foreign';
  const marker = await readFile(join(dir, MANAGED_FILE), 'utf8').catch(() => undefined);
  if (marker?.trim() === app) return 'marked';
  const run = await readFile(join(dir, 'run'), 'utf8').catch(() => undefined);
  return marker === undefined && run !== undefined && isRunScriptOf(app, run) ? 'adoptable' : 'foreign';
}

/** True for a folder pp-setlive may act on: marked, or adoptable. */
export function isOurs(ownership: Ownership): boolean {
  return ownership === 'marked' || ownership === 'adoptable';
}

/** Writes the marker into `dir` (compare-before-write); true when it wrote. */
export function markOurs(dir: string, app: string): Promise<boolean> {
  return writeFileAtomic(join(dir, MANAGED_FILE), `${app}\n`);
}

/** Throws unless `dir` is missing or ours: the last check before anything in it is changed or removed. */
export async function assertOurs(dir: string, app: string): Promise<Ownership> {
  const ownership = await readOwnership(dir, app);
  if (ownership === 'foreign') throw new Error(foreignFolderMessage(dir, app));
  return ownership;
}

/** Why a folder is left alone, for errors and logs. */
export function foreignFolderMessage(dir: string, app: string): string {
  return `${dir} was not written by pp-setlive (no ${MANAGED_FILE} naming ${app}, and its run script is not one pp-setlive writes); refusing to touch it`;
}
