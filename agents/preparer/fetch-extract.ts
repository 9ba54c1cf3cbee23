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
  if (err instanceof HttpTimeoutError) return new Error(`no data from ${what} for ${err.ms / 1000} s after ${bytes} bytes (--download-timeout-seconds)`);
  if (err.code === 'Z_BUF_ERROR') return new Error(`truncated gzip stream: it ends after ${bytes} compressed bytes, in the middle of the data`);
  if (err.code === 'Z_DATA_ERROR') return new Error(`not a valid gzip stream after ${bytes} compressed bytes: ${err.message}`);
  if (err.code === 'ECONNRESET' || err.message === 'aborted') {
    return new Error(`download interrupted after ${bytes}${size === undefined ? '' : ` of ${size}`} bytes (${err.message})`);
  }
  return err;
}

/**
 * One pass over the artifact: download → sha256 (of the compressed bytes) → gunzip → safe untar into
 * `temp`, written by a TreeWriter's worker thread; it resolves only once the whole tree is on disk. Memory
 * stays flat: each stage holds at most a few MB. Throws on any download, gzip, tar or refusal error;
 * checking the digest is the caller's.
 */
export async function fetchAndExtract(action: InstallAction, temp: string, o: PreparerOptions, log: Logger, signal?: AbortSignal): Promise<Extracted> {
  const what = safeUrl(action.url);
  const artifact = await openArtifact(action.url, { ca: o.ca, timeoutMs: o.downloadTimeoutMs, signal });
  const hash = createHash('sha256');
  const progress = progressReporter(o.progress, `${action.app} ${action.version}`, artifact.size, log);
  const metered = meter({ hash, onBytes: progress.update, size: artifact.size, what });
  const out = await TreeWriter.start(temp);
  const tree = new SafeTree(temp, { maxBytes: o.maxBytes, maxEntries: o.maxEntries }, out);
  const sink = new ExtractSink(tree, o.maxBytes + (o.maxEntries + 2) * 1536 + (64 << 20));
  try {
    await pipeline(artifact.stream, metered.stage, createGunzip({ chunkSize: 256 << 10 }), sink, { signal });
  } catch (err) {
    await sink.settled();
    throw explain(err as NodeJS.ErrnoException, what, metered.bytes(), artifact.size);
  } finally {
    await out.close();
    progress.done(metered.bytes());
  }
  return { sha256: hash.digest('hex'), bytes: metered.bytes(), entries: tree.entries, contentBytes: tree.bytes };
}
