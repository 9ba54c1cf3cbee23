import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP, Fleet, PREPARER_FLAGS, SETLIVE_FLAGS } from '../../support/fleet.js';
import { buildArtifact, UNHEALTHY, type Artifact } from '../../support/version-server.js';

export { APP };

/**
 * N nodes `web1`… whose intent is the same for all, as on a real fleet: every node's processes run in a mount
 * namespace of their own where the node's folder is mounted at one common path, the app's basedir. pp-preparer
 * fetches real file:// artifacts and pp-setlive runs them under the node's runsvdir; each node's app listens on a
 * port of its own, given to its runsvdir as PORT (the spec's health check reads $PORT).
 */
export class DeployFleet extends Fleet {
  static start(storeSpec: string, prefix: string, count: number): Promise<DeployFleet> {
    return DeployFleet.open({
      name: 'deploy-fleet',
      storeSpec,
      prefix,
      count,
      names: 'web',
      agents: { preparer: PREPARER_FLAGS, setlive: SETLIVE_FLAGS },
      runit: true,
      sharedSrv: true,
    });
  }

  /** The app's basedir, the same path on every node. */
  get basedir(): string {
    return join(this.root, 'srv', APP);
  }

  /** A real artifact of the app at `version`, broken everywhere (its /health answers UNHEALTHY) when told. */
  artifact(version: string, options: { unhealthy?: boolean } = {}): Promise<Artifact> {
    return buildArtifact(join(this.root, 'artifacts'), APP, version, options.unhealthy ? { health: UNHEALTHY } : {});
  }

  /** The spec deployed: `artifact` live, the fleet's basedir, version-server as the service, its /health via curl. */
  async writeSpec(
    name: string,
    artifact: Artifact,
    rollout: object = { maxParallel: 2, minHealthySeconds: 1, maxFailures: 1 },
  ): Promise<string> {
    const spec = {
      schema: 1,
      basedir: this.basedir,
      versions: [{ version: artifact.version, url: artifact.url, sha256: artifact.sha256, state: 'live' }],
      service: { command: [process.execPath, 'version-server.mjs'] },
      health: { command: ['sh', '-c', 'exec curl -sS --fail-with-body --max-time 3 "http://127.0.0.1:$PORT/health"'], timeoutMs: 8000 },
      rollout,
    };
    const path = join(this.root, name);
    await writeFile(path, `${JSON.stringify(spec, null, 2)}\n`);
    return path;
  }
}
