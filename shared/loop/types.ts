import type { Logger } from 'pino';
import type { NodeIntent } from '../intent/node-intent.js';
import type { RecordMemory } from '../reality/memory.js';

/** What one agent intends to do for one app in one pass, computed by its pure `plan`. */
export interface AppPlan<A extends Action = Action> {
  app: string;
  /** The version this plan acts on or reports about, if any. */
  version?: string;
  actions: A[];
  /** Why the app cannot progress yet although nothing failed (e.g. "waiting for install of 1.2"). */
  pending?: string;
  /** A problem the plan itself found (e.g. a bad port spec): reported as failed, other apps go on. */
  error?: string;
  /**
   * Something worth reporting that fails nothing and waits for nothing (e.g. a removed app's installs that cannot
   * be read to prune them): the app is reported converged with it as its reason, and its record stays.
   */
  warning?: string;
  /** Observations worth reporting in reality (e.g. versions present): shown, never read back. */
  details?: Record<string, unknown>;
  /**
   * What the agent remembers of the app across a restart (e.g. pp-preparer's basedir), reported in the record's
   * `memory`; the agent recalls it from its state file (`memory` below), never from reality.
   */
  memory?: RecordMemory;
}

/** What every action is: a plain value with a bounded `kind` (it labels metrics and names removals). */
export interface Action {
  readonly kind: string;
}

/**
 * An action that belongs to the node rather than to one app (pp-iptables' whole-chain write, a batched package
 * transaction): planned once, applied at most once per pass, and reported in the reality of every app it serves.
 */
export interface NodeAction<A extends Action = Action> {
  action: A;
  /**
   * The apps it serves: the apps whose part of the node it changes. Its outcome (to do, in flight, failed, not yet)
   * is reported in each one's record; if its kind is a removal, it is admitted only when each of them may lose
   * something (see Agent.removals).
   */
  apps: string[];
}

/** What `plan` returns when it has node-wide actions: the per-app plans, and the node's actions in order. */
export interface PassPlan<A extends Action = Action> {
  apps: AppPlan<A>[];
  node: NodeAction<A>[];
}

/** A plan as `plan` may return it, split into its per-app plans and its node-wide actions (none for a bare list). */
export function planParts<A extends Action>(plan: AppPlan<A>[] | PassPlan<A>): PassPlan<A> {
  return Array.isArray(plan) ? { apps: plan, node: [] } : plan;
}

/** What `apply` gets besides the action. */
export interface ApplyContext {
  /** The app's logger (agent, node, app, version bound). */
  log: Logger;
  /**
   * Aborts when the agent is stopping: waits and transfers end at once with an error named AbortError (not a
   * failure of the app); a step that changes a running service finishes.
   */
  signal: AbortSignal;
  /** Says why the action waits on something outside the host: reality shows it, as a pending app, until it moves on. */
  waiting(reason: string): void;
}

/**
 * "Not yet": the action cannot proceed now and should be tried again later, without holding one of the loop's
 * `parallel` slots meanwhile. The app's remaining actions are not applied; it is reported pending with `reason`
 * and planned again after `afterMs`, when `until` settles, or on the next change of intent, whichever is first.
 */
export interface NotYet {
  reason: string;
  afterMs?: number;
  until?: Promise<unknown>;
}

/** The result of applying one action: whether it changed anything on the host, or that it must wait. */
export type ActionResult = { changed: boolean; notYet?: undefined } | { changed?: boolean; notYet: NotYet };

/**
 * A failure that retrying cannot fix (e.g. an artifact whose digest is wrong for the bytes the server serves):
 * reported like any failure, never retried until the app's intent or the host changes.
 */
export class TerminalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TerminalError';
  }
}

/**
 * The reconcile contract every agent implements. `observe` reads the agent's slice of the host,
 * `plan` is pure (intent + observed → per-app actions, and node-wide ones; every app to act on or report, removals
 * included, with no safety check of its own), `apply` performs one action and throws on failure. The loop
 * applies several apps at once, each app's actions in order, and the node-wide actions in order as one more run
 * beside them, so `apply` must not assume it is alone.
 */
export interface Agent<Observed, A extends Action> {
  name: string;
  /** How many apps the loop applies at once (default 1); the node-wide actions of a pass take one of these slots. */
  parallel?: number;
  observe(intent: NodeIntent, log?: Logger): Promise<Observed>;
  /** Per-app plans, or `{ apps, node }` with the node-wide actions besides them (see NodeAction). */
  plan(intent: NodeIntent, observed: Observed): AppPlan<A>[] | PassPlan<A>;
  /**
   * The kinds of action that remove or stop something of an app that intent no longer names (a prune, a service
   * stopped for good). The loop admits them only on trusted intent and, with --trusted-signers, only for an app a
   * signed order removed; any action planned for an app that is neither intended nor removable is held too. A
   * node-wide action is admitted only if it would be admitted in the plan of every app it serves.
   */
  removals: readonly A['kind'][];
  /**
   * Whether a pass applies the node-wide actions before or after the per-app actions of the apps they serve (default
   * 'before'). 'before': while a node-wide action serving an app is to do, that app's own actions wait for a later
   * pass, planned again from what the node-wide action left (a package transaction before the files that use the
   * packages). 'after': the node-wide actions wait while an app they serve has actions of its own to run (a rebuild
   * that reads what the per-app actions wrote); an app whose own actions wait out a failure holds nothing back.
   */
  nodeOrder?: 'before' | 'after';
  /** Performs one action (see ApplyContext); throws on failure, TerminalError when retrying cannot help. */
  apply(action: A, context: ApplyContext): Promise<ActionResult>;
  /**
   * Asked when the agent is stopping, before each remaining action of an app: true to apply it anyway, because
   * stopping between `done` and `rest` would leave something worse than either (e.g. a service stopped for a
   * flip is started again). Absent: stop at once.
   */
  finishBeforeStop?(done: A[], rest: A[]): boolean;
  describe(action: A): string;
  /**
   * Runs once before the first pass (e.g. logging which external tool the agent drives). Leftovers of a killed
   * run are not cleaned here: observe lists them and plan cleans them, so --dry-run shows them (shared/leftovers.ts).
   */
  start?(log: Logger): Promise<void>;
  /**
   * What the agent must not forget across a restart (e.g. where an app removed meanwhile keeps its files), kept
   * by the loop in the agent's state file on the node's disk (shared/loop/agent-state.ts), never in the store:
   * `save` after each pass (plain JSON), `load` once before the first. What drives a removal must come from here or
   * from trusted intent, never from reality, which others can write.
   */
  memory?: { save(): unknown; load(saved: unknown): void };
  /** Gives up what the agent holds in the store (e.g. a Consul session) when the loop ends. */
  close?(): Promise<void>;
}

/** What a pass concludes for one app, and the record it is written as: one schema, shared/reality/record.ts. */
export type { AppOutcome, AppStatus, RealityRecord } from '../reality/record.js';
