import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { LoopHooks } from '../loop/hooks.js';
import type { AgentChecks } from '../metrics/consul-check.js';
import { HealthState } from '../metrics/health.js';
import { parseListenAddress } from '../metrics/listen-address.js';
import { combineHooks, loopMetrics } from '../metrics/loop-metrics.js';
import { meteredStore } from '../metrics/metered-store.js';
import { NO_METRICS, type MetricsRegistry } from '../metrics/registry.js';
import type { IntentStore } from '../store/types.js';

/** What a running agent is watched through: its metrics registry, the loop hooks, the store to use, and a stop. */
export interface Monitoring {
  metrics: MetricsRegistry;
  hooks: LoopHooks;
  store: IntentStore;
  /** A clean stop: the Consul check is left critical "stopped", the metrics server closed. */
  close(): Promise<void>;
}

export interface MonitoringOptions {
  /** The agent's name in reality (setlive): metrics label `agent`, check ID `pp-<agent>:<node>`. */
  agent: string;
  node: string;
  metricsAddress?: string;
  checkTtlSeconds: number;
  checkPendingSeconds: number;
  resyncMs: number;
  log: Logger;
}

/**
 * Starts what watches a daemon agent: /metrics and /healthz with --metrics-address (prom-client is loaded only
 * then: it costs an idle agent megabytes), and the Consul TTL check with a Consul store. Throws a clear error
 * when the metrics address cannot be listened on.
 */
export async function startMonitoring(store: IntentStore, o: MonitoringOptions): Promise<Monitoring> {
  const health = new HealthState({ resyncMs: o.resyncMs, pendingWarnMs: o.checkPendingSeconds * 1000 });
  let metrics: MetricsRegistry = NO_METRICS;
  let server: Server | undefined;
  const hookSets: LoopHooks[] = [health.hooks];
  // Read before the store is wrapped for counting: only a Consul store has a check API.
  const checks = (store as unknown as { agentChecks?: () => AgentChecks }).agentChecks?.bind(store);
  if (o.metricsAddress !== undefined) {
    const address = parseListenAddress(o.metricsAddress);
    const [{ PromRegistry }, { startMetricsServer }] = await Promise.all([
      import('../metrics/prom-registry.js'),
      import('../metrics/server.js'),
    ]);
    const registry = new PromRegistry({ agent: o.agent, node: o.node });
    server = await startMetricsServer(address, registry, health);
    metrics = registry;
    hookSets.push(loopMetrics(metrics));
    store = meteredStore(store, metrics);
    o.log.info({ action: 'metrics', address: o.metricsAddress }, `serving /metrics and /healthz on http://${o.metricsAddress}`);
  }
  let check: { stop(): Promise<void> } | undefined;
  if (o.checkTtlSeconds > 0 && checks) {
    const { ConsulCheck } = await import('../metrics/consul-check.js');
    const c = new ConsulCheck(checks(), health, { agent: o.agent, node: o.node, ttlSeconds: o.checkTtlSeconds, log: o.log, metrics });
    await c.start();
    check = c;
  }
  return {
    metrics,
    hooks: combineHooks(...hookSets),
    store,
    close: async () => {
      await check?.stop();
      server?.closeAllConnections();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    },
  };
}
