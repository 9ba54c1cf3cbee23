import { httpGet, readText } from '../../shared/http-client.js';

/** What an HTTP health endpoint answered: its status and the start of its body. */
export interface HttpAnswer {
  status: number;
  body: string;
}

/** A health answer needs no more than this; a huge body is never buffered. */
const BODY_LIMIT = 4096;

/**
 * GETs `url` (following up to 5 redirects, the last one returned as is) and returns the status and up to
 * 4 KB of body; rejects on a network error, with "timed out after N ms" once `timeoutMs` has passed in all.
 */
export async function httpGetText(url: string, timeoutMs: number): Promise<HttpAnswer> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await httpGet(url, { signal });
    return { status: res.status, body: await readText(res, BODY_LIMIT) };
  } catch (err) {
    if (signal.aborted) throw new Error(`timed out after ${timeoutMs} ms`);
    throw err;
  }
}
