import type { NodeIntent } from '../intent/node-intent.js';
import type { AdmittedNodeAction, AdmittedPass } from '../loop/admit.js';
import type { Action, Agent } from '../loop/types.js';

/** The apps a node-wide action serves, for a human: the first few by name, then how many in all. */
function servedText(apps: string[]): string {
  const SHOWN = 8;
  return apps.length <= SHOWN ? apps.join(', ') : `${apps.slice(0, SHOWN).join(', ')}, … (${apps.length} apps)`;
}

/** How a node-wide action stands in this pass: applied now, held, or left for a later pass. */
function nodeState<A extends Action>(n: AdmittedNodeAction<A>, pass: AdmittedPass<A>): 'apply' | 'held' | 'later' {
  if (n.held !== undefined) return 'held';
  return pass.nodeDeferred ? 'later' : 'apply';
}

/**
 * Renders a dry-run plan: one line per action the loop admits (or JSON), exactly what a run's first pass applies;
 * what the loop holds (removals on untrusted intent, without a signed order) and what waits for a later pass
 * (Agent.nodeOrder) on lines of their own. The node-wide actions are listed once, under the node's heading, with
 * the apps they serve: before the apps' lines when they run first, after them when they run last.
 */
export function printPlan<O, A extends Action>(agent: Agent<O, A>, intent: NodeIntent, pass: AdmittedPass<A>, json: boolean): string {
  const order = agent.nodeOrder ?? 'before';
  if (json) {
    const apps = pass.apps.map(({ plan: p, actions, held, deferred }) => ({
      app: p.app,
      version: p.version,
      actions: deferred ? [] : actions.map((a) => agent.describe(a)),
      later: deferred ? actions.map((a) => agent.describe(a)) : undefined,
      held: held === undefined ? undefined : p.actions.filter((a) => !actions.includes(a)).map((a) => agent.describe(a)),
      heldBecause: held,
      pending: p.pending,
      error: p.error,
    }));
    const node = pass.node.map((n) => ({
      action: agent.describe(n.action),
      apps: n.apps,
      state: nodeState(n, pass),
      heldBecause: n.held,
    }));
    const invalid = [...intent.invalid].map(([app, error]) => ({ app, error }));
    return `${JSON.stringify({ agent: agent.name, node: intent.node, trusted: intent.trusted, nodeOrder: order, nodeActions: node, apps, invalid }, null, 2)}\n`;
  }
  const lines: string[] = [];
  if (!intent.trusted) lines.push(`! ${intent.distrust ?? 'node intent not trusted: no removal would be done'}`);
  const nodeLines = pass.node.map((n) => {
    const state = nodeState(n, pass);
    const what = `${agent.describe(n.action)} (for ${servedText(n.apps)})`;
    if (state === 'held') return `  held: ${what}: ${n.held}`;
    return state === 'later' ? `  after the apps' own actions, in a later pass: ${what}` : `  ${what}`;
  });
  const nodeSection = nodeLines.length > 0 ? [`node ${intent.node}:`, ...nodeLines] : [];
  if (order === 'before') lines.push(...nodeSection);
  for (const { plan: p, actions, held, deferred } of pass.apps) {
    const head = `${p.app}${p.version ? `@${p.version}` : ''}`;
    if (p.error) lines.push(`${head}: error: ${p.error}`);
    if (p.pending) lines.push(`${head}: pending: ${p.pending}`);
    for (const a of actions)
      lines.push(
        deferred ? `${head}: after the node-wide actions, in a later pass: ${agent.describe(a)}` : `${head}: ${agent.describe(a)}`,
      );
    if (held !== undefined && !intent.invalid.has(p.app))
      for (const a of p.actions.filter((x) => !actions.includes(x))) lines.push(`${head}: held: ${agent.describe(a)} (${held})`);
  }
  if (order === 'after') lines.push(...nodeSection);
  for (const [app, error] of intent.invalid) lines.push(`${app}: invalid: ${error}`);
  if (lines.length === 0) lines.push('nothing to do');
  return `${lines.join('\n')}\n`;
}
