/**
 * Aborted by the first SIGTERM or SIGINT. The handlers are installed when this module is evaluated, and
 * every agent's index.ts imports it first, so a stop that arrives while the agent is still loading is clean
 * too. `on`, not `once`: a second SIGTERM or SIGINT must find a listener too, or Node's default action kills
 * the agent in the middle of the action it is finishing.
 */
export const stopController = new AbortController();

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => stopController.abort(sig));
}
