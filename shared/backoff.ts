/** Exponential backoff with full jitter, capped, so many agents that fail together do not retry in lock-step. */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  random?: () => number;
}

/** No retry comes sooner than this (or than `baseMs`, when a caller asks for a smaller base): a retry never spins. */
export const MIN_DELAY_MS = 250;

/**
 * Delay before retry number `attempt` (1 = first retry), full jitter: uniformly random up to the capped
 * exponential `min(maxMs, baseMs·2^(attempt-1))`, from a floor of MIN_DELAY_MS (or `baseMs`, if smaller) rather
 * than 0, so the spread over a whole fleet is kept and no retry comes at once.
 */
export function backoffDelay(attempt: number, { baseMs, maxMs, random = Math.random }: BackoffOptions): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const floor = Math.min(MIN_DELAY_MS, baseMs, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
}

/** Resolves after `ms`, or early (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
