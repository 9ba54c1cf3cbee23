import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { readFile } from './read-file.js';
import { basename, dirname } from 'node:path';
import { tempPathIn } from './temp-files.js';

/** Name of a temp file beside `path`; its `.pp-tmp-` form lets cleanup find leftovers of a killed run. */
export function tempPathBeside(path: string): string {
  return tempPathIn(dirname(path), basename(path));
}

/** fsyncs a directory so a rename inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Renames `temp` over `path` (removing `temp` when that fails) and fsyncs the folder so the swap survives a crash. */
export async function renameIntoPlace(temp: string, path: string): Promise<void> {
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Who a written file must belong to. */
export interface FileOwner {
  uid: number;
  gid: number;
}

/** What differs between the file at `path` and what is wanted: nothing, its metadata only, or its content (or it is missing). */
async function driftOf(path: string, wanted: Buffer, mode: number, owner: FileOwner | undefined): Promise<'none' | 'metadata' | 'content'> {
  const info = await stat(path).catch(() => undefined);
  // Only a file of the same size can hold the same content: one of another size (a huge one another tool left in a
  // store key) is replaced without being read.
  if (!info?.isFile() || info.size !== wanted.length) return 'content';
  const current = await readFile(path).catch(() => undefined);
  if (!current?.equals(wanted)) return 'content';
  const modeOk = (info.mode & 0o7777) === mode;
  const ownerOk = owner === undefined || (info.uid === owner.uid && info.gid === owner.gid);
  return modeOk && ownerOk ? 'none' : 'metadata';
}

/** Sets the mode (and owner) of the file in place and fsyncs it; false when that is not allowed here. */
async function fixMetadata(path: string, mode: number, owner: FileOwner | undefined): Promise<boolean> {
  try {
    const handle = await open(path, 'r');
    try {
      if (owner) await handle.chown(owner.uid, owner.gid);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return false;
    throw err;
  }
}

/**
 * Makes `path` hold exactly `content` with permission bits `mode` (and owner `owner`, when given), as
 * consul-template compares a rendered file's content and metadata. Content that differs is written atomically
 * (temp → fsync → rename → fsync dir); when only the mode or owner drifted (a run script chmod'ed 0644), they
 * are set in place, or through the same atomic write where this process may not change them on that file.
 * Returns true when anything changed.
 */
export async function writeFileAtomic(path: string, content: string | Buffer, mode = 0o644, owner?: FileOwner): Promise<boolean> {
  const wanted = typeof content === 'string' ? Buffer.from(content) : content;
  const drift = await driftOf(path, wanted, mode, owner);
  if (drift === 'none') return false;
  if (drift === 'metadata' && (await fixMetadata(path, mode, owner))) return true;
  await mkdir(dirname(path), { recursive: true });
  const temp = tempPathBeside(path);
  try {
    const handle = await open(temp, 'w', mode);
    try {
      await handle.writeFile(wanted);
      if (owner) await handle.chown(owner.uid, owner.gid);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await renameIntoPlace(temp, path);
  return true;
}
