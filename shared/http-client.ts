import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { rootCertificates } from 'node:tls';

// node:http(s) rather than fetch: loading undici costs an otherwise idle agent about 8 MB of memory.

export interface GetOptions {
  /** Extra CA certificates (PEM) trusted for https, on top of Node's built-in roots. */
  ca?: Buffer;
  /** Aborts the request or the body at once, destroying the socket; the error is the signal's reason. */
  signal?: AbortSignal;
  /** Gives up when a request's response headers have not arrived this long after it was sent (each hop). */
  headersTimeoutMs?: number;
  /**
   * Destroys the body when the socket brings no byte for this long while the body is not full, that is
   * while the reader waits for data. Time the reader spends elsewhere (a slow disk) never counts.
   */
  stallMs?: number;
  /** Redirects followed before the redirect itself is returned (default 5). */
  maxRedirects?: number;
  userAgent?: string;
}

/** A response whose body is left to stream: read it, or destroy it. */
export interface HttpResponse {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  redirects: number;
  body: IncomingMessage;
}

/** The request or the body took longer than allowed; `phase` says which timeout ran out. */
export class HttpTimeoutError extends Error {
  readonly code = 'PP_HTTP_TIMEOUT';
  constructor(
    readonly phase: 'headers' | 'stall',
    readonly ms: number,
  ) {
    super(phase === 'headers' ? `no response within ${ms / 1000} s` : `no data for ${ms / 1000} s`);
  }
}

/**
 * A failure to get a response from `url` (the URL asked, after `redirects` redirects). Keeps the cause's
 * message and code (ECONNREFUSED…), so callers can report what the network said.
 */
export class HttpRequestError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly url: URL,
    readonly redirects: number,
    cause: Error,
  ) {
    super(cause.message, { cause });
    this.code = (cause as NodeJS.ErrnoException).code;
  }
}

const DEFAULT_MAX_REDIRECTS = 5;

function isRedirect(res: IncomingMessage): boolean {
  const status = res.statusCode ?? 0;
  return status >= 300 && status < 400 && res.headers.location !== undefined;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted', { cause: signal.reason });
}

function requestOnce(url: URL, o: GetOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === 'https:';
    const tls = https && o.ca ? { ca: [...rootCertificates, o.ca.toString('utf8')] } : {};
    const headers: Record<string, string> = { connection: 'close' };
    if (o.userAgent) headers['user-agent'] = o.userAgent;
    // No keep-alive agent: one request per socket, and an idle agent keeps no socket open.
    const req: ClientRequest = (https ? httpsRequest : httpRequest)(url, { ...tls, agent: false, headers }, (res) => {
      settle();
      resolve(res);
    });
    const timer =
      o.headersTimeoutMs === undefined
        ? undefined
        : setTimeout(() => req.destroy(new HttpTimeoutError('headers', o.headersTimeoutMs as number)), o.headersTimeoutMs);
    const onAbort = () => req.destroy(abortError(o.signal as AbortSignal));
    o.signal?.addEventListener('abort', onAbort, { once: true });
    function settle() {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
    req.on('error', (err) => {
      settle();
      reject(err);
    });
    req.end();
  });
}

/**
 * Destroys `res` once its socket has brought no byte for `ms` while `res` had room for more. Progress is
 * the socket's byte count, sampled a few times per period, so a fast download costs no work per chunk.
 */
function guardStall(res: IncomingMessage, ms: number): void {
  const socket = res.socket;
  let seen = socket.bytesRead;
  let since = Date.now();
  const tick = setInterval(
    () => {
      const now = Date.now();
      const full = res.readableLength >= res.readableHighWaterMark;
      if (socket.bytesRead !== seen || full) {
        seen = socket.bytesRead;
        since = now;
      } else if (now - since >= ms) {
        res.destroy(new HttpTimeoutError('stall', ms));
      }
    },
    Math.max(10, Math.floor(ms / 5)),
  );
  tick.unref();
  res.once('close', () => clearInterval(tick));
}

/** Ties `signal` to one response: aborting destroys its body (and socket) at once. */
function abortBodyOn(res: IncomingMessage, signal: AbortSignal): void {
  const onAbort = () => res.destroy(abortError(signal));
  signal.addEventListener('abort', onAbort, { once: true });
  res.once('close', () => signal.removeEventListener('abort', onAbort));
}

/**
 * GETs an http(s) URL and resolves once the response headers are in, following up to `maxRedirects`
 * redirects (the last redirect is returned when there are more). Rejects with an HttpRequestError (whose
 * cause may be an HttpTimeoutError or the signal's reason). The body streams: the caller reads or
 * destroys it.
 */
export async function httpGet(url: string | URL, o: GetOptions = {}): Promise<HttpResponse> {
  const maxRedirects = o.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let current = new URL(url);
  for (let redirects = 0; ; redirects += 1) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw new Error(`${redirects > 0 ? 'redirected to' : 'cannot GET'} an unsupported ${current.protocol} URL`);
    }
    if (o.signal?.aborted) throw new HttpRequestError(current, redirects, abortError(o.signal));
    let res: IncomingMessage;
    try {
      res = await requestOnce(current, o);
    } catch (err) {
      throw new HttpRequestError(current, redirects, err as Error);
    }
    if (isRedirect(res) && redirects < maxRedirects) {
      res.destroy();
      current = new URL(res.headers.location as string, current);
      continue;
    }
    if (o.signal) abortBodyOn(res, o.signal);
    if (o.stallMs !== undefined) guardStall(res, o.stallMs);
    return {
      status: res.statusCode ?? 0,
      statusMessage: res.statusMessage ?? '',
      headers: res.headers,
      url: current,
      redirects,
      body: res,
    };
  }
}

/**
 * Reads a response's body as UTF-8 text, at most `maxBytes` of it (then destroys the rest, so a huge body
 * is never buffered). Resolves with what arrived when the server ends the body early.
 */
export function readText(res: HttpResponse, maxBytes: number): Promise<string> {
  const body = res.body;
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let text = '';
    let left = maxBytes;
    body.on('data', (chunk: Buffer) => {
      if (left <= 0) return;
      const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
      left -= part.length;
      text += decoder.write(part); // holds back a character cut at the limit
      if (left <= 0) body.destroy();
    });
    body.once('error', (err) => {
      if (left <= 0) return; // our own destroy after the limit, or a reset after it
      reject(err);
    });
    body.once('close', () => resolve(text));
  });
}
