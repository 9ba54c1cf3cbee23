import type { NodeIntent } from '../../../shared/intent/node-intent.js';
import { assignLeftovers, cleanActionsFor, type CleanLeftoversAction } from '../../../shared/leftovers.js';
import type { AppPlan } from '../../../shared/loop/types.js';
import type { IptablesDetails } from '../../../shared/reality/details.js';
import type { PortIntent } from '../../../shared/intent/schema.js';
import { claimPorts, compareNames, frozenApps, portId, reportOnly, type PortClaims } from '../ports.js';
import { MANAGED_HEADER, renderAppFile } from './files.js';

/** One `<app>.yml` found in the config folder. */
export interface PaFile {
  path: string;
  content: string;
  managed: boolean;
  ports: PortIntent[];
}

/** What observe saw in port_authority mode. */
export interface PaObserved {
  files: Map<string, PaFile>;
  /** Whether the refresh marker exists, and the apps it lists. */
  refresh: { pending: boolean; apps: string[] };
  /** Temp files of a killed run, which port_authority must never read. */
  leftovers: string[];
  /** Set when the folder could not be read: nothing is planned then. */
  error?: string;
}

export type PaAction =
  | CleanLeftoversAction
  | { kind: 'write-file'; app: string; content: string }
  | { kind: 'remove-file'; app: string }
  | { kind: 'refresh'; app: string };

/** A file someone wrote by hand (no header of ours) is never overwritten: the app is reported instead. */
function fileAction(app: string, claims: PortClaims, frozen: Set<string>, file: PaFile | undefined): PaAction | undefined {
  const ports = claims.granted.get(app);
  if (ports && ports.length > 0) {
    const content = renderAppFile(app, ports);
    return file?.content === content || (file && !file.managed) ? undefined : { kind: 'write-file', app, content };
  }
  if (frozen.has(app) || !file?.managed) return undefined;
  return { kind: 'remove-file', app };
}

function handWritten(app: string, claims: PortClaims, observed: PaObserved): string | undefined {
  const file = observed.files.get(app);
  if (!file || file.managed || !claims.granted.get(app)?.length) return undefined;
  return `${file.path} was not written by pp-iptables (its first line is not "${MANAGED_HEADER}"); refusing to overwrite it`;
}

function refreshCarriers(observed: PaObserved, apps: string[]): Set<string> {
  if (!observed.refresh.pending) return new Set();
  return new Set(observed.refresh.apps.length > 0 ? observed.refresh.apps : apps);
}

function detailsOf(app: string, observed: PaObserved, carriers: Set<string>): IptablesDetails {
  const details: IptablesDetails = { ports: (observed.files.get(app)?.ports ?? []).map(portId) };
  if (carriers.has(app)) details.refreshPending = true;
  return details;
}

/**
 * The port_authority plan: an app whose file differs gets a write (or a remove, for a managed file of an app
 * no longer kept); an app listed in the refresh marker whose file is already right gets a refresh. So all
 * files change in a pass's first iteration and one `rebuild` follows in the next, while an app whose write
 * keeps failing never holds back another's refresh. Nothing at all when the intent is untrusted. Pure.
 */
export function planPortAuthority(intent: NodeIntent, observed: PaObserved): AppPlan<PaAction>[] {
  if (!intent.trusted) return [];
  if (observed.error) return reportOnly(intent, observed.error);
  const held = new Map([...observed.files].map(([app, f]) => [app, new Set(f.ports.map(portId))]));
  const claims = claimPorts(intent, held);
  const frozen = frozenApps(intent, claims, observed.files.keys());
  const apps = [...new Set([...intent.apps.keys(), ...intent.invalid.keys(), ...observed.files.keys(), ...observed.refresh.apps])].sort(
    compareNames,
  );
  const carriers = refreshCarriers(observed, apps);
  const leftovers = assignLeftovers(observed.leftovers, apps);
  return apps.map((app) => {
    const write = fileAction(app, claims, frozen, observed.files.get(app));
    const actions: PaAction[] = [
      ...cleanActionsFor(app, leftovers),
      ...(write ? [write] : carriers.has(app) ? [{ kind: 'refresh' as const, app }] : []),
    ];
    const error = claims.errors.get(app) ?? handWritten(app, claims, observed);
    return { app, actions, error, details: detailsOf(app, observed, carriers) };
  });
}
