import type { Agent } from '../../shared/loop/types.js';
import { DURATION_BUCKETS, NO_METRICS, type MetricsRegistry } from '../../shared/metrics/registry.js';
import { safeUrl } from './download.js';
import { describeCleanLeftovers } from '../../shared/leftovers.js';
import { applyPreparer } from './apply.js';
import { installsDir } from '../../shared/install-layout.js';
import { loadBasedirs, observePreparer, saveBasedirs, type PreparerMemory } from './observe.js';
import { planPreparer } from './plan.js';
import { type PreparerAction, type PreparerObserved, type PreparerOptions, PREPARER_REMOVALS } from './types.js';

/** The agent's name in logs and reality keys (`<prefix>/reality/<node>/preparer/<app>`). */
export const AGENT_NAME = 'preparer';

/** Describes an action for logs and --dry-run. */
export function describeAction(a: PreparerAction): string {
  if (a.kind === 'clean-leftovers') return describeCleanLeftovers(a);
  if (a.kind === 'prune') return `prune ${installsDir(a.basedir)}/${a.name}`;
  const replacing = a.replaces ? ` (replacing the folder there, which ${a.replaces})` : '';
  return `install ${installsDir(a.basedir)}/${a.app}_${a.version} from ${safeUrl(a.url)} (sha256 ${a.sha256.slice(0, 12)}…)${replacing}`;
}

/** Records the outcome of an install per app and version, so reality can show what failed last. */
async function tracked(memory: PreparerMemory, action: PreparerAction, run: () => Promise<{ changed: boolean }>) {
  if (action.kind !== 'install') return run();
  const byVersion = memory.failures.get(action.app) ?? new Map<string, string>();
  memory.failures.set(action.app, byVersion);
  try {
    const result = await run();
    byVersion.delete(action.version);
    return result;
  } catch (err) {
    byVersion.set(action.version, (err as Error).message);
    throw err;
  }
}

/**
 * pp-preparer: makes `<basedir>/installs/<app>_<version>` hold each intended version's artifact, verified
 * and complete, and prunes installs intent dropped.
 */
export function createPreparerAgent(
  given: PreparerOptions,
  metrics: MetricsRegistry = NO_METRICS,
): Agent<PreparerObserved, PreparerAction> {
  const memory: PreparerMemory = { knownApps: new Map(), formerBasedirs: new Map(), failures: new Map() };
  const fetched = metrics.counter('platypus_preparer_artifact_bytes_total', 'Artifact bytes (compressed) fetched, by app.', ['app']);
  const installSeconds = metrics.histogram(
    'platypus_preparer_install_duration_seconds',
    'Time of one install (download, verify, extract, sync), by result (ok, failed).',
    ['result'],
    DURATION_BUCKETS,
  );
  const options: PreparerOptions = { ...given, onFetched: (app, bytes) => fetched.inc({ app }, bytes) };
  const timed = async (action: PreparerAction, run: () => Promise<{ changed: boolean }>) => {
    if (action.kind !== 'install') return run();
    const started = performance.now();
    let result = 'failed';
    try {
      const done = await run();
      result = 'ok';
      return done;
    } finally {
      installSeconds.observe({ result }, (performance.now() - started) / 1000);
    }
  };
  return {
    name: AGENT_NAME,
    parallel: options.parallel,
    memory: { save: () => saveBasedirs(memory), load: (saved) => loadBasedirs(memory, saved) },
    observe: (intent) => observePreparer(intent, memory),
    plan: (intent, observed) => planPreparer(intent, observed, options.keep),
    removals: PREPARER_REMOVALS,
    apply: (action, { log, signal }) => tracked(memory, action, () => timed(action, () => applyPreparer(options, action, log, signal))),
    describe: describeAction,
  };
}
