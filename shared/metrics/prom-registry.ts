import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Labels, MetricsRegistry } from './registry.js';

const GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** A MetricsRegistry over one prom-client Registry, with the default process metrics and `agent`/`node` on every series. */
export class PromRegistry implements MetricsRegistry {
  readonly registry = new Registry();

  constructor(defaultLabels: Labels) {
    this.registry.setDefaultLabels(defaultLabels);
    // The event-loop lag histogram samples on a libuv timer: at prom-client's default 10 ms it woke an idle agent 100
    // times a second (2.6 s of CPU per 5 minutes instead of 0.1–0.3 s); once a second is plenty for an agent.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 1000 });
    // Gauges that prom-client names like counters: `promtool check metrics` refuses them ("non-counter metrics should
    // not have _total suffix"). The same counts stay, by type, in nodejs_active_handles/requests/resources.
    for (const name of GAUGES_NAMED_TOTAL) this.registry.removeSingleMetric(name);
  }

  counter(name: string, help: string, labelNames: readonly string[] = []) {
    const c = new Counter({ name, help, labelNames, registers: [this.registry] });
    return { inc: (labels: Labels = {}, value = 1) => c.inc(labels, value) };
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []) {
    const g = new Gauge({ name, help, labelNames, registers: [this.registry] });
    return { set: (labels: Labels = {}, value: number) => g.set(labels, value), reset: () => g.reset() };
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: readonly number[]) {
    const h = new Histogram({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets: [...buckets] } : {}) });
    return { observe: (labels: Labels = {}, value: number) => h.observe(labels, value) };
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
