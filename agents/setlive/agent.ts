import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Agent } from '../../shared/loop/types.js';
import { describeAction, type SetliveAction } from './actions.js';
import { applySetlive } from './apply.js';
import type { SetliveConfig } from './config.js';
import { staleTemps } from '../../shared/temp-files.js';
import { removePaths } from './links.js';
import { observeSetlive, stagedApps, type SetliveObserved } from './observe.js';
import { planSetlive } from './plan.js';

/** Removes temp files and half-removed folders that a killed run left in the stage folder. */
async function cleanStage(config: SetliveConfig, log: Logger): Promise<void> {
  const leftovers = await staleTemps(config.stageDir);
  for (const app of await stagedApps(config)) {
    const dir = join(config.stageDir, app);
    leftovers.push(...(await staleTemps(dir)), ...(await staleTemps(join(dir, 'log'))));
  }
  if (await removePaths(leftovers)) log.info({ action: 'clean', paths: leftovers }, 'removed leftovers of a killed run');
}

/** Builds the pp-setlive agent: flips each app's `current` to its live version under runit, health-gated. */
export function createSetliveAgent(config: SetliveConfig, afterAction?: () => void): Agent<SetliveObserved, SetliveAction> {
  return {
    name: 'setlive',
    start: (log) => cleanStage(config, log),
    observe: (intent) => observeSetlive(intent, config),
    plan: (intent, observed) => planSetlive(intent, observed, config),
    apply: async (action, log) => {
      const result = await applySetlive(config, action, log);
      afterAction?.();
      return result;
    },
    describe: describeAction,
  };
}
