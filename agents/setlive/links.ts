import { lstat, readlink, stat, symlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { renameIntoPlace, tempPathBeside } from '../../shared/atomic-file.js';

/** What sits at a path that should be a symlink: nothing, a symlink (with its resolved target), or something else. */
export interface LinkState {
  kind: 'missing' | 'link' | 'other';
  /** Absolute target of the link. */
  target?: string;
  /** The link resolves to an existing folder. */
  valid: boolean;
}

/** Folder exists (following links). */
export async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

/** Reads the symlink at `path` without following it further than to check that its target is a folder. */
export async function readLinkState(path: string): Promise<LinkState> {
  const info = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!info) return { kind: 'missing', valid: false };
  if (!info.isSymbolicLink()) return { kind: 'other', valid: false };
  const target = resolve(dirname(path), await readlink(path));
  return { kind: 'link', target, valid: await isDir(target) };
}

/**
 * Points the symlink `path` at `target` atomically: a new link under a temp name, renamed over the old one,
 * so `path` is always either the old link or the new one. Returns false when it already pointed there.
 */
export async function replaceLink(path: string, target: string): Promise<boolean> {
  const state = await readLinkState(path);
  if (state.kind === 'link' && state.target === target) return false;
  if (state.kind === 'other') throw new Error(`${path} exists and is not a symlink; refusing to replace it`);
  const temp = tempPathBeside(path);
  await symlink(target, temp);
  await renameIntoPlace(temp, path);
  return true;
}
