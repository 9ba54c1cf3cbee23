import { nameProblem } from '../../shared/names.js';

/** `<app>_<version>`: an install's folder name under `<basedir>/installs/` (setlive links `current` to it). */
export function installName(app: string, version: string): string {
  return `${app}_${version}`;
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
