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
import { type AdmittedPass, type AdmittedPlan, admitPass } from './admit.js';
import { Converger, convergePass, type PassResult, planOrBlame } from './pass.js';
import { RealityWriter } from './reality.js';
import { RetryBook } from './retry-book.js';
import { type Action, type Agent, type AppOutcome, planParts } from './types.js';
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
 * What the daemon, --once and --dry-run share: the agent's memory loaded before anything is judged, intent judged
 * through it (and remembered, except in a dry run), and one observe → plan → admit path. A dry run stops after
 * admitting; the runs apply what was admitted.
 */
class AgentDriver<O, A extends Action> {
  readonly retries: RetryBook;
  readonly reality: RealityWriter;
  readonly memory: LoopMemory;

  constructor(
    readonly agent: Agent<O, A>,
    readonly options: RunOptions,
    private readonly saves: boolean,
  ) {
    this.retries = new RetryBook(options.retry ?? { baseMs: 2000, maxMs: 300_000 });
    this.reality = new RealityWriter(options.store, options.prefix, options.node, agent.name, options.log);
    this.memory = new LoopMemory(agent, options.state ?? new ProcessState(), options.trust, options.log);
  }

  async start(): Promise<void> {
    this.memory.load();
    await this.agent.start?.(this.options.log);
  }

  readIntent(): Promise<Snapshot> {
    return this.options.store.read(nodeIntentPrefix(this.options.prefix, this.options.node));
  }

  /** The node's intent judged from `snapshot`; remembered (an accepted order before it is acted on) unless dry. */
  async judge(snapshot: Snapshot): Promise<{ intent: NodeIntent; saved: boolean }> {
    const intent = this.memory.judge(this.options.prefix, this.options.node, snapshot);
    describeIntent(intent, this.options.log);
    return { intent, saved: this.saves ? await this.memory.save() : true };
  }

  /** What a pass would do now: the same observe → plan → admit as the run's first pass, applying nothing. */
  async preview(intent: NodeIntent): Promise<AdmittedPass<A>> {
    const observed = await this.agent.observe(intent, this.options.log);
    const plan = planParts(planOrBlame(this.agent, intent, observed, this.options.log));
    return admitPass(this.agent.removals, this.agent.nodeOrder ?? 'before', intent, plan);
  }

  /** Saves memory, then writes the outcomes (stamped with what the trust gate accepted) to reality. */
  async report(intent: NodeIntent, outcomes: AppOutcome[]): Promise<boolean> {
    const saved = await this.memory.save();
    await this.reality.write(stamped(this.options.trust, outcomes), intent.trusted, intent);
    return saved;
  }
}

/**
 * The convergence loop every agent runs: watches the node's intent prefix with blocking queries, runs a
 * pass whenever the intent's content changes, an app's retry is due or the resync timer fires, and
 * writes reality after each pass. Returns the last pass's result when `once` is set or `signal` aborts.
 */
export async function runAgent<O, A extends Action>(agent: Agent<O, A>, options: RunOptions): Promise<PassResult | undefined> {
  try {
    const driver = new AgentDriver(agent, options, true);
    await driver.start();
    return await (options.once ? once(driver) : daemon(driver));
  } finally {
    await closeAgent(agent, options.log);
  }
}

/**
 * The actions one pass would apply now, as --dry-run prints them: judged and admitted like a run, nothing saved.
 * `plans` are the apps' (`pass.apps`), `pass` holds the node-wide actions too.
 */
export async function previewAgent<O, A extends Action>(
  agent: Agent<O, A>,
  options: RunOptions,
): Promise<{ intent: NodeIntent; plans: AdmittedPlan<A>[]; pass: AdmittedPass<A> }> {
  const driver = new AgentDriver(agent, options, false);
  driver.memory.load();
  const { intent } = await driver.judge(await driver.readIntent());
  const pass = await driver.preview(intent);
  return { intent, plans: pass.apps, pass };
}

async function closeAgent(agent: Agent<unknown, Action>, log: Logger): Promise<void> {
  await agent
    .close?.()
    .catch((err: Error) => log.warn({ action: 'close', err: err.message }, 'cannot give up what the agent holds in the store'));
}

async function once<O, A extends Action>(driver: AgentDriver<O, A>): Promise<PassResult> {
  const { agent, options } = driver;
  const { intent, saved } = await driver.judge(await driver.readIntent());
  const started = performance.now();
  const result = await convergePass(
    agent,
    intent,
    driver.retries,
    options.log,
    options.signal ?? new AbortController().signal,
    options.parallel ?? agent.parallel ?? 1,
    options.hooks,
  );
  if (result.iterations === 0) return result; // nothing observed: nothing to report
  const savedAfter = await driver.report(intent, result.outcomes);
  const realityError = driver.reality.lastError;
  passDone(options.hooks, result, started, realityError);
  if (!saved || !savedAfter) return { ...result, realityError: 'cannot save the agent state (logged)' };
  if (realityError === undefined) return result;
  options.log.error(
    { action: 'write-reality', err: realityError },
    'cannot write reality: what this run did is not recorded, so it counts as failed',
  );
  return { ...result, realityError };
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

/**
 * What wakes the daemon, set by the watch and the converger's callbacks, read (and cleared) by its loop: the
 * loop's next step follows from these alone (see `nextStep`).
 */
class Wakeups {
  /** The newest intent the watch delivered, and the one last judged. */
  latest: Snapshot | undefined;
  judged: Snapshot | undefined;
  /** An app's run ended (or a "not yet" is due): a pass should look at what it did. */
  settled = false;
  /** An app in flight moved on to its next action: reality should say so. */
  progressed = false;
  private wake: () => void = () => {};

  notify(): void {
    this.wake();
  }

  /** Forget the judged intent: the next step judges the latest again and passes (a timer, an index reset). */
  rejudge(): void {
    this.judged = undefined;
  }

  sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    return pause(ms, signal, (w) => {
      this.wake = w;
    });
  }
}

type Step = 'judge-and-pass' | 'pass' | 'report-progress' | 'sleep';

/** The daemon's next step: new intent is judged first, then a settled app's pass, then progress; else it sleeps. */
function nextStep(w: Wakeups, hasIntent: boolean): Step {
  if (w.latest !== undefined && w.latest !== w.judged) return 'judge-and-pass';
  if (w.settled && hasIntent) return 'pass';
  if (w.progressed && hasIntent) return 'report-progress';
  return 'sleep';
}

async function daemon<O, A extends Action>(driver: AgentDriver<O, A>): Promise<PassResult | undefined> {
  const { agent, options, retries, reality } = driver;
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
  const w = new Wakeups();
  const converger = new Converger(
    agent,
    retries,
    log,
    options.parallel ?? agent.parallel ?? 1,
    abort.signal,
    () => {
      w.settled = true;
      w.notify();
    },
    () => {
      w.progressed = true;
      w.notify();
    },
    hooks,
  );
  const watching = watchPrefix(
    store,
    nodeIntentPrefix(prefix, node),
    { ...DEFAULT_WATCH, ...options.watch },
    {
      onChange: (s) => {
        w.latest = s;
        w.notify();
      },
      onAnswer: () => hooks.watched?.(),
      onError: (err, retryInMs) => {
        hooks.watched?.(err);
        log.warn({ action: 'watch', err: (err as Error).message, retryInMs }, 'cannot read intent; nothing changes until it can');
      },
      onIndexReset: () => {
        reality.invalidate();
        w.rejudge();
        w.notify();
      },
    },
    abort.signal,
    log,
  );
  let intent: NodeIntent | undefined;
  let result: PassResult | undefined;
  let pendingStreak = 0;
  while (!abort.signal.aborted) {
    const step = nextStep(w, intent !== undefined);
    if (step === 'judge-and-pass' || step === 'pass') {
      const fresh = step === 'judge-and-pass' && w.judged !== undefined;
      if (step === 'judge-and-pass') {
        w.judged = w.latest;
        intent = (await driver.judge(w.latest!)).intent;
        hooks.intentChanged?.(intent);
        converger.newTrigger();
      }
      w.settled = false;
      const started = performance.now();
      result = await converger.pass(intent!);
      if (result.iterations > 0) {
        await driver.report(intent!, result.outcomes); // nothing observed: nothing to report
        passDone(hooks, result, started, reality.lastError);
        heartbeat.beat();
      }
      const pending = result.outcomes.some((o) => o.status === 'pending' && !converger.isInFlight(o.app));
      pendingStreak = !pending ? 0 : result.changed > 0 || fresh ? 1 : pendingStreak + 1;
      log[result.changed > 0 ? 'info' : 'debug']({ action: 'pass', changed: result.changed, inFlight: converger.busy() }, 'pass done');
      continue;
    }
    if (step === 'report-progress') {
      // An app in flight moved on (e.g. from its start to its health wait): reality says what it is doing now.
      w.progressed = false;
      await reality.write(stamped(options.trust, converger.currentOutcomes()), intent!.trusted, intent);
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
    if (await w.sleep(delay, abort.signal)) w.rejudge();
  }
  options.signal?.removeEventListener('abort', stop);
  converger.dropParked();
  // Stopping: the apps in flight got the signal; let them end (a started flip finishes), then report them.
  if (converger.busy()) log.info({ action: 'stop', apps: converger.busy() }, 'waiting for the apps in flight to stop');
  await converger.allSettled();
  if (result && intent) {
    result = { ...result, outcomes: converger.currentOutcomes(), changed: converger.takeChanged(), stopped: true };
    await driver
      .report(intent, result.outcomes)
      .catch((err: Error) => log.warn({ action: 'reality', err: err.message }, 'cannot write reality while stopping'));
    await heartbeat.stop();
  }
  hooks.stopped?.(result?.outcomes ?? []);
  await watching;
  return result;
}
