import type { FileHandle } from 'node:fs/promises';
import type { ReadEntry } from 'tar';

/** Bytes of one entry queued for the disk before the entry (and so the whole stream) is paused. */
const QUEUE_LIMIT = 1 << 20;

async function writeFully(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset, null);
    offset += bytesWritten;
  }
}

/**
 * Writes an entry's body to `handle` as it streams in. Writes run one after another while the parser
 * goes on; past QUEUE_LIMIT queued bytes the entry pauses, which makes the parser, gunzip and the
 * download pause too, so memory stays flat whatever the file size. Resolves once every byte is written;
 * rejects at once when `signal` aborts (the stream failed, so the rest of the body will never come).
 */
export function writeBody(handle: FileHandle, entry: ReadEntry, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let queued = 0;
    let failed = false;
    let chain = Promise.resolve();
    const onAbort = () => {
      failed = true;
      reject(signal.reason as Error);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    entry.on('data', (chunk: Buffer) => {
      queued += chunk.length;
      chain = chain.then(async () => {
        if (failed) return;
        await writeFully(handle, chunk);
        queued -= chunk.length;
        if (entry.paused && queued <= QUEUE_LIMIT / 2) entry.resume();
      }).catch((err: unknown) => {
        failed = true;
        reject(err as Error);
      });
      if (queued >= QUEUE_LIMIT) entry.pause();
    });
    entry.once('end', () => void chain.then(() => {
      signal.removeEventListener('abort', onAbort);
      if (!failed) resolve();
    }));
    entry.resume();
  });
}
