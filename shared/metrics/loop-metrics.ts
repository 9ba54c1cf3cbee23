import type { LoopHooks } from '../loop/hooks.js';
import type { AppStatus } from '../loop/types.js';
import { DURATION_BUCKETS, type MetricsRegistry } from './registry.js';

const STATUSES: AppStatus[] = ['converged', 'pending', 'failed'];

/** The metrics every agent's loop feeds (README "Metrics"), as loop hooks. */
export function loopMetrics(m: MetricsRegistry): LoopHooks {
  const passSeconds = m.histogram(
    'platypus_pass_duration_seconds',
    'Time of one pass: observe, plan, start actions, write reality.',
    [],
    DURATION_BUCKETS,
  );
  const apps = m.gauge('platypus_apps', 'Apps by status in the last pass.', ['status']);
  const appStatus = m.gauge('platypus_app_status', 'Each app reported in the last pass: 1 for its status, 0 for the others.', [
    'app',
    'status',
  ]);
  const actions = m.counter(
    'platypus_actions_total',
    'Actions applied, by kind and how they ended (changed, unchanged, failed, cut-short).',
    ['kind', 'result'],
  );
  const actionSeconds = m.histogram('platypus_action_duration_seconds', 'Time of one action, by kind.', ['kind'], DURATION_BUCKETS);
  const watchErrors = m.counter('platypus_watch_errors_total', 'Failed reads of the intent watch (each is retried with backoff).');
  const lastPass = m.gauge(
    'platypus_last_successful_pass_timestamp_seconds',
    'Unix time of the last pass that observed the host and wrote its reality.',
  );
  const lastChange = m.gauge(
    'platypus_last_intent_change_timestamp_seconds',
    'Unix time the agent last saw the intent of its node change.',
  );
  for (const status of STATUSES) apps.set({ status }, 0);
  return {
    intentChanged: () => lastChange.set(undefined, Date.now() / 1000),
    watched: (err) => {
      if (err !== undefined) watchErrors.inc();
    },
    passDone: ({ outcomes, seconds, observeError, realityError }) => {
      passSeconds.observe(undefined, seconds);
      for (const status of STATUSES) apps.set({ status }, outcomes.filter((o) => o.status === status).length);
      appStatus.reset();
      for (const o of outcomes) for (const status of STATUSES) appStatus.set({ app: o.app, status }, o.status === status ? 1 : 0);
      if (observeError === undefined && realityError === undefined) lastPass.set(undefined, Date.now() / 1000);
    },
    actionDone: ({ kind, end, seconds }) => {
      actions.inc({ kind, result: end });
      actionSeconds.observe({ kind }, seconds);
    },
  };
}

/** Calls every hook of each set in turn. */
export function combineHooks(...sets: LoopHooks[]): LoopHooks {
  const all = <K extends keyof LoopHooks>(k: K) =>
    ((...args: unknown[]) => {
      for (const s of sets) (s[k] as ((...a: unknown[]) => void) | undefined)?.(...args);
    }) as NonNullable<LoopHooks[K]>;
  return {
    intentChanged: all('intentChanged'),
    watched: all('watched'),
    passDone: all('passDone'),
    actionDone: all('actionDone'),
    stopped: all('stopped'),
  };
}
