import { Writable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { RefusedEntry } from './entry-rules.js';
import type { SafeTree } from './safe-tree.js';

/** Output below which no ratio is checked: small archives of zeros or repeated text inflate far beyond any limit, harmlessly. */
export const RATIO_FLOOR = 8 << 20;

/** How much an ExtractSink takes before it refuses the archive. */
export interface SinkLimits {
  /** Gunzipped bytes in all (content plus tar headers and padding). */
  maxDecompressed: number;
  /** Gunzipped bytes per compressed byte consumed (`compressed`), checked past RATIO_FLOOR. */
  maxRatio: number;
  /** Compressed bytes gunzip consumed so far. */
  compressed: () => number;
}

/**
 * The end of the download pipeline: takes gunzipped bytes, parses them as tar and hands each entry, in
 * order, to a SafeTree. Any refusal or damage destroys the stream, which aborts the whole pipeline
 * (download included). Bytes after the end-of-archive blocks are counted and dropped.
 */
export class ExtractSink extends Writable {
  private readonly parser: Parser;
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private sawEof = false;
  private readonly parsed: Promise<void>;
  private rejectParsed: (err: Error) => void = () => {};
  private decompressed = 0;
  /** Bytes short of a whole 512-byte tar block, held back so the parser only sees aligned writes. */
  private carry: Buffer | undefined;

  constructor(
    private readonly tree: SafeTree,
    private readonly limits: SinkLimits,
  ) {
    super({ highWaterMark: 256 << 10 });
    this.parser = new Parser({ brotli: false, zstd: false });
    this.parser.on('entry', (entry: ReadEntry) => {
      try {
        // Counted as the parser sees it, not when the entry's turn comes, so an entry too many stops everything at once.
        this.tree.admit(entry);
      } catch (err) {
        entry.resume();
        return this.fail(err as Error);
      }
      this.chain = this.chain.then(() => (this.failure ? void entry.resume() : this.tree.add(entry))).catch((err: Error) => this.fail(err));
    });
    this.parser.on('ignoredEntry', (entry: ReadEntry) => {
      const rule = entry.meta ? `${entry.type} header larger than the parser accepts` : `unsupported entry type ${entry.type}`;
      this.fail(new RefusedEntry(entry.path, rule));
    });
    this.parser.on('warn', (_code: string, message: string) => this.fail(new Error(`damaged tar archive: ${message}`)));
    this.parser.on('error', (err: Error) => this.fail(new Error(`damaged tar archive: ${err.message}`)));
    this.parser.on('eof', () => {
      this.sawEof = true;
    });
    this.parsed = new Promise((resolve, reject) => {
      this.parser.on('end', resolve);
      this.rejectParsed = reject;
    });
    this.parsed.catch(() => undefined);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.rejectParsed(err);
    this.destroy(err);
  }

  /** Resolves once the entry in flight (if any) stopped touching the disk: only then may the temp folder go. */
  settled(): Promise<void> {
    return this.chain.then(
      () => undefined,
      () => undefined,
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.tree.abort(err ?? new Error('extraction aborted'));
    done(err);
  }

  /** Why this chunk ends the extraction: an earlier failure, or a limit on the decompressed bytes it passes. */
  private refusal(chunk: Buffer): Error | null | undefined {
    if (this.failure) return this.failure;
    this.decompressed += chunk.length;
    const { maxDecompressed, maxRatio } = this.limits;
    if (this.decompressed > maxDecompressed) {
      return new Error(`the archive decompresses to more than ${maxDecompressed} bytes (--max-bytes plus tar headers)`);
    }
    const compressed = this.limits.compressed();
    if (this.decompressed > RATIO_FLOOR && this.decompressed > maxRatio * compressed) {
      return new Error(
        `the archive inflates more than ${maxRatio}:1 (${this.decompressed} bytes from the first ${compressed} compressed bytes) (--max-ratio)`,
      );
    }
    return undefined;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const refusal = this.refusal(chunk);
    if (refusal !== undefined) {
      done(refusal);
      return;
    }
    if (this.sawEof || this.feed(chunk) || this.sawEof) {
      done();
      return;
    }
    this.parser.once('drain', () => done(this.failure));
  }

  /**
   * Writes whole 512-byte blocks only: the parser copies its leftover plus the whole next chunk whenever
   * a chunk ends mid-block, which for gunzip's arbitrary chunk sizes would copy nearly every byte twice.
   */
  private feed(chunk: Buffer): boolean {
    let ready = true;
    let rest = chunk;
    if (this.carry) {
      const need = 512 - this.carry.length;
      if (rest.length < need) {
        this.carry = Buffer.concat([this.carry, rest]);
        return true;
      }
      ready = this.parser.write(Buffer.concat([this.carry, rest.subarray(0, need)]));
      rest = rest.subarray(need);
      this.carry = undefined;
    }
    const whole = rest.length - (rest.length % 512);
    if (whole > 0 && !this.sawEof) ready = this.parser.write(rest.subarray(0, whole)) && ready;
    if (whole < rest.length) this.carry = Buffer.from(rest.subarray(whole));
    return ready;
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.carry && !this.sawEof) this.parser.end(this.carry);
    else this.parser.end();
    const finish = async () => {
      await this.parsed;
      await this.chain;
      if (this.failure) throw this.failure;
      await this.tree.finish();
    };
    finish().then(
      () => done(),
      (err: Error) => done(this.failure ?? err),
    );
  }
}
