import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { processAlive } from './process-liveness.js';

/** `.pp-tmp-<label>.<pid>.<hex>`: every temp name Platypus writes, so a later run can spot a killed run's leftovers. */
const TEMP_NAME = /^\.pp-tmp-(.+)\.(\d+)\.[0-9a-f]+$/;

/** The label of a temp path (`.pp-tmp-<label>.<pid>.<hex>`), or undefined when it is not one. */
export function tempLabel(path: string): string | undefined {
  return TEMP_NAME.exec(basename(path))?.[1];
}

/** Temp paths this process is using right now: never leftovers, although their pid is ours. */
const inUse = new Set<string>();

/** A fresh temp path in `dir` for `label`. */
export function tempPathIn(dir: string, label: string): string {
  return join(dir, `.pp-tmp-${label}.${process.pid}.${randomBytes(4).toString('hex')}`);
}

/** Marks `path` as in use until `work` settles, so a cleanup running meanwhile in this process leaves it alone. */
export async function usingTemp<T>(path: string, work: () => Promise<T>): Promise<T> {
  inUse.add(path);
  try {
    return await work();
  } finally {
    inUse.delete(path);
  }
}

/**
 * Whether the writer named in a temp name may still be using it. The name carries the pid only: a pid reused by
 * another process merely keeps that leftover until the pid is free again.
 */
function writerAlive(pid: number): boolean {
  if (pid === process.pid) return false; // our own in-flight temps are in `inUse`
  return processAlive(pid);
}

/**
 * Temp entries in `dir` left by a run that is gone (its pid is dead, or ours but not in use), for each
 * label of `labels` (any label when not given).
 */
export async function staleTemps(dir: string, labels?: string[]): Promise<string[]> {
  return staleAmong(dir, await readdir(dir).catch(() => [] as string[]), labels);
}

/** staleTemps for a folder already listed (`entries`, its names), so a caller that read it needs no second readdir. */
export function staleAmong(dir: string, entries: string[], labels?: string[]): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    const m = TEMP_NAME.exec(entry);
    const path = join(dir, entry);
    if (m && (!labels || labels.includes(m[1]!)) && !inUse.has(path) && !writerAlive(Number(m[2]))) out.push(path);
  }
  return out;
}
