#!/usr/bin/env node
// First, so SIGTERM/SIGINT are handled even while the rest is still loading.
import '../../shared/cli/stop-signal.js';
import { runAgentMain } from '../../shared/cli/agent-cli.js';
import { parseAgentArgs } from '../../shared/cli/agent-flags.js';
import { createSetliveAgent } from './agent.js';
import { storeFleet } from './fleet.js';
import { checkSetliveFlags, SETLIVE_FLAGS, setliveOptions } from './options.js';

const args = parseAgentArgs('pp-setlive', { flags: SETLIVE_FLAGS, check: checkSetliveFlags });
if (args.sv !== undefined)
  process.stderr.write('pp-setlive: --sv is deprecated and ignored: runsv is controlled through supervise/control\n');

await runAgentMain('pp-setlive', args, (_log, store, metrics) =>
  createSetliveAgent(setliveOptions(args), storeFleet(store, args.prefix, args.node, args['session-ttl-seconds'] * 1000), metrics),
);
