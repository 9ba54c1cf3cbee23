import type { NodeIntent } from '../../shared/intent/node-intent.js';
import { removalHeld } from '../../shared/loop/admit.js';
import type { PortIntent } from '../../shared/intent/schema.js';
import type { Action, AppPlan } from '../../shared/loop/types.js';

/** `8080/tcp`: how ports are named in errors, details and conflict checks. */
export function portId(p: PortIntent): string {
  return `${p.port}/${p.protocol}`;
}

/** Deterministic port order: by number, then protocol. */
export function comparePorts(a: PortIntent, b: PortIntent): number {
  return a.port - b.port || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0);
}

/** Byte-order comparison of app names, so the order never depends on the locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What the intent grants: the ports each app gets, and why other apps get none this pass. */
export interface PortClaims {
  granted: Map<string, PortIntent[]>;
  errors: Map<string, string>;
}

/** Per port id: the valid apps intending it, then the invalid apps holding it (their rules stay). */
function claimantsByPort(intent: NodeIntent, holders: Map<string, Set<string>>): Map<string, string[]> {
  const claimants = new Map<string, string[]>();
  const add = (id: string, app: string) => claimants.set(id, [...(claimants.get(id) ?? []), app]);
  for (const app of [...intent.apps.keys()].sort(compareNames)) for (const p of intent.apps.get(app)!.ports) add(portId(p), app);
  for (const app of [...intent.invalid.keys()].sort(compareNames)) for (const id of holders.get(app) ?? []) add(id, app);
  return claimants;
}

/**
 * Grants every valid app its intended ports, except when a port is claimed by several apps (intended by
 * valid apps, or held by an app whose intent is invalid and so keeps its rules): the first app holding it
 * by name keeps it (else the first claimant by name), and every other valid claimant gets an error naming
 * the port and the winner. `holders` maps app → port ids open for it now. Pure.
 */
export function claimPorts(intent: NodeIntent, holders: Map<string, Set<string>>): PortClaims {
  const errors = new Map<string, string>();
  for (const [id, apps] of claimantsByPort(intent, holders)) {
    if (apps.length < 2) continue;
    const winner = [...apps].sort(compareNames).find((a) => holders.get(a)?.has(id)) ?? apps[0]!;
    for (const loser of apps.filter((a) => a !== winner && intent.apps.has(a))) {
      const before = errors.get(loser);
      const problem = `port ${id} is also intended for (or held by) app ${winner}, which keeps it`;
      errors.set(loser, before ? `${before}; ${problem}` : problem);
    }
  }
  const granted = new Map<string, PortIntent[]>();
  for (const [app, appIntent] of intent.apps) {
    if (!errors.has(app)) granted.set(app, [...appIntent.ports].sort(comparePorts));
  }
  for (const [app, problem] of errors) {
    errors.set(
      app,
      `bad port spec for app ${app}: ${problem}; a port can be open for one app only per node, so the ports this app has open now are left as they are until its intent is fixed`,
    );
  }
  return { granted, errors };
}

/**
 * Apps whose existing rules (or files) stay as they are, granted nothing this pass: an intended app whose ports
 * clash, and an app that may not lose anything yet by the loop's own removal rule (removalHeld). Folding such an
 * app's removal into a write that serves other apps too would have the loop hold that write whole.
 */
export function frozenApps(intent: NodeIntent, claims: PortClaims, present: Iterable<string>): Set<string> {
  const frozen = new Set<string>();
  for (const app of present)
    if (!claims.granted.has(app) && (intent.apps.has(app) || removalHeld(intent, app) !== undefined)) frozen.add(app);
  return frozen;
}

/** Every app we would report on, failed with `error` and without actions (the host could not be read). */
export function reportOnly<A extends Action>(intent: NodeIntent, error: string): AppPlan<A>[] {
  const apps = new Set([...intent.apps.keys(), ...intent.invalid.keys()]);
  return [...apps].sort(compareNames).map((app) => ({ app, actions: [], error }));
}
