#!/usr/bin/env node
// First, so SIGTERM/SIGINT are handled even while the rest is still loading.
import '../../shared/cli/stop-signal.js';
import { resolve } from 'node:path';
import { parseAgentArgs, runAgentMain } from '../../shared/cli/agent-cli.js';
import { createSetliveAgent } from './agent.js';
import { sigkillAfterActions } from './crash-hook.js';

const args = await parseAgentArgs('pp-setlive', (y) =>
  y
    .option('sv', { type: 'string', default: 'sv', describe: "path of runit's sv" })
    .option('chpst', { type: 'string', default: 'chpst', describe: "path of runit's chpst (used in run scripts when an app names a user)" })
    .option('svlogd', { type: 'string', default: 'svlogd', describe: "path of runit's svlogd (used in log/run scripts)" })
    .option('service-dir', { type: 'string', default: '/var/service', describe: 'the folder runsvdir watches; each app gets a link here' })
    .option('stage-dir', { type: 'string', default: '/var/service-stage', describe: 'where the apps\' runit service folders are written' })
    .option('settle-seconds', { type: 'number', default: 1, describe: 'a service counts as up once runit has reported it running this long' })
    .option('stop-timeout-seconds', { type: 'number', default: 10, describe: 'wait this long for a service to stop before it is killed' })
    .option('start-timeout-seconds', { type: 'number', default: 30, describe: 'how long a start may take to settle when the app has no health check' })
    .option('pickup-timeout-seconds', { type: 'number', default: 20, describe: 'how long to wait for runsvdir to pick up a newly linked service' })
    .option('test-sigkill-after-actions', { type: 'number', hidden: true, describe: 'crash tests only: SIGKILL this process right after its N-th action' })
    .check((a) => {
      for (const flag of ['settle-seconds', 'stop-timeout-seconds', 'start-timeout-seconds', 'pickup-timeout-seconds'] as const) {
        if (!Number.isFinite(a[flag]) || a[flag] < 0) throw new Error(`--${flag}: expected a number of seconds >= 0, got ${a[flag]}`);
      }
      return true;
    }),
);

await runAgentMain('pp-setlive', args, () =>
  createSetliveAgent({
    sv: args.sv,
    chpst: args.chpst,
    svlogd: args.svlogd,
    serviceDir: resolve(args['service-dir']),
    stageDir: resolve(args['stage-dir']),
    settleMs: args['settle-seconds'] * 1000,
    stopTimeoutMs: args['stop-timeout-seconds'] * 1000,
    startTimeoutMs: args['start-timeout-seconds'] * 1000,
    pickupTimeoutMs: args['pickup-timeout-seconds'] * 1000,
  }, sigkillAfterActions(args['test-sigkill-after-actions'])),
);
