import type { NodeIntent } from '../intent/node-intent.js';
import type { AdmittedPlan } from '../loop/admit.js';
import type { Action, Agent } from '../loop/types.js';

/**
 * Renders a dry-run plan: one line per action the loop admits (or JSON), exactly what a run's first pass applies;
 * what the loop holds (removals on untrusted intent, without a signed order) on a line of its own.
 */
export function printPlan<O, A extends Action>(agent: Agent<O, A>, intent: NodeIntent, plans: AdmittedPlan<A>[], json: boolean): string {
  if (json) {
    const apps = plans.map(({ plan: p, actions, held }) => ({
      app: p.app,
      version: p.version,
      actions: actions.map((a) => agent.describe(a)),
      held: held === undefined ? undefined : p.actions.filter((a) => !actions.includes(a)).map((a) => agent.describe(a)),
      heldBecause: held,
      pending: p.pending,
      error: p.error,
    }));
    const invalid = [...intent.invalid].map(([app, error]) => ({ app, error }));
    return `${JSON.stringify({ agent: agent.name, node: intent.node, trusted: intent.trusted, apps, invalid }, null, 2)}\n`;
  }
  const lines: string[] = [];
  if (!intent.trusted) lines.push(`! ${intent.distrust ?? 'node intent not trusted: no removal would be done'}`);
  for (const { plan: p, actions, held } of plans) {
    const head = `${p.app}${p.version ? `@${p.version}` : ''}`;
    if (p.error) lines.push(`${head}: error: ${p.error}`);
    if (p.pending) lines.push(`${head}: pending: ${p.pending}`);
    for (const a of actions) lines.push(`${head}: ${agent.describe(a)}`);
    if (held !== undefined && !intent.invalid.has(p.app))
      for (const a of p.actions.filter((x) => !actions.includes(x))) lines.push(`${head}: held: ${agent.describe(a)} (${held})`);
  }
  for (const [app, error] of intent.invalid) lines.push(`${app}: invalid: ${error}`);
  if (lines.length === 0) lines.push('nothing to do');
  return `${lines.join('\n')}\n`;
}
