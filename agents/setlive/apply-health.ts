import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AwaitHealthAction } from './actions.js';
import { type SetliveConfig } from './options.js';
import { versionOfInstall } from '../../shared/install-layout.js';
import { recordFailedFlip } from './failed-flip.js';
import { awaitHealthy } from './health.js';
import { isDir, replaceLink } from './links.js';
import { svStop, svUp } from './sv.js';

/**
 * Points `current` back at the previous install (and `last` where it was before the flip), starts it and
 * waits for it as for any start, so the error can say whether the old version serves again. Crash-safe as it
 * only repeats steps of a flip: killed midway, the next pass finds `current` off the intended version and flips.
 */
async function rollBack(config: SetliveConfig, a: AwaitHealthAction, to: string, log: Logger): Promise<string> {
  const old = versionOfInstall(a.app, to);
  if (!(await isDir(to))) return `cannot roll back: ${to} is gone`;
  log.warn({ action: 'rollback', to }, 'health check failed; rolling back');
  await svStop(config, a.dir);
  await replaceLink(join(a.basedir, 'current'), to);
  if (a.restoreLast && (await isDir(a.restoreLast))) await replaceLink(join(a.basedir, 'last'), a.restoreLast);
  await svUp(config, a.dir);
  const back = await awaitHealthy(config, a.dir, to, a.health, a.timeoutMs);
  return back.ok ? `rolled back to ${old}, which is up and healthy` : `rolled back to ${old}, which is not healthy either: ${back.output}`;
}

/**
 * Waits for the started version to be up (settle time) and healthy (check, if any) within the action's
 * timeout. On failure: rolls back when there is something to roll back to, records the failed attempt (so
 * the plan holds the same flip for --failed-flip-hold-seconds), and throws with the check's output.
 */
export async function applyAwaitHealth(config: SetliveConfig, a: AwaitHealthAction, log: Logger, signal?: AbortSignal): Promise<{ changed: boolean }> {
  // An abort (the agent stopping) throws from here, before any rollback: the started version stays up.
  const result = await awaitHealthy(config, a.dir, a.target, a.health, a.timeoutMs, signal);
  if (result.ok) return { changed: false };
  const what = `${a.app} ${a.version} did not become healthy within ${a.timeoutMs} ms: ${result.output}`;
  let after = 'no previous version to roll back to; left as is';
  if (a.rollbackTo) after = await rollBack(config, a, a.rollbackTo, log).catch((err: Error) => `rollback failed: ${err.message}`);
  await recordFailedFlip(a.dir, { target: a.target, fingerprint: a.fingerprint, atMs: Date.now(), reason: result.output })
    .catch((err: Error) => log.warn({ action: 'record-failure', err: err.message }, 'cannot record the failed flip; it may be retried sooner'));
  throw new Error(`${what}; ${after}`);
}
