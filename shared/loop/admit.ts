import { heldRemoval, type NodeIntent } from '../intent/node-intent.js';
import type { Action, AppPlan } from './types.js';

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
    if (intent.invalid.has(plan.app))
      return plan.actions.length === 0
        ? { plan, actions: [] }
        : { plan, actions: [], held: 'nothing is done while its intent cannot be read' };
    // Reported even with nothing planned: an app kept only because its removal waits says so in reality.
    if (!intent.apps.has(plan.app)) {
      const held = heldRemoval(intent, plan.app);
      return held === undefined ? { plan, actions: plan.actions } : { plan, actions: [], held };
    }
    if (intent.trusted || plan.actions.length === 0) return { plan, actions: plan.actions };
    const actions = plan.actions.filter((a) => !removes.has(a.kind));
    if (actions.length === plan.actions.length) return { plan, actions };
    return { plan, actions, held: `removal waits: ${intent.distrust ?? 'node intent not trusted'}` };
  });
}
