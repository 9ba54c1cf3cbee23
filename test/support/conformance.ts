// The conformance suite every agent runs: what the loop and the agent kit promise, checked on the agent's own host
// state. An agent's test file builds a harness (a fresh host, store and intent per call) and calls conformance().
import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { executeAgent } from '../../shared/cli/agent-cli.js';
import { appIntentKey, drainedKey, nodeIntentPrefix } from '../../shared/keys.js';
import { silentLogger } from '../../shared/logger.js';
import { AgentStateFile } from '../../shared/loop/agent-state.js';
import { previewAgent } from '../../shared/loop/run-agent.js';
import type { Action, Agent } from '../../shared/loop/types.js';
import { FolderStore } from '../../shared/store/folder-store.js';

const exec = promisify(execFile);
const SIGKILL_ENTRY = resolve(import.meta.dirname, 'sigkill-after-actions.mjs');

export const PREFIX = 'conf';
export const NODE = 'n1';

/** One fresh host for an agent: where it acts, and how to look at it. */
export interface ConformanceHost {
  /** A fresh agent over this host: a restart of the agent each time it is called. */
  agent(): Agent<unknown, Action>;
  /** App specs (JSON texts) that give the agent work to do on this host. */
  intent: Record<string, string>;
  /** What the agent made on the host, as comparable text (files, contents, modes, links). */
  host(): Promise<unknown>;
  /** The built program and its agent flags (store, prefix, node and state excluded), to SIGKILL after each step. */
  program?: { path: string; args: string[] };
}

export interface ConformanceHarness {
  /** What the suite's title calls the agent (default: its name), when one agent runs it in several modes. */
  title?: string;
  /** Makes a fresh host in `root`. */
  make(root: string): Promise<ConformanceHost>;
  /** The agent keeps memory across restarts (Agent.memory). */
  memory: boolean;
  /** Its hosts name a built program (ConformanceHost.program) to SIGKILL after each step. */
  program: boolean;
}

interface Node {
  host: ConformanceHost;
  store: FolderStore;
  root: string;
  stateDir: string;
}

async function freshNode(harness: ConformanceHarness): Promise<Node> {
  const root = await mkdtemp(join(tmpdir(), 'pp-conformance-'));
  const store = new FolderStore(join(root, 'store'));
  const host = await harness.make(root);
  return { host, store, root, stateDir: join(root, 'state') };
}

function stateOf(n: Node, agent: string) {
  return new AgentStateFile(join(n.stateDir, `${agent}.json`), { agent, node: NODE, prefix: PREFIX, store: n.store.description });
}

async function intend(n: Node): Promise<void> {
  for (const [app, spec] of Object.entries(n.host.intent)) await n.store.put(appIntentKey(PREFIX, NODE, app), spec);
}

async function execute(n: Node, mode: 'once' | 'dry-run', agent = n.host.agent()): Promise<number> {
  return executeAgent(agent, n.store, silentLogger(), {
    prefix: PREFIX,
    node: NODE,
    once: mode === 'once',
    dryRun: mode === 'dry-run',
    json: true,
    resyncMs: 60_000,
    waitMs: 1000,
    signal: new AbortController().signal,
    out: () => {},
    state: stateOf(n, agent.name),
  });
}

async function preview(n: Node, agent = n.host.agent()): Promise<string[]> {
  const { pass } = await previewAgent(agent, {
    store: n.store,
    prefix: PREFIX,
    node: NODE,
    log: silentLogger(),
    state: stateOf(n, agent.name),
  });
  // What the first pass applies: the apps' actions not left for a later pass, and the node-wide ones, once each.
  const apps = pass.apps.filter((p) => !p.deferred).flatMap((p) => p.actions.map((a) => `${p.plan.app}: ${agent.describe(a)}`));
  const node = pass.nodeDeferred ? [] : pass.node.filter((x) => x.held === undefined).map((x) => `node: ${agent.describe(x.action)}`);
  return [...apps, ...node].sort();
}

/** Everything in the store (intent, reality, heartbeats), for "changed nothing" checks. */
async function storeContent(n: Node): Promise<string[]> {
  return (await n.store.read(`${PREFIX}/`)).entries.map((e) => `${e.key}=${e.value}`).sort();
}

/** Runs the program once under the SIGKILL entry: killed right after its `after`-th action; true when it was killed. */
async function killedRun(n: Node, agentName: string, after: number): Promise<boolean> {
  const program = n.host.program!;
  const args = [SIGKILL_ENTRY, program.path, '--once', ...['--store', `folder:${n.store.root}`, '--prefix', PREFIX, '--node', NODE]];
  try {
    await exec(process.execPath, [...args, '--state-dir', n.stateDir, ...program.args], {
      env: { ...process.env, PLATYPUS_TEST_SIGKILL_AFTER_ACTIONS: String(after) },
    });
    return false;
  } catch (err) {
    const e = err as { signal?: string; code?: number; stderr?: string };
    if (e.signal === 'SIGKILL') return true;
    if (typeof e.code === 'number') return false; // ran to its end with a failure or pending: the next run converges it
    throw new Error(`${agentName}: ${String(e.stderr ?? err)}`);
  }
}

/** The suite: each case on a fresh host. `name` is the agent's name in reality keys. */
export function conformance(name: string, harness: ConformanceHarness): void {
  describe(`${harness.title ?? name} conforms to the agent contract`, () => {
    it('a second pass plans nothing', async () => {
      const n = await freshNode(harness);
      await intend(n);
      expect(await execute(n, 'once')).toBe(0);
      expect(await preview(n)).toEqual([]);
    });

    it("--dry-run lists exactly what --once's first pass then applies", async () => {
      const n = await freshNode(harness);
      await intend(n);
      const listed = await preview(n);
      expect(listed.length).toBeGreaterThan(0);
      const applied: string[] = [];
      const onApplied = (m: unknown) => {
        const { app, node, action, agent, pass } = m as { app?: string; node?: true; action: string; agent: string; pass: number };
        if (agent === name && pass === 1) applied.push(`${node ? 'node' : app}: ${action}`);
      };
      subscribe('platypus:action-applied', onApplied);
      try {
        expect(await execute(n, 'once')).toBe(0);
      } finally {
        unsubscribe('platypus:action-applied', onApplied);
      }
      expect(applied.sort()).toEqual(listed);
    });

    it('a dry run changes nothing on the host or in the store', async () => {
      const n = await freshNode(harness);
      await intend(n);
      const [host, store] = [await n.host.host(), await storeContent(n)];
      expect(await execute(n, 'dry-run')).toBe(0);
      expect(await n.host.host()).toEqual(host);
      expect(await storeContent(n)).toEqual(store);
    });

    it('holds removals on untrusted intent (empty and not drained, or a stray .drained beside app keys)', async () => {
      const n = await freshNode(harness);
      await intend(n);
      expect(await execute(n, 'once')).toBe(0);
      const converged = await n.host.host();
      const apps = Object.keys(n.host.intent);
      await n.store.transaction(apps.map((app) => ({ key: appIntentKey(PREFIX, NODE, app), value: null })));
      await execute(n, 'once');
      expect(await n.host.host()).toEqual(converged);
      // The drained marker beside one app key: a drain half done; the others' removal still waits.
      await n.store.transaction([
        { key: drainedKey(PREFIX, NODE), value: '{}' },
        { key: appIntentKey(PREFIX, NODE, apps[0]!), value: n.host.intent[apps[0]!]! },
      ]);
      await execute(n, 'once');
      expect(await n.host.host()).toEqual(converged);
      expect((await n.store.read(nodeIntentPrefix(PREFIX, NODE))).entries.length).toBe(2);
    });

    if (harness.memory)
      it('its memory round-trips through a restart', async () => {
        const n = await freshNode(harness);
        await intend(n);
        const agent = n.host.agent();
        expect(await execute(n, 'once', agent)).toBe(0);
        const saved = JSON.parse(JSON.stringify(agent.memory!.save()));
        const restarted = n.host.agent();
        restarted.memory!.load(saved);
        expect(restarted.memory!.save()).toEqual(saved);
      });

    if (harness.program)
      it('converges after a SIGKILL right after any of its steps', { timeout: 240_000 }, async () => {
        const reference = await freshNode(harness);
        await intend(reference);
        expect(await execute(reference, 'once')).toBe(0);
        const wanted = await reference.host.host();
        for (let after = 1; ; after += 1) {
          const n = await freshNode(harness);
          await intend(n);
          const killed = await killedRun(n, name, after);
          expect(await execute(n, 'once')).toBe(0);
          expect(await n.host.host(), `killed after step ${after}`).toEqual(wanted);
          if (!killed) break;
          expect(after).toBeLessThan(50);
        }
      });
  });
}
