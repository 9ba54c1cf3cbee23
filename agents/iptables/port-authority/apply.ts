import { rm } from 'node:fs/promises';
import { readFile } from '../../../shared/read-file.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { fsyncDir, writeFileAtomic } from '../../../shared/atomic-file.js';
import { removeLeftovers } from '../../../shared/leftovers.js';
import type { ActionResult } from '../../../shared/loop/types.js';
import { runChecked } from '../../../shared/process.js';
import { MANAGED_HEADER, parseAppFile, REFRESH_MARKER } from './files.js';
import { readMarker, type PaOptions } from './observe.js';
import type { PaAction } from './plan.js';

/** Adds `app` to the refresh marker before its file changes, so a crash can never lose the refresh. */
async function markPending(configDir: string, app: string): Promise<void> {
  const marker = await readMarker(configDir);
  if (marker.pending && marker.apps.includes(app)) return;
  await writeFileAtomic(join(configDir, REFRESH_MARKER), `${[...marker.apps, app].join('\n')}\n`);
}

async function writeAppFile(options: PaOptions, app: string, content: string): Promise<ActionResult> {
  const path = join(options.configDir, `${app}.yml`);
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === content) return { changed: false };
  // Checked again here: the file may have been written by hand since the plan.
  if (current !== undefined && !parseAppFile(current).managed)
    throw new Error(`${path} was not written by pp-iptables; refusing to overwrite it`);
  await markPending(options.configDir, app);
  return { changed: await writeFileAtomic(path, content) };
}

async function removeAppFile(options: PaOptions, app: string): Promise<ActionResult> {
  const path = join(options.configDir, `${app}.yml`);
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === undefined || current.split('\n')[0] !== MANAGED_HEADER) return { changed: false };
  await markPending(options.configDir, app);
  await rm(path, { force: true });
  await fsyncDir(options.configDir);
  return { changed: true };
}

/** Runs `<refresh> rebuild` when the marker says a change is not yet refreshed, then clears the marker. */
async function refresh(options: PaOptions, log: Logger): Promise<ActionResult> {
  if (!(await readMarker(options.configDir)).pending) return { changed: false };
  log.debug({ action: 'refresh', command: options.refresh.join(' ') }, 'refreshing port_authority');
  await runChecked([...options.refresh, 'rebuild'], { prefix: options.prefix });
  await rm(join(options.configDir, REFRESH_MARKER), { force: true });
  await fsyncDir(options.configDir);
  return { changed: true };
}

/** Performs one port_authority action; every file change is compared first and atomic. */
export async function applyPortAuthority(options: PaOptions, action: PaAction, log: Logger): Promise<ActionResult> {
  switch (action.kind) {
    case 'clean-leftovers':
      return { changed: await removeLeftovers(action.paths) };
    case 'write-file':
      return writeAppFile(options, action.app, action.content);
    case 'remove-file':
      return removeAppFile(options, action.app);
    case 'refresh':
      return refresh(options, log);
  }
}
