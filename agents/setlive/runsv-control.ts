import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';

/** The runsv(8) control characters pp-setlive uses: up, down (TERM then CONT), kill (KILL), exit. */
const CONTROL = { up: 'u', down: 'd', kill: 'k', exit: 'x' } as const;

export type RunsvCommand = keyof typeof CONTROL;

/**
 * Writes one command to `<dir>/supervise/control`, the FIFO runsv(8) reads (what `sv` itself does),
 * without blocking: no fork+exec on a flip's path. Returns false when no runsv reads it (ENXIO, ENOENT).
 */
export async function sendRunsvCommand(dir: string, command: RunsvCommand): Promise<boolean> {
  let fd: FileHandle | undefined;
  try {
    fd = await open(join(dir, 'supervise', 'control'), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENXIO' || code === 'ENOENT') return false;
    throw new Error(`cannot send ${command} to runsv of ${dir}: ${(err as Error).message}`);
  }
  try {
    await fd.write(CONTROL[command]);
    return true;
  } catch (err) {
    // EPIPE: runsv went away between the open and the write, as for a FIFO nobody reads.
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return false;
    throw new Error(`cannot send ${command} to runsv of ${dir}: ${(err as Error).message}`);
  } finally {
    await fd.close();
  }
}
