import type { Agent } from '../../../shared/loop/types.js';
import { NO_METRICS, type MetricsRegistry } from '../../../shared/metrics/registry.js';
import { AGENT_NAME } from '../agent.js';
import { describeCleanLeftovers } from '../../../shared/leftovers.js';
import { applyPortAuthority } from './apply.js';
import { observePortAuthority, type PaOptions } from './observe.js';
import { planPortAuthority, type PaAction, type PaObserved } from './plan.js';

/** The port_authority compatibility agent: one YAML file per app in the config folder, then `<refresh> rebuild`. */
export function createPortAuthorityAgent(options: PaOptions, metrics: MetricsRegistry = NO_METRICS): Agent<PaObserved, PaAction> {
  const rebuilds = metrics.counter(
    'platypus_iptables_refreshes_total',
    'Runs of `<refresh-command> rebuild` (port_authority mode), by result.',
    ['result'],
  );
  return {
    name: AGENT_NAME,
    observe: () => observePortAuthority(options),
    plan: planPortAuthority,
    removals: ['remove-file'],
    apply: async (action, { log: actionLog }) => {
      if (action.kind !== 'refresh') return applyPortAuthority(options, action, actionLog);
      try {
        const result = await applyPortAuthority(options, action, actionLog);
        if (result.changed) rebuilds.inc({ result: 'ok' });
        return result;
      } catch (err) {
        rebuilds.inc({ result: 'failed' });
        throw err;
      }
    },
    describe: (a) => {
      if (a.kind === 'clean-leftovers') return describeCleanLeftovers(a);
      if (a.kind === 'write-file') return `write ${a.app}.yml`;
      if (a.kind === 'remove-file') return `remove ${a.app}.yml`;
      return `run ${options.refresh.join(' ')} rebuild`;
    },
  };
}
