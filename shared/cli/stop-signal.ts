/**
 * Aborted by the first SIGTERM or SIGINT. The handlers are installed when this module is evaluated, and
 * every agent's index.ts imports it first, so a stop that arrives while the agent is still loading is clean
 * too. `on`, not `once`: with no listener left, execa's signal-exit hook would re-raise the signal and kill
 * the agent in the middle of an action.
 */
export const stopController = new AbortController();

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => stopController.abort(sig));
}
