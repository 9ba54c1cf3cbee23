import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { readFile } from '../../shared/read-file.js';
import { join } from 'node:path';

/** What runsv says about a service's main process. `unsupervised`: no runsv is running for it. */
export interface SvStatus {
  state: 'run' | 'down' | 'finish' | 'unsupervised';
  pid?: number;
  /** Whole seconds in the current state. */
  seconds: number;
  /** When the current state began (epoch ms), from runsv's status record. */
  sinceMs?: number;
  /** runsv will (re)start the process on its own (e.g. it is in the 1 s pause after a crash). */
  wantUp: boolean;
  wantDown: boolean;
  /** The status in `sv status` words, for logs, errors and reality. */
  text: string;
}

const STATES = ['down', 'run', 'finish'] as const;
// TAI64 labels count from 2^62, and runit's tai_now() adds the 10 s TAI-UTC offset of 1970.
const TAI_EPOCH = (1n << 62n) + 10n;

function unsupervised(dir: string, why: string): SvStatus {
  return { state: 'unsupervised', seconds: 0, wantUp: false, wantDown: false, text: `fail: ${dir}: ${why}` };
}

/**
 * Decodes runsv's 20-byte `supervise/status` record the way sv(8) does: a TAI64N stamp of the last state
 * change, the pid (little-endian), then the paused, want ('u'/'d'), got-TERM and run/down/finish bytes.
 */
export function decodeRunsvStatus(raw: Buffer, dir: string, nowMs = Date.now()): SvStatus {
  if (raw.length < 20) return unsupervised(dir, `supervise/status has ${raw.length} bytes, expected 20`);
  const state = STATES[raw[19]!];
  if (!state) return unsupervised(dir, `supervise/status has an unknown state ${raw[19]}`);
  const pid = raw.readUInt32LE(12) || undefined;
  const sinceMs = Number(raw.readBigUInt64BE(0) - TAI_EPOCH) * 1000 + raw.readUInt32BE(8) / 1e6;
  const seconds = Math.max(0, Math.floor((nowMs - sinceMs) / 1000));
  const want = String.fromCharCode(raw[17]!);
  const wantUp = pid === undefined && want === 'u';
  const wantDown = pid !== undefined && want === 'd';
  const flags = [
    wantUp && 'want up',
    wantDown && 'want down',
    pid !== undefined && raw[16] && 'paused',
    pid !== undefined && raw[18] && 'got TERM',
  ].filter(Boolean);
  const text = `${state}: ${dir}: ${pid === undefined ? '' : `(pid ${pid}) `}${seconds}s${flags.map((f) => `, ${f}`).join('')}`;
  return { state, pid, seconds, sinceMs, wantUp, wantDown, text };
}

/** True when a runsv holds `supervise/ok` open: opening a FIFO for writing without blocking fails (ENXIO) otherwise. */
async function runsvAlive(dir: string): Promise<string | undefined> {
  try {
    const fd = await open(join(dir, 'supervise', 'ok'), constants.O_WRONLY | constants.O_NONBLOCK);
    await fd.close();
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENXIO' ? 'runsv not running' : `unable to open supervise/ok: ${code ?? (err as Error).message}`;
  }
}

/**
 * Reads the status of the service in `dir` straight from runsv's files, as `sv status` does, without
 * spawning a process: flips poll it every few ms, so this keeps a stop or start from waiting on fork+exec.
 */
export async function readRunsvStatus(dir: string): Promise<SvStatus> {
  const dead = await runsvAlive(dir);
  if (dead) return unsupervised(dir, dead);
  try {
    return decodeRunsvStatus(await readFile(join(dir, 'supervise', 'status')), dir);
  } catch (err) {
    return unsupervised(dir, `unable to read supervise/status: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
