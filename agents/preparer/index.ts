#!/usr/bin/env -S node --expose-gc
// First, so SIGTERM/SIGINT are handled even while the rest is still loading.
import '../../shared/cli/stop-signal.js';
import { runAgentMain } from '../../shared/cli/agent-cli.js';
import { parseAgentArgs } from '../../shared/cli/agent-flags.js';
import { AGENT_EXIT } from '../../shared/exit-codes.js';
import { createPreparerAgent } from './agent.js';
import { checkPreparerFlags, PREPARER_FLAGS, preparerOptions } from './options.js';
import type { PreparerOptions } from './types.js';

const args = parseAgentArgs('pp-preparer', { flags: PREPARER_FLAGS, check: checkPreparerFlags });

function optionsOrExit(): PreparerOptions {
  try {
    return preparerOptions(args);
  } catch (err) {
    process.stderr.write(`pp-preparer: ${(err as Error).message}\n`);
    process.exit(AGENT_EXIT.usage);
  }
}

const options = optionsOrExit();
await runAgentMain('pp-preparer', args, (_log, _store, metrics) => createPreparerAgent(options, metrics));
