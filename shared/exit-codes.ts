/**
 * Every exit code a Platypus program leaves with, by program. Scripts and monitoring act on these numbers, so
 * each one is written here once and the README's tables (the agents' `--once`, pp's commands, `pp deploy`,
 * `pp check`) are read against this file.
 */

/** pp-<agent>: `--once` ends with converged, failed or pending; bad flags or options are usage; `ok`: --help, --version. */
export const AGENT_EXIT = { ok: 0, converged: 0, failed: 1, usage: 2, pending: 3 } as const;

/**
 * pp's commands. `usage` covers invalid input too (a spec, a name, a key ssh-keygen cannot use, unsigned intent for
 * agents that act only on signed intent); `conflict`: the node's intent kept changing under put/rm/drain;
 * `differs`: `pp intent diff` found differences.
 */
export const PP_EXIT = { ok: 0, failure: 1, usage: 2, conflict: 3, notFound: 4, differs: 5 } as const;

/**
 * `pp deploy`, `resume`, `follow` and `rollback`, on top of pp's own: `changed` (done, but some node's intent
 * changed under the deploy and was not overwritten), `notFound` (nothing recorded to resume, follow or roll back).
 */
export const DEPLOY_EXIT = {
  ok: PP_EXIT.ok,
  failure: PP_EXIT.failure,
  usage: PP_EXIT.usage,
  changed: 3,
  notFound: PP_EXIT.notFound,
  locked: 6,
  versionFailed: 7,
  timeout: 8,
  lockLost: 9,
  declined: 10,
  /** SIGINT or SIGTERM stopped it (the record says interrupted): 128 + SIGINT's number, as shells report it. */
  interrupted: 130,
} as const;

/** `npm run bench` (bench/run.ts): `failed` when any benchmark failed, `usage` for an unknown --only. */
export const BENCH_EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * `pp check`, a Nagios plugin: the plugin conventions fix these four, and a problem of the check itself (usage, an
 * unreadable store) is UNKNOWN, never CRITICAL, so a broken check never pages anyone as an outage.
 */
export const NAGIOS_EXIT = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;
