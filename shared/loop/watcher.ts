import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { backoffDelay, sleep } from '../backoff.js';
import type { IntentStore, Snapshot } from '../store/types.js';

export interface WatchOptions {
  /** Blocking-query wait; Consul's default is 5 minutes and its maximum 10. */
  waitMs: number;
  /** Minimum time between two requests, plus up to `jitterMs` more, so a flapping index cannot flood Consul. */
  minIntervalMs: number;
  jitterMs: number;
  /** Backoff after errors: exponential with jitter from baseMs, capped at maxMs, reset on success. */
  errorBaseMs: number;
  errorMaxMs: number;
}

export const DEFAULT_WATCH: WatchOptions = { waitMs: 300_000, minIntervalMs: 250, jitterMs: 250, errorBaseMs: 1000, errorMaxMs: 60_000 };

/** Digest of a snapshot's content, so an answer with a new index but identical data starts no pass. */
export function snapshotDigest(snapshot: Snapshot): string {
  return createHash('sha256').update(JSON.stringify(snapshot.entries)).digest('hex');
}

/** The index to send next, following Consul's rules: never block below 1, reset to 0 when it went backwards. */
export function nextIndex(previous: number, returned: number): number {
  if (returned < 1) return 1;
  if (returned < previous) return 0;
  return returned;
}

/**
 * Watches `prefix` with blocking queries until `signal` aborts, calling `onChange` with every snapshot
 * whose content differs from the last one delivered (the first successful read always). Never gives up:
 * errors go to `onError` and are retried with capped, jittered exponential backoff. `onIndexReset` hears of
 * an index that went backwards: the store was restored or replaced, so what we believed it holds may be gone.
 */
export async function watchPrefix(
  store: IntentStore,
  prefix: string,
  options: WatchOptions,
  handlers: {
    onChange: (s: Snapshot) => void;
    onError: (err: unknown, retryInMs: number) => void;
    onIndexReset?: () => void;
    /** Every answer of the store, changed or not (for health: the store answers). */
    onAnswer?: () => void;
  },
  signal: AbortSignal,
  log?: Logger,
): Promise<void> {
  let index = 0;
  let lastDigest: string | undefined;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const snapshot = await store.watch(prefix, index, options.waitMs, signal);
      if (signal.aborted) return;
      failures = 0;
      handlers.onAnswer?.();
      if (snapshot.index >= 1 && snapshot.index < index) {
        log?.warn({ action: 'watch', previous: index, returned: snapshot.index }, 'store index went backwards; full read next');
        handlers.onIndexReset?.();
        // This answer may be older than what was delivered (a stale or lagging server): not acted on; the
        // index-0 read that follows decides.
        index = 0;
        await sleep(options.minIntervalMs + Math.random() * options.jitterMs, signal);
        continue;
      }
      index = nextIndex(index, snapshot.index);
      const digest = snapshotDigest(snapshot);
      if (digest !== lastDigest) {
        lastDigest = digest;
        handlers.onChange(snapshot);
      }
      await sleep(options.minIntervalMs + Math.random() * options.jitterMs, signal);
    } catch (err) {
      if (signal.aborted) return;
      failures += 1;
      const delay = backoffDelay(failures, { baseMs: options.errorBaseMs, maxMs: options.errorMaxMs });
      handlers.onError(err, delay);
      await sleep(delay, signal);
    }
  }
}
