import { channel } from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import type { NodeIntent } from '../intent/node-intent.js';
import type { LoopHooks } from './hooks.js';
import type { RetryBook } from './retry-book.js';
import type { Agent, AppOutcome, AppPlan } from './types.js';

export type { AppOutcome } from './types.js';

export interface PassResult {
  outcomes: AppOutcome[];
  /** Actions that changed something, applied since the previous pass. */
  changed: number;
  /** Passes that observed the host (0: stopped before observing anything). */
  iterations: number;
  stopped: boolean;
  /** Set by `--once` when the outcomes could not be written to reality: the run counts as failed. */
  realityError?: string;
  /** Set when the host could not be observed: every intended app is reported failed with it. */
  observeError?: string;
}

/** An action's `kind` when it has one (every agent's actions do), else the agent's name: a bounded label. */
function kindOf(action: unknown, agent: string): string {
  const kind = (action as { kind?: unknown } | undefined)?.kind;
  return typeof kind === 'string' ? kind : agent;
}

/** How often one app's actions are started again for one trigger (an intent change or a timer) before it is "not stable". */
const MAX_ROUNDS = 5;

/**
 * Every applied action is published here ({ agent, app, action, changed }), synchronously and before the next
 * action starts: free when nobody subscribes, and how a crash test kills an agent exactly between two steps
 * (test/support/sigkill-after-actions.mjs) without a test-only flag in the agents.
 */
export const actionApplied = channel('platypus:action-applied');

/**
 * An error thrown while the agent is stopping is taken for the abort it most likely is (a transfer or a wait
 * cut short), not for a failure of the app: the next run looks again anyway.
 */
function isAbort(signal: AbortSignal): boolean {
  return signal.aborted;
}

interface InFlight {
  /** The action being applied now, for reality ("applying …"). */
  doing: string;
  /** Why that action waits, when it says so: reported instead of "applying …". */
  waiting?: string;
  done: Promise<void>;
}

const inFlightReason = (f: InFlight) => f.waiting ?? `applying: ${f.doing}`;

/**
 * Applies plans to apps concurrently (at most `parallel` apps at once), each app's actions in order, while
 * the caller keeps observing and planning: an app in flight is never re-planned under itself, and an app
 * waiting on a slow download or health wait holds up no other. It owns the retries (one RetryBook) and
 * the outcomes every pass reports. On `signal`, no action starts, except the ones an agent says must finish
 * what was begun (`finishBeforeStop`, e.g. a stopped service is started again), and the actions in flight
 * get the signal to cut waits and transfers short.
 */
export class Converger<O, A> {
  private readonly inFlight = new Map<string, InFlight>();
  /** Runnable plans of the last pass not yet started (all slots were taken); started as slots free up. */
  private queue: AppPlan<A>[] = [];
  private readonly rounds = new Map<string, number>();
  /** Outcomes of in-flight apps' last runs, until a pass plans them again. */
  private readonly settledOutcomes = new Map<string, AppOutcome>();
  private changedSince = 0;
  private iterations = 0;
  private lastOutcomes: AppOutcome[] = [];

  constructor(
    private readonly agent: Agent<O, A>,
    private readonly retries: RetryBook,
    private readonly log: Logger,
    private readonly parallel: number,
    private readonly signal: AbortSignal,
    /** Called whenever an app's run ends: the caller should run a pass soon. */
    private readonly onSettle: () => void = () => {},
    /** Called when an app in flight moves on to its next action: what currentOutcomes reports changed. */
    private readonly onProgress: () => void = () => {},
    private readonly hooks: LoopHooks = {},
  ) {}

  /** A new trigger (intent changed, a timer fired): every app may be started MAX_ROUNDS times again. */
  newTrigger(): void {
    this.rounds.clear();
  }

  busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** True while the app's actions are being applied. */
  isInFlight(app: string): boolean {
    return this.inFlight.has(app);
  }

  /** Resolves when one of the apps in flight settles (at once when none is). */
  async oneSettled(): Promise<void> {
    if (this.inFlight.size > 0) await Promise.race([...this.inFlight.values()].map((f) => f.done));
  }

  /** Resolves when every app in flight has settled. */
  async allSettled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight.values()].map((f) => f.done));
  }

  /** The outcomes to report now: the last pass's, with apps that settled since updated. */
  currentOutcomes(): AppOutcome[] {
    return this.lastOutcomes.map((o) => {
      const flight = this.inFlight.get(o.app);
      if (flight) return { ...o, status: 'pending', reason: inFlightReason(flight), error: undefined };
      return this.settledOutcomes.get(o.app) ?? o;
    });
  }

  /** One pass: observe → plan → start every runnable app that is not in flight; returns every app's outcome. */
  async pass(intent: NodeIntent): Promise<PassResult> {
    const changed = this.takeChanged();
    if (this.signal.aborted) return { outcomes: this.currentOutcomes(), changed, iterations: this.iterations, stopped: true };
    let plans: AppPlan<A>[];
    try {
      plans = this.agent.plan(intent, await this.agent.observe(intent, this.log));
    } catch (err) {
      this.iterations += 1;
      return this.observeFailed(intent, `cannot observe the host: ${(err as Error).message}`, changed);
    }
    this.iterations += 1;
    // An app with nothing left to do has nothing to retry, even if its last action failed: forget the failure
    // once its retry is due, or that due retry would wake the loop every MIN_PAUSE_MS for nothing. What the plan
    // itself says (an error such as a held flip) is still reported.
    for (const p of plans)
      if (p.actions.length === 0 && !this.retries.waiting(p.app) && !this.inFlight.has(p.app)) this.retries.succeed(p.app);
    for (const p of plans) this.settledOutcomes.delete(p.app);
    // Untrusted intent (empty and not drained, or a drained marker beside app keys) still lets intended apps
    // converge: agents plan no removal or prune on it, and an app that is not intended is never acted on.
    this.queue = plans.filter((p) => p.actions.length > 0 && (intent.trusted || intent.apps.has(p.app)));
    this.startQueued();
    this.lastOutcomes = this.outcomesOf(plans, intent);
    return { outcomes: this.lastOutcomes, changed, iterations: this.iterations, stopped: this.signal.aborted };
  }

  /**
   * Starts queued plans while slots are free. A queued plan was made from the last observation, as a sequential
   * pass would apply it; re-observing the whole host for every app that settles would make a 1,000-app pass
   * quadratic.
   */
  private startQueued(): void {
    while (!this.signal.aborted && this.inFlight.size < this.parallel && this.queue.length > 0) {
      const plan = this.queue.shift()!;
      if (this.retries.waiting(plan.app) || this.inFlight.has(plan.app) || (this.rounds.get(plan.app) ?? 0) >= MAX_ROUNDS) continue;
      this.start(plan);
    }
  }

  /** Actions that changed something since the last call. */
  takeChanged(): number {
    const n = this.changedSince;
    this.changedSince = 0;
    return n;
  }

  private start(plan: AppPlan<A>): void {
    this.rounds.set(plan.app, (this.rounds.get(plan.app) ?? 0) + 1);
    const entry: InFlight = { doing: this.agent.describe(plan.actions[0]!), done: Promise.resolve() };
    this.inFlight.set(plan.app, entry);
    entry.done = this.run(plan, entry).finally(() => {
      this.inFlight.delete(plan.app);
      this.startQueued();
      // Once the last pass's plans are all started, an app that settles calls for a new pass to see what it did.
      if (this.queue.length === 0) this.onSettle();
    });
  }

  /** Applies one app's actions in order; a failure stops the app's run and books its retry. */
  private async run(plan: AppPlan<A>, entry: InFlight): Promise<void> {
    const { agent, signal } = this;
    const appLog = this.log.child({ app: plan.app, version: plan.version });
    const failedBefore = this.retries.get(plan.app)?.attempts;
    let stoppedAt: string | undefined;
    for (let i = 0; i < plan.actions.length; i += 1) {
      const action = plan.actions[i]!;
      const description = agent.describe(action);
      if (signal.aborted && !agent.finishBeforeStop?.(plan.actions.slice(0, i), plan.actions.slice(i))) {
        stoppedAt = description;
        break;
      }
      if (entry.doing !== description || entry.waiting !== undefined) {
        entry.doing = description;
        entry.waiting = undefined;
        this.onProgress();
      }
      const waiting = (reason: string) => {
        entry.waiting = reason;
        this.onProgress();
      };
      const started = performance.now();
      const ended = (end: 'changed' | 'unchanged' | 'failed' | 'cut-short') =>
        this.hooks.actionDone?.({ app: plan.app, kind: kindOf(action, agent.name), end, seconds: (performance.now() - started) / 1000 });
      try {
        const result = await agent.apply(action, appLog, signal, waiting);
        ended(result.changed ? 'changed' : 'unchanged');
        if (result.changed) this.changedSince += 1;
        appLog.info({ action: description, changed: result.changed }, 'applied');
        if (actionApplied.hasSubscribers)
          actionApplied.publish({ agent: agent.name, app: plan.app, action: description, changed: result.changed });
      } catch (err) {
        ended(isAbort(signal) ? 'cut-short' : 'failed');
        if (isAbort(signal)) {
          appLog.info({ action: description }, 'cut short: the agent is stopping');
          stoppedAt = description;
          break;
        }
        const message = (err as Error).message ?? String(err);
        const delay = this.retries.fail(plan.app, message);
        appLog.error({ action: description, err: message, retryInMs: delay }, 'action failed');
        this.settledOutcomes.set(plan.app, this.outcomeOf(plan, undefined));
        return;
      }
    }
    if (stoppedAt !== undefined) {
      this.settledOutcomes.set(plan.app, {
        app: plan.app,
        version: plan.version,
        details: plan.details,
        status: 'pending',
        reason: `stopped before: ${stoppedAt}`,
        attempts: this.retries.get(plan.app)?.attempts ?? 0,
      });
      return;
    }
    if (this.retries.get(plan.app)?.attempts === failedBefore) this.retries.succeed(plan.app);
    this.settledOutcomes.set(plan.app, {
      app: plan.app,
      version: plan.version,
      details: plan.details,
      status: 'pending',
      reason: 'applied; checking the result',
      attempts: 0,
    });
  }

  private outcomeOf(plan: AppPlan<A>, intent: NodeIntent | undefined): AppOutcome {
    const failure = this.retries.get(plan.app);
    const base = { app: plan.app, version: plan.version, details: plan.details, attempts: failure?.attempts ?? 0 };
    const invalid = intent?.invalid.get(plan.app);
    if (invalid) return { ...base, status: 'failed', error: invalid };
    const flight = this.inFlight.get(plan.app);
    if (flight) return { ...base, status: 'pending', reason: inFlightReason(flight) };
    if (failure) return { ...base, status: 'failed', error: failure.error };
    if (plan.error) return { ...base, status: 'failed', error: plan.error };
    if (plan.pending) return { ...base, status: 'pending', reason: plan.pending };
    if (plan.actions.length > 0 && (this.rounds.get(plan.app) ?? 0) >= MAX_ROUNDS)
      return { ...base, status: 'pending', reason: `not stable after ${MAX_ROUNDS} iterations` };
    if (plan.actions.length > 0)
      return {
        ...base,
        status: 'pending',
        reason:
          intent?.trusted === false && !intent.apps.has(plan.app)
            ? (intent.distrust ?? 'waiting for trusted intent')
            : `to do: ${this.agent.describe(plan.actions[0]!)}`,
      };
    return plan.warning ? { ...base, status: 'converged', reason: plan.warning } : { ...base, status: 'converged' };
  }

  private outcomesOf(plans: AppPlan<A>[], intent: NodeIntent): AppOutcome[] {
    // An app neither intended nor left with anything to do is gone: no outcome, so its reality key is pruned.
    const gone = (p: AppPlan<A>) =>
      !intent.apps.has(p.app) &&
      !intent.invalid.has(p.app) &&
      p.actions.length === 0 &&
      !p.error &&
      !p.pending &&
      !p.warning &&
      !this.inFlight.has(p.app);
    const outcomes = plans.filter((p) => !gone(p)).map((p) => this.outcomeOf(p, intent));
    const seen = new Set(outcomes.map((o) => o.app));
    for (const [app, error] of intent.invalid) if (!seen.has(app)) outcomes.push({ app, status: 'failed', error, attempts: 0 });
    for (const app of intent.apps.keys()) if (!seen.has(app)) outcomes.push({ app, status: 'converged', attempts: 0 });
    for (const [app, flight] of this.inFlight)
      if (!outcomes.some((o) => o.app === app)) outcomes.push({ app, status: 'pending', reason: inFlightReason(flight), attempts: 0 });
    this.retries.retain(new Set([...outcomes.map((o) => o.app), ...this.inFlight.keys()]));
    return outcomes;
  }

  /** When the host cannot be observed, nothing is planned: every intended app is failed and retried on its backoff. */
  private observeFailed(intent: NodeIntent, error: string, changed: number): PassResult {
    this.log.error({ action: 'observe', err: error }, 'cannot observe; nothing changes this pass');
    const apps = [...intent.apps.keys(), ...intent.invalid.keys()];
    for (const app of intent.apps.keys()) if (!this.retries.waiting(app) && !this.inFlight.has(app)) this.retries.fail(app, error);
    this.lastOutcomes = apps.map((app): AppOutcome => {
      const invalid = intent.invalid.get(app);
      return { app, status: 'failed', error: invalid ?? error, attempts: this.retries.get(app)?.attempts ?? 0 };
    });
    return { outcomes: this.lastOutcomes, changed, iterations: this.iterations, stopped: this.signal.aborted, observeError: error };
  }
}

/**
 * Converges once: passes until no app is in flight and none can be started (each app at most MAX_ROUNDS
 * times), for `--once` and tests. On `signal`, the apps in flight are let settle and the last outcomes returned.
 */
export async function convergePass<O, A>(
  agent: Agent<O, A>,
  intent: NodeIntent,
  retries: RetryBook,
  log: Logger,
  signal: AbortSignal,
  parallel = 1,
  hooks: LoopHooks = {},
): Promise<PassResult> {
  const converger = new Converger(agent, retries, log, parallel, signal, undefined, undefined, hooks);
  let result: PassResult;
  let changed = 0;
  for (;;) {
    result = await converger.pass(intent);
    changed += result.changed;
    if (!converger.busy() || signal.aborted) break;
    await converger.allSettled();
  }
  await converger.allSettled();
  changed += converger.takeChanged();
  if (result.iterations === 0) return { ...result, outcomes: [], stopped: true };
  return { ...result, outcomes: converger.currentOutcomes(), changed, stopped: signal.aborted };
}
