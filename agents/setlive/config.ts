import { basename, join } from 'node:path';

/** Everything pp-setlive takes from its flags: binaries, folders and timings. */
export interface SetliveConfig {
  /** Path of runit's `chpst`, used in run scripts only when the intent names a user. */
  chpst: string;
  /** Path of runit's `svlogd`, used in every `log/run`. */
  svlogd: string;
  /** The folder `runsvdir` watches (Platypus default /var/service). */
  serviceDir: string;
  /** Where the real service folders live; `<serviceDir>/<app>` links here (default /var/service-stage). */
  stageDir: string;
  /** A service counts as up once runit has reported `run` for this long. */
  settleMs: number;
  /** How long to wait for a service to go down after TERM before it is killed. */
  stopTimeoutMs: number;
  /** How long a start may take to settle when the intent gives no health check. */
  startTimeoutMs: number;
  /** How long to wait for runsvdir to pick up a newly linked service (it scans every 5 s). */
  pickupTimeoutMs: number;
  /** A flip that failed its health check is not tried again with the same intent for this long. */
  failedHoldMs: number;
}

/** Name of the file in an app's stage folder that records which install last passed its health check. */
export const CONFIRMED_FILE = 'pp-confirmed';

/** `<basedir>/installs/<app>_<version>`: where the preparer leaves an unpacked version. */
export function installPath(basedir: string, app: string, version: string): string {
  return join(basedir, 'installs', `${app}_${version}`);
}

/** The version an install path stands for, or the path's last segment when it is not `<app>_<version>`. */
export function versionOfInstall(app: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const name = basename(path);
  return name.startsWith(`${app}_`) ? name.slice(app.length + 1) : name;
}

/** `<stageDir>/<app>`: the app's runit service folder. */
export function stagePath(config: SetliveConfig, app: string): string {
  return join(config.stageDir, app);
}

/** `<serviceDir>/<app>`: the link runsvdir sees. */
export function serviceLinkPath(config: SetliveConfig, app: string): string {
  return join(config.serviceDir, app);
}
