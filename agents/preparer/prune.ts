import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { installsDir, linkedInstall, recordName, removeAside } from '../../shared/install-layout.js';
import type { PruneAction } from './types.js';

/**
 * Removes one install (renamed aside first, so a crash mid-delete never leaves a half-deleted install under its
 * real name), then its record. Re-checks `current`/`last` first, since they may have moved since the pass
 * observed them.
 */
export async function pruneInstall(action: PruneAction, log: Logger): Promise<{ changed: boolean }> {
  const dir = installsDir(action.basedir);
  const linked = [await linkedInstall(action.basedir, 'current'), await linkedInstall(action.basedir, 'last')];
  if (linked.includes(action.name)) {
    log.warn({ action: 'prune', install: action.name }, 'not pruning: current or last points to it now');
    return { changed: false };
  }
  const removed = await removeAside(join(dir, action.name), `${action.name}-pruned`);
  const recordPath = join(dir, recordName(action.name));
  const hadRecord = (await lstat(recordPath).catch(() => undefined)) !== undefined;
  await rm(recordPath, { force: true });
  return { changed: removed || hadRecord };
}
