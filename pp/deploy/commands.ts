import { defineCommand, withStore } from '../command-def.js';
import { readDeployments, renderHistory } from './record.js';
import { runDeploy } from './run.js';

const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};

/** `pp deploy` and `pp deploy history` (README, "Deploying to a fleet"). */
export const DEPLOY_COMMANDS = [
  defineCommand({
    path: 'deploy',
    args: ['app'],
    describe: 'deploy a spec to nodes: show the plan, confirm, stage the version, flip it live, follow the rollout',
    flags: {
      file: { type: 'string', short: 'f', describe: 'the spec JSON file; its live version is the one deployed' },
      nodes: { type: 'string', describe: 'target nodes, comma-separated, or - to read them from stdin (one per line)' },
      all: { type: 'boolean', default: false, describe: 'every node whose intent holds the app now' },
      yes: { type: 'boolean', short: 'y', default: false, describe: 'do not ask for confirmation (needed without a terminal)' },
      'dry-run': { type: 'boolean', default: false, describe: 'print the plan and change nothing' },
      'auto-revert': { type: 'boolean', default: false, describe: 'on a failure, write back the intent each node had before' },
      'continue-on-error': { type: 'boolean', default: false, describe: 'report failed nodes and go on with the others' },
      timeout: { type: 'number', default: 1800, describe: 'give up following after this many seconds (exit 8)' },
      json: { type: 'boolean', default: false, describe: 'print the final report as JSON' },
      'silent-after': { type: 'number', default: 900, describe: 'warn about an agent whose last report is older than this many seconds' },
      'lock-ttl': { type: 'number', default: 15, describe: "TTL in seconds of the deploy lock's Consul session (10–86400)" },
    },
    run: withStore((store, a) =>
      runDeploy(store, a.prefix, {
        app: a.app,
        file: a.file,
        nodes: a.nodes,
        all: a.all,
        yes: a.yes,
        dryRun: a['dry-run'],
        autoRevert: a['auto-revert'],
        continueOnError: a['continue-on-error'],
        timeout: a.timeout,
        json: a.json,
        silentAfter: a['silent-after'],
        lockTtl: a['lock-ttl'],
      }),
    ),
  }),
  defineCommand({
    path: 'deploy history',
    args: ['app'],
    flags: { json: { type: 'boolean', default: false, describe: 'print the records as JSON' } },
    describe: "the app's deploys, oldest first: who, when, from → to, nodes, policy, outcome",
    run: withStore(async (store, a) => {
      const records = await readDeployments(store, a.prefix, a.app);
      out(a.json ? JSON.stringify(records, null, 2) : renderHistory(a.app, records));
    }),
  }),
];
