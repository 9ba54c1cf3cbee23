import type { Agent } from '../../shared/loop/types.js';
import { NO_METRICS, type MetricsRegistry } from '../../shared/metrics/registry.js';
import { syncChain } from './apply.js';
import { logIptablesVersion, observeNative, type NativeOptions } from './observe.js';
import { planNative, type NativeObserved, type SyncChainAction } from './plan.js';

/** The agent's name in logs and reality keys (`<prefix>/reality/<node>/iptables/<app>`). */
export const AGENT_NAME = 'iptables';

/**
 * The native-mode agent: our own chain in the filter table, replaced atomically when it differs from intent.
 * Every app whose rules change carries the same whole-chain action; once one of them has written and
 * verified it, the others of the same iteration are no-ops without re-reading the table (the memo is
 * dropped at every observe, so each new iteration compares against the real table again).
 */
export function createNativeAgent(options: NativeOptions, metrics: MetricsRegistry = NO_METRICS): Agent<NativeObserved, SyncChainAction> {
  const synced = new Set<string>();
  const rewrites = metrics.counter(
    'platypus_iptables_chain_rewrites_total',
    'Times our chain was replaced (iptables-restore), by family.',
    ['family'],
  );
  return {
    name: AGENT_NAME,
    observe: () => {
      synced.clear();
      return observeNative(options);
    },
    plan: planNative,
    // Its one action rewrites the whole chain: the plan keeps the rules of apps that are not removable (frozenApps).
    removals: [],
    apply: async (action, { log: actionLog }) => {
      const key = `${action.family}\n${action.lines.join('\n')}`;
      if (synced.has(key)) return { changed: false };
      const result = await syncChain(options, action, actionLog);
      if (result.changed) rewrites.inc({ family: action.family });
      synced.add(key);
      return result;
    },
    describe: (a) => `replace ${a.family} chain ${a.chain} with ${a.lines.length} rule(s)`,
    start: (startLog) => logIptablesVersion(options, startLog),
  };
}
