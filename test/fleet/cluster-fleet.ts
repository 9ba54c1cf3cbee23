// A small fleet for the fault tests: a real 3-server Consul cluster with a client agent, and simulated nodes
// `node1`… each running a real pp-preparer against the client agent. Every node holds two apps: `keep`, which no
// test changes, and `web`, which a test moves from 1.0.0 to 1.0.0 + 2.0.0.
import { access } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { startConsulCluster, type ConsulCluster } from '../support/consul-cluster.js';
import {
  Fleet,
  fleetReality,
  preparedExactly,
  preparedIntent,
  putFleetIntent,
  startArtifactServer,
  type ArtifactServer,
  type NodeAgent,
  type NodeApp,
} from '../support/fleet.js';
import { eventually } from '../support/intent-fixtures.js';
import { buildArtifact, type Artifact } from '../support/version-server.js';
import { Watchdog } from '../system/support/apps.js';

export const PREFIX = 'fleet';
const APPS = ['keep', 'web'] as const;

/** Options of every node agent: prune everything not named (so a wrong prune would show), resync often. */
const AGENT_FLAGS = ['--keep', '0', '--resync-seconds', '2', '--wait-seconds', '20', '--log-level', 'debug'];

export class ClusterFleet extends Fleet {
  cluster!: ConsulCluster;
  artifacts!: ArtifactServer;
  v!: Record<'keep1' | 'web1' | 'web2', Artifact>;

  /** A cluster, its artifacts served over HTTP, and `count` nodes whose pp-preparer converged keep and web at 1.0.0. */
  static async start(name: string, count: number): Promise<ClusterFleet> {
    const cluster = await startConsulCluster();
    const fleet = await ClusterFleet.open({
      name: `fleet-${name}`,
      storeSpec: `consul://${cluster.address}`,
      prefix: PREFIX,
      count,
      names: 'node',
      agents: { preparer: AGENT_FLAGS },
    }).catch(async (err: unknown) => {
      await cluster.stop();
      throw err;
    });
    fleet.cluster = cluster;
    try {
      fleet.artifacts = await startArtifactServer(fleet.root);
      const built = {
        keep1: await buildArtifact(fleet.root, 'keep', '1.0.0'),
        web1: await buildArtifact(fleet.root, 'web', '1.0.0'),
        web2: await buildArtifact(fleet.root, 'web', '2.0.0'),
      };
      // Served over loopback HTTP, so a download can be held in flight across a fault.
      fleet.v = Object.fromEntries(
        Object.entries(built).map(([k, a]) => [k, { ...a, url: fleet.artifacts.url(basename(a.path)) }]),
      ) as ClusterFleet['v'];
      await putFleetIntent(fleet.store, PREFIX, [...fleet.itemsFor('keep', [fleet.v.keep1]), ...fleet.itemsFor('web', [fleet.v.web1])]);
      fleet.startAgents();
      await fleet.converged(['1.0.0'], 60_000);
    } catch (err) {
      console.log(await fleet.logs());
      await fleet.stop();
      throw err;
    }
    return fleet;
  }

  basedir(node: string, app: string): string {
    return join(this.root, node, app);
  }

  private itemsFor(app: (typeof APPS)[number], versions: Artifact[]): NodeApp[] {
    return this.nodes.map((n) => ({ node: n.name, app, intent: preparedIntent(this.basedir(n.name, app), versions) }));
  }

  /** Every node's pp-preparer. */
  preparers(): NodeAgent[] {
    return this.agents('preparer');
  }

  /** Writes `web` with `versions` on every node (one write, in transactions of ≤ 64 operations). */
  async putWeb(versions: Artifact[]): Promise<void> {
    await putFleetIntent(this.store, PREFIX, this.itemsFor('web', versions));
  }

  /** Waits until every node reports `keep` at 1.0.0 and `web` with exactly `versions`. */
  async converged(versions: string[], ms: number): Promise<void> {
    await eventually(
      async () => {
        const reality = await fleetReality(this.cluster.address, PREFIX);
        return this.nodes.every(
          (n) =>
            preparedExactly(reality.get(n.name)?.get('preparer/keep'), ['1.0.0']) &&
            preparedExactly(reality.get(n.name)?.get('preparer/web'), versions),
        );
      },
      ms,
      `every node's reality: keep [1.0.0], web [${versions.join(', ')}]`,
    );
  }

  /** Samples, until stopped, that no node's install of keep 1.0.0 or web 1.0.0 ever goes missing. */
  watchInstalls(): Watchdog {
    return new Watchdog(
      this.nodes.flatMap((n) =>
        APPS.map((app) => async () => {
          const install = join(this.basedir(n.name, app), 'installs', `${app}_1.0.0`, 'VERSION');
          return (await access(install).then(
            () => true,
            () => false,
          ))
            ? undefined
            : `${n.name}: ${install} is gone`;
        }),
      ),
      250,
    );
  }

  /** Every node's log and the cluster's output, for a failure message. */
  override async logs(): Promise<string> {
    return `${this.cluster?.logs() ?? ''}\n${await super.logs(20)}`;
  }

  override async stop(): Promise<void> {
    try {
      await super.stop();
    } finally {
      await this.artifacts?.close();
      await this.cluster?.stop();
    }
  }
}

type LogLine = Record<string, unknown>;

/** Lines of a node agent's JSON log that `match` picks. */
export async function logLines(agent: NodeAgent, match: (line: LogLine) => boolean): Promise<LogLine[]> {
  return (await agent.log())
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
export async function everyNodeSawStoreFault(fleet: ClusterFleet): Promise<boolean> {
  for (const a of fleet.preparers()) if ((await logLines(a, (l) => /cannot read intent/.test(String(l.msg)))).length === 0) return false;
  return true;
}

/** Actions a node agent applied that remove something (prunes), from its log. */
export const removals = (agent: NodeAgent): Promise<LogLine[]> =>
  logLines(agent, (l) => l.msg === 'applied' && /^prune /.test(String(l.action)));
