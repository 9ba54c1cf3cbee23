import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import type { AppIntent } from '../../shared/intent/schema.js';
import { readFile } from '../../shared/read-file.js';
import { stableJson } from '../../shared/stable-json.js';

/** Name of the file in an app's stage folder that records the last flip that failed its health check. */
export const FAILED_FILE = 'pp-failed';

/** A flip that failed its health check: to which install, with which intent, when and why. */
export interface FailedFlip {
  target: string;
  fingerprint: string;
  atMs: number;
  reason: string;
  /**
   * The install the failed attempt is rolled back to. Recorded before the rollback starts, so a run that finds
   * `current` still on `target` finishes the rollback instead of retrying the flip.
   */
  rollbackTo?: string;
}

/** Name of the file in an app's stage folder that records where a flip started from. */
export const FLIP_FILE = 'pp-flip';

/**
 * A flip as it started: `current` pointed at `from` and `last` at `last` (none when absent). Written before
 * `last` moves, so a rollback, even of a flip cut short, can put `last` back instead of leaving it on `current`.
 */
export interface FlipStart {
  target: string;
  from: string;
  last?: string;
}

/** Identifies one attempt's intent: the live version's digest, the service and the health check. Any change is a new attempt. */
export function flipFingerprint(intent: AppIntent, version: string): string {
  const sha256 = intent.versions.find((v) => v.version === version)?.sha256;
  return createHash('sha256')
    .update(stableJson({ sha256, service: intent.service, health: intent.health }))
    .digest('hex')
    .slice(0, 16);
}

/** The failed flip recorded in `stageDir` (an app's stage folder), or undefined when there is none or it is unreadable. */
export async function readFailedFlip(stageDir: string): Promise<FailedFlip | undefined> {
  try {
    const rec = JSON.parse(await readFile(join(stageDir, FAILED_FILE), 'utf8')) as Partial<FailedFlip>;
    const ok =
      typeof rec.target === 'string' &&
      typeof rec.fingerprint === 'string' &&
      typeof rec.atMs === 'number' &&
      typeof rec.reason === 'string';
    return ok ? (rec as FailedFlip) : undefined;
  } catch {
    return undefined;
  }
}

/** Records a failed flip (temp → fsync → rename), so a restart holds it too. */
export async function recordFailedFlip(stageDir: string, flip: FailedFlip): Promise<void> {
  await writeFileAtomic(join(stageDir, FAILED_FILE), `${JSON.stringify(flip)}\n`);
}

/** Why a flip to `target` with `fingerprint` is held (the same attempt failed less than `holdMs` ago), or undefined. */
export function heldReason(
  failed: FailedFlip | undefined,
  target: string,
  fingerprint: string,
  holdMs: number,
  nowMs: number,
): string | undefined {
  if (!failed || failed.target !== target || failed.fingerprint !== fingerprint || nowMs >= failed.atMs + holdMs) return undefined;
  const at = new Date(failed.atMs).toISOString();
  const until = new Date(failed.atMs + holdMs).toISOString();
  return `this version failed at ${at} and is not tried again before ${until} unless its intent changes: ${failed.reason}`;
}

/** The flip start recorded in `stageDir`, or undefined when there is none or it is unreadable. */
export async function readFlipStart(stageDir: string): Promise<FlipStart | undefined> {
  try {
    const rec = JSON.parse(await readFile(join(stageDir, FLIP_FILE), 'utf8')) as Partial<FlipStart>;
    const ok = typeof rec.target === 'string' && typeof rec.from === 'string' && (rec.last === undefined || typeof rec.last === 'string');
    return ok ? (rec as FlipStart) : undefined;
  } catch {
    return undefined;
  }
}

export async function recordFlipStart(stageDir: string, flip: FlipStart): Promise<void> {
  await writeFileAtomic(join(stageDir, FLIP_FILE), `${JSON.stringify(flip)}\n`);
}
