import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { httpGet, HttpRequestError, HttpTimeoutError } from '../../shared/http-client.js';

/** An artifact's byte stream and its size when the source tells it. */
export interface Artifact {
  stream: Readable;
  size?: number;
}

export interface DownloadOptions {
  /** Extra CA certificates (PEM) trusted for https, on top of Node's built-in roots. */
  ca?: Buffer;
  /** How long to wait for the response headers, and for the next byte of the body while the pipeline waits for one. */
  timeoutMs: number;
  /** Aborts the transfer at once (the agent is stopping). */
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 5;

/** Where an URL is from, without credentials, for error messages and logs. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

async function openFile(url: string): Promise<Artifact> {
  const path = fileURLToPath(url);
  const info = await stat(path).catch((err: Error) => {
    throw new Error(`cannot read the file: ${err.message}`);
  });
  if (!info.isFile()) throw new Error(`${path} is not a regular file`);
  return { stream: createReadStream(path, { highWaterMark: 256 << 10 }), size: info.size };
}

async function openHttp(url: string, options: DownloadOptions): Promise<Artifact> {
  const res = await httpGet(url, {
    ca: options.ca,
    signal: options.signal,
    headersTimeoutMs: options.timeoutMs,
    stallMs: options.timeoutMs,
    maxRedirects: MAX_REDIRECTS,
    userAgent: 'pp-preparer',
  }).catch((err: Error) => {
    if (!(err instanceof HttpRequestError)) throw err;
    const via = err.redirects > 0 ? ` (redirected to ${safeUrl(err.url.href)})` : '';
    const hint = err.cause instanceof HttpTimeoutError ? ' (--download-timeout-seconds)' : '';
    throw new Error(`download failed${via}: ${err.message}${hint}`);
  });
  const via = res.redirects > 0 ? ` (redirected to ${safeUrl(res.url.href)})` : '';
  if (res.status >= 300 && res.status < 400 && res.headers.location) {
    res.body.destroy();
    throw new Error(`download failed: more than ${MAX_REDIRECTS} redirects`);
  }
  if (res.status !== 200) {
    res.body.destroy();
    throw new Error(`download failed${via}: HTTP ${res.status} ${res.statusMessage}`.trimEnd());
  }
  const length = Number(res.headers['content-length']);
  return { stream: res.body, size: Number.isFinite(length) && length >= 0 ? length : undefined };
}

/** Opens an artifact URL (file://, http://, https://) as a stream; throws a specific error when it cannot. */
export async function openArtifact(url: string, options: DownloadOptions): Promise<Artifact> {
  if (url.startsWith('file://')) return openFile(url);
  if (/^https?:\/\//.test(url)) return openHttp(url, options);
  throw new Error('unsupported URL scheme: expected file://, http:// or https://');
}
