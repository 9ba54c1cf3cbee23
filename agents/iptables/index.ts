#!/usr/bin/env node
// First, so SIGTERM/SIGINT are handled even while the rest is still loading.
import '../../shared/cli/stop-signal.js';
import { runAgentMain } from '../../shared/cli/agent-cli.js';
import { parseAgentArgs } from '../../shared/cli/agent-flags.js';
import { createNativeAgent } from './agent.js';
import { checkIptablesFlags, iptablesFlags, iptablesOptions } from './options.js';
import { createPortAuthorityAgent } from './port-authority/agent.js';

const args = parseAgentArgs('pp-iptables', { flags: iptablesFlags(), check: checkIptablesFlags });
const options = iptablesOptions(args);
if (options.mode === 'port-authority')
  await runAgentMain('pp-iptables', args, (_log, _store, metrics) => createPortAuthorityAgent(options.portAuthority, metrics));
else await runAgentMain('pp-iptables', args, (_log, _store, metrics) => createNativeAgent(options.native, metrics));
