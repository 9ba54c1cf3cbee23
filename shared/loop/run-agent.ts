import type { Logger } from 'pino';
import { AGENT_EXIT as EXIT } from '../exit-codes.js';
import type { NodeIntent } from '../intent/node-intent.js';
import { nodeIntentPrefix } from '../keys.js';
import type { IntentStore, Snapshot } from '../store/types.js';
import { type AgentStateStore, ProcessState } from './agent-state.js';
import { Heartbeat } from './heartbeat.js';
import { LoopMemory } from './loop-memory.js';
import type { LoopHooks } from './hooks.js';
import type { TrustGate } from '../trust/gate.js';
import { Converger, convergePass, type PassResult } from './pass.js';
import { RealityWriter } from './reality.js';
import { RetryBook } from './retry-book.js';
import type { Agent, AppOutcome } from './types.js';
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
  /** How many apps may be applied at once (default 1). */
  parallel?: number;
  signal?: AbortSignal;
  /** The daemon refreshes `<prefix>/reality/<node>/<agent>/.heartbeat` this often (default 5 minutes). */
  heartbeatMs?: number;
  /** Told of intent changes, watch answers, passes and actions (metrics, health); see hooks.ts. */
  hooks?: LoopHooks;
  /** --trusted-signers: only signed orders count (shared/trust/gate.ts). */
  trust?: TrustGate;
  /** Where the agent's memory is kept across restarts (--state-dir); default: in this process only. */
  state?: AgentStateStore;
}

/** Default heartbeat interval: with the 5-minute blocking watch, an idle agent makes 2 store requests per 5 minutes. */
export const DEFAULT_HEARTBEAT_MS = 300_000;

const MIN_PAUSE_MS = 250;

export { EXIT };

/** 0 when every app converged, 1 when any failed (or reality could not be written), 3 when some are still pending. */
export function exitCodeOf(result: PassResult | undefined): number {
  if (!result || result.realityError !== undefined) return EXIT.failed;
  if (result.outcomes.some((o) => o.status === 'failed')) return EXIT.failed;
  if (result.outcomes.some((o) => o.status === 'pending')) return EXIT.pending;
  return EXIT.converged;
}

function describeIntent(intent: NodeIntent, log: Logger): void {
  if (!intent.trusted) log.warn({ action: 'refuse' }, intent.distrust ?? 'node intent not trusted: nothing is removed');
  for (const [app, error] of intent.invalid) log.error({ app, action: 'validate', err: error }, 'invalid intent');
}

/**
 * The convergence loop every agent runs: watches the node's intent prefix with blocking queries, runs a
 * pass whenever the intent's content changes, an app's retry is due or the resync timer fires, and
 * writes reality after each pass. Returns the last pass's result when `once` is set or `signal` aborts.
 */
export async function runAgent<O, A>(agent: Agent<O, A>, options: RunOptions): Promise<PassResult | undefined> {
  try {
    return await runUntilDone(agent, options);
  } finally {
    await agent
      .close?.()
      .catch((err: Error) => options.log.warn({ action: 'close', err: err.message }, 'cannot give up what the agent holds in the store'));
  }
}

async function runUntilDone<O, A>(agent: Agent<O, A>, options: RunOptions): Promise<PassResult | undefined> {
  const { store, prefix, node, log } = options;
  const retry = options.retry ?? { baseMs: 2000, maxMs: 300_000 };
  const retries = new RetryBook(retry);
  const reality = new RealityWriter(store, prefix, node, agent.name, log);
  const memory = new LoopMemory(agent, options.state ?? new ProcessState(), options.trust, log);
  memory.load();
  await agent.start?.(log);
  if (options.once) {
    const snapshot = await store.read(nodeIntentPrefix(prefix, node));
    const intent = memory.judge(prefix, node, snapshot);
    describeIntent(intent, log);
    const saved = await memory.save();
    const started = performance.now();
    const result = await convergePass(
      agent,
      intent,
      retries,
      log,
      options.signal ?? new AbortController().signal,
      options.parallel ?? agent.parallel ?? 1,
      options.hooks,
    );
    if (result.iterations === 0) return result; // nothing observed: nothing to report
    const savedAfter = await memory.save();
    await reality.write(stamped(options.trust, result.outcomes), intent.trusted, intent);
    passDone(options.hooks, result, started, reality.lastError);
    if (!saved || !savedAfter) return { ...result, realityError: 'cannot save the agent state (logged)' };
    if (reality.lastError === undefined) return result;
    log.error(
      { action: 'write-reality', err: reality.lastError },
      'cannot write reality: what this run did is not recorded, so it counts as failed',
    );
    return { ...result, realityError: reality.lastError };
  }
  return daemon(agent, options, retries, reality, memory);
}

function passDone(hooks: LoopHooks | undefined, result: PassResult, started: number, realityError: string | undefined): void {
  hooks?.passDone?.({
    outcomes: result.outcomes,
    seconds: (performance.now() - started) / 1000,
    observeError: result.observeError,
    realityError,
  });
}

/** Outcomes with what the trust gate accepted for each app (and the apps it removed), to be recalled after a restart. */
function stamped(trust: TrustGate | undefined, outcomes: AppOutcome[]): AppOutcome[] {
  return trust ? trust.stamp(outcomes) : outcomes;
}

/** Waits `ms`, until `setWake`'s function is called, or until `signal` aborts; true when the time ran out. */
function pause(ms: number, signal: AbortSignal, setWake: (wake: () => void) => void): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const done = (byTimer: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(byTimer);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    setWake(() => done(false));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * How long to wait before re-observing an app that is pending on something outside this agent (another
 * agent's work, a required app): soon at first, backing off to 30 s while it stays pending.
 */
export function pendingRecheckMs(streak: number): number | undefined {
  return streak === 0 ? undefined : Math.min(30_000, 1000 * 2 ** (streak - 1));
}

async function daemon<O, A>(
  agent: Agent<O, A>,
  options: RunOptions,
  retries: RetryBook,
  reality: RealityWriter,
  memory: LoopMemory,
): Promise<PassResult | undefined> {
  const { store, prefix, node, log } = options;
  const hooks = options.hooks ?? {};
  const heartbeat = new Heartbeat(
    store,
    prefix,
    node,
    agent.name,
    options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    log,
    options.trust !== undefined,
  );
  const abort = new AbortController();
  const stop = () => abort.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted) abort.abort(); // stopped during start(): an abort listener added now never fires
  let latest: Snapshot | undefined;
  let seen: Snapshot | undefined;
  let result: PassResult | undefined;
  let wake: () => void = () => {};
  let settled = false;
  let progressed = false;
  const converger = new Converger(
    agent,
    retries,
    log,
    options.parallel ?? agent.parallel ?? 1,
    abort.signal,
    () => {
      settled = true;
      wake();
    },
    () => {
      progressed = true;
      wake();
    },
    hooks,
  );
  let intent: NodeIntent | undefined;
  const watching = watchPrefix(
    store,
    nodeIntentPrefix(prefix, node),
    { ...DEFAULT_WATCH, ...options.watch },
    {
      onChange: (s) => {
        latest = s;
        wake();
      },
      onAnswer: () => hooks.watched?.(),
      onError: (err, retryInMs) => {
        hooks.watched?.(err);
        log.warn({ action: 'watch', err: (err as Error).message, retryInMs }, 'cannot read intent; nothing changes until it can');
      },
      onIndexReset: () => {
        reality.invalidate();
        seen = undefined;
        wake();
      },
    },
    abort.signal,
    log,
  );
  let pendingStreak = 0;
  while (!abort.signal.aborted) {
    const triggered = latest !== undefined && latest !== seen;
    if (triggered || (settled && intent)) {
      const fresh = triggered && seen !== undefined;
      if (triggered) {
        seen = latest;
        intent = memory.judge(prefix, node, latest!);
        describeIntent(intent, log);
        hooks.intentChanged?.(intent);
        converger.newTrigger();
        await memory.save();
      }
      settled = false;
      const started = performance.now();
      result = await converger.pass(intent!);
      if (result.iterations > 0) {
        await memory.save();
        await reality.write(stamped(options.trust, result.outcomes), intent!.trusted, intent); // nothing observed: nothing to report
        passDone(hooks, result, started, reality.lastError);
        heartbeat.beat();
      }
      const pending = result.outcomes.some((o) => o.status === 'pending' && !converger.isInFlight(o.app));
      pendingStreak = !pending ? 0 : result.changed > 0 || fresh ? 1 : pendingStreak + 1;
      log[result.changed > 0 ? 'info' : 'debug']({ action: 'pass', changed: result.changed, inFlight: converger.busy() }, 'pass done');
    }
    if (latest !== seen || settled || abort.signal.aborted) continue; // intent changed or an app settled during the pass
    if (progressed && intent) {
      // An app in flight moved on (e.g. from its start to its health wait): reality says what it is doing now.
      progressed = false;
      await reality.write(stamped(options.trust, converger.currentOutcomes()), intent.trusted, intent);
      continue;
    }
    // The heartbeat is due before the next pass (a resync longer than its interval): written on the loop's own turn.
    if (result) heartbeat.beat();
    // Never below MIN_PAUSE_MS: whatever a timer says, the loop must not spin.
    const delay = Math.max(
      MIN_PAUSE_MS,
      Math.min(
        retries.nextRetryIn() ?? Infinity,
        pendingRecheckMs(pendingStreak) ?? Infinity,
        options.resyncMs ?? 60_000,
        result ? heartbeat.dueIn() || Infinity : Infinity,
      ),
    );
    // On a timer (retry, pending recheck or resync) the host is re-observed against the same intent.
    if (
      await pause(delay, abort.signal, (w) => {
        wake = w;
      })
    )
      seen = undefined;
  }
  options.signal?.removeEventListener('abort', stop);
  // Stopping: the apps in flight got the signal; let them end (a started flip finishes), then report them.
  if (converger.busy()) log.info({ action: 'stop', apps: converger.busy() }, 'waiting for the apps in flight to stop');
  await converger.allSettled();
  if (result && intent) {
    result = { ...result, outcomes: converger.currentOutcomes(), changed: converger.takeChanged(), stopped: true };
    await memory.save();
    await reality
      .write(stamped(options.trust, result.outcomes), intent.trusted, intent)
      .catch((err: Error) => log.warn({ action: 'reality', err: err.message }, 'cannot write reality while stopping'));
    await heartbeat.stop();
  }
  hooks.stopped?.(result?.outcomes ?? []);
  await watching;
  return result;
}
