import type { Agent } from '../../shared/loop/types.js';
import { NO_METRICS, type MetricsRegistry } from '../../shared/metrics/registry.js';
import { syncChain } from './apply.js';
import { logIptablesVersion, observeNative, type NativeOptions } from './observe.js';
import { planNative, type NativeObserved, type SyncChainAction } from './plan.js';

/** The agent's name in logs and reality keys (`<prefix>/reality/<node>/iptables/<app>`). */
export const AGENT_NAME = 'iptables';

/**
 * The native-mode agent: our own chain in the filter table, replaced atomically when it differs from intent. The
 * chain holds every app's rules, so each write is one node-wide action per family serving the apps whose rules it
 * changes (the loop applies it once per pass and reports it on each of them). It plans nothing per app, so the
 * order against per-app actions (Agent.nodeOrder) does not matter to it. A write drops the rules of removed apps:
 * a removal, admitted only when every app it serves may lose them.
 */
export function createNativeAgent(options: NativeOptions, metrics: MetricsRegistry = NO_METRICS): Agent<NativeObserved, SyncChainAction> {
  const rewrites = metrics.counter(
    'platypus_iptables_chain_rewrites_total',
    'Times our chain was replaced (iptables-restore), by family.',
    ['family'],
  );
  return {
    name: AGENT_NAME,
    observe: () => observeNative(options),
    plan: planNative,
    removals: ['sync-chain'],
    apply: async (action, { log: actionLog }) => {
      const result = await syncChain(options, action, actionLog);
      if (result.changed) rewrites.inc({ family: action.family });
      return result;
    },
    describe: (a) => `replace ${a.family} chain ${a.chain} with ${a.lines.length} rule(s)`,
    start: (startLog) => logIptablesVersion(options, startLog),
  };
}
