#!/usr/bin/env node
// First, so SIGTERM/SIGINT are handled even while the rest is still loading.
import '../../shared/cli/stop-signal.js';
import { resolve } from 'node:path';
import { runAgentMain } from '../../shared/cli/agent-cli.js';
import { parseAgentArgs } from '../../shared/cli/agent-flags.js';
import { defineFlags, type FlagValues } from '../../shared/cli/flags.js';
import { createSetliveAgent } from './agent.js';
import { sigkillAfterActions } from './crash-hook.js';

const SETLIVE_FLAGS = defineFlags({
  // Accepted so that args files written for earlier versions keep working; pp-setlive talks to runsv directly now.
  sv: { type: 'string', hidden: true, describe: 'ignored (deprecated)' },
  chpst: { type: 'string', default: 'chpst', describe: "path of runit's chpst (used in run scripts when an app names a user)" },
  svlogd: { type: 'string', default: 'svlogd', describe: "path of runit's svlogd (used in log/run scripts)" },
  'service-dir': { type: 'string', default: '/var/service', describe: 'the folder runsvdir watches; each app gets a link here' },
  'stage-dir': { type: 'string', default: '/var/service-stage', describe: 'where the apps\' runit service folders are written' },
  'settle-seconds': { type: 'number', default: 1, describe: 'a service counts as up once runit has reported it running this long' },
  'stop-timeout-seconds': { type: 'number', default: 10, describe: 'wait this long for a service to stop before it is killed' },
  'start-timeout-seconds': { type: 'number', default: 30, describe: 'how long a start may take to settle when the app has no health check' },
  'pickup-timeout-seconds': { type: 'number', default: 20, describe: 'how long to wait for runsvdir to pick up a newly linked service' },
  'failed-flip-hold-seconds': { type: 'number', default: 600, describe: 'a version that failed its health check (and was rolled back) is not tried again with the same intent for this long' },
  'test-sigkill-after-actions': { type: 'number', hidden: true, describe: 'crash tests only: SIGKILL this process right after its N-th action' },
});

function checkSetliveFlags(a: FlagValues<typeof SETLIVE_FLAGS>): void {
  for (const flag of ['settle-seconds', 'stop-timeout-seconds', 'start-timeout-seconds', 'pickup-timeout-seconds', 'failed-flip-hold-seconds'] as const) {
    if (a[flag] < 0) throw new Error(`--${flag}: expected a number of seconds >= 0, got ${a[flag]}`);
  }
}

const args = parseAgentArgs('pp-setlive', { flags: SETLIVE_FLAGS, check: checkSetliveFlags });
if (args.sv !== undefined) process.stderr.write('pp-setlive: --sv is deprecated and ignored: runsv is controlled through supervise/control\n');

await runAgentMain('pp-setlive', args, () =>
  createSetliveAgent({
    chpst: args.chpst,
    svlogd: args.svlogd,
    serviceDir: resolve(args['service-dir']),
    stageDir: resolve(args['stage-dir']),
    settleMs: args['settle-seconds'] * 1000,
    stopTimeoutMs: args['stop-timeout-seconds'] * 1000,
    startTimeoutMs: args['start-timeout-seconds'] * 1000,
    pickupTimeoutMs: args['pickup-timeout-seconds'] * 1000,
    failedHoldMs: args['failed-flip-hold-seconds'] * 1000,
  }, sigkillAfterActions(args['test-sigkill-after-actions'])),
);
