import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Logger } from 'pino';
import { HttpTimeoutError } from '../../shared/http-client.js';
import { openArtifact, safeUrl } from './download.js';
import { ExtractSink } from './extract-sink.js';
import { meter } from './meter.js';
import { progressReporter } from './progress.js';
import { SafeTree } from './safe-tree.js';
import { TreeWriter } from './tree-writer.js';
import type { InstallAction, PreparerOptions } from './types.js';

/** What one streaming pass over an artifact found. */
export interface Extracted {
  sha256: string;
  bytes: number;
  entries: number;
  contentBytes: number;
}

/** Turns zlib's and the socket's terse errors into what happened to the artifact. */
function explain(err: NodeJS.ErrnoException, what: string, bytes: number, size: number | undefined): Error {
  if (err instanceof HttpTimeoutError)
    return new Error(`no data from ${what} for ${err.ms / 1000} s after ${bytes} bytes (--download-timeout-seconds)`);
  if (err.code === 'Z_BUF_ERROR')
    return new Error(`truncated gzip stream: it ends after ${bytes} compressed bytes, in the middle of the data`);
  if (err.code === 'Z_DATA_ERROR') return new Error(`not a valid gzip stream after ${bytes} compressed bytes: ${err.message}`);
  if (err.code === 'ECONNRESET' || err.message === 'aborted') {
    return new Error(`download interrupted after ${bytes}${size === undefined ? '' : ` of ${size}`} bytes (${err.message})`);
  }
  return err;
}

/** Refuses, before any byte is read, an artifact whose announced length breaks intent's size or --max-download-bytes. */
function checkLength(action: InstallAction, announced: number | undefined, o: PreparerOptions, what: string): void {
  if (action.size !== undefined && action.size > o.maxDownloadBytes) {
    throw new Error(`intent gives ${what} a size of ${action.size} bytes, more than ${o.maxDownloadBytes} (--max-download-bytes)`);
  }
  if (announced === undefined) return;
  if (action.size !== undefined && announced !== action.size) {
    throw new Error(`${what} is ${announced} bytes long, but intent gives its size as ${action.size} bytes (versions[].size)`);
  }
  if (announced > o.maxDownloadBytes)
    throw new Error(`${what} is larger than ${o.maxDownloadBytes} bytes (--max-download-bytes): it is ${announced} bytes long`);
}

/**
 * One pass over the artifact: download → sha256 (of the compressed bytes) → gunzip → safe untar into
 * `temp`, written by a TreeWriter's worker thread; it resolves only once the whole tree is on disk. Memory stays flat: each stage holds at most
 * a few MB. What a download may cost is bounded by intent's size or --max-download-bytes, a little trailing
 * data after the gzip stream, --max-ratio and --max-bytes, and --download-deadline-seconds besides the stall
 * timeout. Throws on any download, gzip, tar or refusal error; checking the digest is the caller's.
 */
export async function fetchAndExtract(
  action: InstallAction,
  temp: string,
  o: PreparerOptions,
  log: Logger,
  signal?: AbortSignal,
): Promise<Extracted> {
  const what = safeUrl(action.url);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error(`deadline of ${o.downloadDeadlineMs / 1000} s`)), o.downloadDeadlineMs);
  const both = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  let bytes = () => 0;
  let size: number | undefined;
  try {
    checkLength(action, undefined, o, what);
    const artifact = await openArtifact(action.url, { ca: o.ca, timeoutMs: o.downloadTimeoutMs, signal: both });
    size = artifact.size;
    try {
      checkLength(action, artifact.size, o, what);
    } catch (err) {
      artifact.stream.destroy();
      throw err;
    }
    const hash = createHash('sha256');
    const progress = progressReporter(o.progress, `${action.app} ${action.version}`, artifact.size, log);
    let counted = 0;
    const metered = meter({
      hash,
      onBytes: (total) => {
        progress.update(total);
        o.onFetched?.(action.app, total - counted);
        counted = total;
      },
      announced: artifact.size,
      expected: action.size,
      max: o.maxDownloadBytes,
      what,
    });
    bytes = metered.bytes;
    const gunzip = createGunzip({ chunkSize: 256 << 10 });
    // gunzip ends its output at the end of the last gzip member but keeps swallowing NUL bytes after it.
    gunzip.once('end', metered.gzipEnded);
    const out = await TreeWriter.start(temp);
    try {
      const tree = new SafeTree(temp, { maxBytes: o.maxBytes, maxEntries: o.maxEntries }, out);
      const sink = new ExtractSink(tree, {
        maxDecompressed: o.maxBytes + (o.maxEntries + 2) * 1536 + (64 << 20),
        maxRatio: o.maxRatio,
        compressed: () => gunzip.bytesWritten,
      });
      try {
        await pipeline(artifact.stream, metered.stage, gunzip, sink, { signal: both });
        clearTimeout(timer);
      } catch (err) {
        await sink.settled();
        throw err;
      } finally {
        progress.done(metered.bytes());
      }
      return { sha256: hash.digest('hex'), bytes: metered.bytes(), entries: tree.entries, contentBytes: tree.bytes };
    } finally {
      // The temp folder is removed by the caller only once the worker has stopped touching it.
      await out.close();
    }
  } catch (err) {
    if (deadline.signal.aborted && !signal?.aborted) {
      throw new Error(
        `${what} not downloaded and extracted within ${o.downloadDeadlineMs / 1000} s (--download-deadline-seconds); ${bytes()} bytes read`,
      );
    }
    throw explain(err as NodeJS.ErrnoException, what, bytes(), size);
  } finally {
    clearTimeout(timer);
  }
}
