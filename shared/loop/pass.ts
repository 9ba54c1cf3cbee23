import { channel } from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import type { NodeIntent } from '../intent/node-intent.js';
import { stableJson } from '../stable-json.js';
import { type AdmittedNodeAction, type AdmittedPass, type AdmittedPlan, admitPass } from './admit.js';
import { type AppFacts, appVerdict } from './app-status.js';
import type { LoopHooks } from './hooks.js';
import type { Failure, RetryBook } from './retry-book.js';
import { type Action, type Agent, type AppOutcome, type AppPlan, type NotYet, type PassPlan, planParts, TerminalError } from './types.js';

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
 * Every applied action is published here ({ agent, app, action, changed, pass }; a node-wide action has `node: true`
 * and `apps` instead of `app`), synchronously and before the next action starts: free when nobody subscribes, and
 * how a crash test kills an agent exactly between two steps (test/support/sigkill-after-actions.mjs) without a
 * test-only flag in the agents.
 */
export const actionApplied = channel('platypus:action-applied');

/**
 * The key the run of the node-wide actions goes by wherever the loop keys runs by app (in flight, failures, rounds,
 * "not yet"): no app name starts with a dot.
 */
const NODE = '.node';

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
  /** For the run of the node-wide actions: every app they serve, each reported in flight with it. */
  apps?: ReadonlySet<string>;
  /** The node intent the run was planned from: what its failure answered. */
  intent?: NodeIntent;
  done: Promise<void>;
}

/** A run (an app's, or the node-wide actions') whose action said "not yet": it holds no slot, and is planned again once `due`. */
interface Parked {
  reason: string;
  due: boolean;
  timer?: NodeJS.Timeout;
  /** For the node-wide run: the apps the waiting action serves, each reported pending with `reason`. */
  apps?: ReadonlySet<string>;
}

/** How a run of actions ended: all applied, stopped, on a "not yet" or on a failure (of the action at `at`). */
type RunEnd =
  | { end: 'done' }
  | { end: 'stopped'; before: string }
  | { end: 'not-yet'; at: number; notYet: NotYet }
  | { end: 'failed'; at: number; message: string; terminal: boolean };

/** For each app a node-wide action of the pass serves: the first such action to do, or why one is held. */
interface NodeView {
  toDo?: string;
  held?: string;
}

const inFlightReason = (f: InFlight) => f.waiting ?? `applying: ${f.doing}`;

/** The intent of some apps as a comparable text: a terminal failure waits until it changes. */
const intentText = (intent: NodeIntent, apps: readonly string[]) =>
  apps.map((app) => stableJson(intent.apps.get(app) ?? intent.invalid.get(app) ?? null)).join('\n');

/**
 * Applies plans to apps concurrently (at most `parallel` apps at once), each app's actions in order, while
 * the caller keeps observing and planning: an app in flight is never re-planned under itself, and an app
 * waiting on a slow download or health wait holds up no other. An action that answers "not yet" gives its slot
 * back until it is due again. The node-wide actions of a pass are one more run, in order, in one slot, before or
 * after the own actions of the apps they serve (Agent.nodeOrder), never beside them; their outcome is reported on
 * each app they serve. It owns the retries (one RetryBook), the admission of removals (admit.ts) and
 * the outcomes every pass reports (app-status.ts). On `signal`, no action starts, except the ones an agent says
 * must finish what was begun (`finishBeforeStop`, e.g. a stopped service is started again), and the actions in
 * flight get the signal to cut waits and transfers short.
 */
export class Converger<O, A extends Action> {
  private readonly inFlight = new Map<string, InFlight>();
  private readonly parked = new Map<string, Parked>();
  /** Runnable plans of the last pass not yet started (all slots were taken); started as slots free up. */
  private queue: AdmittedPlan<A>[] = [];
  /** The last pass's node-wide actions to run, until a slot is free for them. */
  private nodeQueue: AdmittedNodeAction<A>[] = [];
  private readonly rounds = new Map<string, number>();
  /** Outcomes of in-flight apps' last runs, until a pass plans them again. */
  private readonly settledOutcomes = new Map<string, AppOutcome>();
  /** The intent a terminal failure answered (of the app, or of the apps the failed node-wide action served). */
  private readonly terminalIntent = new Map<string, { apps: string[]; text: string }>();
  /** The apps the node-wide action that failed last serves: reported failed while the failure is remembered. */
  private nodeFailedApps = new Set<string>();
  /** What the last pass's node-wide actions mean for each app they serve. */
  private nodeView = new Map<string, NodeView>();
  private readonly nodeOrder: 'before' | 'after';
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
  ) {
    this.nodeOrder = agent.nodeOrder ?? 'before';
  }

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

  /** True while the app's actions, or node-wide actions serving it, are being applied. */
  isInFlight(app: string): boolean {
    return this.flightOf(app) !== undefined;
  }

  /**
   * The app's booked failure when its own run in flight retries it: the run was planned from the intent the failure
   * answered, and the app still has that intent (a record of the failure must not answer a newer one).
   */
  private retriedFailure(app: string): Failure | undefined {
    const failure = this.retries.get(app);
    const flight = this.inFlight.get(app);
    if (!failure?.about || !flight?.intent || !this.lastIntent) return undefined;
    const same = failure.about === intentText(flight.intent, [app]) && failure.about === intentText(this.lastIntent, [app]);
    return same ? failure : undefined;
  }

  /** The run the app is reported in flight with: its own, else the node-wide run serving it. */
  private flightOf(app: string): InFlight | undefined {
    const own = this.inFlight.get(app);
    if (own) return own;
    const node = this.inFlight.get(NODE);
    return node?.apps?.has(app) ? node : undefined;
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
      const flight = this.flightOf(o.app);
      if (flight) {
        const retried = this.retriedFailure(o.app);
        const facts = { inFlight: inFlightReason(flight), failed: retried?.error, retrying: retried !== undefined };
        return { ...o, error: undefined, reason: undefined, ...appVerdict(facts) };
      }
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
    const planned = withServedApps(planParts(planOrBlame(this.agent, intent, observed, this.log)));
    const admitted = admitPass(this.agent.removals, this.nodeOrder, intent, planned, (a) => this.hasWork(a));
    // An app with nothing left to do has nothing to retry, even if its last action failed: forget the failure
    // once its retry is due, or that due retry would wake the loop every MIN_PAUSE_MS for nothing. What the plan
    // itself says (an error such as a held flip) is still reported.
    for (const a of admitted.apps)
      if (a.actions.length === 0 && !this.retries.waiting(a.plan.app) && !this.inFlight.has(a.plan.app)) this.retries.succeed(a.plan.app);
    const nodeRunnable = admitted.node.filter((n) => n.held === undefined);
    if (nodeRunnable.length === 0 && !this.retries.waiting(NODE) && !this.inFlight.has(NODE)) this.forgetNodeFailure();
    for (const a of admitted.apps) {
      this.settledOutcomes.delete(a.plan.app);
      if (a.actions.length === 0) this.unpark(a.plan.app);
    }
    if (nodeRunnable.length === 0) this.unpark(NODE);
    this.queue = admitted.apps.filter((a) => a.actions.length > 0 && !a.deferred);
    this.nodeQueue = admitted.nodeDeferred ? [] : nodeRunnable;
    this.nodeView = nodeViewOf(admitted.node, (a) => this.agent.describe(a));
    this.lastIntent = intent;
    this.startQueued();
    this.lastOutcomes = this.outcomesOf(admitted, intent);
    return { outcomes: this.lastOutcomes, changed, iterations: this.iterations, stopped: this.signal.aborted };
  }

  /** Whether a run keyed `key` may start now: not failed and waiting out its retry, not over its rounds, not parked. */
  private startable(key: string): boolean {
    return !this.retries.waiting(key) && (this.rounds.get(key) ?? 0) < MAX_ROUNDS && this.parked.get(key)?.due !== false;
  }

  /** True while the app's own actions are running or would start now: node-wide actions to run 'after' them wait. */
  private hasWork(a: AdmittedPlan<A>): boolean {
    return this.inFlight.has(a.plan.app) || (a.actions.length > 0 && this.startable(a.plan.app));
  }

  /**
   * Starts queued plans while slots are free, the node-wide actions first. A queued plan was made from the last
   * observation, as a sequential pass would apply it; re-observing the whole host for every app that settles would
   * make a 1,000-app pass quadratic. Node-wide actions never run beside the own actions of an app they serve.
   */
  private startQueued(): void {
    if (!this.signal.aborted && this.nodeQueue.length > 0 && this.inFlight.size < this.parallel) {
      const node = this.nodeQueue;
      this.nodeQueue = [];
      const apps = new Set(node.flatMap((n) => n.apps));
      if (!this.inFlight.has(NODE) && this.startable(NODE) && ![...apps].some((app) => this.inFlight.has(app))) {
        const parked = this.parked.get(NODE);
        this.unpark(NODE);
        this.startNode(node, apps, parked?.reason);
      }
    }
    while (!this.signal.aborted && this.inFlight.size < this.parallel && this.queue.length > 0) {
      const admitted = this.queue.shift()!;
      const { app } = admitted.plan;
      if (this.inFlight.has(app) || !this.startable(app) || this.inFlight.get(NODE)?.apps?.has(app)) continue;
      const parked = this.parked.get(app);
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

  /** Records a run as in flight under `key`; when it ends, queued runs start and (all started) a new pass is asked for. */
  private track(key: string, entry: InFlight, run: () => Promise<void>): void {
    this.rounds.set(key, (this.rounds.get(key) ?? 0) + 1);
    this.inFlight.set(key, entry);
    entry.done = run().finally(() => {
      this.inFlight.delete(key);
      this.startQueued();
      // Once the last pass's plans are all started, a run that settles calls for a new pass to see what it did.
      if (this.queue.length === 0 && this.nodeQueue.length === 0) this.onSettle();
    });
  }

  /** Starts an app's run; one that looks again after a "not yet" keeps reporting why it waited until it moves on. */
  private start(admitted: AdmittedPlan<A>, stillWaiting?: string): void {
    const entry: InFlight = {
      pass: this.iterations,
      doing: this.agent.describe(admitted.actions[0]!),
      waiting: stillWaiting,
      intent: this.lastIntent,
      done: Promise.resolve(),
    };
    this.track(admitted.plan.app, entry, () => this.run(admitted, entry));
  }

  /** Starts the run of the pass's node-wide actions, in one slot. */
  private startNode(node: AdmittedNodeAction<A>[], apps: Set<string>, stillWaiting?: string): void {
    const entry: InFlight = {
      pass: this.iterations,
      doing: this.agent.describe(node[0]!.action),
      waiting: stillWaiting,
      apps,
      intent: this.lastIntent,
      done: Promise.resolve(),
    };
    this.track(NODE, entry, () => this.runNode(node, entry));
  }

  /**
   * Applies actions in order until one fails, says "not yet", or the agent stops; `appsOf(i)` names who the i-th
   * serves (in logs, the published event and hooks). The caller books what the end means.
   */
  private async applyInOrder(
    actions: A[],
    entry: InFlight,
    log: Logger,
    app: string | undefined,
    appsOf: (i: number) => string[],
  ): Promise<RunEnd> {
    const { agent, signal } = this;
    const context = {
      log,
      signal,
      waiting: (reason: string) => {
        entry.waiting = reason;
        this.onProgress();
      },
    };
    for (let i = 0; i < actions.length; i += 1) {
      const action = actions[i]!;
      const description = agent.describe(action);
      if (signal.aborted && !agent.finishBeforeStop?.(actions.slice(0, i), actions.slice(i)))
        return { end: 'stopped', before: description };
      if (entry.doing !== description || (entry.waiting !== undefined && i > 0)) {
        entry.doing = description;
        entry.waiting = undefined;
        this.onProgress();
      }
      const served = app === undefined ? { apps: appsOf(i) } : {};
      const started = performance.now();
      const ended = (end: 'changed' | 'unchanged' | 'failed' | 'cut-short') =>
        this.hooks.actionDone?.({ app, kind: action.kind, end, seconds: (performance.now() - started) / 1000 });
      try {
        const result = await agent.apply(action, context);
        const changed = result.changed === true;
        ended(changed ? 'changed' : 'unchanged');
        if (changed) this.changedSince += 1;
        if (result.notYet) {
          log.info({ action: description, ...served, changed, reason: result.notYet.reason }, 'not yet: looked at again later');
          return { end: 'not-yet', at: i, notYet: result.notYet };
        }
        log.info({ action: description, ...served, changed }, 'applied');
        if (actionApplied.hasSubscribers)
          actionApplied.publish(
            app === undefined
              ? { agent: agent.name, node: true, apps: appsOf(i), action: description, changed, pass: entry.pass }
              : { agent: agent.name, app, action: description, changed, pass: entry.pass },
          );
      } catch (err) {
        ended(isAbort(signal) ? 'cut-short' : 'failed');
        if (isAbort(signal)) {
          log.info({ action: description, ...served }, 'cut short: the agent is stopping');
          return { end: 'stopped', before: description };
        }
        return { end: 'failed', at: i, message: (err as Error).message ?? String(err), terminal: err instanceof TerminalError };
      }
    }
    return { end: 'done' };
  }

  /** Books a failure of the run keyed `key` (serving `apps`): its retry, or for a terminal one the intent it answered. */
  private failed(
    key: string,
    apps: string[],
    ended: { message: string; terminal: boolean },
    description: string,
    log: Logger,
    planned: NodeIntent | undefined,
  ): void {
    const { message, terminal } = ended;
    const delay = this.retries.fail(key, message, terminal, planned && intentText(planned, apps));
    if (terminal && this.lastIntent) this.terminalIntent.set(key, { apps, text: intentText(this.lastIntent, apps) });
    const served = key === NODE ? { apps } : {};
    log.error({ action: description, ...served, err: message, ...(terminal ? { terminal } : { retryInMs: delay }) }, 'action failed');
  }

  /** Applies one app's admitted actions in order; a failure stops the app's run and books its retry. */
  private async run({ plan, actions }: AdmittedPlan<A>, entry: InFlight): Promise<void> {
    const appLog = this.log.child({ app: plan.app, version: plan.version });
    const failedBefore = this.retries.get(plan.app)?.attempts;
    const ended = await this.applyInOrder(actions, entry, appLog, plan.app, () => [plan.app]);
    const base = { app: plan.app, version: plan.version, details: plan.details, memory: plan.memory };
    if (ended.end === 'not-yet') {
      this.park(plan.app, ended.notYet);
      this.settledOutcomes.set(plan.app, {
        ...base,
        status: 'pending',
        reason: ended.notYet.reason,
        attempts: this.retries.get(plan.app)?.attempts ?? 0,
      });
      return;
    }
    if (ended.end === 'failed') {
      this.failed(plan.app, [plan.app], ended, this.agent.describe(actions[ended.at]!), appLog, entry.intent);
      this.settledOutcomes.set(plan.app, this.outcomeOf({ plan, actions }, undefined));
      return;
    }
    if (ended.end === 'stopped') {
      this.settledOutcomes.set(plan.app, {
        ...base,
        status: 'pending',
        reason: `stopped before: ${ended.before}`,
        attempts: this.retries.get(plan.app)?.attempts ?? 0,
      });
      return;
    }
    if (this.retries.get(plan.app)?.attempts === failedBefore) this.retries.succeed(plan.app);
    this.settledOutcomes.set(plan.app, { ...base, status: 'pending', reason: 'applied; checking the result', attempts: 0 });
  }

  /**
   * Applies the node-wide actions in order, like one app's actions: a failure stops the run, books one retry for
   * the run and is reported on every app the failed action serves; what each served app reports until the next pass
   * is settled here.
   */
  private async runNode(node: AdmittedNodeAction<A>[], entry: InFlight): Promise<void> {
    const nodeLog = this.log.child({ nodeWide: true });
    const failedBefore = this.retries.get(NODE)?.attempts;
    const ended = await this.applyInOrder(
      node.map((n) => n.action),
      entry,
      nodeLog,
      undefined,
      (i) => node[i]!.apps,
    );
    const settle = (apps: Iterable<string>, outcome: Omit<AppOutcome, 'app' | 'version' | 'details' | 'memory'>) => {
      const last = new Map(this.lastOutcomes.map((o) => [o.app, o]));
      for (const app of apps) {
        if (this.inFlight.has(app)) continue;
        const o = last.get(app);
        this.settledOutcomes.set(app, { app, version: o?.version, details: o?.details, memory: o?.memory, ...outcome });
      }
    };
    if (ended.end === 'not-yet') {
      const apps = node[ended.at]!.apps;
      this.park(NODE, ended.notYet, new Set(apps));
      settle(apps, { status: 'pending', reason: ended.notYet.reason, attempts: 0 });
      return;
    }
    if (ended.end === 'failed') {
      const apps = node[ended.at]!.apps;
      this.failed(NODE, apps, ended, this.agent.describe(node[ended.at]!.action), nodeLog, entry.intent);
      this.nodeFailedApps = new Set(apps);
      settle(apps, { status: 'failed', error: ended.message, attempts: this.retries.get(NODE)?.attempts ?? 1 });
      return;
    }
    if (ended.end === 'stopped') {
      settle(entry.apps ?? [], { status: 'pending', reason: `stopped before: ${ended.before}`, attempts: 0 });
      return;
    }
    if (this.retries.get(NODE)?.attempts === failedBefore) this.forgetNodeFailure();
    settle(entry.apps ?? [], { status: 'pending', reason: 'applied; checking the result', attempts: 0 });
  }

  private forgetNodeFailure(): void {
    this.retries.succeed(NODE);
    this.terminalIntent.delete(NODE);
    this.nodeFailedApps = new Set();
  }

  /** The run keyed `key` waits on a "not yet" without a slot: a new round is not counted, and it is due after its wait. */
  private park(key: string, notYet: NotYet, apps?: ReadonlySet<string>): void {
    this.rounds.set(key, Math.max(0, (this.rounds.get(key) ?? 1) - 1));
    this.unpark(key);
    const parked: Parked = { reason: notYet.reason, due: false, apps };
    this.parked.set(key, parked);
    const due = () => {
      if (this.parked.get(key) !== parked || parked.due) return;
      parked.due = true;
      clearTimeout(parked.timer);
      this.wakeParked();
      this.onSettle();
    };
    if (notYet.afterMs !== undefined) parked.timer = setTimeout(due, Math.max(0, notYet.afterMs));
    notYet.until?.then(due, due);
    if (notYet.afterMs === undefined && notYet.until === undefined) parked.due = true;
  }

  private unpark(key: string): void {
    const parked = this.parked.get(key);
    if (!parked) return;
    clearTimeout(parked.timer);
    this.parked.delete(key);
  }

  /** Gives up every "not yet" wait (the loop is ending). */
  dropParked(): void {
    for (const key of [...this.parked.keys()]) this.unpark(key);
  }

  private forgetTerminalFailures(intent: NodeIntent): void {
    for (const [key, { apps, text }] of this.terminalIntent)
      if (intentText(intent, apps) !== text) {
        if (key === NODE) this.forgetNodeFailure();
        else {
          this.terminalIntent.delete(key);
          this.retries.succeed(key);
        }
      }
  }

  private outcomeOf({ plan, actions, held }: AdmittedPlan<A>, intent: NodeIntent | undefined): AppOutcome {
    const { app } = plan;
    const failure = this.retries.get(app) ?? (this.nodeFailedApps.has(app) ? this.retries.get(NODE) : undefined);
    const base = { app, version: plan.version, details: plan.details, memory: plan.memory, attempts: failure?.attempts ?? 0 };
    const flight = this.flightOf(app);
    const intended = intent?.apps.has(app) ?? true;
    const node = this.nodeView.get(app);
    const nodeParked = this.parked.get(NODE);
    const ownToDo = actions.length > 0 ? this.agent.describe(actions[0]!) : undefined;
    const anyHeld = held ?? node?.held;
    const unstable =
      (actions.length > 0 && (this.rounds.get(app) ?? 0) >= MAX_ROUNDS) ||
      (node?.toDo !== undefined && (this.rounds.get(NODE) ?? 0) >= MAX_ROUNDS);
    const facts: AppFacts = {
      invalid: intent?.invalid.get(app),
      inFlight: flight && inFlightReason(flight),
      retrying: this.retriedFailure(app) !== undefined,
      failed: failure?.error,
      planError: plan.error,
      pending: plan.pending,
      notYet: this.parked.get(app)?.reason ?? (nodeParked?.apps?.has(app) ? nodeParked.reason : undefined),
      held: actions.length === 0 && !intended ? anyHeld : undefined,
      notStable: unstable ? `not stable after ${MAX_ROUNDS} iterations` : undefined,
      toDo: this.nodeOrder === 'before' ? (node?.toDo ?? ownToDo) : (ownToDo ?? node?.toDo),
      warning: plan.warning ?? (actions.length === 0 && intended ? anyHeld : undefined),
    };
    const verdict = appVerdict(facts);
    return { ...base, ...verdict };
  }

  private outcomesOf(admitted: AdmittedPass<A>, intent: NodeIntent): AppOutcome[] {
    // An app neither intended nor left with anything to do is gone: no outcome, so its reality key is pruned.
    const gone = ({ plan: p, held }: AdmittedPlan<A>) =>
      !intent.apps.has(p.app) &&
      !intent.invalid.has(p.app) &&
      p.actions.length === 0 &&
      held === undefined &&
      !p.error &&
      !p.pending &&
      !p.warning &&
      !this.nodeView.has(p.app) &&
      !this.isInFlight(p.app);
    const outcomes = admitted.apps.filter((a) => !gone(a)).map((a) => this.outcomeOf(a, intent));
    const seen = new Set(outcomes.map((o) => o.app));
    for (const [app, error] of intent.invalid) if (!seen.has(app)) outcomes.push({ app, status: 'failed', error, attempts: 0 });
    for (const app of intent.apps.keys()) if (!seen.has(app)) outcomes.push({ app, status: 'converged', attempts: 0 });
    for (const [app, flight] of this.inFlight)
      if (app !== NODE && !outcomes.some((o) => o.app === app))
        outcomes.push({ app, status: 'pending', reason: inFlightReason(flight), attempts: 0 });
    // The node-wide run's failure, "not yet" and terminal intent are forgotten by pass() (nothing node-wide to do).
    const present = new Set([...outcomes.map((o) => o.app), ...this.inFlight.keys(), NODE]);
    this.retries.retain(present);
    for (const app of [...this.parked.keys()]) if (!present.has(app)) this.unpark(app);
    for (const app of [...this.terminalIntent.keys()]) if (!present.has(app)) this.terminalIntent.delete(app);
    return outcomes;
  }

  /** When the host cannot be observed, nothing is planned: every intended app is failed and retried on its backoff. */
  private observeFailed(intent: NodeIntent, error: string, changed: number): PassResult {
    this.log.error({ action: 'observe', err: error }, 'cannot observe; nothing changes this pass');
    const apps = [...intent.apps.keys(), ...intent.invalid.keys()];
    for (const app of intent.apps.keys()) if (!this.retries.waiting(app) && !this.isInFlight(app)) this.retries.fail(app, error);
    this.lastOutcomes = apps.map((app): AppOutcome => {
      const invalid = intent.invalid.get(app);
      return { app, status: 'failed', error: invalid ?? error, attempts: this.retries.get(app)?.attempts ?? 0 };
    });
    return { outcomes: this.lastOutcomes, changed, iterations: this.iterations, stopped: this.signal.aborted, observeError: error };
  }
}

/** The plan with an (empty) plan for every app a node-wide action serves that has none, so each is reported. */
function withServedApps<A extends Action>(plan: PassPlan<A>): PassPlan<A> {
  const planned = new Set(plan.apps.map((p) => p.app));
  const missing = [...new Set(plan.node.flatMap((n) => n.apps))].filter((app) => !planned.has(app));
  return missing.length === 0 ? plan : { ...plan, apps: [...plan.apps, ...missing.map((app) => ({ app, actions: [] }))] };
}

/** For each app served by a node-wide action of the pass: the first one admitted (described), or why one is held. */
function nodeViewOf<A extends Action>(node: AdmittedNodeAction<A>[], describe: (action: A) => string): Map<string, NodeView> {
  const view = new Map<string, NodeView>();
  for (const n of node)
    for (const app of n.apps) {
      const v = view.get(app) ?? {};
      if (n.held === undefined) v.toDo ??= describe(n.action);
      else v.held ??= n.held;
      view.set(app, v);
    }
  return view;
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
export function planOrBlame<O, A extends Action>(
  agent: Agent<O, A>,
  intent: NodeIntent,
  observed: O,
  log: Logger,
): AppPlan<A>[] | PassPlan<A> {
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
