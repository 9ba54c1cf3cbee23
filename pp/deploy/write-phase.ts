import { stableJson } from '../../shared/stable-json.js';
import type { IntentStore } from '../../shared/store/types.js';
import { signIntent, signRemoval, type SignOptions } from '../../shared/trust/envelope.js';
import { signed } from '../signing.js';
import { intentOf, type RawIntent, signedIntentOrder } from './analyze.js';
import { type NodeState, readNodeState, writeNodes } from './write.js';

/** Where and how the phases of one deploy write. */
export interface Writer {
  store: IntentStore;
  prefix: string;
  app: string;
  /** Absent: what is written is plain JSON. */
  sign?: SignOptions;
  /** Called before every transaction: throws once nothing more may be written (the lock lost, the deploy interrupted). */
  guard: () => void;
}

/**
 * What a phase writes on a node: `intent`, or no intent (null: the app is removed). Unsigned, `exact` (when given)
 * is written byte for byte instead: a revert puts back the value the plan found.
 */
export interface Desired {
  intent: RawIntent | null;
  exact?: string;
}

/** What a phase wrote: the nodes that hold its value now, those whose intent changed under it, and each value. */
export interface PhaseWrite {
  written: string[];
  changed: string[];
  /** Per node written (or holding the value already): the value it holds now (null: none). */
  values: Map<string, string | null>;
}

/** True when `current` (the node's value now) holds `desired` already, in the form this deploy writes. */
function holds(w: Writer, node: string, current: string | undefined, desired: Desired): boolean {
  if (desired.intent === null || current === undefined) return false;
  if (!w.sign) return (desired.exact ?? JSON.stringify(desired.intent)) === current;
  const order = signedIntentOrder(current, w.prefix, node);
  return order !== undefined && stableJson(order.spec) === stableJson(desired.intent);
}

/**
 * The values to write. Signed, every node given the same intent (or removal) shares one envelope listing them all:
 * one ssh-keygen run (one passphrase or touch) per distinct value, not per node.
 */
async function valuesOf(w: Writer, planned: Array<{ node: string; desired: Desired }>): Promise<Map<string, string | null>> {
  const values = new Map<string, string | null>();
  const { sign, app } = w;
  if (!sign) {
    for (const { node, desired } of planned)
      values.set(node, desired.exact ?? (desired.intent === null ? null : JSON.stringify(desired.intent)));
    return values;
  }
  const groups = new Map<string, { intent: RawIntent | null; nodes: string[] }>();
  for (const { node, desired } of planned) {
    const key = desired.intent === null ? '' : stableJson(desired.intent);
    const group = groups.get(key) ?? { intent: desired.intent, nodes: [] };
    group.nodes.push(node);
    groups.set(key, group);
  }
  for (const { intent, nodes } of groups.values()) {
    const value = await signed(intent === null ? `the removal of ${app}` : `the intent of ${app}`, () =>
      intent === null ? signRemoval(w.prefix, app, nodes, sign) : signIntent(w.prefix, app, nodes, JSON.stringify(intent), sign),
    );
    for (const node of nodes) values.set(node, value);
  }
  return values;
}

/**
 * Writes `desired(node, current)` on each node whose app intent is still `expected(node)` (what the plan saw, or
 * what this deploy wrote); a node whose intent changed since is reported, not overwritten.
 */
export async function writePhase(
  w: Writer,
  nodes: string[],
  expected: (node: string) => string | undefined,
  desired: (node: string, current: RawIntent | undefined) => Desired,
): Promise<PhaseWrite> {
  const planned: Array<{ node: string; state: NodeState; desired: Desired }> = [];
  const changed: string[] = [];
  // A node that holds the value already (a resumed deploy's staged nodes) is not written again.
  const already = new Map<string, string | null>();
  for (const node of nodes) {
    const state = await readNodeState(w.store, w.prefix, node, w.app);
    if (state.value !== expected(node)) {
      changed.push(node);
      continue;
    }
    const wanted = desired(node, intentOf(state.value));
    if (holds(w, node, state.value, wanted)) already.set(node, state.value!);
    else planned.push({ node, state, desired: wanted });
  }
  const values = await valuesOf(w, planned);
  const writes = planned.map((p) => ({ state: p.state, value: values.get(p.node)! }));
  const result = await writeNodes(w.store, w.prefix, w.app, writes, w.guard);
  for (const [node, value] of already) values.set(node, value);
  return { written: [...already.keys(), ...result.written], changed: [...changed, ...result.changed], values };
}
