import type { Logger } from 'pino';
import { removeLeftovers } from '../../shared/leftovers.js';
import { pruneInstall } from './prune.js';
import type { PreparerAction, PreparerOptions } from './types.js';

/** Performs one preparer action; throws with a message naming what failed. */
export async function applyPreparer(
  options: PreparerOptions,
  action: PreparerAction,
  log: Logger,
  signal?: AbortSignal,
): Promise<{ changed: boolean }> {
  switch (action.kind) {
    case 'install': {
      // Loaded on first use: the download and extraction code (node-tar, the worker) costs an idle agent a few MB.
      const { installVersion } = await import('./install.js');
      return installVersion(action, options, log, signal);
    }
    case 'prune':
      return pruneInstall(action, log);
    case 'clean-leftovers':
      return { changed: await removeLeftovers(action.paths) };
  }
}
