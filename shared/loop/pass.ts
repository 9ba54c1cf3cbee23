import { channel } from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import type { NodeIntent } from '../intent/node-intent.js';
import type { RetryBook } from './retry-book.js';
import type { Agent, AppOutcome, AppPlan } from './types.js';

export type { AppOutcome } from './types.js';

export interface PassResult {
  outcomes: AppOutcome[];
  changed: number;
  iterations: number;
  stopped: boolean;
}

const MAX_ITERATIONS = 5;

/**
 * Every applied action is published here ({ agent, app, action, changed }), synchronously and before the next
 * action starts: free when nobody subscribes, and how a crash test kills an agent exactly between two steps
 * (test/support/sigkill-after-actions.mjs) without a test-only flag in the agents.
 */
export const actionApplied = channel('platypus:action-applied');

async function applyApp<O, A>(agent: Agent<O, A>, plan: AppPlan<A>, retries: RetryBook, log: Logger, stopping: () => boolean) {
  let changed = 0;
  const appLog = log.child({ app: plan.app, version: plan.version });
  for (const action of plan.actions) {
    if (stopping()) break;
    const description = agent.describe(action);
    try {
      const result = await agent.apply(action, appLog);
      if (result.changed) changed += 1;
      appLog.info({ action: description, changed: result.changed }, 'applied');
      if (actionApplied.hasSubscribers) actionApplied.publish({ agent: agent.name, app: plan.app, action: description, changed: result.changed });
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      const delay = retries.fail(plan.app, message);
      appLog.error({ action: description, err: message, retryInMs: delay }, 'action failed');
      break;
    }
  }
  return changed;
}

function outcomeOf<A>(plan: AppPlan<A>, intent: NodeIntent, retries: RetryBook): AppOutcome {
  const failure = retries.get(plan.app);
  const base = { app: plan.app, version: plan.version, details: plan.details, attempts: failure?.attempts ?? 0 };
  const invalid = intent.invalid.get(plan.app);
  if (invalid) return { ...base, status: 'failed', error: invalid };
  if (failure) return { ...base, status: 'failed', error: failure.error };
  if (plan.error) return { ...base, status: 'failed', error: plan.error };
  if (plan.pending) return { ...base, status: 'pending', reason: plan.pending };
  if (plan.actions.length > 0) return { ...base, status: 'pending', reason: `not stable after ${MAX_ITERATIONS} iterations` };
  return { ...base, status: 'converged' };
}

/** When the host cannot be observed, nothing is planned: every intended app is failed and retried on its backoff. */
function observeFailed(intent: NodeIntent, retries: RetryBook, log: Logger, error: string, iterations: number): PassResult {
  log.error({ action: 'observe', err: error }, 'cannot observe; nothing changes this pass');
  const apps = [...intent.apps.keys(), ...intent.invalid.keys()];
  for (const app of intent.apps.keys()) if (!retries.waiting(app)) retries.fail(app, error);
  const outcomes = apps.map((app): AppOutcome => {
    const invalid = intent.invalid.get(app);
    return { app, status: 'failed', error: invalid ?? error, attempts: retries.get(app)?.attempts ?? 0 };
  });
  return { outcomes, changed: 0, iterations, stopped: false };
}

/**
 * One convergence pass: observe → plan → apply, repeated until no runnable action is left (or a few
 * times at most). Apps waiting out a backoff are skipped; a failing app never stops the others.
 * `stopping` is checked between actions so a signal lets the action in flight finish.
 */
export async function convergePass<O, A>(agent: Agent<O, A>, intent: NodeIntent, retries: RetryBook, log: Logger, stopping: () => boolean): Promise<PassResult> {
  let changed = 0;
  let plans: AppPlan<A>[] = [];
  let iterations = 0;
  while (iterations < MAX_ITERATIONS && !stopping()) {
    iterations += 1;
    try {
      plans = agent.plan(intent, await agent.observe(intent, log));
    } catch (err) {
      return observeFailed(intent, retries, log, `cannot observe the host: ${(err as Error).message}`, iterations);
    }
    // An app with nothing left to do has converged, even if its last action failed: forget the failure, or its
    // due retry would wake the loop again and again for nothing.
    for (const p of plans) if (p.actions.length === 0 && !p.error && !retries.waiting(p.app)) retries.succeed(p.app);
    const runnable = intent.trusted ? plans.filter((p) => p.actions.length > 0 && !retries.waiting(p.app)) : [];
    if (runnable.length === 0) break;
    for (const plan of runnable) {
      const failedBefore = retries.get(plan.app)?.attempts;
      const appChanged = await applyApp(agent, plan, retries, log, stopping);
      changed += appChanged;
      if (retries.get(plan.app)?.attempts === failedBefore) retries.succeed(plan.app);
    }
  }
  if (iterations === 0) return { outcomes: [], changed: 0, iterations, stopped: true }; // stopped before observing anything
  // An app neither intended nor left with anything to do is gone: no outcome, so its reality key is pruned.
  const gone = (p: AppPlan<A>) => !intent.apps.has(p.app) && !intent.invalid.has(p.app) && p.actions.length === 0 && !p.error;
  const outcomes = plans.filter((p) => !gone(p)).map((p) => outcomeOf(p, intent, retries));
  for (const [app, error] of intent.invalid) {
    if (!outcomes.some((o) => o.app === app)) outcomes.push({ app, status: 'failed', error, attempts: 0 });
  }
  for (const app of intent.apps.keys()) {
    if (!outcomes.some((o) => o.app === app)) outcomes.push({ app, status: 'converged', attempts: 0 });
  }
  retries.retain(new Set(outcomes.map((o) => o.app)));
  return { outcomes, changed, iterations, stopped: stopping() };
}
