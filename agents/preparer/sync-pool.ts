import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/** Files smaller than this are left to `drain`'s caller to sync: for them an fsync costs a journal commit, not a flush of data. */
export const SMALL_FILE = 64 << 10;

/**
 * fsyncs finished files and closes them. A large file is synced at once in the background, at most `limit`
 * at a time (the rest of libuv's thread pool stays free for gunzip and writes; extraction waits for a free
 * slot, so unflushed data never piles up), which overlaps flushing its data with the download. A small file
 * is closed at once and listed by `drain`, to be synced with the folders once the digest matched, many
 * together: an archive of many small files extracts at the speed of the disk's writes rather than of its
 * commits, and one refused midway costs no fsync at all. The install is renamed into place only after all
 * of them are synced, so a crash never exposes a file whose data is not on disk.
 */
export class SyncPool {
  private readonly inFlight = new Set<Promise<void>>();
  /** Paths of small files closed unsynced; at most one per archive entry. */
  private readonly deferred: string[] = [];
  private failure: Error | undefined;

  constructor(private readonly limit = 2) {}

  /** Takes ownership of `handle`, the file of `size` bytes at `path`: it is closed, and fsynced now or listed by `drain`. */
  async add(handle: FileHandle, path: string, size: number): Promise<void> {
    if (size < SMALL_FILE && !this.failure) {
      await handle.close();
      this.deferred.push(path);
      return;
    }
    while (this.inFlight.size >= this.limit) await Promise.race(this.inFlight);
    if (this.failure) {
      await handle.close();
      throw this.failure;
    }
    const job: Promise<void> = handle.sync()
      .catch((err: Error) => { this.failure ??= err; })
      .finally(() => handle.close().catch(() => undefined))
      .finally(() => { this.inFlight.delete(job); });
    this.inFlight.add(job);
  }

  /**
   * Waits for every sync started so far (throws the first fsync error) and hands over the small files left
   * to sync that `isFile` says are still files (a later entry may have replaced one with a folder or a symlink).
   */
  async drain(isFile: (path: string) => boolean): Promise<string[]> {
    await this.settle();
    if (this.failure) throw this.failure;
    return this.deferred.splice(0).filter(isFile);
  }

  /** After a failure: waits for the syncs in flight (so their handles are closed) and forgets the deferred files. */
  async abandon(): Promise<void> {
    this.deferred.length = 0;
    await this.settle();
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
  }
}

/**
 * fsyncs files or folders made by the extraction (never a symlink), `limit` at a time: concurrent fsyncs
 * are committed together by the file system. `paths` are relative to `under` when it is given.
 */
export async function syncPaths(paths: string[], limit = 8, under?: string): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++] as string;
      const handle = await open(under === undefined ? path : join(under, path), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, paths.length) }, worker));
}
