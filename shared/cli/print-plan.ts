import type { NodeIntent } from '../intent/node-intent.js';
import type { Agent, AppPlan } from '../loop/types.js';

/** Renders a dry-run plan: one line per action (or JSON), plus why nothing may be removed when intent looks faulty. */
export function printPlan<O, A>(agent: Agent<O, A>, intent: NodeIntent, plans: AppPlan<A>[], json: boolean): string {
  if (json) {
    const apps = plans.map((p) => ({
      app: p.app,
      version: p.version,
      actions: p.actions.map((a) => agent.describe(a)),
      pending: p.pending,
      error: p.error,
    }));
    const invalid = [...intent.invalid].map(([app, error]) => ({ app, error }));
    return `${JSON.stringify({ agent: agent.name, node: intent.node, trusted: intent.trusted, apps, invalid }, null, 2)}\n`;
  }
  const lines: string[] = [];
  if (!intent.trusted) lines.push(`! ${intent.distrust ?? 'node intent not trusted'}: nothing would be done`);
  for (const p of plans) {
    const head = `${p.app}${p.version ? `@${p.version}` : ''}`;
    if (p.error) lines.push(`${head}: error: ${p.error}`);
    if (p.pending) lines.push(`${head}: pending: ${p.pending}`);
    for (const a of p.actions) lines.push(`${head}: ${agent.describe(a)}`);
  }
  for (const [app, error] of intent.invalid) lines.push(`${app}: invalid: ${error}`);
  if (lines.length === 0) lines.push('nothing to do');
  return `${lines.join('\n')}\n`;
}
