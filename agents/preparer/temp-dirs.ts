import { rm } from 'node:fs/promises';
import { staleTemps } from '../../shared/temp-files.js';
import type { Logger } from 'pino';

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
