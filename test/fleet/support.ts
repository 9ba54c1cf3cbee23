// A small fleet for the fault tests: a real 3-server Consul cluster with a client agent, and NODES simulated
// nodes, each a real pp-preparer process (own --node, own basedirs) talking to the client agent. Every node holds
// two apps: `keep`, which no test changes, and `web`, which a test moves from 1.0.0 to 1.0.0 + 2.0.0.
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { consulConfigFrom } from '../../shared/store/consul-config.js';
import { ConsulStore } from '../../shared/store/consul-store.js';
import { startConsulCluster, type ConsulCluster } from '../support/consul-cluster.js';
import {
  fleetReality,
  preparedExactly,
  preparedIntent,
  putFleetIntent,
  startArtifactServer,
  startNodeAgent,
  type ArtifactServer,
  type NodeAgent,
  type NodeApp,
} from '../support/fleet.js';
import { eventually } from '../support/intent-fixtures.js';
import { buildArtifact, type Artifact } from '../support/version-server.js';
import { Watchdog } from '../system/support/apps.js';

export const PREFIX = 'fleet';
const APPS = ['keep', 'web'] as const;

export interface Fleet {
  root: string;
  cluster: ConsulCluster;
  /** A store on the client agent, as the node agents use it. */
  store: ConsulStore;
  artifacts: ArtifactServer;
  nodes: NodeAgent[];
  basedir(node: string, app: string): string;
  /** Writes `web` with `versions` on every node (one write, in transactions of ≤ 64 operations). */
  putWeb(versions: Artifact[]): Promise<void>;
  /** Waits until every node reports `keep` at 1.0.0 and `web` with exactly `versions`. */
  converged(versions: string[], ms: number): Promise<void>;
  /** Samples, until stopped, that no node's install of keep 1.0.0 or web 1.0.0 ever goes missing. */
  watchInstalls(): Watchdog;
  v: Record<'keep1' | 'web1' | 'web2', Artifact>;
  /** Every node's log and the cluster's output, for a failure message. */
  logs(): Promise<string>;
  stop(): Promise<void>;
}

/** Options of every node agent: prune everything not named (so a wrong prune would show), resync often. */
const AGENT_ARGS = ['--keep', '0', '--resync-seconds', '2', '--wait-seconds', '20', '--log-level', 'debug'];

export async function startFleet(name: string, nodeCount: number): Promise<Fleet> {
  const root = await mkdtemp(join(tmpdir(), `pp-fleet-${name}-`));
  const cluster = await startConsulCluster();
  const artifacts = await startArtifactServer(root);
  const store = new ConsulStore(consulConfigFrom(cluster.address, {}));
  const built = {
    keep1: await buildArtifact(root, 'keep', '1.0.0'),
    web1: await buildArtifact(root, 'web', '1.0.0'),
    web2: await buildArtifact(root, 'web', '2.0.0'),
  };
  // Served over loopback HTTP, so a download can be held in flight across a fault.
  const v = Object.fromEntries(Object.entries(built).map(([k, a]) => [k, { ...a, url: artifacts.url(basename(a.path)) }])) as Fleet['v'];
  const names = Array.from({ length: nodeCount }, (_, i) => `node${i + 1}`);
  const basedir = (node: string, app: string) => join(root, node, app);
  const itemsFor = (app: (typeof APPS)[number], versions: Artifact[]): NodeApp[] =>
    names.map((node) => ({ node, app, intent: preparedIntent(basedir(node, app), versions) }));
  const nodes: NodeAgent[] = [];
  const fleet: Fleet = {
    root,
    cluster,
    store,
    artifacts,
    nodes,
    basedir,
    v,
    putWeb: async (versions) => {
      await putFleetIntent(store, PREFIX, itemsFor('web', versions));
    },
    converged: async (versions, ms) => {
      await eventually(
        async () => {
          const reality = await fleetReality(cluster.address, PREFIX);
          return names.every(
            (n) =>
              preparedExactly(reality.get(n)?.get('preparer/keep'), ['1.0.0']) &&
              preparedExactly(reality.get(n)?.get('preparer/web'), versions),
          );
        },
        ms,
        `every node's reality: keep [1.0.0], web [${versions.join(', ')}]`,
      );
    },
    watchInstalls: () =>
      new Watchdog(
        names.flatMap((node) =>
          (['keep', 'web'] as const).map((app) => async () => {
            const install = join(basedir(node, app), 'installs', `${app}_1.0.0`, 'VERSION');
            return (await access(install).then(
              () => true,
              () => false,
            ))
              ? undefined
              : `${node}: ${install} is gone`;
          }),
        ),
        250,
      ),
    logs: async () => {
      let out = `${cluster.logs()}\n`;
      for (const n of nodes) out += `--- ${n.node}\n${(await n.log()).split('\n').slice(-20).join('\n')}\n`;
      return out;
    },
    stop: async () => {
      for (const n of nodes) await n.stop();
      await store.close();
      await artifacts.close();
      await cluster.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await putFleetIntent(store, PREFIX, [...itemsFor('keep', [v.keep1]), ...itemsFor('web', [v.web1])]);
    for (const node of names)
      nodes.push(startNodeAgent({ node, store: `consul://${cluster.address}`, prefix: PREFIX, logDir: root, args: AGENT_ARGS }));
    await fleet.converged(['1.0.0'], 60_000);
  } catch (err) {
    console.log(await fleet.logs());
    await fleet.stop();
    throw err;
  }
  return fleet;
}

type LogLine = Record<string, unknown>;

/** Lines of a node agent's JSON log that `match` picks. */
export async function logLines(node: NodeAgent, match: (line: LogLine) => boolean): Promise<LogLine[]> {
  return (await node.log())
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    })
    .filter(match);
}

/** True once every node agent has logged that its watch cannot read intent (the store fault, as the loop reports it). */
export async function everyNodeSawStoreFault(fleet: Fleet): Promise<boolean> {
  for (const n of fleet.nodes) if ((await logLines(n, (l) => /cannot read intent/.test(String(l.msg)))).length === 0) return false;
  return true;
}

/** Actions a node agent applied that remove something (prunes), from its log. */
export const removals = (node: NodeAgent): Promise<LogLine[]> =>
  logLines(node, (l) => l.msg === 'applied' && /^prune /.test(String(l.action)));
