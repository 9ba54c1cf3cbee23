import { lstat, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { fsyncDir } from '../../shared/atomic-file.js';
import { recordName } from './names.js';
import { currentInstall, installsDir } from './observe.js';
import { tempPathIn } from '../../shared/temp-files.js';
import type { PruneAction } from './types.js';

/**
 * Removes one install and its record. The folder is first renamed to a temp name (atomic), so a crash
 * mid-delete never leaves a half-deleted install under its real name. Re-checks `current`/`last` first, since
 * it may have moved since the pass observed it.
 */
export async function pruneInstall(action: PruneAction, log: Logger): Promise<{ changed: boolean }> {
  const dir = installsDir(action.basedir);
  const linked = [await currentInstall(action.basedir), await currentInstall(action.basedir, 'last')];
  if (linked.includes(action.name)) {
    log.warn({ action: 'prune', install: action.name }, 'not pruning: current or last points to it now');
    return { changed: false };
  }
  const path = join(dir, action.name);
  const exists = (await lstat(path).catch(() => undefined)) !== undefined;
  const aside = tempPathIn(dir, `${action.name}-pruned`);
  if (exists) {
    await rename(path, aside);
    await fsyncDir(dir);
  }
  const recordPath = join(dir, recordName(action.name));
  const hadRecord = (await lstat(recordPath).catch(() => undefined)) !== undefined;
  await rm(recordPath, { force: true });
  if (exists) await rm(aside, { recursive: true, force: true });
  return { changed: exists || hadRecord };
}
