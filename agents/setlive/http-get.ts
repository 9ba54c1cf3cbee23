import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';

/** What an HTTP health endpoint answered: its status and the start of its body. */
export interface HttpAnswer {
  status: number;
  body: string;
}

const BODY_LIMIT = 4096;
const MAX_REDIRECTS = 5;

function readSome(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      body += chunk;
      if (body.length >= BODY_LIMIT) res.destroy(); // a health answer needs no more; never buffer a huge body
    });
    res.on('close', () => resolve(body.slice(0, BODY_LIMIT)));
  });
}

function getOnce(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
  const get = url.protocol === 'https:' ? httpsGet : httpGet;
  return new Promise((resolve, reject) => {
    // No keep-alive agent: an idle agent keeps no socket open between checks.
    const req = get(url, { agent: false, signal, headers: { connection: 'close' } }, resolve);
    req.on('error', reject);
  });
}

/**
 * GETs `url` with node:http(s) (following up to 5 redirects) and returns the status and up to 4 KB of body;
 * rejects on a network error, with "timed out after N ms" once `timeoutMs` has passed in all.
 * Node's own `fetch` would do, but loading it costs an idle pp-setlive about 8 MB of memory.
 */
export async function httpGetText(url: string, timeoutMs: number): Promise<HttpAnswer> {
  const signal = AbortSignal.timeout(timeoutMs);
  let target = new URL(url);
  try {
    for (let hop = 0; ; hop += 1) {
      const res = await getOnce(target, signal);
      const location = res.headers.location;
      if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && location && hop < MAX_REDIRECTS) {
        res.resume();
        target = new URL(location, target);
        if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`redirected to ${target.protocol} URL`);
        continue;
      }
      return { status: res.statusCode ?? 0, body: await readSome(res) };
    }
  } catch (err) {
    if (signal.aborted) throw new Error(`timed out after ${timeoutMs} ms`);
    throw err;
  }
}
