#!/usr/bin/env node
// First, so SIGTERM/SIGINT are handled even while the rest is still loading.
import '../../shared/cli/stop-signal.js';
import { runAgentMain } from '../../shared/cli/agent-cli.js';
import { parseAgentArgs } from '../../shared/cli/agent-flags.js';
import { createNativeAgent } from './agent.js';
import { checkIptablesFlags, familiesOf, iptablesFlags, splitCommand } from './options.js';
import { createPortAuthorityAgent } from './port-authority/agent.js';

const args = parseAgentArgs('pp-iptables', { flags: iptablesFlags(), check: checkIptablesFlags });
const prefix = splitCommand(args['command-prefix']);

if (args.mode === 'port-authority') {
  await runAgentMain('pp-iptables', args, () => createPortAuthorityAgent({
    configDir: args['config-dir'],
    refresh: splitCommand(args['refresh-command']),
    prefix,
  }));
}

await runAgentMain('pp-iptables', args, () => createNativeAgent({
  chain: args.chain,
  families: familiesOf(args.ipv6),
  iptables: args.iptables,
  save: { ipv4: args['iptables-save'], ipv6: args['ip6tables-save'] },
  restore: { ipv4: args['iptables-restore'], ipv6: args['ip6tables-restore'] },
  prefix,
}));
