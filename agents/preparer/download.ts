import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { fileURLToPath } from 'node:url';

/** An artifact's byte stream and its size when the source tells it. */
export interface Artifact {
  stream: Readable;
  size?: number;
}

export interface DownloadOptions {
  /** Extra CA certificates (PEM) trusted for https, on top of Node's built-in roots. */
  ca?: Buffer;
  /** How long to wait for the response headers. */
  timeoutMs: number;
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
  const info = await stat(path).catch((err: Error) => { throw new Error(`cannot read the file: ${err.message}`); });
  if (!info.isFile()) throw new Error(`${path} is not a regular file`);
  return { stream: createReadStream(path, { highWaterMark: 256 << 10 }), size: info.size };
}

function request(url: URL, options: DownloadOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const get = url.protocol === 'https:' ? httpsGet : httpGet;
    const tls = url.protocol === 'https:' && options.ca ? { ca: [...rootCertificates, options.ca.toString('utf8')] } : {};
    const req = get(url, { ...tls, headers: { 'user-agent': 'pp-preparer' } }, (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${options.timeoutMs / 1000} s (--download-timeout-seconds)`)), options.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function openHttp(url: string, options: DownloadOptions): Promise<Artifact> {
  let current = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const via = hop > 0 ? ` (redirected to ${safeUrl(current.href)})` : '';
    const res = await request(current, options).catch((err: Error) => { throw new Error(`download failed${via}: ${err.message}`); });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      current = new URL(res.headers.location, current);
      if (!/^https?:$/.test(current.protocol)) throw new Error(`redirected to an unsupported ${current.protocol} URL`);
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new Error(`download failed${via}: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd());
    }
    const length = Number(res.headers['content-length']);
    return { stream: res, size: Number.isFinite(length) && length >= 0 ? length : undefined };
  }
  throw new Error(`download failed: more than ${MAX_REDIRECTS} redirects`);
}

/** Opens an artifact URL (file://, http://, https://) as a stream; throws a specific error when it cannot. */
export async function openArtifact(url: string, options: DownloadOptions): Promise<Artifact> {
  if (url.startsWith('file://')) return openFile(url);
  if (/^https?:\/\//.test(url)) return openHttp(url, options);
  throw new Error('unsupported URL scheme: expected file://, http:// or https://');
}
