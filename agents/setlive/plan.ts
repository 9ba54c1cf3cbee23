import type { NodeIntent } from '../../shared/intent/node-intent.js';
import type { AppIntent } from '../../shared/intent/schema.js';
import { assignLeftovers, cleanActionsFor } from '../../shared/leftovers.js';
import type { AppPlan } from '../../shared/loop/types.js';
import type { SetliveDetails } from '../../shared/reality/details.js';
import type { SetliveAction } from './actions.js';
import { serviceLinkPath, stagePath } from './stage-layout.js';
import type { SetliveConfig } from './options.js';
import { installPath, versionOfInstall } from '../../shared/install-layout.js';
import { flipFingerprint } from './failed-flip.js';
import { settled, upAtLeastMs } from './health.js';
import { livenessOf, requiresBlocker, requiresCycle, serviceInPlace } from './liveness.js';
import type { AppObserved, SetliveObserved } from './observe.js';
import { renderServiceFiles, type ServiceFiles } from './service-files.js';
import { mayRun } from './sv.js';
import { foreignFolderMessage, isOurs } from './ownership.js';
import { verdictBlock } from '../../shared/rollout/verdicts.js';

type Plan = AppPlan<SetliveAction>;

const UNSEEN: AppObserved = {
  staged: false,
  ownership: 'missing',
  current: { kind: 'missing', valid: false },
  last: { kind: 'missing', valid: false },
  installed: false,
  logMain: false,
  link: { kind: 'missing', valid: false },
  temps: [],
  stale: false,
  status: { state: 'unsupervised', seconds: 0, wantUp: false, wantDown: false, text: 'not observed' },
};

/**
 * The install to fall back to if the new one fails its check: the install `current` leaves (it becomes `last`),
 * or, when `current` already points at the new one (a flip cut short), `last` — unless the new one was
 * confirmed healthy before: a proven version that turns unhealthy is restarted, never rolled back.
 */
function rollbackTarget(o: AppObserved, target: string): string | undefined {
  if (o.current.target !== target && o.current.valid) return o.current.target;
  if (o.current.target === target && o.confirmed === target) return undefined;
  return o.last.valid && o.last.target !== target ? o.last.target : undefined;
}

/** Marks a folder of ours that lacks its marker before anything else is done with it. */
function adoption(app: string, o: AppObserved, config: SetliveConfig): SetliveAction[] {
  return o.ownership === 'adoptable' ? [{ kind: 'adopt-service', app, dir: stagePath(config, app) }] : [];
}

/** What is in the way of a flip that the agent must not fix by itself. */
function obstacle(app: string, intent: AppIntent, o: AppObserved, config: SetliveConfig): string | undefined {
  const stage = stagePath(config, app);
  if (o.ownership === 'foreign') return foreignFolderMessage(stage, app);
  if (o.link.kind === 'other' || (o.link.kind === 'link' && o.link.target !== stage)) {
    return `${serviceLinkPath(config, app)} exists and is not a symlink to ${stage}; refusing to replace it`;
  }
  for (const [name, state] of [
    ['current', o.current],
    ['last', o.last],
  ] as const) {
    if (state.kind === 'other') return `${intent.basedir}/${name} exists and is not a symlink; refusing to replace it`;
  }
  return undefined;
}

/** The steps that take an app from what is observed to its intended version running and healthy. */
function flipActions(
  app: string,
  intent: AppIntent,
  version: string,
  o: AppObserved,
  files: ServiceFiles,
  config: SetliveConfig,
): SetliveAction[] {
  const dir = stagePath(config, app);
  const target = installPath(intent.basedir, app, version);
  const { filesOk, modesOk, linked } = serviceInPlace(o, files, config, app);
  const needsFlip = o.current.target !== target;
  const timeoutMs = intent.health?.timeoutMs ?? config.startTimeoutMs;
  // A version never confirmed healthy that fails its check within its health timeout may still be booting:
  // await-health waits for it (counted from its start) and rolls back if it never passes. Restarting it
  // instead would restart its boot each time the agent restarts, so an agent restarted mid-start never lets
  // it finish. A proven version that fails, or one that had its whole timeout, is restarted.
  const booting = o.confirmed !== target && upAtLeastMs(o.status) < timeoutMs;
  const unhealthy = o.probe !== undefined && !o.probe.ok && !booting;
  const restart = needsFlip || !filesOk || unhealthy || o.stale;
  const up = o.status.state === 'run' && !o.status.wantDown;
  const actions: SetliveAction[] = [];
  const stop = restart && mayRun(o.status);
  const fingerprint = flipFingerprint(intent, version);
  // Only taking down a process that serves needs a rollout slot: a first start, a crashed or failing process, a
  // flip already past its stop (an agent restarted mid-flip) take nothing down.
  const slot = intent.rollout !== undefined && stop && !unhealthy;
  if (slot)
    actions.push({
      kind: 'acquire-slot',
      app,
      version,
      limit: intent.rollout!.maxParallel,
      fingerprint,
      maxFailures: intent.rollout!.maxFailures,
    });
  // Stopping first makes "down" the durable mark of a flip in progress: a run killed after it finds the
  // service down and carries on, and never mistakes an old process for the new configuration.
  if (stop) actions.push({ kind: 'stop', app, dir });
  if (!filesOk || !modesOk) actions.push({ kind: 'write-service', app, dir, ...files });
  if (needsFlip) actions.push({ kind: 'swap-current', app, basedir: intent.basedir, target, dir });
  if (!linked) actions.push({ kind: 'link-service', app, link: serviceLinkPath(config, app), dir });
  if (restart || !up) actions.push({ kind: 'start', app, dir });
  const rollbackTo = rollbackTarget(o, target);
  actions.push({
    kind: 'await-health',
    app,
    version,
    dir,
    basedir: intent.basedir,
    target,
    health: intent.health,
    timeoutMs,
    rollbackTo,
    fingerprint,
    sha256: intent.versions.find((v) => v.version === version)?.sha256 ?? '',
    minHealthyMs: slot || o.slotHeld ? (intent.rollout?.minHealthySeconds ?? 0) * 1000 : 0,
  });
  actions.push({ kind: 'confirm', app, dir, target });
  if (slot || o.slotHeld) actions.push({ kind: 'release-slot', app });
  return actions;
}

/**
 * A slot this process holds for an app whose plan no longer flips it (the flip ended, failed or was called off)
 * is given back: the release is level-triggered, so a release that failed is retried like any action.
 */
function releaseUnusedSlot(plan: Plan, o: AppObserved | undefined): Plan {
  if (!(o?.slotHeld || o?.slotClaimed) || plan.actions.some((a) => a.kind === 'release-slot')) return plan;
  return { ...plan, actions: [...plan.actions, { kind: 'release-slot', app: plan.app }] };
}

function planIntended(
  app: string,
  intent: AppIntent,
  node: NodeIntent,
  observed: SetliveObserved,
  config: SetliveConfig,
  stageLeftovers: Map<string, string[]>,
): Plan {
  const o = observed.apps.get(app) ?? UNSEEN;
  const live = intent.versions.find((v) => v.state === 'live');
  const details = {
    current: versionOfInstall(app, o.current.target) ?? null,
    last: versionOfInstall(app, o.last.target) ?? null,
  } satisfies SetliveDetails;
  const leftovers = [...o.temps, ...(stageLeftovers.get(app) ?? [])];
  const cleanup: SetliveAction[] = [
    ...(leftovers.length > 0 ? [{ kind: 'clean-leftovers' as const, app, paths: leftovers }] : []),
    ...adoption(app, o, config),
  ];
  if (o.error) return { app, version: live?.version, actions: [], error: o.error, details };
  if (!live) {
    // Nothing is meant to run: a service we still run is stopped (its folder stays, so it can come back).
    const stop: SetliveAction[] = isOurs(o.ownership) && mayRun(o.status) ? [{ kind: 'stop', app, dir: stagePath(config, app) }] : [];
    return { app, actions: [...cleanup, ...stop], details: { ...details, live: null } satisfies SetliveDetails };
  }
  const base = { app, version: live.version, details };
  const problem = obstacle(app, intent, o, config);
  if (problem) return { ...base, actions: [], error: problem };
  if (!o.installed) return { ...base, actions: cleanup, pending: `waiting for install of ${live.version}` };
  const filesOf = (name: string) => {
    const other = node.apps.get(name);
    return other?.service ? renderServiceFiles(name, other, config) : undefined;
  };
  const files = filesOf(app);
  if (!files) return { ...base, actions: [], error: 'field service: required when a version is live' };
  const target = installPath(intent.basedir, app, live.version);
  if (livenessOf(app, intent, o, files, config).live) {
    const dir = stagePath(config, app);
    const repair: SetliveAction[] = serviceInPlace(o, files, config, app).modesOk ? [] : [{ kind: 'write-service', app, dir, ...files }];
    const confirm: SetliveAction[] = o.confirmed === target ? [] : [{ kind: 'confirm', app, dir, target }];
    return { ...base, actions: [...cleanup, ...repair, ...confirm] };
  }
  const cycle = requiresCycle(app, node);
  if (cycle) return { ...base, actions: [], error: `field requires: cycle ${cycle}` };
  const blocker = requiresBlocker(app, node, observed, filesOf, config);
  if (blocker) return { ...base, actions: cleanup, pending: blocker };
  // Each retry of a flip that failed would take the working version down again: the same attempt waits. The hold
  // only keeps the app off the failed version: a rollback cut short is finished, and the version it went back to
  // is started when it is down. A process that runs is not yet a rollback done: until it has settled and passes
  // the check, roll-back waits for it (counted from its start) and fails if it never does.
  if (o.held) {
    const to = o.current.target === target ? o.heldRollbackTo : o.current.valid ? o.current.target : undefined;
    const error = `${live.version}: ${o.held}`;
    if (to !== undefined) {
      const restart = o.current.target !== to || o.stale;
      const healthy = settled(o.status, config) && (!intent.health || o.probe?.ok === true);
      const timeoutMs = intent.health?.timeoutMs ?? config.startTimeoutMs;
      const back: SetliveAction[] =
        restart || !healthy
          ? [
              {
                kind: 'roll-back',
                app,
                version: live.version,
                dir: stagePath(config, app),
                basedir: intent.basedir,
                target,
                to,
                restart,
                health: intent.health,
                timeoutMs,
              },
            ]
          : [];
      return { ...base, actions: [...cleanup, ...back], error };
    }
    if (o.current.target !== target) return { ...base, actions: cleanup, error };
  }
  if (o.current.target !== target && intent.rollout) {
    if (o.verdictError) return { ...base, actions: cleanup, pending: o.verdictError };
    const blocked = verdictBlock(o.verdicts ?? [], intent.rollout.maxFailures);
    if (blocked) return { ...base, actions: cleanup, error: blocked };
  }
  return { ...base, actions: [...cleanup, ...flipActions(app, intent, live.version, o, files, config)] };
}

function planRemoval(app: string, o: AppObserved, config: SetliveConfig, stageLeftovers: Map<string, string[]>): Plan {
  const dir = stagePath(config, app);
  const link = serviceLinkPath(config, app);
  const actions: SetliveAction[] = [...cleanActionsFor(app, stageLeftovers), ...adoption(app, o, config)];
  // Unlink first so runsvdir cannot start a fresh runsv once ours exits.
  if (o.link.kind === 'link' && o.link.target === dir) actions.push({ kind: 'unlink-service', app, link, dir });
  if (o.status.state !== 'unsupervised') actions.push({ kind: 'exit-service', app, dir });
  actions.push({ kind: 'remove-stage', app, dir });
  return { app, actions };
}

/**
 * pp-setlive's pure plan: for each intended app the steps to run its live version (or why it waits), for
 * each staged app of ours that intent no longer names its removal (which the loop holds on untrusted intent,
 * without a signed removal, or while the app's intent cannot be read). Once removed, an app has no entry and
 * the loop prunes its reality.
 */
export function planSetlive(node: NodeIntent, observed: SetliveObserved, config: SetliveConfig): Plan[] {
  const plans: Plan[] = [];
  const removed = [...observed.apps].filter(([app, o]) => isOurs(o.ownership) && !node.apps.has(app)).map(([app]) => app);
  const stageLeftovers = assignLeftovers(observed.stageLeftovers, [...node.apps.keys(), ...removed]);
  for (const [app, intent] of node.apps)
    plans.push(releaseUnusedSlot(planIntended(app, intent, node, observed, config, stageLeftovers), observed.apps.get(app)));
  for (const app of removed) {
    const o = observed.apps.get(app)!;
    plans.push(releaseUnusedSlot(o.error ? { app, actions: [], error: o.error } : planRemoval(app, o, config, stageLeftovers), o));
  }
  return plans;
}
