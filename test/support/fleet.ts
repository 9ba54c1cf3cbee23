// Simulated nodes on one machine: each node is a real agent process (pp-preparer by default) with its own --node
// name and its own basedirs, all against one store address; intent for many nodes written in Consul transactions of
// at most 64 operations, as `pp` writes it (each node's app key and its intent-serial key, both check-and-set).
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, openSync, closeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { appIntentKey, intentSerialKey } from '../../shared/keys.js';
import type { RealityRecord } from '../../shared/loop/types.js';
import type { IntentStore, KvWrite } from '../../shared/store/types.js';
import { distProgram } from './run-cli.js';

/** Consul's limit on operations in one transaction. */
const TXN_LIMIT = 64;

export interface NodeAgent {
  node: string;
  child: ChildProcess;
  logFile: string;
  /** Its log so far (pino JSON lines). */
  log(): Promise<string>;
  /** True while the process it started as is still running. */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it is gone. */
  stop(): Promise<void>;
}

export interface NodeAgentOptions {
  node: string;
  /** `consul://host:port` or any --store value. */
  store: string;
  prefix: string;
  /** Folder for its log file. */
  logDir: string;
  agent?: string;
  /** The agent's compiled entry; by default under dist/ of this tree (pass it when running from dist/ itself). */
  program?: string;
  args?: string[];
  /** Node flags before the program (e.g. a bin's shebang flags). */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Starts one simulated node's agent as a daemon, logging to `<logDir>/<node>.log`. */
export function startNodeAgent(o: NodeAgentOptions): NodeAgent {
  const agent = o.agent ?? 'preparer';
  const logFile = join(o.logDir, `${o.node}.${agent}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [
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
    ],
    { stdio: ['ignore', out, out], env: { ...process.env, ...o.env } },
  );
  closeSync(out);
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    node: o.node,
    child,
    logFile,
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    alive,
    stop: async () => {
      if (!alive()) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(hard);
    },
  };
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
    if (!node || !agent || !app || Value === null) continue;
    if (!out.has(node)) out.set(node, new Map());
    out.get(node)!.set(`${agent}/${app}`, JSON.parse(Buffer.from(Value, 'base64').toString('utf8')) as RealityRecord);
  }
  return out;
}

/** True when pp-preparer's record says `app` converged with exactly `versions` present. */
export function preparedExactly(record: RealityRecord | undefined, versions: string[]): boolean {
  const present = (record?.details as { present?: unknown } | undefined)?.present;
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
