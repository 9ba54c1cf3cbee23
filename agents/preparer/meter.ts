import type { Hash } from 'node:crypto';

type Gc = (options?: { type?: 'major' | 'minor' }) => void;

/**
 * `gc` when the process was started with --expose-gc (pp-preparer's shebang asks for it). A download
 * allocates a new Buffer per chunk (socket read, gunzip output); V8 frees them only when it collects the
 * small Buffer objects, which it otherwise does after about 32 MB of dead chunks piled up. A scavenge every
 * few MB keeps the peak RSS about 30 MB lower for a fraction of a ms each. Without the flag the meter does
 * nothing here: switching V8 flags from library code at run time is not ours to do.
 */
const gc = (globalThis as { gc?: Gc }).gc;

/** Compressed bytes between two scavenges (see gc). */
const COLLECT_EVERY = 2 << 20;

/** Compressed bytes accepted after the gzip data ended (NUL padding, which gunzip skips), before the artifact is refused. */
export const TRAILING_LIMIT = 1 << 20;

/** What the meter watches for: the digest, progress, and how long the artifact may be. */
export interface MeterOptions {
  hash: Hash;
  /** Called with the running byte count after every chunk. */
  onBytes: (bytes: number) => void;
  /** Announced size (Content-Length or file size), checked at the end. */
  announced?: number;
  /** Exact size intent gives (`versions[].size`): a byte more is refused at once, fewer at the end. */
  expected?: number;
  /** Most bytes any artifact may have (--max-download-bytes). */
  max: number;
  what: string;
}

/**
 * A pipeline stage that hashes the compressed bytes as they pass, reports progress and bounds what a download
 * may cost: it refuses a body longer than intent's size or --max-download-bytes as soon as it gets there, more
 * than TRAILING_LIMIT bytes after `gzipEnded` was called, and a body that ends short of its announced or
 * intended size. Returns the stage, a getter for the byte count, and `gzipEnded`.
 */
export function meter(o: MeterOptions) {
  let bytes = 0;
  let collectAt = COLLECT_EVERY;
  let trailingUntil = Infinity;
  function check(): void {
    if (o.expected !== undefined && bytes > o.expected)
      throw new Error(`${o.what} is longer than the ${o.expected} bytes intent gives as its size (versions[].size)`);
    if (bytes > o.max) throw new Error(`${o.what} is larger than ${o.max} bytes (--max-download-bytes)`);
    if (bytes > trailingUntil)
      throw new Error(`${o.what} goes on after the end of its gzip data: more than ${TRAILING_LIMIT} bytes follow it`);
  }
  async function* stage(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      bytes += chunk.length;
      check();
      o.hash.update(chunk);
      o.onBytes(bytes);
      if (gc && bytes >= collectAt) {
        collectAt = bytes + COLLECT_EVERY;
        gc({ type: 'minor' });
      }
      yield chunk;
    }
    if (o.expected !== undefined && bytes !== o.expected)
      throw new Error(`${o.what} ended after ${bytes} of the ${o.expected} bytes intent gives as its size (versions[].size)`);
    if (o.announced !== undefined && bytes !== o.announced) throw new Error(`${o.what} ended after ${bytes} of ${o.announced} bytes`);
  }
  /** gunzip's output ended (the last gzip member is done): from here on only TRAILING_LIMIT more bytes are taken. */
  function gzipEnded(): void {
    trailingUntil = Math.min(trailingUntil, bytes + TRAILING_LIMIT);
  }
  return { stage, bytes: () => bytes, gzipEnded };
}
