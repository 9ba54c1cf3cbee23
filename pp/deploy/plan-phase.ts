import type { IntentStore } from '../../shared/store/types.js';
import { refuseUnsigned } from '../signing.js';
import { refuseSectionsNotUnderstood } from '../understood.js';
import { analyze, type deploySpec, type DeployPlan, renderPlan } from './analyze.js';

/** What the plan is made of: the spec, the target nodes, and what the deploy will write. */
export interface PlanInput {
  app: string;
  spec: ReturnType<typeof deploySpec>;
  nodes: string[];
  silentAfterSeconds: number;
  /** The deploy signs what it writes (--sign-key). */
  signing: boolean;
  /** --force: write sections agents of a node may not understand. */
  force: boolean;
}

/** The plan, and the nodes it writes to (`todo`), those holding the spec already (`unchanged`), whether any is skipped. */
export interface PlannedDeploy {
  plan: DeployPlan;
  todo: string[];
  unchanged: string[];
  skipped: boolean;
}

/**
 * Analyses the targets (reads only), shows the plan through `show`, and refuses, before the lock and the record, a
 * deploy its agents would refuse: unsigned intent for agents that act only on signed intent, a section a running
 * agent does not understand (a dry run ends the same way).
 */
export async function planDeploy(
  store: IntentStore,
  prefix: string,
  input: PlanInput,
  show: (text: string) => void,
): Promise<PlannedDeploy> {
  const plan = await analyze(store, prefix, input.app, input.nodes, input.spec, {
    silentAfterSeconds: input.silentAfterSeconds,
    signing: input.signing,
  });
  show(renderPlan(plan));
  const todo = plan.nodes.filter((n) => n.action === 'flip' || n.action === 'first-install');
  if (!input.signing) refuseUnsigned(new Map(todo.filter((n) => n.signedOnly.length > 0).map((n) => [n.node, n.signedOnly])));
  refuseSectionsNotUnderstood(plan.spec, new Map(todo.map((n) => [n.node, n.heartbeats])), input.force);
  return {
    plan,
    todo: todo.map((n) => n.node),
    unchanged: plan.nodes.filter((n) => n.action === 'unchanged').map((n) => n.node),
    skipped: plan.nodes.some((n) => n.action === 'skip'),
  };
}
