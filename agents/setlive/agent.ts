import type { Agent } from '../../shared/loop/types.js';
import { describeAction, type SetliveAction } from './actions.js';
import { applySetlive, finishBeforeStop } from './apply.js';
import { observeSetlive, type SetliveObserved } from './observe.js';
import type { SetliveConfig } from './options.js';
import { planSetlive } from './plan.js';

/** The agent's name in logs and reality keys (`<prefix>/reality/<node>/setlive/<app>`). */
export const AGENT_NAME = 'setlive';

/** Builds the pp-setlive agent: flips each app's `current` to its live version under runit, health-gated. */
export function createSetliveAgent(config: SetliveConfig): Agent<SetliveObserved, SetliveAction> {
  return {
    name: AGENT_NAME,
    parallel: config.parallel,
    observe: (intent) => observeSetlive(intent, config),
    plan: (intent, observed) => planSetlive(intent, observed, config),
    apply: (action, log, signal) => applySetlive(config, action, log, signal),
    finishBeforeStop,
    describe: describeAction,
  };
}
