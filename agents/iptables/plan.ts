import type { NodeIntent } from '../../shared/intent/node-intent.js';
import type { AppPlan } from '../../shared/loop/types.js';
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
 * The native plan: every app with intent, rules or a reality record gets an entry; apps whose rules must
 * change carry one sync-chain action per family (the first one run rewrites the whole chain, the others
 * find nothing left to do). Nothing at all when the intent is untrusted; no action, and every app failed, while
 * a family cannot be read or its chain holds a rule that is not ours. Pure.
 */
export function planNative(intent: NodeIntent, observed: NativeObserved): AppPlan<SyncChainAction>[] {
  if (!intent.trusted) return [];
  const unreadable = observed.families.filter((f) => f.error).map((f) => f.error!);
  if (unreadable.length > 0) return reportOnly(intent, unreadable.join('; '));
  const foreign = observed.families
    .map(({ family, state }) => foreignChainProblem(observed.chain, family, state))
    .filter((p) => p !== undefined);
  if (foreign.length > 0) return reportOnly(intent, foreign.join('; '));
  const [first] = observed.families;
  const claims = claimPorts(intent, heldPorts(first?.state));
  const apps = new Set<string>([...intent.apps.keys(), ...intent.invalid.keys()]);
  const actions = new Map<string, SyncChainAction[]>();
  for (const { family, state } of observed.families) {
    const present = linesByApp(state.rules).keys();
    const wanted = desiredByApp(observed.chain, claims, frozenApps(intent, claims, present), state);
    const lines = [...wanted.values()].flat();
    for (const app of linesByApp(state.rules).keys()) apps.add(app);
    for (const app of affectedApps(intent, state, wanted, lines)) {
      apps.add(app);
      actions.set(app, [...(actions.get(app) ?? []), { kind: 'sync-chain', family, chain: observed.chain, lines }]);
    }
  }
  return [...apps].sort(compareNames).map((app) => ({
    app,
    actions: actions.get(app) ?? [],
    error: claims.errors.get(app),
    details: Object.fromEntries(
      observed.families.map(({ family, state }) => [family === 'ipv4' ? 'open' : 'open6', openPorts(state, app)]),
    ) satisfies IptablesDetails,
  }));
}
