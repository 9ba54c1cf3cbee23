/** Label values by name; keep them bounded (app names and kinds, never versions or error texts). */
export type Labels = Record<string, string>;

export interface Counter {
  inc(labels?: Labels, value?: number): void;
}
export interface Gauge {
  set(labels: Labels | undefined, value: number): void;
  /** Drops every labelled series (e.g. apps no longer reported). */
  reset(): void;
}
export interface Histogram {
  observe(labels: Labels | undefined, value: number): void;
}

/**
 * The small registry an agent gets for its own metrics: names are prefixed `platypus_` by the caller. Without
 * --metrics-address it is NO_METRICS, and prom-client is never loaded.
 */
export interface MetricsRegistry {
  counter(name: string, help: string, labelNames?: readonly string[]): Counter;
  gauge(name: string, help: string, labelNames?: readonly string[]): Gauge;
  histogram(name: string, help: string, labelNames?: readonly string[], buckets?: readonly number[]): Histogram;
}

const nothing = { inc() {}, set() {}, reset() {}, observe() {} };

/** Metrics off: every metric is a no-op. */
export const NO_METRICS: MetricsRegistry = { counter: () => nothing, gauge: () => nothing, histogram: () => nothing };

/** Durations from milliseconds to 10 minutes (a flip's health wait, an install of gigabytes). */
export const DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;
