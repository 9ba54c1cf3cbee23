import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP, Fleet, putFleetIntent, SETLIVE_FLAGS, type FleetNode } from '../../support/fleet.js';
import { UNHEALTHY, writeVersion } from '../../support/version-server.js';

// bench/rollout-bench.ts takes the fleet's app and node type from here, with the fleet.
export { APP, type FleetNode };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface VersionSpec {
  version: string;
  /** Its /health answers UNHEALTHY. */
  unhealthy?: boolean;
}

/**
 * N nodes `web1`… that each run pp-setlive under a runsvdir of their own; each app is the version server on its
 * node's port. Installs are laid out by the test (no preparer), as pp-preparer would leave them.
 */
export class FlipFleet extends Fleet {
  static async start(storeSpec: string, prefix: string, count: number, versions: VersionSpec[]): Promise<FlipFleet> {
    const fleet = await FlipFleet.open({
      name: 'fleet',
      storeSpec,
      prefix,
      count,
      names: 'web',
      agents: { setlive: SETLIVE_FLAGS },
      runit: true,
    });
    try {
      for (const n of fleet.nodes)
        for (const v of versions) await writeVersion(fleet.installOf(n, v.version), v.version, v.unhealthy ? { health: UNHEALTHY } : {});
    } catch (err) {
      await fleet.stop().catch(() => {});
      throw err;
    }
    return fleet;
  }

  /** The app's folder on a node. */
  basedirOf(node: FleetNode): string {
    return join(node.root, 'apps', APP);
  }

  installOf(node: FleetNode, version: string): string {
    return join(this.basedirOf(node), 'installs', `${APP}_${version}`);
  }

  /** The app's intent on a node: `live` live, the others prepared; `rollout` as given. */
  intentOf(node: FleetNode, live: VersionSpec, others: VersionSpec[], rollout?: object): object {
    const entry = (v: VersionSpec, state: string) => ({
      version: v.version,
      url: `file:///nonexistent/${APP}-${v.version}.tar.gz`,
      sha256: (v.version.replace(/[^0-9a-f]/g, '') + 'a'.repeat(64)).slice(0, 64),
      state,
    });
    return {
      schema: 1,
      basedir: this.basedirOf(node),
      versions: [entry(live, 'live'), ...others.map((o) => entry(o, 'prepared'))],
      service: { command: [process.execPath, 'version-server.mjs'] },
      health: { command: ['sh', '-c', 'exec curl -sS --fail-with-body --max-time 3 "http://127.0.0.1:$PORT/health"'], timeoutMs: 10_000 },
      ...(rollout ? { rollout } : {}),
    };
  }

  /** Writes every node's intent at once, as `pp` writes a fleet. */
  async writeAll(intentOf: (node: FleetNode) => object): Promise<void> {
    await putFleetIntent(
      this.store,
      this.prefix,
      this.nodes.map((n) => ({ node: n.name, app: APP, intent: intentOf(n) })),
    );
  }

  /** The install a node's stage folder records as confirmed healthy (pp-confirmed). */
  async confirmed(node: FleetNode): Promise<string | undefined> {
    return (await readFile(join(node.root, 'stage', APP, 'pp-confirmed'), 'utf8').catch(() => undefined))?.trim();
  }
}

/**
 * Samples every node about every 20 ms while a rollout runs: a node is "in a flip" while its app does not answer,
 * or answers `version` before its stage folder records that version confirmed. Keeps the largest count seen.
 */
export class FlipWatcher {
  maxInFlip = 0;
  samples = 0;
  /** Nodes ever seen not answering. */
  readonly everDown = new Set<string>();
  worst: string[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly fleet: FlipFleet,
    private readonly version: string,
    private readonly ignore: Set<string> = new Set(),
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const answers = await this.fleet.answers();
      const confirmed = await Promise.all(this.fleet.nodes.map((n) => this.fleet.confirmed(n)));
      const inFlip: string[] = [];
      this.fleet.nodes.forEach((n, i) => {
        if (this.ignore.has(n.name)) return;
        const a = answers[i]!;
        const down = a.startsWith('error ');
        if (down) this.everDown.add(n.name);
        if (down || (a === this.version && confirmed[i] !== this.fleet.installOf(n, this.version))) inFlip.push(`${n.name}:${a}`);
      });
      this.samples++;
      if (inFlip.length > this.maxInFlip) {
        this.maxInFlip = inFlip.length;
        this.worst = inFlip;
      }
      await sleep(20);
    }
  }

  ignoreNode(name: string): void {
    this.ignore.add(name);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** Resolves once `cond` holds (checked every 100 ms), or throws after `ms` with `describe()`'s text. */
export async function until(what: string, cond: () => Promise<boolean>, describe: () => Promise<string>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${await describe()}`);
    await sleep(100);
  }
}
