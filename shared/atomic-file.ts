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

/**
 * Writes `content` to `path` atomically (temp → fsync → rename → fsync dir) unless the file already holds
 * exactly that content. Returns true when it wrote.
 */
export async function writeFileAtomic(path: string, content: string | Buffer, mode = 0o644): Promise<boolean> {
  const wanted = typeof content === 'string' ? Buffer.from(content) : content;
  // Only a file of the same size can hold the same content: one of another size (a huge one another tool left in a
  // store key) is replaced without being read.
  const size = await stat(path).then(
    (info) => (info.isFile() ? info.size : undefined),
    () => undefined,
  );
  const current = size === wanted.length ? await readFile(path).catch(() => undefined) : undefined;
  if (current?.equals(wanted)) return false;
  await mkdir(dirname(path), { recursive: true });
  const temp = tempPathBeside(path);
  try {
    const handle = await open(temp, 'w', mode);
    try {
      await handle.writeFile(wanted);
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
