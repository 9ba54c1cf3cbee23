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

/** What the meter watches for: the digest, progress and a short body. */
export interface MeterOptions {
  hash: Hash;
  /** Called with the running byte count after every chunk. */
  onBytes: (bytes: number) => void;
  /** Expected size (Content-Length or file size), checked at the end. */
  size?: number;
  what: string;
}

/**
 * A pipeline stage that hashes the compressed bytes as they pass, reports progress and refuses a body that
 * ends short of its announced size. Returns the stage and a getter for the byte count.
 */
export function meter(o: MeterOptions) {
  let bytes = 0;
  let collectAt = COLLECT_EVERY;
  async function* stage(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      bytes += chunk.length;
      o.hash.update(chunk);
      o.onBytes(bytes);
      if (gc && bytes >= collectAt) {
        collectAt = bytes + COLLECT_EVERY;
        gc({ type: 'minor' });
      }
      yield chunk;
    }
    if (o.size !== undefined && bytes !== o.size) throw new Error(`${o.what} ended after ${bytes} of ${o.size} bytes`);
  }
  return { stage, bytes: () => bytes };
}
