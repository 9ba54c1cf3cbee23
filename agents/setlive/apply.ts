import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import type { ActionResult } from '../../shared/loop/types.js';
import type { AcquireSlotAction, SetliveAction } from './actions.js';
import type { ApplyContext } from './apply-context.js';
import { verdictBlock } from '../../shared/rollout/verdicts.js';
import { applyAwaitHealth, applyRollBack } from './apply-health.js';
import { readFlipStart, recordFlipStart } from './failed-flip.js';
import { CONFIRMED_FILE } from './stage-layout.js';
import type { SetliveConfig } from './options.js';
import { staleTemps } from '../../shared/temp-files.js';
import { isDir, readLinkState, replaceLink } from './links.js';
import { removeAside } from '../../shared/install-layout.js';
import { removeLeftovers } from '../../shared/leftovers.js';
import { svExit, svStop, svUp } from './sv.js';
import { assertOurs, markOurs } from './ownership.js';
import { SCRIPT_MODE } from './service-files.js';

/**
 * Writes the marker first (so even a folder cut short is known as ours), then log/main, log/run, then run
 * (last, so a folder with a run script is complete); compare-before-write, and a script whose mode alone drifted
 * gets it back in place. Never writes into a folder not ours.
 */
async function writeService(app: string, dir: string, run: string, logRun: string): Promise<boolean> {
  await assertOurs(dir, app);
  await mkdir(dir, { recursive: true });
  const marked = await markOurs(dir, app);
  const madeMain = (await mkdir(join(dir, 'log', 'main'), { recursive: true })) !== undefined;
  const wroteLog = await writeFileAtomic(join(dir, 'log', 'run'), logRun, SCRIPT_MODE);
  const wroteRun = await writeFileAtomic(join(dir, 'run'), run, SCRIPT_MODE);
  return marked || madeMain || wroteLog || wroteRun;
}

/**
 * Records where the flip starts from (in the stage folder `dir`), keeps the old target as `last`, then points
 * `current` at the new install; both renames are atomic. A swap cut short after `last` moved finds `last` on
 * `current` already: the record it wrote then still holds what `last` was, and is kept.
 */
async function swapCurrent(basedir: string, target: string, dir: string): Promise<boolean> {
  if (!(await isDir(target))) throw new Error(`${target} is missing; cannot make it current`);
  await removeLeftovers(await staleTemps(basedir, ['current', 'last']));
  const current = await readLinkState(join(basedir, 'current'));
  if (current.kind === 'link' && current.target === target) return false;
  if (current.kind === 'link' && current.valid && current.target) {
    const last = await readLinkState(join(basedir, 'last'));
    const started = await readFlipStart(dir);
    const resumed = started?.target === target && started.from === current.target && last.target === current.target;
    if (!resumed) await recordFlipStart(dir, { target, from: current.target, last: last.valid ? last.target : undefined });
    await replaceLink(join(basedir, 'last'), current.target);
  }
  return replaceLink(join(basedir, 'current'), target);
}

/** Links the service folder where runsvdir looks, never over something that is not ours. */
async function linkService(link: string, dir: string): Promise<boolean> {
  const state = await readLinkState(link);
  if (state.kind === 'link' && state.target === dir) return false;
  if (state.kind !== 'missing') throw new Error(`${link} exists and is not a symlink to ${dir}; refusing to replace it`);
  return replaceLink(link, dir);
}

async function unlinkService(link: string, dir: string): Promise<boolean> {
  const state = await readLinkState(link);
  if (state.kind !== 'link' || state.target !== dir) return false;
  await unlink(link);
  return true;
}

/** Renamed aside first, so a removal cut short never leaves a half folder that looks staged. Only a folder of ours. */
async function removeStage(app: string, dir: string): Promise<boolean> {
  return (await assertOurs(dir, app)) !== 'missing' && removeAside(dir);
}

async function adoptService(app: string, dir: string): Promise<boolean> {
  return (await assertOurs(dir, app)) !== 'missing' && markOurs(dir, app);
}

/**
 * Takes the slot if one is free; if none is, answers "not yet" (looked at again when the lock changes) rather
 * than waiting in one of the agent's --parallel slots. Once taken, reads the verdicts once more: while this node
 * waited, the holders may have failed the same attempt. A version blocked by them gives the slot back at once and
 * is not tried.
 */
async function acquireSlot(a: AcquireSlotAction, ctx: ApplyContext): Promise<ActionResult> {
  if (!ctx.fleet) throw new Error(`${a.app} has a rollout policy, but this pp-setlive has no store to pace its flips through`);
  const attempt = await ctx.fleet.tryAcquire(a.app, a.limit, a.version, ctx.signal ?? new AbortController().signal);
  if (!attempt.held) return { changed: false, notYet: { reason: attempt.reason, until: attempt.changed } };
  let blocked: string | undefined;
  try {
    blocked = verdictBlock(await ctx.fleet.verdicts(a.app, a.fingerprint), a.maxFailures);
  } catch (err) {
    await ctx.fleet.release(a.app).catch(() => {});
    throw new Error(`cannot read the verdicts on ${a.version}; not flipping: ${(err as Error).message}`);
  }
  if (blocked) {
    await ctx.fleet.release(a.app);
    throw new Error(blocked);
  }
  return { changed: true };
}

async function run(config: SetliveConfig, a: SetliveAction, log: Logger, ctx: ApplyContext): Promise<boolean> {
  const { signal } = ctx;
  switch (a.kind) {
    case 'acquire-slot':
      return (await acquireSlot(a, ctx)).changed === true;
    case 'release-slot':
      return ctx.fleet ? ctx.fleet.release(a.app) : false;
    case 'clean-leftovers':
      return removeLeftovers(a.paths);
    case 'stop':
      return svStop(config, a.dir);
    case 'write-service':
      return writeService(a.app, a.dir, a.run, a.logRun);
    case 'swap-current':
      return swapCurrent(a.basedir, a.target, a.dir);
    case 'link-service':
      return linkService(a.link, a.dir);
    case 'start':
      return svUp(config, a.dir);
    case 'await-health':
      return (await applyAwaitHealth(config, a, log, ctx)).changed;
    case 'roll-back':
      return (await applyRollBack(config, a, log, signal)).changed;
    case 'confirm':
      return writeFileAtomic(join(a.dir, CONFIRMED_FILE), `${a.target}\n`);
    case 'unlink-service':
      return unlinkService(a.link, a.dir);
    case 'adopt-service':
      return adoptService(a.app, a.dir);
    case 'exit-service':
      return (await assertOurs(a.dir, a.app)) !== 'missing' && svExit(config, a.dir);
    case 'remove-stage':
      return removeStage(a.app, a.dir);
  }
}

/**
 * A stop for a flip is always followed by its start, even when the agent is stopping meanwhile: a clean stop
 * of pp-setlive never leaves a service down.
 */
export function finishBeforeStop(done: SetliveAction[], rest: SetliveAction[]): boolean {
  return done.some((a) => a.kind === 'stop') && rest.some((a) => a.kind === 'start');
}

/** Performs one action; throws with a message naming what failed. */
export async function applySetlive(
  config: SetliveConfig,
  action: SetliveAction,
  log: Logger,
  ctx: ApplyContext = {},
): Promise<ActionResult> {
  log.debug({ action: action.kind }, 'applying');
  if (action.kind === 'acquire-slot') return acquireSlot(action, ctx);
  return { changed: await run(config, action, log, ctx) };
}
