import type { Logger } from 'pino';
import { nodeIntentFromSnapshot, type NodeIntent } from '../intent/node-intent.js';
import { nodeIntentPrefix } from '../keys.js';
import type { IntentStore, Snapshot } from '../store/types.js';
import { convergePass, type PassResult } from './pass.js';
import { RealityWriter } from './reality.js';
import { RetryBook } from './retry-book.js';
import type { Agent } from './types.js';
import { DEFAULT_WATCH, watchPrefix, type WatchOptions } from './watcher.js';

export interface RunOptions {
  store: IntentStore;
  prefix: string;
  node: string;
  log: Logger;
  /** Converge until stable once, then return. */
  once?: boolean;
  watch?: Partial<WatchOptions>;
  /** Re-observe the host this often even when intent did not change, to repair local drift. */
  resyncMs?: number;
  retry?: { baseMs: number; maxMs: number };
  signal?: AbortSignal;
}

/** Exit codes shared by every agent. */
export const EXIT = { converged: 0, failed: 1, usage: 2, pending: 3 } as const;

/** 0 when every app converged, 1 when any failed, 3 when some are still pending. */
export function exitCodeOf(result: PassResult | undefined): number {
  if (!result) return EXIT.failed;
  if (result.outcomes.some((o) => o.status === 'failed')) return EXIT.failed;
  if (result.outcomes.some((o) => o.status === 'pending')) return EXIT.pending;
  return EXIT.converged;
}

function describeIntent(intent: NodeIntent, log: Logger): void {
  if (!intent.trusted) {
    log.warn({ action: 'refuse' }, 'node intent is empty and not marked drained: a store fault looks the same, so nothing is removed (drain the node with `pp intent drain` to remove its apps)');
  }
  for (const [app, error] of intent.invalid) log.error({ app, action: 'validate', err: error }, 'invalid intent');
}

/**
 * The convergence loop every agent runs: watches the node's intent prefix with blocking queries, runs a
 * pass whenever the intent's content changes, an app's retry is due or the resync timer fires, and
 * writes reality after each pass. Returns the last pass's result when `once` is set or `signal` aborts.
 */
export async function runAgent<O, A>(agent: Agent<O, A>, options: RunOptions): Promise<PassResult | undefined> {
  const { store, prefix, node, log } = options;
  const retry = options.retry ?? { baseMs: 2000, maxMs: 300_000 };
  const retries = new RetryBook(retry);
  const reality = new RealityWriter(store, prefix, node, agent.name, log);
  const stopping = () => options.signal?.aborted === true;
  await agent.start?.(log);
  if (options.once) {
    const intent = nodeIntentFromSnapshot(prefix, node, await store.read(nodeIntentPrefix(prefix, node)));
    describeIntent(intent, log);
    const result = await convergePass(agent, intent, retries, log, stopping);
    await reality.write(result.outcomes, intent.trusted);
    return result;
  }
  return daemon(agent, options, retries, reality);
}

async function daemon<O, A>(agent: Agent<O, A>, options: RunOptions, retries: RetryBook, reality: RealityWriter): Promise<PassResult | undefined> {
  const { store, prefix, node, log } = options;
  const watchAbort = new AbortController();
  const stop = () => watchAbort.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  let latest: Snapshot | undefined;
  let wake: () => void = () => {};
  const watching = watchPrefix(store, nodeIntentPrefix(prefix, node), { ...DEFAULT_WATCH, ...options.watch }, {
    onChange: (s) => { latest = s; wake(); },
    onError: (err, retryInMs) => log.warn({ action: 'watch', err: (err as Error).message, retryInMs }, 'cannot read intent; nothing changes until it can'),
  }, watchAbort.signal, log);
  let result: PassResult | undefined;
  let seen: Snapshot | undefined;
  while (!watchAbort.signal.aborted) {
    if (latest && latest !== seen) {
      seen = latest;
      const intent = nodeIntentFromSnapshot(prefix, node, latest);
      describeIntent(intent, log);
      result = await convergePass(agent, intent, retries, log, () => watchAbort.signal.aborted);
      await reality.write(result.outcomes, intent.trusted);
      log.info({ action: 'pass', changed: result.changed, iterations: result.iterations }, 'pass done');
    }
    if (latest !== seen || watchAbort.signal.aborted) continue; // intent changed during the pass
    const delay = Math.min(retries.nextRetryIn() ?? Infinity, options.resyncMs ?? 60_000);
    const timedOut = await new Promise<boolean>((resolve) => {
      const done = (byTimer: boolean) => {
        clearTimeout(timer);
        watchAbort.signal.removeEventListener('abort', onAbort);
        resolve(byTimer);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(true), delay);
      wake = () => done(false);
      watchAbort.signal.addEventListener('abort', onAbort, { once: true });
    });
    if (timedOut) seen = undefined; // resync or retry: re-observe the host against the same intent
  }
  options.signal?.removeEventListener('abort', stop);
  await watching;
  return result;
}
