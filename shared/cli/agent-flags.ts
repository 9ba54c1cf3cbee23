import { hostname } from 'node:os';
import { DEFAULT_PREFIX } from '../keys.js';
import { defaultStateDir } from '../loop/agent-state.js';
import { AGENT_EXIT } from '../exit-codes.js';
import { parseListenAddress } from '../metrics/listen-address.js';
import { nameProblem } from '../names.js';
import { defineFlags, parseFlags, UsageError, type FlagSpecs, type FlagValues } from './flags.js';
import { formatHelp } from './help-text.js';
import { platypusVersion, wantsVersion } from './version.js';

/** The flags every agent shares; the defaults of --prefix, --node and --log-level come from `env`. */
export function commonAgentFlags(env: NodeJS.ProcessEnv = process.env) {
  return defineFlags({
    store: {
      type: 'string',
      describe:
        'intent store: folder:PATH, consul://HOST:PORT[,HOST:PORT], consul+https://… (env PLATYPUS_STORE; default: embedded folder store under $PLATYPUS_ROOT or ~/.platypus)',
    },
    prefix: {
      type: 'string',
      default: env.PLATYPUS_PREFIX ?? DEFAULT_PREFIX,
      describe: 'root of every Platypus key (env PLATYPUS_PREFIX)',
    },
    node: { type: 'string', default: env.PLATYPUS_NODE ?? hostname(), describe: "this node's name in the intent tree (env PLATYPUS_NODE)" },
    once: { type: 'boolean', default: false, describe: 'converge once and exit: 0 converged, 1 an app failed, 3 an app is still pending' },
    'dry-run': { type: 'boolean', default: false, describe: 'print the plan and change nothing' },
    json: { type: 'boolean', default: false, describe: 'with --dry-run: print the plan as JSON' },
    'log-level': {
      type: 'string',
      default: env.PLATYPUS_LOG_LEVEL ?? 'info',
      choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
      describe: 'pino log level (env PLATYPUS_LOG_LEVEL)',
    },
    'resync-seconds': { type: 'number', default: 60, describe: 're-check the host this often even when intent did not change (≥ 1)' },
    'wait-seconds': { type: 'number', default: 300, describe: 'blocking query wait, 1..600 (Consul caps it at 600)' },
    'heartbeat-seconds': {
      type: 'number',
      default: 300,
      describe: 'refresh <prefix>/reality/<node>/<agent>/.heartbeat this often, 1..3600',
    },
    'metrics-address': {
      type: 'string',
      ...(env.PLATYPUS_METRICS_ADDRESS ? { default: env.PLATYPUS_METRICS_ADDRESS } : {}),
      describe: 'serve /metrics (Prometheus) and /healthz on HOST:PORT, e.g. 127.0.0.1:9464 (env PLATYPUS_METRICS_ADDRESS; default: off)',
    },
    'check-ttl-seconds': {
      type: 'number',
      default: 900,
      describe: 'with a Consul store: TTL of the Consul check pp-<agent>:<node>, refreshed every third of it, ≥ 10 (0: no check)',
    },
    'check-pending-seconds': {
      type: 'number',
      default: 1800,
      describe: 'the Consul check and /healthz warn when an app stays pending this long',
    },
    'trusted-signers': {
      type: 'string',
      default: env.PLATYPUS_TRUSTED_SIGNERS,
      describe:
        'OpenSSH allowed_signers file: act only on intent signed by its keys (pp intent put --sign-key), refuse replays of older orders, remove apps only on signed orders (env PLATYPUS_TRUSTED_SIGNERS)',
    },
    'max-order-age-days': {
      type: 'number',
      describe:
        'with --trusted-signers: refuse a signed order older than this for an app the agent has accepted no order for yet (a replay on a fresh node); a re-imaged node then needs recently signed intent (default: any age)',
    },
    'state-dir': {
      type: 'string',
      default: defaultStateDir(env),
      describe:
        "where the agent keeps what it must remember across restarts (accepted orders, removed apps' basedirs), on this node's disk (env PLATYPUS_STATE_DIR)",
    },
  });
}

/** Values of the shared agent flags. */
export type CommonAgentArgs = FlagValues<ReturnType<typeof commonAgentFlags>>;

/** Throws an Error naming the flag when a shared flag's value is out of range. */
export function checkCommonFlags(args: CommonAgentArgs): void {
  const problem = nameProblem(args.node);
  if (problem) throw new Error(`--node ${JSON.stringify(args.node)}: ${problem}`);
  // A zero here would make the loop spin or turn blocking queries into polling.
  if (!(args['resync-seconds'] >= 1)) throw new Error(`--resync-seconds ${args['resync-seconds']}: expected a number ≥ 1`);
  if (!(args['wait-seconds'] >= 1 && args['wait-seconds'] <= 600))
    throw new Error(`--wait-seconds ${args['wait-seconds']}: expected 1..600 (Consul caps the wait at 10 minutes)`);
  if (!(args['heartbeat-seconds'] >= 1 && args['heartbeat-seconds'] <= 3600))
    throw new Error(`--heartbeat-seconds ${args['heartbeat-seconds']}: expected 1..3600`);
  if (args['metrics-address'] !== undefined) parseListenAddress(args['metrics-address']);
  const ttl = args['check-ttl-seconds'];
  if (!(ttl === 0 || (ttl >= 10 && ttl <= 86_400))) throw new Error(`--check-ttl-seconds ${ttl}: expected 0 (no check) or 10..86400`);
  const maxAge = args['max-order-age-days'];
  if (maxAge !== undefined && !(maxAge > 0 && maxAge <= 36_500))
    throw new Error(`--max-order-age-days ${maxAge}: expected a number of days above 0, at most 36500`);
  if (maxAge !== undefined && !args['trusted-signers']) throw new Error('--max-order-age-days: needs --trusted-signers');
  if (!(args['check-pending-seconds'] >= 1))
    throw new Error(`--check-pending-seconds ${args['check-pending-seconds']}: expected a number ≥ 1`);
}

/** An agent's extra flags and the check of their values (throws an Error naming the flag). */
export interface AgentFlags<S extends FlagSpecs> {
  flags: S;
  check?: (args: FlagValues<S>) => void;
}

/** The --help page of agent `name`: every visible shared and extra flag with its default and description. */
export function agentHelp(name: string, extra: FlagSpecs, env: NodeJS.ProcessEnv = process.env): string {
  return formatHelp({
    usage: `${name} [options]`,
    about: `Converges this node's ${name.replace('pp-', '')} slice to the intent in the store.`,
    flags: { ...commonAgentFlags(env), ...extra },
    epilogue: `${name} --version prints the version.\nExit codes: 0 converged (or stopped by SIGTERM/SIGINT), 1 an app failed, 2 usage, 3 an app is still pending (--once).`,
  });
}

/** Parses an agent's argv (shared plus extra flags, no positionals); 'help' for --help; throws UsageError otherwise. */
export function parseAgentFlags<S extends FlagSpecs>(extra: AgentFlags<S>, argv: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  const parsed = parseFlags({ ...commonAgentFlags(env), ...extra.flags }, argv);
  if (parsed.help) return 'help';
  if (parsed.rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.rest[0])}: agents take flags only`);
  try {
    checkCommonFlags(parsed.values);
    extra.check?.(parsed.values as FlagValues<S>);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return parsed.values;
}

/** parseAgentFlags for an agent's main: prints help and exits 0, or prints the problem and exits 2 (usage). */
export function parseAgentArgs<S extends FlagSpecs>(name: string, extra: AgentFlags<S>, argv = process.argv.slice(2)) {
  if (wantsVersion(argv)) {
    process.stdout.write(`${name} ${platypusVersion()}\n`);
    process.exit(AGENT_EXIT.ok);
  }
  try {
    const values = parseAgentFlags(extra, argv);
    if (values !== 'help') return values;
    process.stdout.write(agentHelp(name, extra.flags));
    process.exit(AGENT_EXIT.ok);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${name}: ${err.message}\nRun ${name} --help for usage.\n`);
    process.exit(AGENT_EXIT.usage);
  }
}
