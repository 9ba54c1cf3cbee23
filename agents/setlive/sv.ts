import { sleep } from '../../shared/backoff.js';
import type { SetliveConfig } from './options.js';
import { sendRunsvCommand, type RunsvCommand } from './runsv-control.js';
import { readRunsvStatus, type SvStatus } from './runsv-status.js';

export type { SvStatus } from './runsv-status.js';

// Reading the status is a few file operations (no process), so a stop or start in flight can poll it often.
const POLL_MS = 5;

/** True when the status says the process may be running now or soon (so a restart must stop it first). */
export function mayRun(status: SvStatus): boolean {
  return status.state === 'run' || status.state === 'finish' || (status.state === 'down' && status.wantUp);
}

/** Polls runsv's status until `done` holds or `timeoutMs` passes; returns the last status either way. */
async function pollStatus(dir: string, timeoutMs: number, done: (s: SvStatus) => boolean): Promise<SvStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await readRunsvStatus(dir);
    if (done(status) || Date.now() >= deadline) return status;
    await sleep(POLL_MS);
  }
}

const isDown = (s: SvStatus) => s.state === 'down' || s.state === 'unsupervised';

/** Sends one command to the service's runsv. A runsv that vanished meanwhile (runsvdir ends it once its link is gone) counts as done for all but `up`. */
async function svControl(command: RunsvCommand, dir: string): Promise<void> {
  if ((await sendRunsvCommand(dir, command)) || command !== 'up') return;
  throw new Error(`cannot start ${dir}: runsv not running`);
}

/**
 * Stops the service and waits until runit reports it down: `sv down` (TERM), and `sv kill` once the stop
 * timeout has passed. Returns false when there was nothing to stop; throws when it is still not down.
 */
export async function svStop(config: SetliveConfig, dir: string): Promise<boolean> {
  const before = await readRunsvStatus(dir);
  if (before.state === 'unsupervised') return false;
  await svControl('down', dir);
  let after = await pollStatus(dir, config.stopTimeoutMs, isDown);
  if (!isDown(after)) {
    await svControl('kill', dir);
    after = await pollStatus(dir, 5000, isDown);
  }
  if (!isDown(after)) throw new Error(`cannot stop ${dir}: still ${after.text} after sv down and sv kill`);
  return mayRun(before);
}

/** Waits until a runsv supervises `dir` (runsvdir picks a new link up within about 5 s). */
async function waitSupervised(config: SetliveConfig, dir: string): Promise<SvStatus> {
  const status = await pollStatus(dir, config.pickupTimeoutMs, (s) => s.state !== 'unsupervised');
  if (status.state === 'unsupervised') {
    throw new Error(
      `no runsv supervises ${dir} after ${config.pickupTimeoutMs} ms (is runsvdir running on ${config.serviceDir}?): ${status.text}`,
    );
  }
  return status;
}

/** `sv up`: asks runsv to start the service and keep it running. Returns false when it already ran. */
export async function svUp(config: SetliveConfig, dir: string): Promise<boolean> {
  const before = await waitSupervised(config, dir);
  await svControl('up', dir);
  return !(before.state === 'run' && !before.wantDown);
}

/** Stops the service and makes its runsv (and the log's) exit; waits until no runsv is left on it. */
export async function svExit(config: SetliveConfig, dir: string): Promise<boolean> {
  const stopped = await svStop(config, dir);
  const before = await readRunsvStatus(dir);
  if (before.state === 'unsupervised') return stopped;
  await svControl('exit', dir);
  const after = await pollStatus(dir, config.stopTimeoutMs + 5000, (s) => s.state === 'unsupervised');
  if (after.state !== 'unsupervised') throw new Error(`sv exit ${dir}: runsv still running: ${after.text}`);
  return true;
}
