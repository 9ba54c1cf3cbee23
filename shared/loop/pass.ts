import { channel } from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import type { NodeIntent } from '../intent/node-intent.js';
import { stableJson } from '../stable-json.js';
import { type AdmittedPlan, admitPlans } from './admit.js';
import { type AppFacts, appVerdict } from './app-status.js';
import type { LoopHooks } from './hooks.js';
import type { RetryBook } from './retry-book.js';
import { type Action, type Agent, type AppOutcome, type AppPlan, TerminalError } from './types.js';

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

/** How often one app's actions are started again for one trigger (an intent change or a timer) before it is "not stable". */
const MAX_ROUNDS = 5;

/**
 * Every applied action is published here ({ agent, app, action, changed, pass }), synchronously and before the next
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
  /** The pass (counted from 1) that started this run: a dry run shows what the first one applies. */
  pass: number;
  /** The action being applied now, for reality ("applying …"). */
  doing: string;
  /** Why that action waits, when it says so: reported instead of "applying …". */
  waiting?: string;
  done: Promise<void>;
}

/** An app whose action said "not yet": it holds no slot, and is planned again once `due`. */
interface Parked {
  reason: string;
  due: boolean;
  timer?: NodeJS.Timeout;
}

const inFlightReason = (f: InFlight) => f.waiting ?? `applying: ${f.doing}`;

/** The intent of one app as a comparable text: a terminal failure waits until it changes. */
const intentText = (intent: NodeIntent, app: string) => stableJson(intent.apps.get(app) ?? intent.invalid.get(app) ?? null);

/**
 * Applies plans to apps concurrently (at most `parallel` apps at once), each app's actions in order, while
 * the caller keeps observing and planning: an app in flight is never re-planned under itself, and an app
 * waiting on a slow download or health wait holds up no other. An action that answers "not yet" gives its slot
 * back until it is due again. It owns the retries (one RetryBook), the admission of removals (admit.ts) and
 * the outcomes every pass reports (app-status.ts). On `signal`, no action starts, except the ones an agent says
 * must finish what was begun (`finishBeforeStop`, e.g. a stopped service is started again), and the actions in
 * flight get the signal to cut waits and transfers short.
 */
export class Converger<O, A extends Action> {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly parked = new Map<string, Parked>();
  /** Runnable plans of the last pass not yet started (all slots were taken); started as slots free up. */
  private queue: AdmittedPlan<A>[] = [];
  private readonly rounds = new Map<string, number>();
  /** Outcomes of in-flight apps' last runs, until a pass plans them again. */
  private readonly settledOutcomes = new Map<string, AppOutcome>();
  /** The intent an app's terminal failure answered: the failure is forgotten once the intent differs. */
  private readonly terminalIntent = new Map<string, string>();
  private changedSince = 0;
  private iterations = 0;
  private lastOutcomes: AppOutcome[] = [];
  private lastIntent: NodeIntent | undefined;
  private wakeParked: () => void = () => {};

  constructor(
    private readonly agent: Agent<O, A>,
    private readonly retries: RetryBook,
    private readonly log: Logger,
    private readonly parallel: number,
    private readonly signal: AbortSignal,
    /** Called whenever an app's run ends or a parked app is due: the caller should run a pass soon. */
    private readonly onSettle: () => void = () => {},
    /** Called when an app in flight moves on to its next action: what currentOutcomes reports changed. */
    private readonly onProgress: () => void = () => {},
    private readonly hooks: LoopHooks = {},
  ) {}

  /** A new trigger (intent changed, a timer fired): every app may be started MAX_ROUNDS times again. */
  newTrigger(): void {
    this.rounds.clear();
    for (const p of this.parked.values()) p.due = true;
  }

  busy(): boolean {
    return this.inFlight.size > 0;
  }

  /** True while some app waits on a "not yet" that is not due. */
  waitingOnNotYet(): boolean {
    return [...this.parked.values()].some((p) => !p.due);
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

  /** Resolves when a parked app is due, or at once when none waits (or the loop stops). */
  async oneDue(): Promise<void> {
    if (!this.waitingOnNotYet() || this.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.signal.removeEventListener('abort', done);
        this.wakeParked = () => {};
        resolve();
      };
      this.wakeParked = done;
      this.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** The outcomes to report now: the last pass's, with apps that settled since updated. */
  currentOutcomes(): AppOutcome[] {
    return this.lastOutcomes.map((o) => {
      const flight = this.inFlight.get(o.app);
      if (flight) return { ...o, status: 'pending', reason: inFlightReason(flight), error: undefined };
      return this.settledOutcomes.get(o.app) ?? o;
    });
  }

  /** One pass: observe → plan → admit → start every admitted app that is not in flight; returns every app's outcome. */
  async pass(intent: NodeIntent): Promise<PassResult> {
    const changed = this.takeChanged();
    if (this.signal.aborted) return { outcomes: this.currentOutcomes(), changed, iterations: this.iterations, stopped: true };
    this.forgetTerminalFailures(intent);
    let observed: O;
    try {
      observed = await this.agent.observe(intent, this.log);
    } catch (err) {
      this.iterations += 1;
      return this.observeFailed(intent, `cannot observe the host: ${(err as Error).message}`, changed);
    }
    this.iterations += 1;
    const plans = planOrBlame(this.agent, intent, observed, this.log);
    const admitted = admitPlans(this.agent.removals, intent, plans);
    // An app with nothing left to do has nothing to retry, even if its last action failed: forget the failure
    // once its retry is due, or that due retry would wake the loop every MIN_PAUSE_MS for nothing. What the plan
    // itself says (an error such as a held flip) is still reported.
    for (const a of admitted)
      if (a.actions.length === 0 && !this.retries.waiting(a.plan.app) && !this.inFlight.has(a.plan.app)) this.retries.succeed(a.plan.app);
    for (const a of admitted) {
      this.settledOutcomes.delete(a.plan.app);
      if (a.actions.length === 0) this.unpark(a.plan.app);
    }
    this.queue = admitted.filter((a) => a.actions.length > 0);
    this.lastIntent = intent;
    this.startQueued();
    this.lastOutcomes = this.outcomesOf(admitted, intent);
    return { outcomes: this.lastOutcomes, changed, iterations: this.iterations, stopped: this.signal.aborted };
  }

  /**
   * Starts queued plans while slots are free. A queued plan was made from the last observation, as a sequential
   * pass would apply it; re-observing the whole host for every app that settles would make a 1,000-app pass
   * quadratic.
   */
  private startQueued(): void {
    while (!this.signal.aborted && this.inFlight.size < this.parallel && this.queue.length > 0) {
      const admitted = this.queue.shift()!;
      const { app } = admitted.plan;
      if (this.retries.waiting(app) || this.inFlight.has(app) || (this.rounds.get(app) ?? 0) >= MAX_ROUNDS) continue;
      const parked = this.parked.get(app);
      if (parked?.due === false) continue;
      this.unpark(app);
      this.start(admitted, parked?.reason);
    }
  }

  /** Actions that changed something since the last call. */
  takeChanged(): number {
    const n = this.changedSince;
    this.changedSince = 0;
    return n;
  }

  /** Starts an app's run; one that looks again after a "not yet" keeps reporting why it waited until it moves on. */
  private start(admitted: AdmittedPlan<A>, stillWaiting?: string): void {
    const { app } = admitted.plan;
    this.rounds.set(app, (this.rounds.get(app) ?? 0) + 1);
    const entry: InFlight = {
      pass: this.iterations,
      doing: this.agent.describe(admitted.actions[0]!),
      waiting: stillWaiting,
      done: Promise.resolve(),
    };
    this.inFlight.set(app, entry);
    entry.done = this.run(admitted, entry).finally(() => {
      this.inFlight.delete(app);
      this.startQueued();
      // Once the last pass's plans are all started, an app that settles calls for a new pass to see what it did.
      if (this.queue.length === 0) this.onSettle();
    });
  }

  /** Applies one app's admitted actions in order; a failure stops the app's run and books its retry. */
  private async run({ plan, actions }: AdmittedPlan<A>, entry: InFlight): Promise<void> {
    const { agent, signal } = this;
    const appLog = this.log.child({ app: plan.app, version: plan.version });
    const failedBefore = this.retries.get(plan.app)?.attempts;
    let stoppedAt: string | undefined;
    const context = {
      log: appLog,
      signal,
      waiting: (reason: string) => {
        entry.waiting = reason;
        this.onProgress();
      },
    };
    for (let i = 0; i < actions.length; i += 1) {
      const action = actions[i]!;
      const description = agent.describe(action);
      if (signal.aborted && !agent.finishBeforeStop?.(actions.slice(0, i), actions.slice(i))) {
        stoppedAt = description;
        break;
      }
      if (entry.doing !== description || (entry.waiting !== undefined && i > 0)) {
        entry.doing = description;
        entry.waiting = undefined;
        this.onProgress();
      }
      const started = performance.now();
      const ended = (end: 'changed' | 'unchanged' | 'failed' | 'cut-short') =>
        this.hooks.actionDone?.({ app: plan.app, kind: action.kind, end, seconds: (performance.now() - started) / 1000 });
      try {
        const result = await agent.apply(action, context);
        const changed = result.changed === true;
        ended(changed ? 'changed' : 'unchanged');
        if (changed) this.changedSince += 1;
        if (result.notYet) {
          appLog.info({ action: description, changed, reason: result.notYet.reason }, 'not yet: looked at again later');
          this.park(plan, result.notYet);
          return;
        }
        appLog.info({ action: description, changed }, 'applied');
        if (actionApplied.hasSubscribers)
          actionApplied.publish({ agent: agent.name, app: plan.app, action: description, changed, pass: entry.pass });
      } catch (err) {
        ended(isAbort(signal) ? 'cut-short' : 'failed');
        if (isAbort(signal)) {
          appLog.info({ action: description }, 'cut short: the agent is stopping');
          stoppedAt = description;
          break;
        }
        const message = (err as Error).message ?? String(err);
        const terminal = err instanceof TerminalError;
        const delay = this.retries.fail(plan.app, message, terminal);
        if (terminal && this.lastIntent) this.terminalIntent.set(plan.app, intentText(this.lastIntent, plan.app));
        appLog.error({ action: description, err: message, ...(terminal ? { terminal } : { retryInMs: delay }) }, 'action failed');
        this.settledOutcomes.set(plan.app, this.outcomeOf({ plan, actions }, undefined));
        return;
      }
    }
    if (stoppedAt !== undefined) {
      this.settledOutcomes.set(plan.app, {
        app: plan.app,
        version: plan.version,
        details: plan.details,
        memory: plan.memory,
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
      memory: plan.memory,
      status: 'pending',
      reason: 'applied; checking the result',
      attempts: 0,
    });
  }

  /** The app waits on a "not yet" without a slot: a new round is not counted, and it is due after its wait. */
  private park(plan: AppPlan<A>, notYet: { reason: string; afterMs?: number; until?: Promise<unknown> }): void {
    const { app } = plan;
    this.rounds.set(app, Math.max(0, (this.rounds.get(app) ?? 1) - 1));
    this.unpark(app);
    const parked: Parked = { reason: notYet.reason, due: false };
    this.parked.set(app, parked);
    const due = () => {
      if (this.parked.get(app) !== parked || parked.due) return;
      parked.due = true;
      clearTimeout(parked.timer);
      this.wakeParked();
      this.onSettle();
    };
    if (notYet.afterMs !== undefined) parked.timer = setTimeout(due, Math.max(0, notYet.afterMs));
    notYet.until?.then(due, due);
    if (notYet.afterMs === undefined && notYet.until === undefined) parked.due = true;
    this.settledOutcomes.set(app, {
      app,
      version: plan.version,
      details: plan.details,
      memory: plan.memory,
      status: 'pending',
      reason: notYet.reason,
      attempts: this.retries.get(app)?.attempts ?? 0,
    });
  }

  private unpark(app: string): void {
    const parked = this.parked.get(app);
    if (!parked) return;
    clearTimeout(parked.timer);
    this.parked.delete(app);
  }

  /** Gives up every "not yet" wait (the loop is ending). */
  dropParked(): void {
    for (const app of [...this.parked.keys()]) this.unpark(app);
  }

  private forgetTerminalFailures(intent: NodeIntent): void {
    for (const [app, text] of this.terminalIntent)
      if (intentText(intent, app) !== text) {
        this.terminalIntent.delete(app);
        this.retries.succeed(app);
      }
  }

  private outcomeOf({ plan, actions, held }: AdmittedPlan<A>, intent: NodeIntent | undefined): AppOutcome {
    const failure = this.retries.get(plan.app);
    const base = { app: plan.app, version: plan.version, details: plan.details, memory: plan.memory, attempts: failure?.attempts ?? 0 };
    const flight = this.inFlight.get(plan.app);
    const intended = intent?.apps.has(plan.app) ?? true;
    const facts: AppFacts = {
      invalid: intent?.invalid.get(plan.app),
      inFlight: flight && inFlightReason(flight),
      failed: failure?.error,
      planError: plan.error,
      pending: plan.pending,
      notYet: this.parked.get(plan.app)?.reason,
      held: actions.length === 0 && !intended ? held : undefined,
      notStable:
        actions.length > 0 && (this.rounds.get(plan.app) ?? 0) >= MAX_ROUNDS ? `not stable after ${MAX_ROUNDS} iterations` : undefined,
      toDo: actions.length > 0 ? this.agent.describe(actions[0]!) : undefined,
      warning: plan.warning ?? (actions.length === 0 && intended ? held : undefined),
    };
    const verdict = appVerdict(facts);
    return { ...base, ...verdict };
  }

  private outcomesOf(admitted: AdmittedPlan<A>[], intent: NodeIntent): AppOutcome[] {
    // An app neither intended nor left with anything to do is gone: no outcome, so its reality key is pruned.
    const gone = ({ plan: p, held }: AdmittedPlan<A>) =>
      !intent.apps.has(p.app) &&
      !intent.invalid.has(p.app) &&
      p.actions.length === 0 &&
      held === undefined &&
      !p.error &&
      !p.pending &&
      !p.warning &&
      !this.inFlight.has(p.app);
    const outcomes = admitted.filter((a) => !gone(a)).map((a) => this.outcomeOf(a, intent));
    const seen = new Set(outcomes.map((o) => o.app));
    for (const [app, error] of intent.invalid) if (!seen.has(app)) outcomes.push({ app, status: 'failed', error, attempts: 0 });
    for (const app of intent.apps.keys()) if (!seen.has(app)) outcomes.push({ app, status: 'converged', attempts: 0 });
    for (const [app, flight] of this.inFlight)
      if (!outcomes.some((o) => o.app === app)) outcomes.push({ app, status: 'pending', reason: inFlightReason(flight), attempts: 0 });
    const present = new Set([...outcomes.map((o) => o.app), ...this.inFlight.keys()]);
    this.retries.retain(present);
    for (const app of [...this.parked.keys()]) if (!present.has(app)) this.unpark(app);
    for (const app of [...this.terminalIntent.keys()]) if (!present.has(app)) this.terminalIntent.delete(app);
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

/** The intent of one node reduced to one app (the others look absent): to find whose plan throws. */
function onlyApp(intent: NodeIntent, app: string): NodeIntent {
  const spec = intent.apps.get(app);
  const invalid = intent.invalid.get(app);
  return {
    ...intent,
    apps: new Map(spec ? [[app, spec]] : []),
    invalid: new Map(invalid !== undefined ? [[app, invalid]] : []),
  };
}

/**
 * The agent's plan; when it throws (a defect of the agent, never of the host), each app whose plan alone throws is
 * failed as a bug in its plan, and the others wait, unplanned, rather than every app being blamed on the host.
 */
export function planOrBlame<O, A extends Action>(agent: Agent<O, A>, intent: NodeIntent, observed: O, log: Logger): AppPlan<A>[] {
  try {
    return agent.plan(intent, observed);
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    const apps = [...intent.apps.keys()];
    const blamed = new Map<string, string>();
    for (const app of apps) {
      try {
        agent.plan(onlyApp(intent, app), observed);
      } catch (appErr) {
        blamed.set(app, (appErr as Error).message ?? String(appErr));
      }
    }
    log.error({ action: 'plan', err: message, apps: [...blamed.keys()] }, 'the plan threw: a defect of this agent');
    if (blamed.size === 0)
      return apps.map((app) => ({ app, actions: [], error: `bug in the plan of ${agent.name} (not of this app alone): ${message}` }));
    const names = [...blamed.keys()].join(', ');
    return apps.map((app) =>
      blamed.has(app)
        ? { app, actions: [], error: `bug in the plan of ${agent.name} for app ${app}: ${blamed.get(app)}` }
        : { app, actions: [], pending: `not planned: the plan of ${agent.name} throws for app ${names}` },
    );
  }
}

/**
 * Converges once: passes until no app is in flight or waits on a "not yet", and none can be started (each app at
 * most MAX_ROUNDS times), for `--once` and tests. On `signal`, the apps in flight are let settle and the last
 * outcomes returned.
 */
export async function convergePass<O, A extends Action>(
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
  try {
    for (;;) {
      result = await converger.pass(intent);
      changed += result.changed;
      if (signal.aborted) break;
      if (converger.busy()) await converger.allSettled();
      else if (converger.waitingOnNotYet()) await converger.oneDue();
      else break;
    }
    await converger.allSettled();
  } finally {
    converger.dropParked();
  }
  changed += converger.takeChanged();
  if (result.iterations === 0) return { ...result, outcomes: [], stopped: true };
  return { ...result, outcomes: converger.currentOutcomes(), changed, stopped: signal.aborted };
}
