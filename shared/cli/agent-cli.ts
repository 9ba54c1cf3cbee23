import { hostname } from 'node:os';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { nodeIntentFromSnapshot } from '../intent/node-intent.js';
import { DEFAULT_PREFIX, nodeIntentPrefix } from '../keys.js';
import { createLogger, type Logger } from '../logger.js';
import { nameProblem } from '../names.js';
import { EXIT, exitCodeOf, runAgent } from '../loop/run-agent.js';
import { openStore } from '../store/open-store.js';
import type { IntentStore } from '../store/types.js';
import type { Agent } from '../loop/types.js';
import { printPlan } from './print-plan.js';
import { stopController } from './stop-signal.js';

/** Flags every agent shares. */
export interface CommonAgentArgs {
  store?: string;
  prefix: string;
  node: string;
  once: boolean;
  'dry-run': boolean;
  json: boolean;
  'log-level': string;
  'resync-seconds': number;
  'wait-seconds': number;
}

/** Adds the shared flags (store, prefix, node, once, dry-run, json, log level, resync, wait) to a yargs parser. */
export function withCommonAgentFlags<T>(parser: Argv<T>): Argv<T & CommonAgentArgs> {
  return parser
    .option('store', { type: 'string', describe: 'intent store: folder:PATH, consul://HOST:PORT[,HOST:PORT], consul+https://… (env PLATYPUS_STORE; default: embedded folder store under $PLATYPUS_ROOT or ~/.platypus)' })
    .option('prefix', { type: 'string', default: process.env.PLATYPUS_PREFIX ?? DEFAULT_PREFIX, describe: 'root of every Platypus key (env PLATYPUS_PREFIX)' })
    .option('node', { type: 'string', default: process.env.PLATYPUS_NODE ?? hostname(), describe: 'this node\'s name in the intent tree (env PLATYPUS_NODE)' })
    .option('once', { type: 'boolean', default: false, describe: 'converge once and exit: 0 converged, 1 an app failed, 3 an app is still pending' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan and change nothing' })
    .option('json', { type: 'boolean', default: false, describe: 'with --dry-run: print the plan as JSON' })
    .option('log-level', { type: 'string', default: process.env.PLATYPUS_LOG_LEVEL ?? 'info', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] })
    .option('resync-seconds', { type: 'number', default: 60, describe: 're-check the host this often even when intent did not change' })
    .option('wait-seconds', { type: 'number', default: 300, describe: 'blocking query wait (Consul caps it at 600)' })
    .check((args) => {
      const problem = nameProblem(args.node);
      if (problem) throw new Error(`--node ${JSON.stringify(args.node)}: ${problem}`);
      // A zero or NaN here would make the loop spin or turn blocking queries into polling.
      if (!(args['resync-seconds'] >= 1)) throw new Error(`--resync-seconds ${args['resync-seconds']}: expected a number ≥ 1`);
      if (!(args['wait-seconds'] >= 1 && args['wait-seconds'] <= 600)) throw new Error(`--wait-seconds ${args['wait-seconds']}: expected 1..600 (Consul caps the wait at 10 minutes)`);
      return true;
    })
    .strict()
    .help() as unknown as Argv<T & CommonAgentArgs>;
}

/** Parses argv with the shared flags plus `extra`'s, for an agent's index.ts. */
export async function parseAgentArgs<T>(name: string, extra: (y: Argv<object>) => Argv<T>, argv = hideBin(process.argv)) {
  const base = yargs(argv).scriptName(name).usage(`$0 [options]\n\nConverges this node's ${name.replace('pp-', '')} slice to the intent in the store.`).env(false);
  return withCommonAgentFlags(extra(base))
    .epilogue('Exit codes: 0 converged (or stopped by SIGTERM/SIGINT), 1 an app failed, 2 usage, 3 an app is still pending (--once).')
    .fail((msg, err) => {
      process.stderr.write(`${name}: ${msg ?? err?.message}\nRun ${name} --help for usage.\n`);
      process.exit(EXIT.usage);
    })
    .parseAsync();
}

/** Which mode to run in and where; the flags' meaning without the process around them. */
export interface ExecuteOptions {
  prefix: string;
  node: string;
  once: boolean;
  dryRun: boolean;
  json: boolean;
  resyncMs: number;
  waitMs: number;
  signal: AbortSignal;
  out: (text: string) => void;
}

/** Runs an agent in the chosen mode and returns the process exit code (see EXIT). */
export async function executeAgent<O, A>(agent: Agent<O, A>, store: IntentStore, log: Logger, o: ExecuteOptions): Promise<number> {
  if (o.dryRun) {
    const intent = nodeIntentFromSnapshot(o.prefix, o.node, await store.read(nodeIntentPrefix(o.prefix, o.node)));
    o.out(printPlan(agent, intent, agent.plan(intent, await agent.observe(intent)), o.json));
    return EXIT.converged;
  }
  const result = await runAgent(agent, {
    store, prefix: o.prefix, node: o.node, log, once: o.once, signal: o.signal, resyncMs: o.resyncMs, watch: { waitMs: o.waitMs },
  });
  return o.once && !result?.stopped ? exitCodeOf(result) : EXIT.converged;
}

/** An agent's main: opens the store, runs in the chosen mode, stops after the action in flight on SIGTERM/SIGINT, exits. */
export async function runAgentMain<O, A>(name: string, args: CommonAgentArgs, build: (log: Logger, store: IntentStore) => Agent<O, A>): Promise<never> {
  const log = createLogger(name, args.node, args['log-level']);
  let store: IntentStore;
  try {
    store = await openStore(args.store);
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    process.exit(EXIT.usage);
  }
  const { signal } = stopController;
  if (signal.aborted) process.exit(EXIT.converged); // stopped while loading: nothing was started
  signal.addEventListener('abort', () => log.info({ action: 'stop', signal: String(signal.reason) }, 'stopping after the action in flight'), { once: true });
  let code: number = EXIT.failed;
  try {
    code = await executeAgent(build(log, store), store, log, {
      prefix: args.prefix, node: args.node, once: args.once, dryRun: args['dry-run'], json: args.json,
      resyncMs: args['resync-seconds'] * 1000, waitMs: args['wait-seconds'] * 1000, signal,
      out: (text) => process.stdout.write(text),
    });
  } catch (err) {
    log.fatal({ action: 'run', err: (err as Error).message }, 'agent stopped on an error');
  }
  await store.close();
  process.exit(code);
}
