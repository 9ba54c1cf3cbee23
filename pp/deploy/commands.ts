import { defineFlags } from '../../shared/cli/flags.js';
import { defineCommand, withStore } from '../command-def.js';
import { SIGN_KEY } from '../signing.js';
import { FORCE } from '../understood.js';
import type { IntentStore } from '../../shared/store/types.js';
import { type DeployEnd, deployExitCode } from './outcome.js';
import { readDeployments, renderHistory } from './record.js';
import { type DeployOptions, followDeploy, resumeDeploy, rollbackDeploy, runDeploy } from './run.js';

const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};

/** Flags of every command that follows a rollout (deploy, resume, follow, rollback). */
const FOLLOW_FLAGS = defineFlags({
  'auto-revert': { type: 'boolean', default: false, describe: 'on a failure, write back the intent each node had before' },
  'continue-on-error': { type: 'boolean', default: false, describe: 'report failed nodes and go on with the others' },
  timeout: { type: 'number', default: 1800, describe: 'give up after this many seconds (exit 8)' },
  json: { type: 'boolean', default: false, describe: 'print the final report as JSON' },
  'silent-after': { type: 'number', default: 900, describe: 'warn about an agent whose last report is older than this many seconds' },
  'lock-ttl': { type: 'number', default: 15, describe: "TTL in seconds of the deploy lock's Consul session (10–86400)" },
});

const CONFIRM_FLAGS = defineFlags({
  yes: { type: 'boolean', short: 'y', default: false, describe: 'do not ask for confirmation (needed without a terminal)' },
  'dry-run': { type: 'boolean', default: false, describe: 'print the plan and change nothing' },
});

type Values = {
  app: string;
  file?: string;
  nodes?: string;
  all?: boolean;
  yes?: boolean;
  'dry-run'?: boolean;
  'sign-key'?: string;
  force?: boolean;
} & {
  'auto-revert': boolean;
  'continue-on-error': boolean;
  timeout: number;
  json: boolean;
  'silent-after': number;
  'lock-ttl': number;
};

function options(a: Values): DeployOptions {
  return {
    app: a.app,
    file: a.file,
    nodes: a.nodes,
    all: a.all ?? false,
    yes: a.yes ?? false,
    dryRun: a['dry-run'] ?? false,
    autoRevert: a['auto-revert'],
    continueOnError: a['continue-on-error'],
    timeout: a.timeout,
    json: a.json,
    silentAfter: a['silent-after'],
    lockTtl: a['lock-ttl'],
    signKey: a['sign-key'],
    force: a.force ?? false,
  };
}

/**
 * Runs a deploy command with an AbortSignal that the first SIGINT or SIGTERM aborts (its reason: the signal's name)
 * and leaves with the exit code of how it ended: interrupted is 130. The deploy stops at its next step, records where,
 * and gives its lock back; a second signal finds no handler and ends the process at once, as a kill would.
 */
function deployCommand(
  run: (store: IntentStore, prefix: string, o: DeployOptions, signal: AbortSignal) => Promise<DeployEnd>,
): (a: Values & { prefix: string; store?: string }) => Promise<number | void> {
  return withStore(async (store, a: Values & { prefix: string; store?: string }) => {
    const abort = new AbortController();
    const stop = (signal: NodeJS.Signals) => {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      process.stderr.write(`pp: ${signal}: stopping at the next step (a second signal stops at once)\n`);
      abort.abort(signal);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      return deployExitCode(await run(store, a.prefix, options(a), abort.signal));
    } finally {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
    }
  });
}

/** `pp deploy`, `pp deploy resume|follow|history`, `pp rollback` (README, "Deploying to a fleet"). */
export const DEPLOY_COMMANDS = [
  defineCommand({
    path: 'deploy',
    args: ['app'],
    describe: 'deploy a spec to nodes: show the plan, confirm, stage the version, flip it live, follow the rollout',
    flags: {
      file: {
        type: 'string',
        short: 'f',
        describe: 'the spec JSON file, or - to read it from stdin; its live version is the one deployed',
      },
      nodes: { type: 'string', describe: 'target nodes, comma-separated, or - to read them from stdin (one per line)' },
      all: { type: 'boolean', default: false, describe: 'every node whose intent holds the app now' },
      ...CONFIRM_FLAGS,
      ...FOLLOW_FLAGS,
      ...SIGN_KEY,
      ...FORCE,
    },
    run: deployCommand(runDeploy),
  }),
  defineCommand({
    path: 'deploy resume',
    args: ['app'],
    flags: { ...FOLLOW_FLAGS, ...SIGN_KEY, ...FORCE },
    describe: 'take the lock again and carry on the latest deploy of the app (interrupted or timed out) from its record',
    run: deployCommand(resumeDeploy),
  }),
  defineCommand({
    path: 'deploy follow',
    args: ['app'],
    flags: FOLLOW_FLAGS,
    describe: 'only watch the latest deploy of the app until its version is live on its nodes or fails (writes nothing)',
    run: deployCommand(followDeploy),
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
  defineCommand({
    path: 'rollback',
    args: ['app'],
    flags: { ...CONFIRM_FLAGS, ...FOLLOW_FLAGS, ...SIGN_KEY, ...FORCE },
    describe: 'deploy again, the same way, the version live before the latest deploy of the app',
    run: deployCommand(rollbackDeploy),
  }),
];
