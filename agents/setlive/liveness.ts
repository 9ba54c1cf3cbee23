import type { NodeIntent } from '../../shared/intent/node-intent.js';
import type { AppIntent } from '../../shared/intent/schema.js';
import { stagePath } from './stage-layout.js';
import type { SetliveConfig } from './options.js';
import { installPath } from '../../shared/install-layout.js';
import { settled } from './health.js';
import type { AppObserved, SetliveObserved } from './observe.js';
import { SCRIPT_MODE, type ServiceFiles } from './service-files.js';

/** Whether an app is live on its intended version, and if not, why (for logs and requires). */
export interface Liveness {
  live: boolean;
  reason: string;
}

/**
 * The service folder holds exactly the scripts it should (`filesOk`), executable as written (`modesOk`: a mode
 * alone is set back without a restart, since the running process does not depend on it), and is linked where
 * runsvdir looks.
 */
export function serviceInPlace(
  o: AppObserved,
  files: ServiceFiles,
  config: SetliveConfig,
  app: string,
): { filesOk: boolean; modesOk: boolean; linked: boolean } {
  const filesOk = o.runScript === files.run && o.logRunScript === files.logRun && o.logMain;
  const modesOk = o.runMode === SCRIPT_MODE && o.logRunMode === SCRIPT_MODE;
  const linked = o.link.kind === 'link' && o.link.target === stagePath(config, app);
  return { filesOk, modesOk, linked };
}

/** Live = current points at the intended install, runit says run for the settle time, and the probe passed. */
export function livenessOf(
  app: string,
  intent: AppIntent,
  o: AppObserved | undefined,
  files: ServiceFiles | undefined,
  config: SetliveConfig,
): Liveness {
  const live = intent.versions.find((v) => v.state === 'live');
  if (!live) return { live: false, reason: 'has no live version' };
  if (!o || !files) return { live: false, reason: 'not observed' };
  const target = installPath(intent.basedir, app, live.version);
  if (o.current.target !== target) return { live: false, reason: `current is not ${live.version} yet` };
  const { filesOk, linked } = serviceInPlace(o, files, config, app);
  if (!filesOk) return { live: false, reason: 'its service folder is out of date' };
  if (!linked) return { live: false, reason: 'its service is not linked' };
  const s = o.status;
  if (o.stale) return { live: false, reason: 'its process started before current or its run script last changed' };
  if (!settled(s, config)) return { live: false, reason: `its service is not settled up (${s.text})` };
  if (intent.health && !o.probe?.ok) return { live: false, reason: `its health check fails: ${o.probe?.output ?? 'not run'}` };
  return { live: true, reason: 'live' };
}

/** A cycle through `requires` starting at `app`, as "a -> b -> a", or undefined. */
export function requiresCycle(app: string, intent: NodeIntent): string | undefined {
  const walk = (name: string, path: string[]): string[] | undefined => {
    if (name === app && path.length > 0) return [...path, name];
    if (path.includes(name)) return undefined; // a cycle that does not pass through `app`
    for (const next of intent.apps.get(name)?.requires ?? []) {
      const found = walk(next, [...path, name]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(app, [])?.join(' -> ');
}

/** Why `app` must wait for the apps it requires, or undefined when they are all live and healthy here. */
export function requiresBlocker(
  app: string,
  intent: NodeIntent,
  observed: SetliveObserved,
  filesOf: (app: string) => ServiceFiles | undefined,
  config: SetliveConfig,
): string | undefined {
  for (const required of intent.apps.get(app)?.requires ?? []) {
    const other = intent.apps.get(required);
    if (!other) {
      const why = intent.invalid.has(required) ? 'whose intent is invalid' : "which is not in this node's intent";
      return `waiting for required app ${required}, ${why}`;
    }
    const state = livenessOf(required, other, observed.apps.get(required), filesOf(required), config);
    if (!state.live) return `waiting for required app ${required}: ${state.reason}`;
  }
  return undefined;
}
