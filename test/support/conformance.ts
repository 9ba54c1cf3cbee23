// The conformance suite every agent runs: what the loop and the agent kit promise, checked on the agent's own host
// state. An agent's test file builds a harness (a fresh host, store and intent per call) and calls conformance();
// what it needs besides its own logic (a tree of files to compare, a store, signing keys, the crash entry) is here.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { putIntent, removeIntent } from '../../pp/intent-commands.js';
import { executeAgent } from '../../shared/cli/agent-cli.js';
import { appIntentKey, drainedKey, nodeIntentPrefix } from '../../shared/keys.js';
import { silentLogger } from '../../shared/logger.js';
import { AgentStateFile, stateFilePath } from '../../shared/loop/agent-state.js';
import { previewAgent } from '../../shared/loop/run-agent.js';
import type { Action, Agent } from '../../shared/loop/types.js';
import { FolderStore } from '../../shared/store/folder-store.js';
import { SIGN_NAMESPACE } from '../../shared/trust/envelope.js';
import { TrustGate } from '../../shared/trust/gate.js';
import { onceOptions } from './intent-fixtures.js';
import { makeSshKey } from './ssh-keys.js';

const exec = promisify(execFile);
const SIGKILL_ENTRY = resolve(import.meta.dirname, 'sigkill-after-actions.mjs');

export const PREFIX = 'conf';
export const NODE = 'n1';

/** One fresh host for an agent, made under a node's root folder: where it acts, and how to look at it. */
export interface ConformanceHost {
  /** A fresh agent over this host: a restart of the agent each time it is called. */
  agent(): Agent<unknown, Action>;
  /** App specs (JSON texts) that give the agent work to do on this host; two apps at least. */
  intent: Record<string, string>;
  /**
   * What the agent made on the host, comparable between two hosts made alike (e.g. tree() of the folders it
   * writes, without timestamps): a host that converged after a SIGKILL must equal one that was never killed.
   */
  host(): Promise<unknown>;
  /** The built program (agents/<name>/index.ts) and its agent flags; store, prefix, node and state are added. */
  program: { path: string; args: string[] };
  /** The apps the SIGKILL case deploys, each step a run of its own (default: every app of `intent`). */
  crashApps?: string[];
  /** Paths under the root (relative) that others write, e.g. runit's supervise/: left out of "changed nothing". */
  foreign?(path: string): boolean;
  /** Ends what `make` started (a runsvdir, its services); the root is removed after. */
  stop?(): Promise<void>;
}

export interface ConformanceHarness {
  /** What the suite's title calls the agent (default: its name), when one agent runs it in several modes. */
  title?: string;
  /** Makes a fresh host under `root`, the node's folder (its store and state are there too). */
  make(root: string): Promise<ConformanceHost>;
}

export interface TreeOptions {
  /** Written `<root>` wherever it appears in a link's target or a file's text, so hosts in two folders compare. */
  root?: string;
  /** Paths (relative to the folder) left out, with all they hold. */
  skip?(path: string): boolean;
  /** Also each entry's modification time: what "changed nothing" compares. */
  times?: boolean;
}

/**
 * Everything under `dir` by path, as comparable text: type, mode, owner, a link's target, a file's text (its
 * sha256 when it is long or not text). Empty when `dir` does not exist.
 */
export async function tree(dir: string, o: TreeOptions = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const rooted = (text: string) => (o.root === undefined ? text : text.replaceAll(o.root, '<root>'));
  const walk = async (rel: string): Promise<void> => {
    const names = await readdir(join(dir, rel)).catch(() => [] as string[]);
    for (const name of names.sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (o.skip?.(path)) continue;
      const full = join(dir, path);
      const st = await lstat(full).catch(() => undefined);
      if (!st) continue; // gone meanwhile
      const head = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}${o.times ? ` mtime ${st.mtimeMs}` : ''}`;
      if (st.isSymbolicLink()) out[path] = `link ${head} -> ${rooted(await readlink(full))}`;
      else if (st.isDirectory()) {
        out[path] = `dir ${head}`;
        await walk(path);
      } else if (st.isFile()) {
        const bytes = await readFile(full);
        const text = bytes.toString('utf8');
        const isText = !text.includes('\0') && Buffer.from(text).equals(bytes);
        const body = isText ? rooted(text) : bytes;
        const content = isText && text.length <= 400 ? JSON.stringify(body) : `sha256 ${createHash('sha256').update(body).digest('hex')}`;
        out[path] = `file ${head} ${content}`;
      } else out[path] = `other ${head}`; // a FIFO or socket: not opened, it may block
    }
  };
  await walk('');
  return out;
}

interface Node {
  host: ConformanceHost;
  store: FolderStore;
  root: string;
  stateDir: string;
  /** With --trusted-signers: a fresh gate for each run (what it accepted comes back from the state file). */
  trust?: () => TrustGate;
  /** With --trusted-signers: the key that signs the node's intent. */
  keyPath?: string;
}

/** A signing key in `dir` and the allowed_signers file that trusts it. */
async function signers(dir: string): Promise<{ file: string; keyPath: string }> {
  await mkdir(dir);
  const key = makeSshKey(dir, 'operator');
  const file = join(dir, 'allowed_signers');
  await writeFile(file, `operator@example namespaces="${SIGN_NAMESPACE}" ${key.publicKey}\n`);
  return { file, keyPath: key.path };
}

function stateOf(n: Node, agent: string): AgentStateFile {
  const about = { agent, node: NODE, prefix: PREFIX, store: n.store.description };
  return new AgentStateFile(stateFilePath(n.stateDir, agent, NODE, n.store.description, PREFIX), about);
}

/** Writes the intent of `apps` (default: all of the host's), signed when the node trusts signers only. */
async function intend(n: Node, apps = Object.keys(n.host.intent)): Promise<void> {
  for (const app of apps) {
    const spec = n.host.intent[app]!;
    if (n.keyPath) await putIntent(n.store, PREFIX, NODE, app, spec, { keyPath: n.keyPath }, true);
    else await n.store.put(appIntentKey(PREFIX, NODE, app), spec);
  }
}

async function execute(n: Node, mode: 'once' | 'dry-run', agent = n.host.agent()): Promise<number> {
  return executeAgent(
    agent,
    n.store,
    silentLogger(),
    onceOptions({
      prefix: PREFIX,
      node: NODE,
      once: mode === 'once',
      dryRun: mode === 'dry-run',
      json: true,
      state: stateOf(n, agent.name),
      trust: n.trust?.(),
    }),
  );
}

async function preview(n: Node, agent = n.host.agent()): Promise<string[]> {
  const { pass } = await previewAgent(agent, {
    store: n.store,
    prefix: PREFIX,
    node: NODE,
    log: silentLogger(),
    state: stateOf(n, agent.name),
    trust: n.trust?.(),
  });
  // What the first pass applies: the apps' actions not left for a later pass, and the node-wide ones, once each.
  const apps = pass.apps.filter((p) => !p.deferred).flatMap((p) => p.actions.map((a) => `${p.plan.app}: ${agent.describe(a)}`));
  const node = pass.nodeDeferred ? [] : pass.node.filter((x) => x.held === undefined).map((x) => `node: ${agent.describe(x.action)}`);
  return [...apps, ...node].sort();
}

/** One message of the platypus:action-applied channel. */
interface Applied {
  agent: string;
  app?: string;
  node?: true;
  action: string;
  pass: number;
}

/** An applied action as `app: action`, or `node: action` for a node-wide one (as preview() lists them). */
const label = (m: Applied) => `${m.node ? 'node' : m.app}: ${m.action}`;

/** The actions agent `name` applied in the first pass of `run`, as `app: action`, sorted. */
async function firstPassOf(name: string, run: () => Promise<unknown>): Promise<string[]> {
  const applied: string[] = [];
  const onApplied = (message: unknown) => {
    const m = message as Applied;
    if (m.agent === name && m.pass === 1) applied.push(label(m));
  };
  subscribe('platypus:action-applied', onApplied);
  try {
    await run();
  } finally {
    unsubscribe('platypus:action-applied', onApplied);
  }
  return applied.sort();
}

/** Everything in the store (intent, reality, heartbeats), for "changed nothing" checks. */
async function storeContent(n: Node): Promise<string[]> {
  return (await n.store.read(`${PREFIX}/`)).entries.map((e) => `${e.key}=${e.value}`).sort();
}

/** All a dry run must leave as it was: every file under the node's root with its time, the host, the store. */
async function everything(n: Node): Promise<unknown> {
  const skip = (path: string) => path === 'store' || path.startsWith('store/') || n.host.foreign?.(path) === true;
  return { files: await tree(n.root, { skip, times: true }), host: await n.host.host(), store: await storeContent(n) };
}

interface ProgramRun {
  /** Its exit code, or 'killed' when it was SIGKILLed after its `killAfter`-th action. */
  end: number | 'killed';
  /** The actions it applied, as `app: action`, sorted: all of them, and those of its first pass. */
  applied: string[];
  firstPass: string[];
}

let programRuns = 0;

/** Runs the agent's built program once with `--once` (through the SIGKILL entry), as a restart of the agent would. */
async function runProgram(n: Node, o: { killAfter?: number } = {}): Promise<ProgramRun> {
  const { path, args } = n.host.program;
  const log = join(n.root, `applied-${++programRuns}.jsonl`);
  const flags = ['--once', '--store', `folder:${n.store.root}`, '--prefix', PREFIX, '--node', NODE, '--state-dir', n.stateDir];
  const env = {
    ...process.env,
    PLATYPUS_TEST_APPLIED_LOG: log,
    ...(o.killAfter === undefined ? {} : { PLATYPUS_TEST_SIGKILL_AFTER_ACTIONS: String(o.killAfter) }),
  };
  let end: ProgramRun['end'] = 0;
  try {
    await exec(process.execPath, [SIGKILL_ENTRY, path, ...flags, ...args], { env });
  } catch (err) {
    const e = err as { signal?: string; code?: number; stderr?: string };
    if (e.signal === 'SIGKILL') end = 'killed';
    else if (typeof e.code === 'number') end = e.code;
    else throw new Error(`${path}: ${String(e.stderr ?? err)}`);
  }
  const lines = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  await rm(log, { force: true });
  const applied = lines.map((l) => JSON.parse(l) as Applied);
  const named = (list: Applied[]) => list.map(label).sort();
  return { end, applied: named(applied), firstPass: named(applied.filter((m) => m.pass === 1)) };
}

/** The suite: each case on a fresh host. `name` is the agent's name in reality keys and state files. */
export function conformance(name: string, harness: ConformanceHarness): void {
  describe(`${harness.title ?? name} conforms to the agent contract`, () => {
    const made: Node[] = [];
    const freshNode = async (o: { trusted?: boolean } = {}): Promise<Node> => {
      const root = await mkdtemp(join(tmpdir(), 'pp-conformance-'));
      const store = new FolderStore(join(root, 'store'));
      const host = await harness.make(root);
      if (Object.keys(host.intent).length < 2) throw new Error(`${name}'s harness: intent for two apps at least, so one can be removed`);
      const keys = o.trusted ? await signers(join(root, 'keys')) : undefined;
      const trust = keys && { trust: () => TrustGate.fromFile(keys.file), keyPath: keys.keyPath };
      const n: Node = { host, store, root, stateDir: join(root, 'state'), ...trust };
      made.push(n);
      return n;
    };
    /** Stops what the host runs and removes its root. */
    const dispose = async (n: Node) => {
      made.splice(made.indexOf(n), 1);
      await n.host.stop?.();
      await rm(n.root, { recursive: true, force: true, maxRetries: 5 });
    };
    afterEach(async () => {
      for (const n of [...made]) await dispose(n);
    });
    const apps = (n: Node) => Object.keys(n.host.intent);
    /** Takes the last app out of intent: the others stay, so intent is trusted and its removal goes ahead. */
    const dropLast = (n: Node) => n.store.delete(appIntentKey(PREFIX, NODE, apps(n).at(-1)!));

    it('a second pass plans nothing', async () => {
      const n = await freshNode();
      await intend(n);
      expect(await execute(n, 'once')).toBe(0);
      expect(await preview(n)).toEqual([]);
    });

    it("--dry-run lists exactly what --once's first pass then applies, for a first deployment and for a removal", async () => {
      const n = await freshNode();
      await intend(n);
      for (const change of [async () => {}, () => dropLast(n)]) {
        await change();
        const listed = await preview(n);
        expect(listed.length).toBeGreaterThan(0);
        expect(await firstPassOf(name, async () => expect(await execute(n, 'once')).toBe(0))).toEqual(listed);
      }
    });

    it('a dry run changes nothing on the host (files, modes, owners, links, times) or in the store', async () => {
      const n = await freshNode();
      await intend(n);
      const fresh = await everything(n);
      expect(await execute(n, 'dry-run')).toBe(0);
      expect(await everything(n)).toEqual(fresh);
      // Converged, then a removal to do.
      expect(await execute(n, 'once')).toBe(0);
      await dropLast(n);
      const before = await everything(n);
      expect(await execute(n, 'dry-run')).toBe(0);
      expect(await everything(n)).toEqual(before);
    });

    it('holds removals on untrusted intent (empty and not drained, or a stray .drained beside app keys), then removes', async () => {
      const n = await freshNode();
      await intend(n);
      expect(await execute(n, 'once')).toBe(0);
      const converged = await n.host.host();
      const all = apps(n);
      await n.store.transaction(all.map((app) => ({ key: appIntentKey(PREFIX, NODE, app), value: null })));
      await execute(n, 'once');
      expect(await n.host.host()).toEqual(converged);
      // The drained marker beside one app key: a drain half done; the others' removal still waits.
      await n.store.transaction([
        { key: drainedKey(PREFIX, NODE), value: '{}' },
        { key: appIntentKey(PREFIX, NODE, all[0]!), value: n.host.intent[all[0]!]! },
      ]);
      await execute(n, 'once');
      expect(await n.host.host()).toEqual(converged);
      expect((await n.store.read(nodeIntentPrefix(PREFIX, NODE))).entries.length).toBe(2);
      // Trusted again: what intent no longer names goes.
      await n.store.delete(drainedKey(PREFIX, NODE));
      expect(await execute(n, 'once')).toBe(0);
      expect(await n.host.host()).not.toEqual(converged);
    });

    it('with --trusted-signers, holds a removal no signed order made, and carries out a signed one', async () => {
      const n = await freshNode({ trusted: true });
      await intend(n);
      expect(await execute(n, 'once')).toBe(0);
      const converged = await n.host.host();
      const last = apps(n).at(-1)!;
      await dropLast(n);
      await execute(n, 'once'); // reports the app's vanished intent as failed
      expect(await n.host.host()).toEqual(converged);
      const keyPath = n.keyPath!;
      await putIntent(n.store, PREFIX, NODE, last, n.host.intent[last]!, { keyPath }, true);
      await removeIntent(n.store, PREFIX, NODE, last, { keyPath });
      expect(await execute(n, 'once')).toBe(0);
      expect(await n.host.host()).not.toEqual(converged);
    });

    it('remembers across a restart of its program: what it saved is loaded, nothing is redone, a removal still done', async () => {
      const n = await freshNode();
      await intend(n);
      const before = n.host.agent();
      expect(await execute(n, 'once', before)).toBe(0);
      const file = stateOf(n, name).location;
      const saved = await readFile(file, 'utf8');
      const state = JSON.parse(saved) as { agent?: unknown; firstSeen?: [string, string][] };
      expect(state.firstSeen?.map(([app]) => app).sort()).toEqual([...apps(n)].sort());
      if (before.memory) {
        expect(state.agent).toEqual(before.memory.save());
        const restarted = n.host.agent();
        restarted.memory!.load(structuredClone(state.agent));
        expect(restarted.memory!.save()).toEqual(state.agent);
      }
      // The program, restarted on that state: nothing to redo, and the same memory saved back (the file untouched).
      expect(await runProgram(n)).toMatchObject({ end: 0, applied: [] });
      expect(await readFile(file, 'utf8')).toBe(saved);
      // A removal meanwhile: the restarted agent plans what the one that never stopped plans, and the program does it.
      await dropLast(n);
      const planned = await preview(n, before);
      expect(planned.length).toBeGreaterThan(0);
      expect(await preview(n)).toEqual(planned);
      const removal = await runProgram(n);
      expect(removal.end).toBe(0);
      expect(removal.firstPass).toEqual(planned);
    });

    it('converges when killed with SIGKILL right after each of its steps, its program restarted every time', {
      timeout: 300_000,
    }, async () => {
      const reference = await freshNode();
      await intend(reference, reference.host.crashApps);
      expect(await runProgram(reference)).toMatchObject({ end: 0 });
      const wanted = await reference.host.host();
      await dispose(reference); // what it runs may hold what the next host needs (a port)
      // Each run is killed right after its first step, so every step of the deployment is followed by a kill and
      // a restart of the program, which goes on from what the killed one left.
      const n = await freshNode();
      await intend(n, n.host.crashApps);
      const steps: string[][] = [];
      for (;;) {
        const run = await runProgram(n, { killAfter: 1 });
        if (run.end !== 'killed') {
          expect(run, `the run after ${steps.length} kills: ${JSON.stringify(steps)}`).toMatchObject({ end: 0, applied: [] });
          break;
        }
        steps.push(run.applied);
        expect(steps.length).toBeLessThan(50);
      }
      // At least one kill: a deployment of one step (pp-iptables native writes its chain at once) has one.
      expect(steps.length).toBeGreaterThanOrEqual(1);
      expect(await n.host.host()).toEqual(wanted);
      expect(await preview(n)).toEqual([]);
    });
  });
}
