import type { Agent } from '../../../shared/loop/types.js';
import { AGENT_NAME } from '../agent.js';
import { describeCleanLeftovers } from '../../../shared/leftovers.js';
import { applyPortAuthority } from './apply.js';
import { observePortAuthority, type PaOptions } from './observe.js';
import { planPortAuthority, type PaAction, type PaObserved } from './plan.js';

/** The port_authority compatibility agent: one YAML file per app in the config folder, then `<refresh> rebuild`. */
export function createPortAuthorityAgent(options: PaOptions): Agent<PaObserved, PaAction> {
  return {
    name: AGENT_NAME,
    observe: () => observePortAuthority(options),
    plan: planPortAuthority,
    apply: (action, actionLog) => applyPortAuthority(options, action, actionLog),
    describe: (a) => {
      if (a.kind === 'clean-leftovers') return describeCleanLeftovers(a);
      if (a.kind === 'write-file') return `write ${a.app}.yml`;
      if (a.kind === 'remove-file') return `remove ${a.app}.yml`;
      return `run ${options.refresh.join(' ')} rebuild`;
    },
  };
}
