#!/usr/bin/env node
import { parseAgentArgs, runAgentMain } from '../../shared/cli/agent-cli.js';
import { createNativeAgent } from './agent.js';
import { familiesOf, iptablesFlags, knownAppsFrom, splitCommand } from './options.js';
import { createPortAuthorityAgent } from './port-authority/agent.js';

const args = await parseAgentArgs('pp-iptables', iptablesFlags);
const prefix = splitCommand(args['command-prefix']);

if (args.mode === 'port-authority') {
  await runAgentMain('pp-iptables', args, (log, store) => createPortAuthorityAgent({
    configDir: args['config-dir'],
    refresh: splitCommand(args['refresh-command']),
    prefix,
    knownApps: knownAppsFrom(store, args.prefix, args.node),
  }, log));
}

await runAgentMain('pp-iptables', args, (log, store) => createNativeAgent({
  chain: args.chain,
  families: familiesOf(args.ipv6),
  iptables: args.iptables,
  save: { ipv4: args['iptables-save'], ipv6: args['ip6tables-save'] },
  restore: { ipv4: args['iptables-restore'], ipv6: args['ip6tables-restore'] },
  prefix,
  knownApps: knownAppsFrom(store, args.prefix, args.node),
}, log));
