import type { NodeIntent } from '../../shared/intent/node-intent.js';
import type { AppIntent, VersionIntent } from '../../shared/intent/schema.js';
import { assignLeftovers, cleanActionsFor } from '../../shared/leftovers.js';
import type { AppPlan } from '../../shared/loop/types.js';
import type { PreparerDetails } from '../../shared/reality/details.js';
import { appOfInstall, installName } from '../../shared/install-layout.js';
import type { BasedirState, InstallAction, InstallDir, PreparerAction, PreparerObserved, PruneAction } from './types.js';

const EMPTY: BasedirState = { installs: new Map(), orphanRecords: [], leftovers: [] };

/** Which installs of one app stay and which go, and why the ones that stay are kept. */
interface PruneChoice {
  actions: PruneAction[];
  /** Installs not named by intent that stay: the current one and the newest --keep others. */
  kept: string[];
}

const newestFirst = (a: InstallDir, b: InstallDir) =>
  a.installedAt < b.installedAt ? 1 : a.installedAt > b.installedAt ? -1 : a.name < b.name ? 1 : -1;

/**
 * Pure: the installs of `app` in `state` that intent does not name (`named`), minus the ones `current`
 * and `last` point to and the newest `keep` others, become prune actions; so do records whose folder is gone.
 * `owners` are every app name that may share the basedir, so `web_a_1` is never taken for `web`'s.
 */
function choosePrunes(
  app: string,
  basedir: string,
  state: BasedirState,
  named: Set<string>,
  owners: Set<string>,
  keep: number,
): PruneChoice {
  const mine = (name: string) => !named.has(name) && appOfInstall(name, owners) === app;
  const candidates = [...state.installs.values()].filter((i) => mine(i.name)).sort(newestFirst);
  const kept: string[] = [];
  const actions: PruneAction[] = [];
  let others = 0;
  for (const install of candidates) {
    if (install.name === state.current || install.name === state.last) kept.push(install.name);
    else if (others < keep) {
      others += 1;
      kept.push(install.name);
    } else actions.push({ kind: 'prune', app, basedir, name: install.name });
  }
  for (const name of state.orphanRecords.filter(mine)) actions.push({ kind: 'prune', app, basedir, name });
  return { actions, kept: kept.sort() };
}

/**
 * Live version first (it is what the node runs next), then the others in intent order; versions whose
 * last attempt failed go last, so one bad artifact does not keep the app's other versions waiting.
 */
function installOrder(versions: VersionIntent[], failures: Map<string, string>): VersionIntent[] {
  const rank = (v: VersionIntent) => (failures.has(v.version) ? 2 : 0) + (v.state === 'live' ? 0 : 1);
  return versions
    .map((v, i) => ({ v, i }))
    .sort((a, b) => rank(a.v) - rank(b.v) || a.i - b.i)
    .map(({ v }) => v);
}

interface VersionCheck {
  action?: InstallAction;
  error?: string;
}

/** Pure: whether one version's install is there, made from the intended digest, or what to do about it. */
function checkVersion(app: string, basedir: string, v: VersionIntent, state: BasedirState): VersionCheck {
  const name = installName(app, v.version);
  const found = state.installs.get(name);
  const action: InstallAction = {
    kind: 'install',
    app,
    version: v.version,
    basedir,
    url: v.url,
    sha256: v.sha256,
    ...(v.size === undefined ? {} : { size: v.size }),
  };
  if (!found) return { action };
  if (found.isDir && found.sha256 === v.sha256) return {};
  const why = !found.isDir ? 'is not a folder' : found.sha256 ? `was made from sha256 ${found.sha256}` : 'has no install record';
  if (name === state.current) {
    return {
      error: `version ${v.version}: ${basedir}/installs/${name} ${why}, expected sha256 ${v.sha256}; it is current, so it is not replaced in place (publish a new version, or point current elsewhere)`,
    };
  }
  return { action: { ...action, replaces: why } };
}

/** Every app name that may own installs in a shared basedir: known apps and apps whose intent is invalid. */
function ownersOf(intent: NodeIntent, observed: PreparerObserved): Set<string> {
  return new Set([...observed.knownApps.keys(), ...intent.apps.keys(), ...intent.invalid.keys()]);
}

/** Pure: one app in intent → install actions for missing versions, prune actions, and what to report. */
function planApp(app: string, spec: AppIntent, observed: PreparerObserved, keep: number, owners: Set<string>): AppPlan<PreparerAction> {
  const state = observed.basedirs.get(spec.basedir) ?? EMPTY;
  const live = spec.versions.find((v) => v.state === 'live') ?? spec.versions[spec.versions.length - 1];
  // The basedir is remembered (in the state file; the record's memory reports it): once intent drops the app, its
  // installs there are still pruned.
  const plan: AppPlan<PreparerAction> = {
    app,
    version: live?.version,
    actions: [],
    details: { basedir: spec.basedir } satisfies PreparerDetails,
    memory: { basedir: spec.basedir },
  };
  if (state.error) return { ...plan, error: state.error };
  const failures = observed.failures.get(app) ?? new Map<string, string>();
  const present: string[] = [];
  const pending: Record<string, string> = {};
  const failed: Record<string, string> = {};
  const errors: string[] = [];
  for (const v of installOrder(spec.versions, failures)) {
    const check = checkVersion(app, spec.basedir, v, state);
    if (check.error) errors.push(check.error);
    if (check.action) plan.actions.push(check.action);
    if (!check.error && !check.action) present.push(v.version);
    const failure = failures.get(v.version);
    if (failure && check.action) failed[v.version] = failure;
    if (check.action)
      pending[v.version] = failure
        ? `retrying after: ${failure}`
        : `to install from ${v.url}${check.action.replaces ? ` (the folder there ${check.action.replaces})` : ''}`;
  }
  const named = new Set(spec.versions.map((v) => installName(app, v.version)));
  const prunes = choosePrunes(app, spec.basedir, state, named, owners, keep);
  plan.actions.push(...prunes.actions);
  plan.details = {
    basedir: spec.basedir,
    present: present.sort(),
    pending,
    failures: failed,
    current: state.current ?? null,
    kept: prunes.kept,
  } satisfies PreparerDetails;
  if (errors.length > 0) plan.error = errors.join('; ');
  return withFormerBasedirs(plan, app, observed, keep, owners);
}

/**
 * Pure: installs an app left in basedirs intent no longer gives it are pruned as for a removed app (what
 * `current` and `last` there point to, and the newest --keep others, stay); while any remain, the former basedir
 * is reported (and recorded, so a restarted agent still knows it).
 */
function withFormerBasedirs(
  plan: AppPlan<PreparerAction>,
  app: string,
  observed: PreparerObserved,
  keep: number,
  owners: Set<string>,
): AppPlan<PreparerAction> {
  const former = observed.formerBasedirs.get(app) ?? [];
  if (former.length === 0) return plan;
  const left: string[] = [];
  for (const dir of former) {
    const state = observed.basedirs.get(dir) ?? EMPTY;
    if (state.error) {
      left.push(`${dir} (${state.error})`);
      continue;
    }
    const prunes = choosePrunes(app, dir, state, new Set(), owners, keep);
    plan.actions.push(...prunes.actions);
    if (prunes.kept.length > 0) left.push(`${dir} (${prunes.kept.join(', ')})`);
  }
  // In details too, where readers of older versions look for it.
  const details = { ...plan.details, formerBasedirs: former };
  const memory = { ...plan.memory, formerBasedirs: former };
  const warning =
    left.length > 0 ? `installs left in a former basedir: ${left.join('; ')}; remove them by hand once nothing runs there` : undefined;
  return { ...plan, details, memory, ...(warning && !plan.warning ? { warning } : {}) };
}

/** Pure: an app gone from (trusted) intent keeps only its current install and the newest --keep others. */
function planRemoved(app: string, basedir: string, observed: PreparerObserved, keep: number, owners: Set<string>): AppPlan<PreparerAction> {
  const state = observed.basedirs.get(basedir) ?? EMPTY;
  // Reported, not dropped, so an operator sees which installs stay and why. Not a failure either: nothing is
  // intended for the app, so nothing it needs is undone (a basedir that is gone has no error, and the record goes).
  const memory = { basedir };
  if (state.error)
    return { app, actions: [], warning: `installs not pruned: ${state.error}`, details: { basedir } satisfies PreparerDetails, memory };
  const prunes = choosePrunes(app, basedir, state, new Set(), owners, keep);
  return {
    app,
    actions: prunes.actions,
    details: {
      basedir,
      present: [],
      pending: {},
      failures: {},
      current: state.current ?? null,
      kept: prunes.kept,
    } satisfies PreparerDetails,
    memory,
  };
}

/** Pure: each basedir's leftovers of killed runs are cleaned first, by the app they belong to among those planned there. */
function withLeftovers(plans: AppPlan<PreparerAction>[], observed: PreparerObserved): AppPlan<PreparerAction>[] {
  const appsByBasedir = new Map<string, string[]>();
  for (const p of plans) {
    const basedir = p.details?.basedir as string;
    appsByBasedir.set(basedir, [...(appsByBasedir.get(basedir) ?? []), p.app]);
  }
  const assigned = new Map<string, string[]>();
  for (const [basedir, apps] of appsByBasedir) {
    for (const [app, paths] of assignLeftovers(observed.basedirs.get(basedir)?.leftovers ?? [], apps)) assigned.set(app, paths);
  }
  if (assigned.size === 0) return plans;
  return plans.map((p) => (assigned.has(p.app) ? { ...p, actions: [...cleanActionsFor(p.app, assigned), ...p.actions] } : p));
}

/**
 * Pure plan of pp-preparer: for each app in intent, install every listed version that is missing (or
 * not made from the intended digest) and prune installs intent no longer names; for apps removed from
 * intent, prune down to current + --keep. The loop admits the prunes (only on trusted intent, and with
 * --trusted-signers only for an app a signed order removed).
 */
export function planPreparer(intent: NodeIntent, observed: PreparerObserved, keep: number): AppPlan<PreparerAction>[] {
  const owners = ownersOf(intent, observed); // once per pass: per app it would be quadratic in the app count
  const plans = [...intent.apps].map(([app, spec]) => planApp(app, spec, observed, keep, owners));
  for (const [app, basedir] of observed.knownApps)
    if (!intent.apps.has(app) && !intent.invalid.has(app)) plans.push(planRemoved(app, basedir, observed, keep, owners));
  return withLeftovers(plans, observed);
}
