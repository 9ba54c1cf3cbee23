import { lstat, readdir, stat } from 'node:fs/promises';
import { readFile } from '../../shared/read-file.js';
import { join } from 'node:path';
import type { NodeIntent } from '../../shared/intent/node-intent.js';
import type { AppIntent } from '../../shared/intent/schema.js';
import { CONFIRMED_FILE, serviceLinkPath, stagePath } from './stage-layout.js';
import type { SetliveConfig } from './options.js';
import { installPath } from '../../shared/install-layout.js';
import { flipFingerprint, heldReason, readFailedFlip } from './failed-flip.js';
import { runHealthCheck, settled, type CheckResult } from './health.js';
import { staleTemps } from '../../shared/temp-files.js';
import { isDir, readLinkState, type LinkState } from './links.js';
import { readRunsvStatus, type SvStatus } from './runsv-status.js';
import { isOurs, readOwnership, type Ownership } from './ownership.js';
import type { Verdict } from '../../shared/rollout/verdicts.js';
import type { FlipFleet } from './fleet.js';

/** pp-setlive's view of one app on this host. */
export interface AppObserved {
  /** `<stageDir>/<app>` exists. */
  staged: boolean;
  /** Whose that folder is: only a folder of ours (marked or adoptable) is ever changed, stopped or removed. */
  ownership: Ownership;
  current: LinkState;
  last: LinkState;
  /** The install of the intended live version exists. */
  installed: boolean;
  runScript?: string;
  logRunScript?: string;
  /** Permission bits of `run` and `log/run` (undefined when missing). */
  runMode?: number;
  logRunMode?: number;
  logMain: boolean;
  /** `<serviceDir>/<app>`. */
  link: LinkState;
  status: SvStatus;
  /** The install recorded as having passed its health check. */
  confirmed?: string;
  /**
   * One health probe of the install `current` points at, taken only when a check is given, the process is
   * settled and runs the current setup, and that install is the intended version or, while the flip to it is
   * held, the one that stands in for it.
   */
  probe?: CheckResult;
  /** Leftovers of a killed run: temp links beside `<basedir>/current`, temp files in the app's service folder. */
  temps: string[];
  /** The running process started before `current` or the run script last changed: it runs an old setup. */
  stale: boolean;
  /** Why a flip to the intended version is held: the same attempt failed its health check recently. */
  held?: string;
  /** Why this app's part of the host could not be read (e.g. its basedir's parent is a file): that app fails, no other. */
  error?: string;
  /** Where the held attempt was being rolled back to when it failed (none: there was nothing to roll back to). */
  heldRollbackTo?: string;
  /** With a rollout policy, when a flip is due: the nodes that failed this attempt (read at flip time only). */
  verdicts?: Verdict[];
  /** Why the verdicts could not be read: no flip until they can. */
  verdictError?: string;
  /** This process holds the app's rollout slot. */
  slotHeld?: boolean;
  /** This process waits for the app's rollout slot (its contender key is claimed). */
  slotClaimed?: boolean;
}

export interface SetliveObserved {
  apps: Map<string, AppObserved>;
  /** Leftovers of a killed run in the stage folder itself (a service folder renamed aside to be removed). */
  stageLeftovers: string[];
  /** Folders in the stage folder that are not ours and not named by the intent: never apps, left alone. */
  foreign: string[];
}

const PROBE_LIMIT_MS = 5000;
const NO_LINK: LinkState = { kind: 'missing', valid: false };
const UNSUPERVISED: SvStatus = { state: 'unsupervised', seconds: 0, wantUp: false, wantDown: false, text: 'no service folder' };

const UNOBSERVED: AppObserved = {
  staged: false,
  ownership: 'missing',
  current: NO_LINK,
  last: NO_LINK,
  installed: false,
  logMain: false,
  link: NO_LINK,
  status: UNSUPERVISED,
  temps: [],
  stale: false,
};

const readText = (path: string) => readFile(path, 'utf8').catch(() => undefined);
const mtimeMs = async (path: string) => (await lstat(path).catch(() => undefined))?.mtimeMs ?? 0;
const modeOf = async (path: string) => {
  const info = await stat(path).catch(() => undefined);
  return info?.isFile() ? info.mode & 0o7777 : undefined;
};

/** Names of the app folders in the stage folder (temp and hidden names skipped). */
export async function stagedApps(config: SetliveConfig): Promise<string[]> {
  const entries = await readdir(config.stageDir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
}

/** True when the service's process started before `changedAtMs` (current or run last changed); a down service is never stale. */
export function runsOldSetup(status: SvStatus, changedAtMs: number): boolean {
  return status.state === 'run' && status.sinceMs !== undefined && changedAtMs > status.sinceMs;
}

/** The verdicts on the attempt a flip to `version` would make: read only when the app paces its flips and one is due. */
async function verdictsOn(app: string, intent: AppIntent, version: string, fleet: FlipFleet | undefined): Promise<Partial<AppObserved>> {
  if (!intent.rollout || !fleet) return {};
  try {
    return { verdicts: await fleet.verdicts(app, flipFingerprint(intent, version)) };
  } catch (err) {
    return { verdictError: `cannot read the verdicts on ${version} from the store: ${(err as Error).message}` };
  }
}

async function observeIntended(
  app: string,
  intent: AppIntent,
  config: SetliveConfig,
  base: AppObserved,
  fleet: FlipFleet | undefined,
): Promise<AppObserved> {
  const live = intent.versions.find((v) => v.state === 'live');
  const target = live ? installPath(intent.basedir, app, live.version) : undefined;
  const [current, last, installed, temps] = await Promise.all([
    readLinkState(join(intent.basedir, 'current')),
    readLinkState(join(intent.basedir, 'last')),
    target ? isDir(target) : Promise.resolve(false),
    staleTemps(intent.basedir, ['current', 'last']),
  ]);
  const changedAt = Math.max(await mtimeMs(join(intent.basedir, 'current')), await mtimeMs(join(stagePath(config, app), 'run')));
  const stale = runsOldSetup(base.status, changedAt);
  const failed = live && target ? await readFailedFlip(stagePath(config, app)) : undefined;
  const held =
    live && target ? heldReason(failed, target, flipFingerprint(intent, live.version), config.failedHoldMs, Date.now()) : undefined;
  const heldRollbackTo = held ? failed?.rollbackTo : undefined;
  const flipDue = live !== undefined && installed && current.target !== target;
  const verdicts = flipDue ? await verdictsOn(app, intent, live.version, fleet) : {};
  const observed = { ...base, current, last, installed, temps: [...base.temps, ...temps], stale, held, heldRollbackTo, ...verdicts };
  const probed = current.target === target || (held !== undefined && current.valid);
  if (intent.health && current.target && probed && !stale && settled(base.status, config)) {
    observed.probe = await runHealthCheck(intent.health, current.target, Math.min(PROBE_LIMIT_MS, intent.health.timeoutMs));
  }
  return observed;
}

async function observeApp(
  app: string,
  intent: AppIntent | undefined,
  ownership: Ownership,
  config: SetliveConfig,
  fleet: FlipFleet | undefined,
): Promise<AppObserved> {
  const dir = stagePath(config, app);
  const staged = ownership !== 'missing';
  const [runScript, logRunScript, runMode, logRunMode, logMain, link, confirmed, status, temps, logTemps] = await Promise.all([
    readText(join(dir, 'run')),
    readText(join(dir, 'log', 'run')),
    modeOf(join(dir, 'run')),
    modeOf(join(dir, 'log', 'run')),
    isDir(join(dir, 'log', 'main')),
    readLinkState(serviceLinkPath(config, app)),
    readText(join(dir, CONFIRMED_FILE)),
    staged ? readRunsvStatus(dir) : Promise.resolve(UNSUPERVISED),
    isOurs(ownership) ? staleTemps(dir) : [],
    isOurs(ownership) ? staleTemps(join(dir, 'log')) : [],
  ]);
  const base: AppObserved = {
    staged,
    ownership,
    current: NO_LINK,
    last: NO_LINK,
    installed: false,
    runScript,
    logRunScript,
    runMode,
    logRunMode,
    logMain,
    link,
    status,
    confirmed: confirmed?.trim(),
    temps: [...temps, ...logTemps],
    stale: false,
    slotHeld: fleet?.heldSlots().has(app) ?? false,
    slotClaimed: fleet?.contendingSlots().has(app) ?? false,
  };
  return intent ? observeIntended(app, intent, config, base, fleet) : base;
}

/** Observes every intended app and every app with a stage folder of ours; other folders there are only listed. */
export async function observeSetlive(intent: NodeIntent, config: SetliveConfig, fleet?: FlipFleet): Promise<SetliveObserved> {
  const names = new Set([...intent.apps.keys(), ...(await stagedApps(config))]);
  const apps = new Map<string, AppObserved>();
  const foreign: string[] = [];
  await Promise.all(
    [...names].map(async (app) => {
      try {
        const ownership = await readOwnership(stagePath(config, app), app);
        const intended = intent.apps.get(app);
        if (!intended && !isOurs(ownership)) foreign.push(app);
        else apps.set(app, await observeApp(app, intended, ownership, config, fleet));
      } catch (err) {
        apps.set(app, { ...UNOBSERVED, error: `cannot observe ${app} on this host: ${(err as Error).message}` });
      }
    }),
  );
  return { apps, stageLeftovers: await staleTemps(config.stageDir), foreign: foreign.sort() };
}
