import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

const TEMP = /^\.pp-tmp-(.+)\.(\d+)\.[0-9a-f]+$/;

/** Temp folders this process is using right now: never removed as leftovers, even though their pid is ours. */
const inUse = new Set<string>();

/** A fresh temp path in `dir` for `label`; the `.pp-tmp-` prefix and pid let a later run spot it as a leftover. */
export function tempPathIn(dir: string, label: string): string {
  return join(dir, `.pp-tmp-${label}.${process.pid}.${randomBytes(4).toString('hex')}`);
}

/** Marks `path` as in use until `work` settles, so a concurrent cleanup in this process leaves it alone. */
export async function usingTemp<T>(path: string, work: () => Promise<T>): Promise<T> {
  inUse.add(path);
  try {
    return await work();
  } finally {
    inUse.delete(path);
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return false; // our own in-flight temps are in `inUse`
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temp entries in `dir` left by a run that is gone (its pid is dead, or ours but not in flight). */
export async function staleTemps(dir: string): Promise<string[]> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const entry of entries) {
    const m = TEMP.exec(entry);
    const path = join(dir, entry);
    if (m && !inUse.has(path) && !alive(Number(m[2]))) out.push(path);
  }
  return out;
}

/** Removes leftovers of killed runs in each `installs/` folder; failures are logged, never fatal. */
export async function cleanStaleTemps(installDirs: Iterable<string>, log?: Logger): Promise<number> {
  let removed = 0;
  for (const dir of installDirs) {
    for (const path of await staleTemps(dir)) {
      try {
        await rm(path, { recursive: true, force: true });
        removed += 1;
        log?.info({ action: 'clean-temp', path }, 'removed a temp folder left by a killed run');
      } catch (err) {
        log?.warn({ action: 'clean-temp', path, err: (err as Error).message }, 'cannot remove leftover temp folder');
      }
    }
  }
  return removed;
}
