import { heldRemoval, type NodeIntent } from '../intent/node-intent.js';
import type { Action, AppPlan, NodeAction, PassPlan } from './types.js';

/** A plan as the loop lets it run: the actions it may apply now, and why the others wait. */
export interface AdmittedPlan<A extends Action> {
  plan: AppPlan<A>;
  /** The plan's actions the loop lets run, in order. */
  actions: A[];
  /**
   * Why some of its actions were held: for an app intent no longer names, every action waits for trusted intent
   * (and with --trusted-signers a signed removal); for an intended app, only the removals wait for trusted intent.
   */
  held?: string;
  /** Its actions wait for a later pass: a node-wide action serving it goes first (Agent.nodeOrder 'before'). */
  deferred?: boolean;
}

/** A node-wide action as the loop lets it run. */
export interface AdmittedNodeAction<A extends Action> extends NodeAction<A> {
  /** Why the loop holds it: it would be held in the plan of an app it serves (absent: it may run). */
  held?: string;
}

/** A whole pass as the loop lets it run: the apps' admitted plans and the node-wide actions, in plan order. */
export interface AdmittedPass<A extends Action> {
  apps: AdmittedPlan<A>[];
  node: AdmittedNodeAction<A>[];
  /** The node-wide actions wait for a later pass: an app they serve has actions of its own to run first ('after'). */
  nodeDeferred?: boolean;
}

/**
 * Why the loop holds an action for `app` (undefined: it may run): nothing while its intent cannot be read; for an
 * app intent no longer names, everything until its removal may go ahead (trusted intent and, with
 * --trusted-signers, a signed removal); for an intended app, only a removal, and only on untrusted intent.
 */
function heldFor(intent: NodeIntent, app: string, removes: boolean): string | undefined {
  if (intent.invalid.has(app)) return 'nothing is done while its intent cannot be read';
  if (!intent.apps.has(app)) return heldRemoval(intent, app);
  if (removes && !intent.trusted) return `removal waits: ${intent.distrust ?? 'node intent not trusted'}`;
  return undefined;
}

/**
 * Why the loop would hold an action that removes something of `app`, or undefined when it may go ahead: the rule
 * the loop admits removals by. A plan that folds several apps into one node-wide action leaves as they are the
 * parts of the apps this holds, or the loop holds the whole action (for every app it serves).
 */
export function removalHeld(intent: NodeIntent, app: string): string | undefined {
  return heldFor(intent, app, true);
}

/**
 * Decides which planned actions may run: the one place removal safety lives, so a plan needs no safety check of
 * its own and an agent that forgets one cannot remove anything. An app that is neither intended nor removable
 * (untrusted intent, no signed removal, or an app whose intent cannot be read) gets nothing to apply; on untrusted
 * intent an intended app gets everything but its removals. Pure: the dry run prints what this admits, the run
 * applies it.
 */
export function admitPlans<A extends Action>(removals: readonly string[], intent: NodeIntent, plans: AppPlan<A>[]): AdmittedPlan<A>[] {
  const removes = new Set(removals);
  return plans.map((plan) => {
    // Reported even with nothing planned: an app kept only because its removal waits says so in reality.
    if (intent.invalid.has(plan.app) || !intent.apps.has(plan.app)) {
      const held = heldFor(intent, plan.app, true);
      if (held === undefined) return { plan, actions: plan.actions };
      return plan.actions.length === 0 && intent.invalid.has(plan.app) ? { plan, actions: [] } : { plan, actions: [], held };
    }
    if (plan.actions.length === 0) return { plan, actions: plan.actions };
    const actions = plan.actions.filter((a) => heldFor(intent, plan.app, removes.has(a.kind)) === undefined);
    if (actions.length === plan.actions.length) return { plan, actions };
    return { plan, actions, held: heldFor(intent, plan.app, true) };
  });
}

/**
 * Admits a node-wide action as the plan of every app it serves would admit it: held (whole) as soon as one of
 * them would hold it, with that app's reason. Pure.
 */
export function admitNodeAction<A extends Action>(
  removals: readonly string[],
  intent: NodeIntent,
  node: NodeAction<A>,
): AdmittedNodeAction<A> {
  const removes = removals.includes(node.action.kind);
  for (const app of node.apps) {
    const held = heldFor(intent, app, removes);
    if (held !== undefined) return { ...node, held: intent.invalid.has(app) ? `app ${app}: ${held}` : held };
  }
  return { ...node };
}

/**
 * A whole pass admitted (admitPlans, admitNodeAction) and put in the agent's order (Agent.nodeOrder): with
 * 'before', the own actions of an app served by an admitted node-wide action wait for a later pass; with 'after',
 * the node-wide actions wait while `busy` says an app they serve has actions of its own running or to run now (a
 * dry run: any admitted action; the loop: one not waiting out a failure). Pure given `busy`.
 */
export function admitPass<A extends Action>(
  removals: readonly string[],
  order: 'before' | 'after',
  intent: NodeIntent,
  plan: PassPlan<A>,
  busy: (admitted: AdmittedPlan<A>) => boolean = (a) => a.actions.length > 0,
): AdmittedPass<A> {
  const apps = admitPlans(removals, intent, plan.apps);
  const node = plan.node.map((n) => admitNodeAction(removals, intent, n));
  const served = new Set(node.filter((n) => n.held === undefined).flatMap((n) => n.apps));
  if (served.size === 0) return { apps, node };
  if (order === 'before')
    return { apps: apps.map((a) => (served.has(a.plan.app) && a.actions.length > 0 ? { ...a, deferred: true } : a)), node };
  return apps.some((a) => served.has(a.plan.app) && busy(a)) ? { apps, node, nodeDeferred: true } : { apps, node };
}
