import type { ExecuteOptions } from '../../shared/cli/agent-cli.js';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../shared/logger.js';
import { AgentStateFile, stateFilePath } from '../../shared/loop/agent-state.js';
import type { RunOptions } from '../../shared/loop/run-agent.js';
import type { IntentStore } from '../../shared/store/types.js';

let basedirs = 0;

/**
 * A valid app intent with one live version (and optionally more prepared ones), for tests. Each call gets a
 * basedir of its own (two apps of a node may not share one), unless `extra` names one.
 */
export function appIntent(live: string, extra: Record<string, unknown> = {}) {
  basedirs += 1;
  return {
    schema: 1,
    basedir: `/tmp/pp-test-app/${basedirs}`,
    versions: [{ version: live, url: `file:///tmp/artifacts/app_${live}.tar.gz`, sha256: 'a'.repeat(64), state: 'live' }],
    ports: [{ port: 8080, protocol: 'tcp' }],
    service: { command: ['bin/server'], env: {} },
    ...extra,
  };
}

/** A key prefix no other test file uses, so files can share one Consul agent. */
export function uniquePrefix(name: string): string {
  return `pptest-${name}-${randomBytes(4).toString('hex')}`;
}

/**
 * Polls `check` until it returns true (or throws after `ms`): for state produced by another process. A check
 * that throws counts as "not yet" (it may have read a file the agent was just removing); the last error is
 * reported if time runs out.
 */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const why = lastError === undefined ? '' : `; the check last threw: ${(lastError as Error).message ?? String(lastError)}`;
  throw new Error(`timed out after ${ms} ms waiting for ${what}${why}`);
}

/**
 * The state file an agent started by the CLI would use for `store` (under the tests' PLATYPUS_STATE_DIR): an
 * in-process agent given it each run remembers across "restarts" as a real one does.
 */
export function agentStateFor(store: { description: string }, agent: string, node: string, prefix: string): AgentStateFile {
  const dir = process.env.PLATYPUS_STATE_DIR ?? join(tmpdir(), 'pp-test-state');
  return new AgentStateFile(stateFilePath(dir, agent, node, store.description, prefix), { agent, node, prefix, store: store.description });
}

/**
 * runAgent's options for a daemon on prefix p, node n1 of `store`, silent, retrying within milliseconds and watching
 * with a one-second wait; `over` replaces any of them (signal, hooks, resyncMs…).
 */
export function daemonOptions(store: IntentStore, over: Partial<RunOptions> = {}): RunOptions {
  return { store, prefix: 'p', node: 'n1', log: silentLogger(), retry: { baseMs: 10, maxMs: 20 }, watch: { waitMs: 1000 }, ...over };
}

/**
 * executeAgent's options for one `--once` run on prefix p, node n1 of a test store, output dropped; `over`
 * replaces any of them (trust, state, dryRun…).
 */
export function onceOptions(over: Partial<ExecuteOptions> = {}): ExecuteOptions {
  return {
    prefix: 'p',
    node: 'n1',
    once: true,
    dryRun: false,
    json: false,
    resyncMs: 60_000,
    waitMs: 1000,
    signal: new AbortController().signal,
    out: () => {},
    ...over,
  };
}
