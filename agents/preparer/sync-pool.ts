import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';

/**
 * fsyncs finished files in the background while extraction goes on, at most `limit` at a time (the
 * rest of libuv's thread pool stays free for gunzip and writes), then closes them. The install is
 * renamed into place only after `drain` resolves, so a crash never exposes a file whose data is not on disk.
 */
export class SyncPool {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;

  constructor(private readonly limit = 2) {}

  /** Takes ownership of `handle`: it is fsynced and closed; waits first when `limit` syncs are running. */
  async add(handle: FileHandle): Promise<void> {
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

  /** Waits for every sync started so far; throws the first fsync error. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }
}

/** fsyncs folders (each made by the extraction), `limit` at a time. */
export async function syncFolders(paths: string[], limit = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const handle = await open(paths[next++] as string, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, paths.length) }, worker));
}
