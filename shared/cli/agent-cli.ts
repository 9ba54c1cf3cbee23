import { agentNames } from '../agent-list.js';
import { createLogger, type Logger } from '../logger.js';
import { AgentStateFile, type AgentStateStore, stateFilePath } from '../loop/agent-state.js';
import { EXIT, exitCodeOf, previewAgent, runAgent } from '../loop/run-agent.js';
import { NO_METRICS } from '../metrics/registry.js';
import { openStore } from '../store/open-store.js';
import type { IntentStore } from '../store/types.js';
import type { LoopHooks } from '../loop/hooks.js';
import type { Action, Agent } from '../loop/types.js';
import type { MetricsRegistry } from '../metrics/registry.js';
import type { CommonAgentArgs } from './agent-flags.js';
import { startMonitoring, type Monitoring } from './monitoring.js';
import { TrustGate } from '../trust/gate.js';
import { printPlan } from './print-plan.js';
import { stopController } from './stop-signal.js';

/** Which mode to run in and where; the flags' meaning without the process around them. */
export interface ExecuteOptions {
  prefix: string;
  node: string;
  once: boolean;
  dryRun: boolean;
  json: boolean;
  resyncMs: number;
  waitMs: number;
  heartbeatMs?: number;
  hooks?: LoopHooks;
  signal: AbortSignal;
  out: (text: string) => void;
  /** --trusted-signers: only signed orders count. */
  trust?: TrustGate;
  /** --state-dir: the agent's memory across restarts (default: this process only). */
  state?: AgentStateStore;
}

/** Runs an agent in the chosen mode and returns the process exit code (see EXIT). */
export async function executeAgent<O, A extends Action>(
  agent: Agent<O, A>,
  store: IntentStore,
  log: Logger,
  o: ExecuteOptions,
): Promise<number> {
  if (o.dryRun) {
    // The same judge → plan → admit as a run's first pass (memory read, never saved): what it prints is what --once applies.
    const { intent, pass } = await previewAgent(agent, {
      store,
      prefix: o.prefix,
      node: o.node,
      log,
      trust: o.trust,
      state: o.state,
    });
    o.out(printPlan(agent, intent, pass, o.json));
    return EXIT.converged;
  }
  const result = await runAgent(agent, {
    store,
    prefix: o.prefix,
    node: o.node,
    log,
    once: o.once,
    signal: o.signal,
    resyncMs: o.resyncMs,
    heartbeatMs: o.heartbeatMs,
    hooks: o.hooks,
    watch: { waitMs: o.waitMs },
    trust: o.trust,
    state: o.state,
  });
  return o.once && !result?.stopped ? exitCodeOf(result) : EXIT.converged;
}

/** An agent's main: opens the store, runs in the chosen mode, stops after the action in flight on SIGTERM/SIGINT, exits. */
export async function runAgentMain<O, A extends Action>(
  name: string,
  args: CommonAgentArgs,
  build: (log: Logger, store: IntentStore, metrics: MetricsRegistry) => Agent<O, A>,
): Promise<never> {
  const log = createLogger(name, args.node, args['log-level']);
  let store: IntentStore;
  try {
    store = await openStore(args.store);
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    process.exit(EXIT.usage);
  }
  let trust: TrustGate | undefined;
  try {
    const maxAgeDays = args['max-order-age-days'];
    if (args['trusted-signers'])
      trust = TrustGate.fromFile(args['trusted-signers'], undefined, maxAgeDays === undefined ? undefined : maxAgeDays * 86_400_000);
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    process.exit(EXIT.usage);
  }
  const { signal } = stopController;
  if (signal.aborted) process.exit(EXIT.converged); // stopped while loading: nothing was started
  signal.addEventListener(
    'abort',
    () =>
      log.info(
        { action: 'stop', signal: String(signal.reason) },
        'stopping: transfers and waits are cut short, a started flip is finished, then reality is written',
      ),
    { once: true },
  );
  // Metrics, /healthz and the Consul check watch a daemon; --once and --dry-run end before anyone would look.
  let monitoring: Monitoring | undefined;
  if (!args.once && !args['dry-run']) {
    try {
      monitoring = await startMonitoring(store, {
        agent: name.replace(/^pp-/, ''),
        node: args.node,
        metricsAddress: args['metrics-address'],
        checkTtlSeconds: args['check-ttl-seconds'],
        checkPendingSeconds: args['check-pending-seconds'],
        resyncMs: args['resync-seconds'] * 1000,
        log,
      });
    } catch (err) {
      process.stderr.write(`${name}: ${(err as Error).message}\n`);
      await store.close();
      process.exit(EXIT.usage);
    }
  }
  let code: number = EXIT.failed;
  const used = monitoring?.store ?? store;
  try {
    const agent = build(log, used, monitoring?.metrics ?? NO_METRICS);
    // The program's name and the agent's own, which names its reality keys, must be one name of agents.json.
    if (`pp-${agent.name}` !== name || !agentNames().includes(agent.name))
      throw new Error(`program ${name} runs agent "${agent.name}": expected pp-<name> with <name> listed in agents/agents.json`);
    code = await executeAgent(agent, used, log, {
      prefix: args.prefix,
      node: args.node,
      once: args.once,
      dryRun: args['dry-run'],
      json: args.json,
      resyncMs: args['resync-seconds'] * 1000,
      waitMs: args['wait-seconds'] * 1000,
      heartbeatMs: args['heartbeat-seconds'] * 1000,
      hooks: monitoring?.hooks,
      signal,
      out: (text) => process.stdout.write(text),
      trust,
      state: new AgentStateFile(stateFilePath(args['state-dir'], name.replace(/^pp-/, ''), args.node, store.description, args.prefix), {
        agent: name.replace(/^pp-/, ''),
        node: args.node,
        prefix: args.prefix,
        store: store.description,
      }),
    });
  } catch (err) {
    log.fatal({ action: 'run', err: (err as Error).message }, 'agent stopped on an error');
  }
  await monitoring?.close();
  await store.close();
  process.exit(code);
}
