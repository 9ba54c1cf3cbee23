import type { ReadEntry } from 'tar';
import type { TreeWriter } from './tree-writer.js';

/**
 * Queues an entry's body for the file `out` has open as it streams in. When the writer has enough in
 * flight the entry pauses, which makes the parser, gunzip and the download pause too, so memory stays flat
 * whatever the file size. Resolves once every byte is queued; rejects at once when `signal` aborts (the
 * stream failed, so the rest of the body will never come) or the writer failed.
 */
export function writeBody(out: TreeWriter, entry: ReadEntry, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed = false;
    let waiting = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      signal.removeEventListener('abort', onAbort);
      reject(err);
    };
    const onAbort = () => fail(signal.reason as Error);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    entry.on('data', (chunk: Buffer) => {
      if (failed) return;
      out.write(chunk);
      if (!out.full || waiting) return;
      waiting = true;
      entry.pause();
      out.ready().then(() => {
        waiting = false;
        if (!failed) entry.resume();
      }, fail);
    });
    entry.once('end', () => {
      signal.removeEventListener('abort', onAbort);
      if (!failed) resolve();
    });
    entry.resume();
  });
}
