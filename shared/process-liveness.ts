import { readFileSync } from 'node:fs';

/**
 * A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined when it is gone
 * or this system has no /proc. Recorded beside a pid, it tells that process apart from a later one that the
 * kernel gave the same pid.
 */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let ownStart: string | undefined;

/** This process's start time (processStartTime), read once. */
export function ownStartTime(): string | undefined {
  ownStart ??= processStartTime(process.pid);
  return ownStart;
}

/**
 * True while the process `pid` runs and, when `startTime` is given, is the one that started then: a pid whose
 * start time differs was reused by another process. Without a start time (records written before they carried
 * one) or without /proc to read it from, the pid alone decides. A process of another user (EPERM) counts as
 * running.
 */
export function processAlive(pid: number, startTime?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (startTime !== undefined) {
    const now = processStartTime(pid);
    if (now !== undefined) return now === startTime;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
