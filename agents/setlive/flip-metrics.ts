import type { ActionResult, ApplyContext } from '../../shared/loop/types.js';
import { DURATION_BUCKETS, type MetricsRegistry } from '../../shared/metrics/registry.js';
import type { SetliveAction } from './actions.js';

/**
 * Wraps pp-setlive's apply to measure flips: from the flip's first step (stop, else swap-current) to the end of
 * its health wait, by result (healthy, rolled-back, failed), and to count rollbacks per app.
 */
type Apply = (action: SetliveAction, context: ApplyContext) => Promise<ActionResult>;

export function meterFlips(metrics: MetricsRegistry, apply: Apply): Apply {
  const flipSeconds = metrics.histogram(
    'platypus_setlive_flip_duration_seconds',
    'Time of one flip, from stopping the old version to the new one found healthy (or rolled back), by result.',
    ['result'],
    DURATION_BUCKETS,
  );
  const rollbacks = metrics.counter(
    'platypus_setlive_rollbacks_total',
    'Flips rolled back because the new version did not become healthy, by app.',
    ['app'],
  );
  const started = new Map<string, number>();
  const end = (app: string, result: string) => {
    const at = started.get(app);
    started.delete(app);
    if (at !== undefined) flipSeconds.observe({ result }, (performance.now() - at) / 1000);
  };
  return async (action, context) => {
    if (action.kind === 'stop' || (action.kind === 'swap-current' && !started.has(action.app))) started.set(action.app, performance.now());
    try {
      const result = await apply(action, context);
      if (action.kind === 'await-health' || action.kind === 'confirm') end(action.app, 'healthy');
      return result;
    } catch (err) {
      // A stop cuts the wait short: the flip is neither healthy nor failed yet, and the next run finishes it.
      if (context.signal.aborted) started.delete(action.app);
      else if (action.kind === 'await-health' && action.rollbackTo) {
        rollbacks.inc({ app: action.app });
        end(action.app, 'rolled-back');
      } else end(action.app, 'failed');
      throw err;
    }
  };
}
