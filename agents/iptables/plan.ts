import type { NodeIntent } from '../../shared/intent/node-intent.js';
import type { NodeAction, PassPlan } from '../../shared/loop/types.js';
import type { IptablesDetails } from '../../shared/reality/details.js';
import { claimPorts, compareNames, frozenApps, portId, reportOnly, type PortClaims } from './ports.js';
import { foreignChainProblem, linesByApp, ruleLine, type ChainState } from './rules.js';

export type Family = 'ipv4' | 'ipv6';

/** What observe saw: our chain in each enabled family (IPv4 first) and the apps we have reality records for. */
export interface NativeObserved {
  chain: string;
  /** `error` is set when the family's table could not be read: nothing is planned then. */
  families: { family: Family; state: ChainState; error?: string }[];
}

/** Replace our chain's content in one family with `lines` (one atomic iptables-restore), jump included. */
export interface SyncChainAction {
  kind: 'sync-chain';
  family: Family;
  chain: string;
  lines: string[];
}

/** One jump once the chain has rules; never more than one; none added for an empty chain. */
export function wantedJumps(state: ChainState, lines: string[]): number {
  return lines.length > 0 || state.jumps > 0 ? 1 : 0;
}

/** True when the family's chain already holds exactly `lines` and is jumped to as wanted. */
export function chainMatches(state: ChainState, lines: string[]): boolean {
  const current = state.rules.map((r) => r.line);
  return current.length === lines.length && current.every((l, i) => l === lines[i]) && state.jumps === wantedJumps(state, lines);
}

/** The chain's wanted content per app (sorted by app): granted ports rendered, frozen apps' rules as they are. */
export function desiredByApp(chain: string, claims: PortClaims, frozen: Set<string>, state: ChainState): Map<string, string[]> {
  const current = linesByApp(state.rules);
  const wanted = new Map<string, string[]>();
  for (const [app, ports] of claims.granted)
    if (ports.length > 0)
      wanted.set(
        app,
        ports.map((p) => ruleLine(chain, app, p)),
      );
  for (const app of frozen) if (current.has(app)) wanted.set(app, current.get(app)!);
  return new Map([...wanted].sort(([a], [b]) => compareNames(a, b)));
}

function sameLines(a: string[] | undefined, b: string[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((l, i) => l === y[i]);
}

/** Apps whose rules in this family must change; any other difference (jump, order, stray rules) involves every app with rules. */
function affectedApps(intent: NodeIntent, state: ChainState, wanted: Map<string, string[]>, lines: string[]): Set<string> {
  if (chainMatches(state, lines)) return new Set();
  const current = linesByApp(state.rules);
  const apps = new Set([...wanted.keys(), ...current.keys()].filter((a) => !sameLines(current.get(a), wanted.get(a))));
  if (state.jumps !== wantedJumps(state, lines)) for (const a of wanted.keys()) apps.add(a);
  if (apps.size === 0) for (const a of wanted.size > 0 ? wanted.keys() : intent.apps.keys()) apps.add(a);
  return apps;
}

/** Port ids each app has a rule for in `state`, whether or not the chain is jumped to. */
function heldPorts(state: ChainState | undefined): Map<string, Set<string>> {
  const held = new Map<string, Set<string>>();
  for (const r of state?.rules ?? []) if (r.app && r.port) held.set(r.app, new Set([...(held.get(r.app) ?? []), portId(r.port)]));
  return held;
}

function openPorts(state: ChainState, app: string): string[] {
  if (state.jumps === 0) return [];
  return state.rules.filter((r) => r.app === app && r.port).map((r) => portId(r.port!));
}

/**
 * The native plan: every app with intent, rules or a reality record gets an entry, and each family whose chain
 * differs from intent one node-wide sync-chain action with the whole chain, serving the apps whose rules it changes
 * (any other difference, a jump or a stray rule, serves every app with rules). The rules of an app that may not
 * lose them yet (removalHeld: untrusted intent, no signed removal, unreadable intent) are kept as they are, so
 * such an app is never served and its removal holds up no other app's change. No action, and every app failed,
 * while a family cannot be read or its chain holds a rule that is not ours. Pure.
 */
export function planNative(intent: NodeIntent, observed: NativeObserved): PassPlan<SyncChainAction> {
  const unreadable = observed.families.filter((f) => f.error).map((f) => f.error!);
  if (unreadable.length > 0) return { apps: reportOnly(intent, unreadable.join('; ')), node: [] };
  const foreign = observed.families
    .map(({ family, state }) => foreignChainProblem(observed.chain, family, state))
    .filter((p) => p !== undefined);
  if (foreign.length > 0) return { apps: reportOnly(intent, foreign.join('; ')), node: [] };
  const [first] = observed.families;
  const claims = claimPorts(intent, heldPorts(first?.state));
  const apps = new Set<string>([...intent.apps.keys(), ...intent.invalid.keys()]);
  const node: NodeAction<SyncChainAction>[] = [];
  for (const { family, state } of observed.families) {
    const present = [...linesByApp(state.rules).keys()];
    const frozen = frozenApps(intent, claims, present);
    const wanted = desiredByApp(observed.chain, claims, frozen, state);
    const lines = [...wanted.values()].flat();
    for (const app of present) apps.add(app);
    // A kept app's rules are in `lines` as they are: the write changes nothing of it, so it does not serve it.
    const served = [...affectedApps(intent, state, wanted, lines)]
      .filter((app) => intent.apps.has(app) || !frozen.has(app))
      .sort(compareNames);
    for (const app of served) apps.add(app);
    if (served.length > 0) node.push({ action: { kind: 'sync-chain', family, chain: observed.chain, lines }, apps: served });
  }
  const plans = [...apps].sort(compareNames).map((app) => ({
    app,
    actions: [],
    error: claims.errors.get(app),
    details: Object.fromEntries(
      observed.families.map(({ family, state }) => [family === 'ipv4' ? 'open' : 'open6', openPorts(state, app)]),
    ) satisfies IptablesDetails,
  }));
  return { apps: plans, node };
}
