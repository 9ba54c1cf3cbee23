import type { Agent } from '../../shared/loop/types.js';
import { NO_METRICS, type MetricsRegistry } from '../../shared/metrics/registry.js';
import { describeAction, SETLIVE_REMOVALS, type SetliveAction } from './actions.js';
import type { FlipFleet } from './fleet.js';
import { applySetlive, finishBeforeStop } from './apply.js';
import { meterFlips } from './flip-metrics.js';
import { observeSetlive, type SetliveObserved } from './observe.js';
import type { SetliveConfig } from './options.js';
import { MANAGED_FILE } from './ownership.js';
import { planSetlive } from './plan.js';
import { stagePath } from './stage-layout.js';

/** The agent's name in logs and reality keys (`<prefix>/reality/<node>/setlive/<app>`). */
export const AGENT_NAME = 'setlive';

/** Builds the pp-setlive agent: flips each app's `current` to its live version under runit, health-gated. */
export function createSetliveAgent(
  config: SetliveConfig,
  fleet?: FlipFleet,
  metrics: MetricsRegistry = NO_METRICS,
): Agent<SetliveObserved, SetliveAction> {
  // Each folder that is not ours is reported once per process, not at every pass.
  const reported = new Set<string>();
  return {
    name: AGENT_NAME,
    parallel: config.parallel,
    observe: async (intent, log) => {
      const observed = await observeSetlive(intent, config, fleet);
      for (const name of observed.foreign) {
        if (reported.has(name)) continue;
        reported.add(name);
        log?.warn(
          { folder: stagePath(config, name) },
          `${stagePath(config, name)} is not a service folder of pp-setlive (no ${MANAGED_FILE}); leaving it alone`,
        );
      }
      return observed;
    },
    plan: (intent, observed) => planSetlive(intent, observed, config),
    removals: SETLIVE_REMOVALS,
    apply: meterFlips(metrics, (action, { log, signal, waiting }) => applySetlive(config, action, log, { fleet, signal, waiting })),
    close: async () => {
      await fleet?.close();
    },
    finishBeforeStop,
    describe: describeAction,
  };
}
