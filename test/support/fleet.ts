// Simulated nodes on one machine, all against one store: each node is a folder of its own under the fleet's temp
// folder and real agent processes started with its own --node name; a node that runs apps has a runsvdir of its
// own, and the port its app listens on in the environment of that runsvdir and of its agents (one port for all, as
// on a real fleet, so every node's intent can be the same). Intent for many nodes is written in Consul transactions
// of at most 64 operations, as `pp` writes it (each node's app key and its intent-serial key, both check-and-set).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { appIntentKey, intentSerialKey, isAppRecordKey, realityKey } from '../../shared/keys.js';
import { recordOf } from './reality.js';
import { detailsOf } from '../../shared/reality/details.js';
import type { RealityRecord } from '../../shared/reality/record.js';
import { openStore } from '../../shared/store/open-store.js';
import type { IntentStore, KvWrite } from '../../shared/store/types.js';
import { freePort } from './free-port.js';
import { distProgram } from './run-cli.js';
import { inTurn, startRunsvdir, stopEverythingUnder, type Runsvdir } from './runit.js';
import { versionOn } from './version-server.js';

/** The app of the fleets that run one. */
export const APP = 'hello';

/** Consul's limit on operations in one transaction. */
const TXN_LIMIT = 64;

export interface NodeAgent {
  node: string;
  agent: string;
  child: ChildProcess;
  logFile: string;
  /** Its log so far (pino JSON lines). */
  log(): Promise<string>;
  /** True while the process it started as is still running. */
  alive(): boolean;
  /** Sends it `signal` (SIGSTOP, SIGCONT…) as ChildProcess.kill does. */
  kill(signal: NodeJS.Signals): boolean;
  /** `signal` (SIGTERM by default), then SIGKILL after 10 s; resolves once it is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface NodeAgentOptions {
  node: string;
  /** `consul://host:port` or any --store value. */
  store: string;
  prefix: string;
  /** Folder for its log file `<node>.<agent>.log`. */
  logDir: string;
  /** Its log file, instead of the one in logDir. */
  logFile?: string;
  agent?: string;
  /** The agent's compiled entry; by default under dist/ of this tree (pass it when running from dist/ itself). */
  program?: string;
  args?: string[];
  /** Node flags before the program (e.g. a bin's shebang flags). */
  nodeArgs?: string[];
  /** Words before the node command: a wrapper that execs it, e.g. into a mount namespace of its own. */
  wrap?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Starts one simulated node's agent as a daemon, its output appended to its log file. */
export function startNodeAgent(o: NodeAgentOptions): NodeAgent {
  const agent = o.agent ?? 'preparer';
  const logFile = o.logFile ?? join(o.logDir, `${o.node}.${agent}.log`);
  const out = openSync(logFile, 'a');
  const argv = [
    ...(o.wrap ?? []),
    process.execPath,
    ...(o.nodeArgs ?? []),
    o.program ?? distProgram(`agents/${agent}/index.js`),
    '--store',
    o.store,
    '--prefix',
    o.prefix,
    '--node',
    o.node,
    ...(agent === 'preparer' ? ['--progress', 'off'] : []),
    ...(o.args ?? []),
  ];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', out, out], env: { ...process.env, ...o.env } });
  closeSync(out);
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    node: o.node,
    agent,
    child,
    logFile,
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    alive,
    kill: (signal) => child.kill(signal),
    stop: async (signal = 'SIGTERM') => {
      if (!alive()) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(hard);
    },
  };
}

/** One simulated node. */
export interface FleetNode {
  name: string;
  /** `<fleet root>/<name>`: its logs/ and, when it runs apps, its service/ and stage/ folders (and srv/). */
  root: string;
  /**
   * The port its app listens on: PORT in the environment of its runsvdir and of its agents, as a real fleet has one
   * port for all. Every node's intent is then the same but for its basedir, as the verdicts' fingerprint expects.
   */
  port: number;
  /** Its runsvdir on service/, when it runs apps. */
  runsvdir?: Runsvdir;
  /** Its agents in the order they were first started; a restart takes its agent's place. */
  agents: NodeAgent[];
}

export interface FleetOptions {
  /** The fleet's temp folder is `pp-<name>-*`. */
  name: string;
  storeSpec: string;
  prefix: string;
  count: number;
  /** Nodes are `<names>1`, `<names>2`… */
  names: string;
  /** The agents every node runs, each with its flags after --store, --prefix and --node (and pp-setlive's folders). */
  agents: Record<string, string[]>;
  /** Each node gets a runsvdir on `<node>/service` for its apps, and `<node>/stage` for pp-setlive. */
  runit?: boolean;
  /**
   * Each node's processes run in a mount namespace of their own where `<node>/srv` is mounted at `<fleet>/srv`: the
   * same basedir on every node, and each node's own files behind it.
   */
  sharedSrv?: boolean;
}

/** Flags of a simulated node's pp-preparer: a pass every 2 s, short watches, debug logs. */
export const PREPARER_FLAGS = ['--resync-seconds', '2', '--wait-seconds', '5', '--log-level', 'debug'];
/** Flags of a simulated node's pp-setlive: PREPARER_FLAGS' pace, short settle and timeouts, a 10 s rollout session. */
export const SETLIVE_FLAGS = [
  ...PREPARER_FLAGS,
  '--settle-seconds',
  '0.3',
  '--stop-timeout-seconds',
  '5',
  '--pickup-timeout-seconds',
  '20',
  '--session-ttl-seconds',
  '10',
];

/** N simulated nodes under one temp folder, against one store. */
export class Fleet {
  readonly nodes: FleetNode[] = [];
  readonly storeSpec: string;
  readonly prefix: string;
  constructor(
    readonly root: string,
    readonly store: IntentStore,
    private readonly o: FleetOptions,
  ) {
    this.storeSpec = o.storeSpec;
    this.prefix = o.prefix;
  }

  /** Makes every node's folders and starts its runsvdir (when it runs apps); no agent runs yet. */
  static async open<F extends Fleet>(this: new (root: string, store: IntentStore, o: FleetOptions) => F, o: FleetOptions): Promise<F> {
    const fleet = new this(await mkdtemp(join(tmpdir(), `pp-${o.name}-`)), await openStore(o.storeSpec), o);
    try {
      if (o.sharedSrv) await mkdir(join(fleet.root, 'srv'));
      for (let i = 1; i <= o.count; i++) await fleet.addNode(`${o.names}${i}`);
    } catch (err) {
      await fleet.stop().catch(() => {});
      throw err;
    }
    return fleet;
  }

  private async addNode(name: string): Promise<void> {
    const root = join(this.root, name);
    for (const d of ['logs', ...(this.o.runit ? ['service', 'stage'] : []), ...(this.o.sharedSrv ? ['srv'] : [])])
      await mkdir(join(root, d), { recursive: true });
    const node: FleetNode = { name, root, port: await freePort(), agents: [] };
    this.nodes.push(node);
    if (this.o.runit)
      node.runsvdir = await startRunsvdir(join(root, 'service'), {
        env: { ...process.env, PORT: String(node.port) },
        wrap: this.wrapOf(node),
        logFile: join(root, 'logs', 'runsvdir.log'),
      });
  }

  private wrapOf(node: FleetNode): string[] | undefined {
    if (!this.o.sharedSrv) return undefined;
    const script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"';
    return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', join(node.root, 'srv'), join(this.root, 'srv')];
  }

  /**
   * Starts (or restarts) the node's agents, or those of them `only` names, each with `extra` flags after its own.
   * Logs go to `<node>/logs/<agent>.log`. An agent restarted must be stopped first.
   */
  startAgent(node: FleetNode, extra: string[] = [], only?: string[]): void {
    for (const [agent, flags] of Object.entries(this.o.agents)) {
      if (only && !only.includes(agent)) continue;
      const folders =
        agent === 'setlive' && this.o.runit ? ['--service-dir', join(node.root, 'service'), '--stage-dir', join(node.root, 'stage')] : [];
      const started = startNodeAgent({
        node: node.name,
        agent,
        store: this.storeSpec,
        prefix: this.prefix,
        logDir: join(node.root, 'logs'),
        logFile: join(node.root, 'logs', `${agent}.log`),
        args: [...folders, ...flags, ...extra],
        wrap: this.wrapOf(node),
        env: { PORT: String(node.port) },
      });
      const at = node.agents.findIndex((a) => a.agent === agent);
      if (at === -1) node.agents.push(started);
      else node.agents[at] = started;
    }
  }

  /** Starts every node's agents, each with `extra` flags too (e.g. --trusted-signers FILE). */
  startAgents(extra: string[] = []): void {
    for (const node of this.nodes) this.startAgent(node, extra);
  }

  /** SIGKILLs every agent of the node; resolves once they are gone. */
  async killAgent(node: FleetNode): Promise<void> {
    for (const a of node.agents) await a.stop('SIGKILL');
  }

  /** Every node's `agent`, in node order. */
  agents(agent: string): NodeAgent[] {
    return this.nodes.flatMap((n) => n.agents.filter((a) => a.agent === agent));
  }

  /** The node's reality record of `app` from `agent`. */
  async reality(node: FleetNode, agent = 'setlive', app = APP): Promise<RealityRecord | undefined> {
    const key = realityKey(this.prefix, node.name, agent, app);
    return recordOf(key, await this.store.get(key).catch(() => undefined));
  }

  /** What each node's app answers on GET / right now: its version, or `error <why>`. */
  answers(): Promise<string[]> {
    return Promise.all(this.nodes.map((n) => versionOn(n.port)));
  }

  /** The last `lines` of every agent's log, for a failure message. */
  async logs(lines = 12): Promise<string> {
    let out = '';
    for (const n of this.nodes)
      for (const a of n.agents) out += `--- ${n.name} ${a.agent}\n${(await a.log()).split('\n').slice(-lines).join('\n')}\n`;
    return out;
  }

  /** SIGKILLs every agent, stops every runsvdir and everything runit still runs under the fleet's folder, removes it. */
  async stop(): Promise<void> {
    await inTurn([
      ...this.nodes.flatMap((n) => n.agents.map((a) => () => a.stop('SIGKILL'))),
      ...this.nodes.map((n) => async () => n.runsvdir?.stop()),
      () => stopEverythingUnder(this.root),
      () => this.store.close(),
      () => rm(this.root, { recursive: true, force: true, maxRetries: 5 }),
    ]);
  }
}

/** One app's intent on one node. */
export interface NodeApp {
  node: string;
  app: string;
  /** The intent value (an object, stored as JSON). */
  intent: object;
}

/**
 * Writes every item in transactions of at most 64 operations, each node's items together with a check-and-set bump
 * of its intent-serial key and a check-and-set of each key against the index read just before, like `pp intent put`.
 * A node's writes never straddle two transactions. Resolves with when each node's transaction was committed
 * (Date.now() once Consul answered).
 */
export async function putFleetIntent(store: IntentStore, prefix: string, items: NodeApp[]): Promise<Map<string, number>> {
  const [serials, intents] = await Promise.all([store.read(`${prefix}/intent-serial/`), store.read(`${prefix}/intent/`)]);
  const index = new Map([...serials.entries, ...intents.entries].map((e) => [e.key, e]));
  const byNode = new Map<string, NodeApp[]>();
  for (const item of items) byNode.set(item.node, [...(byNode.get(item.node) ?? []), item]);
  const batches: Array<{ nodes: string[]; writes: KvWrite[] }> = [{ nodes: [], writes: [] }];
  for (const [node, apps] of byNode) {
    const serial = index.get(intentSerialKey(prefix, node));
    const writes: KvWrite[] = [
      { key: intentSerialKey(prefix, node), value: String((Number(serial?.value) || 0) + 1), ifIndex: serial?.modifyIndex ?? 0 },
      ...apps.map(({ app, intent }) => {
        const key = appIntentKey(prefix, node, app);
        return { key, value: JSON.stringify(intent), ifIndex: index.get(key)?.modifyIndex ?? 0 };
      }),
    ];
    if (writes.length > TXN_LIMIT) throw new Error(`node ${node}: ${writes.length} writes do not fit one transaction`);
    if (batches.at(-1)!.writes.length + writes.length > TXN_LIMIT) batches.push({ nodes: [], writes: [] });
    batches.at(-1)!.nodes.push(node);
    batches.at(-1)!.writes.push(...writes);
  }
  const committed = new Map<string, number>();
  for (const batch of batches) {
    await store.transaction(batch.writes);
    const at = Date.now();
    for (const node of batch.nodes) committed.set(node, at);
  }
  return committed;
}

/** Every reality record under the prefix, read straight from Consul at `address`: node → `<agent>/<app>` → record. */
export async function fleetReality(address: string, prefix: string): Promise<Map<string, Map<string, RealityRecord>>> {
  const res = await fetch(`http://${address}/v1/kv/${prefix}/reality/?recurse`, { signal: AbortSignal.timeout(10_000) });
  if (res.status === 404) return new Map();
  if (!res.ok) throw new Error(`consul GET ${prefix}/reality/: HTTP ${res.status}: ${await res.text()}`);
  const out = new Map<string, Map<string, RealityRecord>>();
  for (const { Key, Value } of (await res.json()) as Array<{ Key: string; Value: string | null }>) {
    const [node, agent, app] = Key.slice(`${prefix}/reality/`.length).split('/');
    if (!node || !agent || !app || !isAppRecordKey(Key) || Value === null) continue;
    if (!out.has(node)) out.set(node, new Map());
    out.get(node)!.set(`${agent}/${app}`, recordOf(Key, Buffer.from(Value, 'base64').toString('utf8'))!);
  }
  return out;
}

/** True when pp-preparer's record says `app` converged with exactly `versions` present. */
export function preparedExactly(record: RealityRecord | undefined, versions: string[]): boolean {
  const present = detailsOf('preparer', record)?.present;
  return record?.status === 'converged' && JSON.stringify(present) === JSON.stringify([...versions].sort());
}

/** The intent of an app whose versions are all prepared (what pp-preparer alone converges). */
export function preparedIntent(basedir: string, versions: Array<{ version: string; url: string; sha256: string }>): object {
  return { schema: 1, basedir, versions: versions.map((v) => ({ version: v.version, url: v.url, sha256: v.sha256, state: 'prepared' })) };
}

export interface ArtifactServer {
  /** The http:// URL of a file in the served folder. */
  url(file: string): string;
  /** Requests for files whose name contains `part` wait until release() (a download in flight across a fault). */
  hold(part: string): void;
  release(): void;
  /** Requests received so far for files whose name contains `part`. */
  requests(part: string): number;
  close(): Promise<void>;
}

/** A real loopback HTTP server for the files of `dir`, whose answers can be held back. */
export async function startArtifactServer(dir: string): Promise<ArtifactServer> {
  let held: string | undefined;
  let waiting: Array<() => void> = [];
  const seen: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const name = basename(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    seen.push(name);
    if (held !== undefined && name.includes(held)) await new Promise<void>((r) => waiting.push(r));
    const file = join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': info.size, 'content-type': 'application/gzip' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const release = () => {
    held = undefined;
    for (const go of waiting) go();
    waiting = [];
  };
  return {
    url: (file) => `http://127.0.0.1:${port}/${encodeURIComponent(file)}`,
    hold: (part) => {
      held = part;
    },
    release,
    requests: (part) => seen.filter((n) => n.includes(part)).length,
    close: () =>
      new Promise((r) => {
        release();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
