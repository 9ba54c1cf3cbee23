import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AwaitHealthAction, RollBackAction } from './actions.js';
import type { SetliveConfig } from './options.js';
import { versionOfInstall } from '../../shared/install-layout.js';
import { readFlipStart, recordFailedFlip } from './failed-flip.js';
import type { ApplyContext } from './apply-context.js';
import { awaitHealthy, holdHealthy } from './health.js';
import { isDir, readLinkState, replaceLink } from './links.js';
import { svStop, svUp } from './sv.js';

/**
 * Puts `last` back where it was before the flip from `to` to `target` (FLIP_FILE), or removes it when there was
 * none: after a rollback `last` never equals `current`. Without a record of that flip it is left alone.
 */
async function restoreLast(r: Pick<RollBackAction, 'dir' | 'basedir' | 'target' | 'to'>): Promise<void> {
  const start = await readFlipStart(r.dir);
  if (!start || start.target !== r.target || start.from !== r.to) return;
  const last = join(r.basedir, 'last');
  if (start.last && start.last !== r.to && (await isDir(start.last))) await replaceLink(last, start.last);
  else if ((await readLinkState(last)).target === r.to) await unlink(last);
}

/**
 * Points `current` back at `to` (and `last` where it was before the flip), starts it and waits for it as for
 * any start, so the error can say whether the old version serves again. The failed attempt is recorded before
 * this starts, so a run killed midway finds it held and finishes the rollback (roll-back) rather than retrying.
 */
async function rollBack(
  config: SetliveConfig,
  r: Omit<RollBackAction, 'kind'>,
  log: Logger,
  signal?: AbortSignal,
): Promise<{ ok: boolean; said: string }> {
  const old = versionOfInstall(r.app, r.to);
  if (!(await isDir(r.to))) return { ok: false, said: `cannot roll back: ${r.to} is gone` };
  if (r.restart) {
    log.warn({ action: 'rollback', to: r.to }, 'health check failed; rolling back');
    await svStop(config, r.dir);
    await replaceLink(join(r.basedir, 'current'), r.to);
    log.debug({ action: 'rollback', to: r.to }, 'current points back at the previous install');
  }
  await restoreLast(r);
  await svUp(config, r.dir);
  const back = await awaitHealthy(config, r.dir, r.to, r.health, r.timeoutMs, signal);
  return {
    ok: back.ok,
    said: back.ok ? `rolled back to ${old}, which is up and healthy` : `rolled back to ${old}, which is not healthy either: ${back.output}`,
  };
}

/**
 * Waits for the started version to be up (settle time) and healthy (check, if any) within the action's
 * timeout. On failure: records the failed attempt (so the plan holds the same flip for
 * --failed-flip-hold-seconds, and a run killed during the rollback finishes it), rolls back when there is
 * something to roll back to, and throws with the check's output.
 */
export async function applyAwaitHealth(
  config: SetliveConfig,
  a: AwaitHealthAction,
  log: Logger,
  ctx: ApplyContext,
): Promise<{ changed: boolean }> {
  const { signal, fleet } = ctx;
  // An abort (the agent stopping) throws from here, before any rollback: the started version stays up.
  let result = await awaitHealthy(config, a.dir, a.target, a.health, a.timeoutMs, signal);
  if (result.ok && a.minHealthyMs > 0) result = await holdHealthy(a.dir, a.target, a.health, a.minHealthyMs, signal);
  if (result.ok) return { changed: false };
  const what = `${a.app} ${a.version} did not become healthy within ${a.timeoutMs} ms: ${result.output}`;
  // Before the rollback (and the slot's release): a node that takes the slot next must already see it.
  await fleet
    ?.recordVerdict(a.app, a.fingerprint, { version: a.version, sha256: a.sha256, at: new Date().toISOString(), output: result.output })
    .catch((err: Error) =>
      log.warn({ action: 'record-verdict', err: err.message }, 'cannot record the verdict for the other nodes; they may try this version'),
    );
  await recordFailedFlip(a.dir, {
    target: a.target,
    fingerprint: a.fingerprint,
    atMs: Date.now(),
    reason: result.output,
    rollbackTo: a.rollbackTo,
  }).catch((err: Error) =>
    log.warn({ action: 'record-failure', err: err.message }, 'cannot record the failed flip; it may be retried sooner'),
  );
  let after = 'no previous version to roll back to; left as is';
  if (a.rollbackTo) {
    const r = {
      app: a.app,
      version: a.version,
      dir: a.dir,
      basedir: a.basedir,
      target: a.target,
      to: a.rollbackTo,
      restart: true,
      health: a.health,
      timeoutMs: a.timeoutMs,
    };
    after = await rollBack(config, r, log).then(
      (b) => b.said,
      (err: Error) => `rollback failed: ${err.message}`,
    );
  }
  // The flip is over (the old version is back, or there is none): the slot goes back now, not after this app's
  // retry delay. A release that fails here is retried by the plan (release-slot) as long as the slot is held.
  if (fleet?.heldSlots().has(a.app))
    await fleet
      .release(a.app)
      .catch((err: Error) => log.warn({ action: 'release-slot', err: err.message }, 'cannot give back the rollout slot yet'));
  throw new Error(`${what}; ${after}`);
}

/** Finishes a held attempt's rollback; throws when the version rolled back to is not healthy either. */
export async function applyRollBack(
  config: SetliveConfig,
  a: RollBackAction,
  log: Logger,
  signal?: AbortSignal,
): Promise<{ changed: boolean }> {
  const back = await rollBack(config, a, log, signal);
  if (!back.ok) throw new Error(`${a.app} ${a.version} failed its health check and is held; ${back.said}`);
  return { changed: true };
}
