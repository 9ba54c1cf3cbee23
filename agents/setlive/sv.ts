import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../../shared/backoff.js';
import { runCommand } from '../../shared/process.js';
import type { SetliveConfig } from './config.js';

/** What `sv status` says about a service's main process. `unsupervised`: no runsv is running for it. */
export interface SvStatus {
  state: 'run' | 'down' | 'finish' | 'unsupervised';
  pid?: number;
  /** Whole seconds in the current state, as runit reports them. */
  seconds: number;
  /** When the current state began (epoch ms), from runsv's status file when it matches (sv rounds to seconds). */
  sinceMs?: number;
  /** runsv will (re)start the process on its own (e.g. it is in the 1 s pause after a crash). */
  wantUp: boolean;
  wantDown: boolean;
  text: string;
}

const POLL_MS = 20; // only while a stop or start is in flight: each poll is one short `sv status`

/** Parses the first segment (the main service; `; run: log: …` follows) of `sv status <dir>` output. */
export function parseSvStatus(output: string, dir: string): SvStatus {
  const text = output.trim().split('\n')[0] ?? '';
  const unsupervised: SvStatus = { state: 'unsupervised', seconds: 0, wantUp: false, wantDown: false, text };
  const head = /^(run|down|finish): /.exec(text);
  if (!head) return unsupervised;
  let rest = text.slice(head[0].length);
  if (rest.startsWith(`${dir}: `)) rest = rest.slice(dir.length + 2);
  const first = rest.split(';')[0] ?? '';
  const m = /^(?:\(pid (\d+)\) )?(\d+)s(.*)$/.exec(first);
  if (!m) return unsupervised;
  const flags = m[3] ?? '';
  return {
    state: head[1] as SvStatus['state'],
    pid: m[1] === undefined ? undefined : Number(m[1]),
    seconds: Number(m[2]),
    wantUp: flags.includes('want up'),
    wantDown: flags.includes('want down'),
    text,
  };
}

/**
 * When the state recorded in runsv's 20-byte `supervise/status` began (a TAI64N label, then the pid
 * little-endian; the file sv itself reads), in epoch ms; undefined when unreadable or about another pid.
 */
async function statusFileSince(dir: string, pid: number | undefined): Promise<number | undefined> {
  const raw = await readFile(join(dir, 'supervise', 'status')).catch(() => undefined);
  if (!raw || raw.length < 20 || pid === undefined || raw.readUInt32LE(12) !== pid) return undefined;
  return Number(raw.readBigUInt64BE(0) - (1n << 62n) - 10n) * 1000 + raw.readUInt32BE(8) / 1e6;
}

/** Asks runit for the status of the service in `dir` (an absolute path, so sv never looks at $SVDIR). */
export async function svStatus(config: SetliveConfig, dir: string): Promise<SvStatus> {
  const result = await runCommand([config.sv, 'status', dir], { timeoutMs: 10_000 });
  const status = parseSvStatus(result.stdout + result.stderr, dir);
  if (status.state === 'run') status.sinceMs = await statusFileSince(dir, status.pid);
  return status;
}

/** True when the status says the process may be running now or soon (so a restart must stop it first). */
export function mayRun(status: SvStatus): boolean {
  return status.state === 'run' || status.state === 'finish' || (status.state === 'down' && status.wantUp);
}

/** Polls `sv status` until `done` holds or `timeoutMs` passes; returns the last status either way. */
export async function pollStatus(config: SetliveConfig, dir: string, timeoutMs: number, done: (s: SvStatus) => boolean): Promise<SvStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await svStatus(config, dir);
    if (done(status) || Date.now() >= deadline) return status;
    await sleep(POLL_MS);
  }
}

const isDown = (s: SvStatus) => s.state === 'down' || s.state === 'unsupervised';

/**
 * Sends one control command (`up`, `down`, `kill`, `exit`) without sv's own 420 ms-step waiting. A runsv
 * that vanished meanwhile (runsvdir ends it once its link is gone) counts as done for all but `up`.
 */
async function svControl(config: SetliveConfig, command: string, dir: string): Promise<void> {
  const result = await runCommand([config.sv, command, dir], { timeoutMs: 10_000 });
  const said = (result.stdout + result.stderr).trim();
  if (result.exitCode === 0 || (command !== 'up' && /runsv not running/.test(said))) return;
  throw new Error(`sv ${command} ${dir} exited ${result.exitCode}: ${said}`);
}

/**
 * Stops the service and waits until runit reports it down: `sv down` (TERM), and `sv kill` once the stop
 * timeout has passed. Returns false when there was nothing to stop; throws when it is still not down.
 */
export async function svStop(config: SetliveConfig, dir: string): Promise<boolean> {
  const before = await svStatus(config, dir);
  if (before.state === 'unsupervised') return false;
  await svControl(config, 'down', dir);
  let after = await pollStatus(config, dir, config.stopTimeoutMs, isDown);
  if (!isDown(after)) {
    await svControl(config, 'kill', dir);
    after = await pollStatus(config, dir, 5000, isDown);
  }
  if (!isDown(after)) throw new Error(`cannot stop ${dir}: still ${after.text} after sv down and sv kill`);
  return mayRun(before);
}

/** Waits until a runsv supervises `dir` (runsvdir picks a new link up within about 5 s). */
export async function waitSupervised(config: SetliveConfig, dir: string): Promise<SvStatus> {
  const status = await pollStatus(config, dir, config.pickupTimeoutMs, (s) => s.state !== 'unsupervised');
  if (status.state === 'unsupervised') {
    throw new Error(`no runsv supervises ${dir} after ${config.pickupTimeoutMs} ms (is runsvdir running on ${config.serviceDir}?): ${status.text}`);
  }
  return status;
}

/** `sv up`: asks runsv to start the service and keep it running. Returns false when it already ran. */
export async function svUp(config: SetliveConfig, dir: string): Promise<boolean> {
  const before = await waitSupervised(config, dir);
  await svControl(config, 'up', dir);
  return !(before.state === 'run' && !before.wantDown);
}

/** Stops the service and makes its runsv (and the log's) exit; waits until no runsv is left on it. */
export async function svExit(config: SetliveConfig, dir: string): Promise<boolean> {
  const stopped = await svStop(config, dir);
  const before = await svStatus(config, dir);
  if (before.state === 'unsupervised') return stopped;
  await svControl(config, 'exit', dir);
  const after = await pollStatus(config, dir, config.stopTimeoutMs + 5000, (s) => s.state === 'unsupervised');
  if (after.state !== 'unsupervised') throw new Error(`sv exit ${dir}: runsv still running: ${after.text}`);
  return true;
}
