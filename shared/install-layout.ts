import { lstat, readlink, rename } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fsyncDir } from './atomic-file.js';
import { nameProblem } from './names.js';
import { tempPathIn } from './temp-files.js';
import { removeTree } from './remove-tree.js';

/**
 * The contract between pp-preparer and pp-setlive, written once: an app's basedir holds
 * `installs/<app>_<version>` (made by the preparer, complete or absent, with a record `.pp-install-<name>.json`
 * beside it), and the symlinks `current` and `last` (made by setlive) pointing at installs. Temp names start
 * with `.pp-tmp-` (see temp-files.ts), and a folder is removed by renaming it aside first, so a removal cut short
 * never leaves a half folder under a name that counts.
 */

/** The two links setlive keeps in a basedir. */
export type BasedirLink = 'current' | 'last';

/** `<basedir>/installs`: the preparer's whole slice of an app's basedir. */
export function installsDir(basedir: string): string {
  return join(basedir, 'installs');
}

/** `<app>_<version>`: an install's folder name under `<basedir>/installs/`. */
export function installName(app: string, version: string): string {
  return `${app}_${version}`;
}

/** `<basedir>/installs/<app>_<version>`: where the preparer leaves an unpacked version. */
export function installPath(basedir: string, app: string, version: string): string {
  return join(installsDir(basedir), installName(app, version));
}

/** `<basedir>/current` or `<basedir>/last`. */
export function linkPath(basedir: string, link: BasedirLink): string {
  return join(basedir, link);
}

const RECORD = /^\.pp-install-(.+)\.json$/;

/** `.pp-install-<name>.json`: the record the preparer writes beside an install before renaming it into place. */
export function recordName(install: string): string {
  return `.pp-install-${install}.json`;
}

/** The install name a record file stands for, or undefined when `file` is not a record. */
export function installOfRecord(file: string): string | undefined {
  return RECORD.exec(file)?.[1];
}

/** The version an install path stands for, or the path's last segment when it is not `<app>_<version>`. */
export function versionOfInstall(app: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const name = basename(path);
  return name.startsWith(`${app}_`) ? name.slice(app.length + 1) : name;
}

/**
 * The app an install folder belongs to among `apps` (which may share a basedir): the longest app name
 * followed by `_` and a valid version, so `web_a_1` is app `web_a` when both `web` and `web_a` exist.
 */
export function appOfInstall(name: string, apps: Iterable<string>): string | undefined {
  let best: string | undefined;
  for (const app of apps) {
    if (!name.startsWith(`${app}_`) || nameProblem(name.slice(app.length + 1)) !== undefined) continue;
    if (best === undefined || app.length > best.length) best = app;
  }
  return best;
}

/** The install name `<basedir>/<link>` points to, when it is a symlink into `installs/`. */
export async function linkedInstall(basedir: string, link: BasedirLink): Promise<string | undefined> {
  const target = await readlink(linkPath(basedir, link)).catch(() => undefined);
  if (target === undefined) return undefined;
  const absolute = resolve(basedir, target);
  return dirname(absolute) === installsDir(resolve(basedir)) ? basename(absolute) : undefined;
}

/**
 * Removes `path` (a folder or file) by renaming it to a temp name in the same folder first (atomic, and
 * fsynced), then deleting that. A crash mid-delete leaves only a temp name, which the next run's cleanup
 * removes. Returns false when nothing was there.
 */
export async function removeAside(path: string, label = `${basename(path)}.removing`): Promise<boolean> {
  if ((await lstat(path).catch(() => undefined)) === undefined) return false;
  const aside = tempPathIn(dirname(path), label);
  await rename(path, aside);
  await fsyncDir(dirname(path));
  await removeTree(aside);
  return true;
}
